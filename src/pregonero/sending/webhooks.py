"""`/webhooks/whatsapp/`: the verification handshake, and signed event deliveries stored then applied.

A POST is checked against `X-Hub-Signature-256` on the exact raw bytes before anything is stored; a bad or
missing signature is refused and leaves no trace. A good one is stored as it came and answered at once; applying
it is a background task (inbound.py), idempotent, because Meta retries and duplicates deliveries.
"""

import hashlib
import hmac
import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.tasks import TaskResultStatus
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_tasks_db.models import DBTaskResult

from .models import WebhookEvent

log = logging.getLogger(__name__)


def valid_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def handshake(request) -> HttpResponse:
    token = request.GET.get("hub.verify_token", "")
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if request.GET.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(token, expected):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    log.warning("whatsapp webhook handshake refused")
    return HttpResponseForbidden(_("Token de verificación incorrecto."), content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request):
    if request.method == "GET":
        return handshake(request)
    raw = request.body
    header = request.headers.get("X-Hub-Signature-256")
    if not valid_signature(settings.WHATSAPP_APP_SECRET, raw, header):
        log.warning("whatsapp webhook with %s signature refused", "a wrong" if header else "no")
        return HttpResponse(_("Firma inválida."), status=401 if not header else 403, content_type="text/plain")
    event_id = event_store(raw)
    # The task is looked for only once the event is committed: at once here (autocommit), later in a transaction.
    transaction.on_commit(lambda: applier_wake(event_id))
    return HttpResponse("OK", content_type="text/plain")


def event_store(raw: bytes) -> int:
    """Stores a verified delivery as it came; returns its id. One INSERT written once: through the ORM, composing
    it was a fifth of the POST's instructions (callgrind), more than the rest of the view."""
    table, quote = WebhookEvent._meta.db_table, connection.ops.quote_name
    with connection.cursor() as cursor:
        # Only names from the model's metadata; the values are parameters.
        cursor.execute(f"INSERT INTO {quote(table)} (received_at, body, error) VALUES (%s, %s, '') "  # nosec B608
                       "RETURNING id", [connection.ops.adapt_datetimefield_value(timezone.now()), raw])
        return cursor.fetchone()[0]


# A web process looks for a waiting application task at most once per this many seconds (settings
# WEBHOOK_WAKE_SECONDS): the look was a query on every POST, a third of the POST's cost at 2,000 a second
# (bench/send_throughput.py). The task keeps looking for new events until it has run for WAKE_LINGER times this,
# so an event stored while its process skipped the look is still found (see apply_webhook).
WAKE_LINGER = 2.5
_last_wake = 0.0


def wake_interval() -> float:
    """0 with a backend that runs tasks at once (the tests' immediate backend, as in pregonero.taskqueue): there
    every POST runs the task."""
    from .tasks import apply_webhook

    return settings.WEBHOOK_WAKE_SECONDS if apply_webhook.get_backend().supports_defer else 0.0


def applier_wake(event_id: int) -> None:
    """Enqueues the task that applies stored webhooks, unless one is waiting to start: this event was stored
    before that task will look for work, so it is applied by it. A burst of 20,000 statuses costs a few tasks
    instead of 20,000, and a task costs more than applying an event (bench/send_throughput.py). A task already
    running may have looked for the last time, so it does not count; neither does one that failed or died.

    Within WEBHOOK_WAKE_SECONDS of this process's last look, it does not look again: the task that look found
    or enqueued had not started then, and it looks for events until WAKE_LINGER × that interval after its
    start, so after this event was committed."""
    global _last_wake
    from .tasks import apply_webhook

    interval, now = wake_interval(), time.monotonic()
    if interval and now - _last_wake < interval:
        return
    _last_wake = now
    waiting = DBTaskResult.objects.filter(status=TaskResultStatus.READY, task_path=apply_webhook.module_path)
    if not waiting.exists():
        apply_webhook.enqueue(event_id)

urlpatterns = [path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp_webhook")]
