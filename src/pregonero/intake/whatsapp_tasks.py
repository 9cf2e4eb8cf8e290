"""Background work of the WhatsApp intake (whatsapp.py): fetching the files departments send, and telling them
their request's folio, so neither a slow Graph API nor a large file ever holds the webhook or a web page."""

import logging
from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from pregonero.sending.channels.base import SendError

log = logging.getLogger(__name__)
ACK_ATTEMPTS = 5


@task()
def whatsapp_media_fetch(message_id: int, media: dict, attempt: int = 0) -> str:
    """Downloads the file of one stored WhatsApp message (media: id, mime_type, name); re-enqueues itself with
    backoff while the download fails for a reason that may pass."""
    from .whatsapp import media_fetch

    return media_fetch(message_id, media, attempt)


@task()
def whatsapp_acknowledge(draft_id: int, folio: str, attempt: int = 0) -> bool:
    """Tells a WhatsApp draft's sender the folio their request was registered with (whatsapp.acknowledge); tries
    again later when WhatsApp failed for a passing reason (never after an unknown outcome: it may have arrived)."""
    from .models import Draft
    from .whatsapp import acknowledgement_send

    draft = Draft.objects.filter(pk=draft_id).first()
    if draft is None:
        return False
    accepted, error = acknowledgement_send(draft, folio)
    can_wait = whatsapp_acknowledge.get_backend().supports_defer
    if error is not None and error.kind == SendError.TRANSIENT and attempt + 1 < ACK_ATTEMPTS and can_wait:
        wait = max(60 * 4**attempt, error.retry_after or 0)
        whatsapp_acknowledge.using(run_after=timezone.now() + timedelta(seconds=wait)).enqueue(
            draft_id, folio, attempt + 1)
        log.info("acknowledgement of draft %s will be tried again in %s s", draft_id, int(wait))
    elif error is not None:  # given up: the draft's page offers to try again
        from .models import AckFailure
        from .services import acknowledgement_gave_up

        failure = {SendError.TRANSIENT: AckFailure.WHATSAPP_UNAVAILABLE, SendError.UNKNOWN: AckFailure.WHATSAPP_UNKNOWN}
        acknowledgement_gave_up(draft_id, failure.get(error.kind, AckFailure.WHATSAPP_REFUSED))
    return accepted

