import logging

from django.tasks import task
from django.utils import timezone

from .models import WebhookEvent

log = logging.getLogger(__name__)


@task()
def apply_webhook(event_id: int) -> str:
    """Applies one stored webhook; a payload that cannot be applied is marked with its error, never retried
    in a loop (the raw event stays for a person to look at)."""
    from .inbound import apply_event

    event = WebhookEvent.objects.filter(pk=event_id, processed_at__isnull=True).first()
    if event is None:
        return "already applied"
    try:
        apply_event(event)
    except Exception as error:  # a malformed payload must not stop the others
        log.exception("webhook %s could not be applied", event_id)
        WebhookEvent.objects.filter(pk=event_id).update(processed_at=timezone.now(), error=repr(error)[:2000])
        return "error"
    WebhookEvent.objects.filter(pk=event_id).update(processed_at=timezone.now())
    return "applied"


@task()
def sync_whatsapp_templates() -> dict:
    """Refreshes the stored WhatsApp templates from the account (see templates_sync); a failure leaves them as
    they were and fails the task with the Spanish reason."""
    from .templates_sync import templates_sync

    return templates_sync()


@task()
def scheduled_send_start(campaign_id: int, scheduled_for: str, ignore_quiet_hours: bool = False) -> str:
    """Starts a send at the time social media chose (enqueued with ``run_after``). ``scheduled_for`` travels in
    the arguments so a schedule changed or called off in the meantime makes this run do nothing."""
    from datetime import datetime

    from .prestart import scheduled_start_run

    return scheduled_start_run(campaign_id=campaign_id, scheduled_for=datetime.fromisoformat(scheduled_for),
                               ignore_quiet_hours=ignore_quiet_hours)
