"""`/webhooks/whatsapp/`: the verification handshake, and signed event deliveries stored then applied.

A POST is checked against `X-Hub-Signature-256` on the exact raw bytes before anything is stored; a bad or
missing signature is refused and leaves no trace. A good one is stored as it came and answered at once; applying
it is a background task (inbound.py), idempotent, because Meta retries and duplicates deliveries.
"""

import hashlib
import hmac
import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

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
    from .tasks import apply_webhook

    with transaction.atomic():
        event = WebhookEvent.objects.create(body=raw)
        transaction.on_commit(lambda: apply_webhook.enqueue(event.pk))
    return HttpResponse("OK", content_type="text/plain")


urlpatterns = [path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp_webhook")]
