"""`/webhooks/whatsapp/`: the verification handshake, and signed event deliveries stored then applied.

A POST is checked against `X-Hub-Signature-256` on the exact raw bytes before anything is stored; a bad or
missing signature is refused and leaves no trace. A good one is stored as it came and answered at once; applying
it is a background task (inbound.py), idempotent, because Meta retries and duplicates deliveries.

A POST reaches `receive` by one of two doors, both over the same code: the Django view below (the test client,
any server that calls Django directly) and `IngestFront`, which `pregonero.wsgi` puts in front of Django. Meta
posts three statuses per message sent, up to 3,000 a second at the highest throughput tier, and a POST needs
none of what Django's middleware does for a person (session, language, CSRF, sign-in, messages): through them a
POST cost three times the whole of gunicorn's own work (bench/send_throughput.py step (d)).
"""

import hashlib
import hmac
import logging
from http import HTTPStatus

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import path
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pregonero.taskqueue import Drain

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
    status, text = receive(request.body, request.headers.get("X-Hub-Signature-256"))
    return HttpResponse(text, status=status, content_type="text/plain")


def receive(raw: bytes, header: str | None) -> tuple[int, str]:
    """A POST's whole work, whichever door it came by: the answer's status code and text."""
    if not valid_signature(settings.WHATSAPP_APP_SECRET, raw, header):
        log.warning("whatsapp webhook with %s signature refused", "a wrong" if header else "no")
        return refusal(401 if not header else 403, gettext_noop("Firma inválida."))
    event_id = event_store(raw)
    # The task is looked for only once the event is committed: at once here (autocommit), later in a transaction.
    transaction.on_commit(lambda: applier_wake(event_id))
    return 200, "OK"


def event_store(raw: bytes) -> int:
    """Stores a verified delivery as it came; returns its id. One INSERT written once: through the ORM, composing
    it was a fifth of the POST's instructions (callgrind), more than the rest of the view."""
    table, quote = WebhookEvent._meta.db_table, connection.ops.quote_name
    with connection.cursor() as cursor:
        # Only names from the model's metadata; the values are parameters.
        cursor.execute(f"INSERT INTO {quote(table)} (received_at, body, error) VALUES (%s, %s, '') "  # nosec B608
                       "RETURNING id", [connection.ops.adapt_datetimefield_value(timezone.now()), raw])
        return cursor.fetchone()[0]


# The task that applies stored webhooks, enqueued only when none waits to start: a burst of 20,000 statuses costs
# a few tasks instead of 20,000 (pregonero.taskqueue.Drain).
applier = Drain("pregonero.sending.tasks.apply_webhook")


def applier_wake(event_id: int) -> None:
    applier.wake(event_id)


PATH = "webhooks/whatsapp/"
urlpatterns = [path(PATH, whatsapp_webhook, name="whatsapp_webhook")]

PLAIN_TEXT = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"),
              ("Cache-Control", "no-store")]


class IngestFront:
    """WSGI in front of Django: a POST to the webhook goes straight to `receive`; everything else (the GET
    handshake included) goes to Django untouched.

    It keeps what Django's handler would have kept: the body limit (DATA_UPLOAD_MAX_MEMORY_SIZE, refused before
    reading it), the database connection's lifetime (CONN_MAX_AGE, through the same `close_old_connections` that
    Django runs at a request's start and end), and an error's log with a 500, so Meta delivers it again."""

    path = "/" + PATH  # PATH_INFO: below the script name, where Django's URLconf starts too

    def __init__(self, django_app):
        self.django_app = django_app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self.path:
            return self.django_app(environ, start_response)
        status, text = self.answer(environ)
        body = text.encode()
        start_response(f"{status} {HTTPStatus(status).phrase}", [*PLAIN_TEXT, ("Content-Length", str(len(body)))])
        return [body]

    def answer(self, environ) -> tuple[int, str]:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return refusal(400, gettext_noop("La longitud del cuerpo de la solicitud no es válida."))
        if limit is not None and length > limit:
            return refusal(413, gettext_noop("El cuerpo de la solicitud es demasiado grande."))
        raw = environ["wsgi.input"].read(length) if length else b""
        close_old_connections()
        try:
            return receive(raw, environ.get("HTTP_X_HUB_SIGNATURE_256"))
        except Exception:
            log.exception("whatsapp webhook not stored; Meta will deliver it again")
            return refusal(500, gettext_noop("No se pudo guardar el evento; vuelva a enviarlo."))
        finally:
            close_old_connections()


def refusal(status: int, text: str) -> tuple[int, str]:
    """In the office's language whatever request this thread served last (a gthread worker's thread keeps the
    language Django's middleware activated for it)."""
    with translation.override(settings.LANGUAGE_CODE):
        return status, _(text)
