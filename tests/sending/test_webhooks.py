"""The WhatsApp webhook: handshake, signatures, and idempotent, forward-only application of events."""

import hashlib
import hmac
import json

import pytest
from django.urls import reverse

from pregonero.campaigns.models import State
from pregonero.directory.models import Contact
from pregonero.rsvp.models import Invitation
from pregonero.sending.channels.whatsapp import rsvp_quick_reply_payload
from pregonero.sending.models import InboundMessage, Message, WebhookEvent
from pregonero.sending.webhooks import valid_signature

URL = "/webhooks/whatsapp/"
SECRET = "test_app_secret"


@pytest.fixture(autouse=True)
def whatsapp_settings(settings):
    settings.WHATSAPP_APP_SECRET = SECRET
    settings.WHATSAPP_VERIFY_TOKEN = "verificame"


@pytest.fixture
def sent(people, make_campaign):
    """One invitation whose WhatsApp message went out (wamid known), to a Mexican mobile."""
    campaign = make_campaign(state=State.SENDING)
    contact = Contact.objects.create(name="Itzel May", mobile="+529981234567", email="itzel@example.com")
    invitation = Invitation.objects.create(campaign=campaign, contact=contact)
    message = Message.objects.create(campaign=campaign, invitation=invitation, channel="whatsapp",
                                      address=contact.mobile, state=Message.State.SENT, provider_id="wamid.A1")
    return message


def post(client, payload: dict, *, secret=SECRET, signature=None):
    body = json.dumps(payload).encode()  # ensure_ascii, as Meta sends it
    header = signature or "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(URL, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=header)


def envelope(field="messages", **value):
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "200000000000001", "changes": [{"field": field, "value": {
                "messaging_product": "whatsapp", "metadata": {"phone_number_id": "100000000000001"}, **value}}]}]}


def status(message, name, **extra):
    return {"id": message.provider_id, "status": name, "timestamp": "1750030073",
            "recipient_id": "5219981234567", **extra}


def test_signature_test_vector_from_the_reference():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"
    assert valid_signature("test_app_secret", body, header)
    assert not valid_signature("test_app_secret", body + b" ", header)


def test_handshake_echoes_the_challenge_only_for_our_token(client, db):
    ok = client.get(URL, {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "verificame"})
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    assert client.get(URL, {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "otro"}).status_code == 403


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "md5=abc"], ids=["missing", "forged", "other"])
def test_unsigned_or_forged_posts_are_refused_and_nothing_is_stored(client, sent, signature):
    body = json.dumps(envelope(statuses=[status(sent, "read")])).encode()
    headers = {"HTTP_X_HUB_SIGNATURE_256": signature} if signature else {}
    response = client.post(URL, data=body, content_type="application/json", **headers)
    assert response.status_code in (401, 403)
    assert not WebhookEvent.objects.exists()
    sent.refresh_from_db()
    assert sent.state == Message.State.SENT


def test_a_signature_with_another_secret_is_refused(client, sent):
    assert post(client, envelope(statuses=[status(sent, "read")]), secret="otra-app").status_code == 403
    assert not WebhookEvent.objects.exists()


def test_statuses_only_move_forward_whatever_the_order(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(statuses=[status(sent, "read")]))
        post(client, envelope(statuses=[status(sent, "delivered")]))  # late
        post(client, envelope(statuses=[status(sent, "read")]))  # duplicate
    sent.refresh_from_db()
    assert sent.state == Message.State.READ and sent.read_at and not sent.delivered_at
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 3


def test_a_failure_does_not_undo_a_delivery_but_a_late_delivery_beats_a_failure(client, sent, django_capture_on_commit_callbacks):
    failed = status(sent, "failed", errors=[{"code": 131049, "title": "limit"}])
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(statuses=[failed]))
    sent.refresh_from_db()
    assert sent.state == Message.State.FAILED and sent.error_code == "131049" and sent.error_reason
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(statuses=[status(sent, "delivered")]))
        post(client, envelope(statuses=[failed]))
    sent.refresh_from_db()
    assert sent.state == Message.State.DELIVERED


def test_a_status_is_matched_by_our_callback_data_when_the_send_timed_out(client, sent, django_capture_on_commit_callbacks):
    Message.objects.filter(pk=sent.pk).update(provider_id="", state=Message.State.SENDING, outcome_unknown=True)
    event = {"id": "wamid.NEW", "status": "sent", "timestamp": "1", "recipient_id": "5219981234567",
             "biz_opaque_callback_data": str(sent.public_id)}
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(statuses=[event]))
    sent.refresh_from_db()
    assert (sent.state, sent.provider_id, sent.outcome_unknown) == (Message.State.SENT, "wamid.NEW", False)


def test_not_on_whatsapp_marks_the_number(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(statuses=[status(sent, "failed", errors=[{"code": 131026}])]))
    contact = sent.invitation.contact
    contact.refresh_from_db()
    assert contact.whatsapp_unavailable_at is not None and contact.reachable_by_email


def tap(message, answer, wamid="wamid.TAP1", sender="5219981234567"):
    return {"context": {"from": "15550783881", "id": message.provider_id}, "from": sender, "id": wamid,
            "timestamp": "1750091045", "type": "button",
            "button": {"payload": rsvp_quick_reply_payload(message.invitation.token, answer), "text": "Confirmo asistencia"}}


def test_a_quick_reply_tap_is_an_rsvp_once_even_if_delivered_twice(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[tap(sent, "yes")]))
        post(client, envelope(messages=[tap(sent, "yes")]))
    invitation = Invitation.objects.get()
    assert (invitation.answer, invitation.answered_via) == (Invitation.Answer.ATTENDING, "button")
    assert invitation.answers.count() == 1 and InboundMessage.objects.count() == 1


