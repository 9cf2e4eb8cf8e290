from django.tasks import task


@task()
def apply_webhook(event_id: int) -> str:
    """Applies the stored webhooks not applied yet, this one among them, oldest first, until none comes for a
    while (``webhooks.applier``: web processes enqueue it only when none waits to start, so one run takes a whole
    burst)."""
    from .inbound import apply_pending_events
    from .webhooks import applier

    return f"{applier.run(apply_pending_events)} applied"


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