def test_the_last_answer_wins_and_the_history_stays(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[tap(sent, "yes")]))
        post(client, envelope(messages=[tap(sent, "no", wamid="wamid.TAP2")]))
    invitation = Invitation.objects.get()
    assert invitation.answer == Invitation.Answer.DECLINED
    assert list(invitation.answers.values_list("answer", flat=True)) == ["attending", "declined"]


def test_a_tap_from_another_number_is_ignored(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[tap(sent, "yes", sender="5219989999999")]))
    assert Invitation.objects.get().answer == Invitation.Answer.PENDING


def test_a_tap_for_a_cancelled_campaign_changes_nothing(client, sent, django_capture_on_commit_callbacks):
    sent.campaign.__class__.objects.filter(pk=sent.campaign_id).update(state=State.CANCELLED)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[tap(sent, "yes")]))
    assert Invitation.objects.get().answer == Invitation.Answer.PENDING


@pytest.mark.parametrize("text", ["BAJA", "  Stop ", "baja.", "No más"])
def test_typed_stop_words_opt_out_of_whatsapp(client, sent, text, django_capture_on_commit_callbacks):
    message = {"from": "5219981234567", "id": "wamid.T1", "timestamp": "1", "type": "text", "text": {"body": text}}
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[message]))
    contact = Contact.objects.get()
    assert contact.whatsapp_opt_out and not contact.email_opt_out


def test_an_ordinary_reply_is_not_an_opt_out(client, sent, django_capture_on_commit_callbacks):
    message = {"from": "5219981234567", "id": "wamid.T2", "timestamp": "1", "type": "text",
               "text": {"body": "¿Puedo llevar a mi esposa? No quiero darme de baja"}}
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[message]))
    assert not Contact.objects.get().whatsapp_opt_out


def test_whatsapps_stop_preference_is_an_opt_out(client, sent, django_capture_on_commit_callbacks):
    preference = {"wa_id": "5219981234567", "detail": "User requested to stop marketing messages",
                  "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(field="user_preferences", contacts=[{"wa_id": "5219981234567"}],
                              user_preferences=[preference]))
    assert Contact.objects.get().whatsapp_opt_out


def test_a_malformed_but_signed_payload_is_stored_and_marked_not_crashed(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [7]}}]}]})
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.processed_at and event.error


# --- The WSGI front (pregonero.wsgi): the door every real server uses, outside Django's middleware -------------

def call_wsgi(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, dict, bytes]:
    """One request through `pregonero.wsgi.application`, as gunicorn calls it."""
    import io
    from wsgiref.util import setup_testing_defaults

    from pregonero.wsgi import application

    path, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)) if body else "", "CONTENT_TYPE": "application/json",
               **{"HTTP_" + name.upper(): value for name, value in headers.items()}}
    setup_testing_defaults(environ)
    answer = {}
    chunks = application(environ, lambda status, header_list: answer.update(status=status, headers=dict(header_list)))
    try:
        return answer["status"], answer["headers"], b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()


def signed(payload: dict) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_through_the_wsgi_front_a_signed_status_is_stored_and_applied(sent, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    body, signature = signed(envelope(statuses=[status(sent, "read")]))
    answer, headers, text = call_wsgi("POST", URL, body, x_hub_signature_256=signature)
    assert (answer, text) == ("200 OK", b"OK")
    assert headers["Content-Length"] == "2"
    assert bytes(WebhookEvent.objects.get().body) == body
    sent.refresh_from_db()
    assert sent.state == Message.State.READ


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64], ids=["missing", "forged"])
def test_through_the_wsgi_front_a_bad_signature_is_refused_in_spanish_and_nothing_stored(sent, signature):
    body, _ = signed(envelope(statuses=[status(sent, "read")]))
    headers = {"x_hub_signature_256": signature} if signature else {}
    answer, _, text = call_wsgi("POST", URL, body, **headers)
    assert answer == ("403 Forbidden" if signature else "401 Unauthorized")
    assert text.decode() == "Firma inválida."
    assert not WebhookEvent.objects.exists()
    sent.refresh_from_db()
    assert sent.state == Message.State.SENT


@pytest.mark.django_db(transaction=True)
def test_through_the_wsgi_front_an_oversize_body_is_refused_unread(sent, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body, signature = signed(envelope(statuses=[status(sent, "read")] * 20))
    assert len(body) > 1000
    answer, _, text = call_wsgi("POST", URL, body, x_hub_signature_256=signature)
    assert (answer, text.decode()) == ("413 Content Too Large", "El cuerpo de la solicitud es demasiado grande.")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_through_the_wsgi_front_a_database_failure_answers_500_so_meta_delivers_again(sent, monkeypatch, caplog):
    from pregonero.sending import webhooks

    def down(raw):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(webhooks, "event_store", down)
    body, signature = signed(envelope(statuses=[status(sent, "read")]))
    answer, _, text = call_wsgi("POST", URL, body, x_hub_signature_256=signature)
    assert answer == "500 Internal Server Error"
    assert "vuelva a enviarlo" in text.decode()
    assert "not stored" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_front_leaves_the_handshake_and_other_pages_to_django(db):
    answer, _, text = call_wsgi("GET", URL + "?hub.mode=subscribe&hub.challenge=42&hub.verify_token=verificame")
    assert (answer, text) == ("200 OK", b"42")
    answer, headers, _ = call_wsgi("POST", reverse("login"))  # no CSRF token: Django's middleware answers
    assert answer.startswith("403")
    assert "Content-Security-Policy" in headers
