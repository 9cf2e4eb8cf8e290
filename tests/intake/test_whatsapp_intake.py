"""WhatsApp intake through the emulator's simulated users, over real HTTP: the emulator signs and posts each
webhook to Pregonero's live webhook view, which stores it and applies it (the immediate task backend runs the
application, and the file download after it, as soon as the event is committed). Files come back from the
emulator's Graph API with the bearer token, as from Meta's."""

import asyncio
import io
import zipfile
from datetime import timedelta

import pytest
from aiohttp import web
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from PIL import Image

from pregonero.campaigns.models import State
from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer
from pregonero.directory.models import Contact
from pregonero.intake.models import Draft, IncomingMessage, KnownSender
from pregonero.intake.whatsapp import acknowledge, retry_problem
from pregonero.intake.whatsapp_tasks import whatsapp_acknowledge, whatsapp_media_fetch
from pregonero.rsvp.models import Invitation
from pregonero.sending.channels.base import SendError
from pregonero.sending.channels.whatsapp import (
    WhatsAppClient, WhatsAppConfig, build_template_payload, rsvp_quick_reply_payload,
)
from pregonero.sending.models import InboundMessage, WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN, SECRET, PHONE_ID, WABA_ID = "intake-token", "intake-app-secret", "106540352242922", "102290129340398"
CULTURE = "+529981112233"  # Cultura's own WhatsApp; the emulator's webhooks say 5219981112233 (reference §5.9)
SECRETARY = "+529984445566"  # the secretary of Turismo, a known sender
GUEST = "+529987778899"  # a guest of the directory, no department's
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 50), (200, 30, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def wa(settings, live_server, people):
    """The emulator posting signed webhooks to the live server, and Pregonero's client pointed at it."""
    people.culture.whatsapp = CULTURE
    people.culture.save(update_fields=["whatsapp"])
    KnownSender.objects.create(department=people.tourism, source="whatsapp", address=SECRETARY, name="Rosa Ek")
    settings.WHATSAPP_APP_SECRET = SECRET
    config = EmulatorConfig(token=TOKEN, app_secret=SECRET, phone_number_id=PHONE_ID, waba_id=WABA_ID,
                            callback_url=f"{live_server.url}/webhooks/whatsapp/", statuses=False, seed=11,
                            webhook_retry_delay=0.05)
    with EmulatorServer(config) as server:
        settings.WHATSAPP_API_BASE_URL, settings.WHATSAPP_TOKEN = server.base_url, TOKEN
        settings.WHATSAPP_PHONE_NUMBER_ID, settings.WHATSAPP_WABA_ID = PHONE_ID, WABA_ID
        yield server


def delivered(server, result: dict) -> dict:
    """Waits until the webhook of a simulated message was answered by Pregonero."""
    assert result["posted"] and server.wait_idle(10)
    assert [a["status"] for a in server.call(lambda: list(server.dispatcher.attempts))][-1] == 200
    return result


def stored(result: dict) -> IncomingMessage:
    return IncomingMessage.objects.select_related("draft").get(external_id=result["id"])


def test_a_department_contacts_text_starts_a_draft_and_their_photo_and_files_extend_it(wa, people):
    photo, workbook = jpeg(), xlsx()
    text = delivered(wa, wa.user_sends_text(CULTURE, "Solicitamos difundir el Festival de Jazz.\nGracias",
                                            name="Lucía Pech"))
    assert text["wa_id"] == "5219981112233"  # the 521 form of Cultura's number still matches the department
    image = delivered(wa, wa.user_sends_image(CULTURE, photo, caption="La invitación", name="Lucía Pech"))
    pdf = delivered(wa, wa.user_sends_document(CULTURE, PDF, "application/pdf", "../Oficio 45.pdf",
                                               caption="Oficio firmado", name="Lucía Pech"))
    sheet = delivered(wa, wa.user_sends_document(CULTURE, workbook, XLSX_TYPE, "invitados.xlsx", name="Lucía Pech"))

    draft = Draft.objects.get()
    assert (draft.source, draft.department, draft.status) == ("whatsapp", people.culture, Draft.Status.OPEN)
    assert (draft.sender_address, draft.sender_name) == (CULTURE, "Lucía Pech")
    assert draft.subject == "Solicitamos difundir el Festival de Jazz."
    messages = list(draft.messages.order_by("pk"))
    assert [m.external_id for m in messages] == [text["id"], image["id"], pdf["id"], sheet["id"]]
    assert [m.body for m in messages] == ["Solicitamos difundir el Festival de Jazz.\nGracias", "La invitación",
                                         "Oficio firmado", ""]
    assert all(m.sent_at and not m.problems for m in messages)
    files = [(a.kind, a.original_name, a.content_type, a.file.read())
             for m in messages[1:] for a in m.attachments.all()]
    assert files == [("image", "imagen-whatsapp.jpg", "image/jpeg", photo),
                     ("scan", "Oficio 45.pdf", "application/pdf", PDF),  # no folders in a shown name
                     ("guest_list", "invitados.xlsx", XLSX_TYPE, workbook)]
    assert not Contact.objects.exists() and InboundMessage.objects.count() == 4


def test_a_known_senders_messages_go_to_their_department(wa, people):
    delivered(wa, wa.user_sends_text(SECRETARY, "Les envío la solicitud del Tianguis Turístico"))

    draft = Draft.objects.get()
    assert (draft.department, draft.sender_address) == (people.tourism, SECRETARY)


def test_a_duplicate_webhook_changes_nothing(wa):
    wa.configure(duplicate_probability=1.0)
    delivered(wa, wa.user_sends_image(CULTURE, jpeg(), caption="Invitación"))

    assert WebhookEvent.objects.count() == 2 and WebhookEvent.objects.filter(error="").count() == 2
    message = IncomingMessage.objects.get()
    assert message.attachments.count() == 1 and Draft.objects.count() == 1
    assert wa.stats["media_downloads"] == 1  # the second delivery did not fetch the file again


def invite(server, campaign, mobile) -> tuple[Invitation, str]:
    """An invitation sent through the emulator, so the guest has buttons to tap."""
    contact = Contact.objects.create(name="Itzel May", mobile=mobile)
    invitation = Invitation.objects.create(campaign=campaign, contact=contact)
    payload = build_template_payload(
        to_e164=mobile, template_name="invitacion_evento", language="es_MX", callback_data="inv-1",
        body_params=["Itzel May", "Festival de Jazz", "sábado 12 de diciembre", "19:00", "Malecón Tajamar"],
        header_image_link="https://x.test/b.jpg",
        quick_reply_payloads=[rsvp_quick_reply_payload(invitation.token, answer) for answer in ("yes", "no")],
        url_suffix=(2, invitation.token))
    config = WhatsAppConfig(base_url=server.base_url, token=TOKEN, phone_number_id=PHONE_ID, waba_id=WABA_ID)

    async def send():
        async with WhatsAppClient(config) as client:
            return await client.send(payload)

    return invitation, asyncio.run(send()).provider_id


@pytest.mark.parametrize("mobile", [GUEST, CULTURE], ids=["guest", "department-contact-also-a-guest"])
def test_taps_and_stop_words_keep_going_to_the_invitation_flow(wa, make_campaign, mobile):
    invitation, wamid = invite(wa, make_campaign(state=State.SENDING), mobile)

    delivered(wa, wa.user_taps_quick_reply(wamid, 0))
    invitation.refresh_from_db()
    assert (invitation.answer, invitation.answered_via) == (Invitation.Answer.ATTENDING, "button")

    delivered(wa, wa.user_sends_text(mobile, "Baja"))
    assert Contact.objects.get(mobile=mobile).whatsapp_opt_out
    if mobile == GUEST:
        assert not Draft.objects.exists()
    else:  # kept too, aside: from a department "BAJA" or "CANCELAR" may be about a request
        draft = Draft.objects.get()
        assert draft.status == Draft.Status.ASIDE and "no recibir más invitaciones («Baja»)" in draft.aside_reason


def test_other_senders_texts_start_no_draft(wa):
    delivered(wa, wa.user_sends_text(GUEST, "Muchas gracias por la invitación"))

    assert not Draft.objects.exists() and not IncomingMessage.objects.exists()
    assert InboundMessage.objects.count() == 1


def run_worker():
    call_command("db_worker", "--batch", "--interval", "0", verbosity=0)


def test_a_failed_download_keeps_the_message_and_retries_until_the_file_arrives(wa, settings):
    settings.TASKS = DB_TASKS
    wa.fail_media_downloads(1, status=503)
    sent = delivered(wa, wa.user_sends_document(CULTURE, PDF, "application/pdf", "oficio.pdf", caption="Oficio"))
    run_worker()  # applies the webhook, then tries the download once

    message = stored(sent)
    assert (message.body, message.draft.department.short_name) == ("Oficio", "CULT")
    assert message.problems == [retry_problem("oficio.pdf")] and not message.attachments.exists()
    assert "se reintentará" not in message.problems[0] and "intentará de nuevo" in message.problems[0]
    (retry,) = DBTaskResult.objects.filter(task_path=whatsapp_media_fetch.module_path, status="READY")
    assert retry.run_after > timezone.now() + timedelta(seconds=30) and retry.args_kwargs["args"][2] == 1

    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    run_worker()

    message.refresh_from_db()
    assert message.problems == [] and [(a.kind, a.file.read()) for a in message.attachments.all()] == [("scan", PDF)]
    assert whatsapp_media_fetch.call(message.pk, {"id": "1", "mime_type": "", "name": "x"}) == "already stored"


def test_a_file_over_the_limit_is_noted_not_retried(wa, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    sent = delivered(wa, wa.user_sends_document(CULTURE, PDF + b" " * 2000, "application/pdf", "oficio.pdf"))

    message = stored(sent)
    assert not message.attachments.exists() and wa.stats.get("media_downloads", 0) == 0
    assert message.problems == ["El archivo «oficio.pdf» pesa más de 1000\xa0bytes, lo más que Pregonero guarda; "
                                "pídalo por correo."]


def acknowledgements(server):
    return [m.request for m in server.messages(CULTURE)]


def test_the_acknowledgement_inside_the_window_is_free_text_and_goes_once(wa):
    draft = stored(delivered(wa, wa.user_sends_text(CULTURE, "Solicitud del Festival de Jazz"))).draft

    assert acknowledge(draft, "RP-2026-0042") is True
    assert acknowledge(Draft.objects.get(pk=draft.pk), "RP-2026-0042") is True  # already told: nothing sent

    (sent,) = acknowledgements(wa)
    assert sent["type"] == "text" and "folio RP-2026-0042" in sent["text"]["body"]
    assert sent["text"]["body"].startswith("Recibimos su solicitud")
    assert Draft.objects.get(pk=draft.pk).acknowledged_at is not None


def test_the_acknowledgement_outside_the_window_is_the_approved_template(wa):
    draft = stored(delivered(wa, wa.user_sends_text(CULTURE, "Solicitud del Festival de Jazz"))).draft
    InboundMessage.objects.update(received_at=timezone.now() - timedelta(hours=25))
    wa.advance_clock(25 * 3600)  # WhatsApp's side of the window closed too

    assert whatsapp_acknowledge.enqueue(draft.pk, "RP-2026-0042").return_value is True

    (sent,) = acknowledgements(wa)
    assert (sent["type"], sent["template"]["name"], sent["template"]["language"]["code"]) == (
        "template", "acuse_solicitud", "es_MX")
    assert sent["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "RP-2026-0042"}]}]


def test_a_refused_acknowledgement_is_reported_and_can_be_sent_later(wa, caplog):
    draft = stored(delivered(wa, wa.user_sends_text(CULTURE, "Solicitud"))).draft
    wa.expire_token()

    assert acknowledge(draft, "RP-2026-0042") is False
    assert Draft.objects.get(pk=draft.pk).acknowledged_at is None and acknowledgements(wa) == []
    assert "***2233" in caplog.text and "9981112233" not in caplog.text

    wa.call(setattr, wa.state, "token_expired", False)
    assert acknowledge(Draft.objects.get(pk=draft.pk), "RP-2026-0042") is True and len(acknowledgements(wa)) == 1


def test_a_media_url_on_another_host_never_receives_the_token():
    """The file URL comes from a response: the bearer token only ever goes to the configured API host."""
    seen = []

    async def scenario():
        async def elsewhere(request):
            seen.append(request.headers.get("Authorization"))
            return web.Response(body=b"stolen", content_type="image/jpeg")

        async def lookup(request):
            return web.json_response({"url": f"{other}/archivo.jpg", "mime_type": "image/jpeg", "id": "123"})

        runners = []
        for route, handler in (("/archivo.jpg", elsewhere), ("/v23.0/123", lookup)):
            app = web.Application()
            app.router.add_get(route, handler)
            runners.append(web.AppRunner(app, access_log=None))
            await runners[-1].setup()
            await web.TCPSite(runners[-1], "127.0.0.1", 0).start()
        other, graph = (f"http://127.0.0.1:{runner.addresses[0][1]}" for runner in runners)
        config = WhatsAppConfig(base_url=graph, token=TOKEN, phone_number_id=PHONE_ID, waba_id=WABA_ID)
        try:
            async with WhatsAppClient(config) as client:
                with pytest.raises(SendError) as foreign:
                    await client.download_media("123", max_bytes=1000)
                with pytest.raises(SendError) as odd_id:
                    await client.download_media("../123", max_bytes=1000)
        finally:
            for runner in runners:
                await runner.cleanup()
        return foreign.value, odd_id.value

    foreign, odd_id = asyncio.run(scenario())
    assert foreign.kind == "account" and "dirección distinta" in foreign.reason and seen == []
    assert odd_id.kind == "permanent"


def test_the_folio_sent_after_registration_is_tried_again_when_whatsapp_fails_for_a_while(wa, settings, people,
                                                                                           client):
    """The assistant registers a WhatsApp request; WhatsApp answers the acknowledgement with a temporary error,
    so the worker tries again later and the department gets its folio once."""
    from pregonero.campaigns.models import Campaign
    from pregonero.intake.services import draft_contents

    settings.TASKS = DB_TASKS
    request = delivered(wa, wa.user_sends_text(CULTURE, "Solicitud del Festival de Jazz"))
    run_worker()  # applies the webhook: the draft is there
    draft = stored(request).draft
    client.force_login(people.assistant)
    response = client.post(f"/recibidas/{draft.pk}/registrar/", {
        "seen": " ".join(draft_contents(draft)), "submission_key": "b3c1f0a4-6f7e-4d7a-9a52-0d9f3c7b1e21",
        "title": "Festival de Jazz", "department": people.culture.pk, "received_on": f"{timezone.localdate():%Y-%m-%d}",
        "oficio_number": "", "turn": "1"})
    folio = Campaign.objects.get().folio
    assert response.status_code == 302 and response.headers["Location"] == f"/solicitudes/{folio}/"

    wa.inject_fault(131000)  # "something went wrong": WhatsApp's temporary error
    run_worker()  # the acknowledgement, refused this time

    assert acknowledgements(wa) == [] and Draft.objects.get(pk=draft.pk).acknowledged_at is None
    (retry,) = DBTaskResult.objects.filter(task_path=whatsapp_acknowledge.module_path, status="READY")
    assert retry.run_after > timezone.now() + timedelta(seconds=30) and retry.args_kwargs["args"] == [
        draft.pk, folio, 1]

    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    run_worker()

    (sent,) = acknowledgements(wa)
    assert f"folio {folio}" in sent["text"]["body"] and Draft.objects.get(pk=draft.pk).acknowledged_at is not None
    page = client.get(f"/recibidas/{draft.pk}/").content.decode()
    assert "acuse enviado el" in page and "acuse pendiente" not in page


def test_a_downloaded_file_that_cannot_be_recorded_leaves_nothing_on_disk(wa, settings, tmp_path):
    from django.db.models.signals import post_save

    from pregonero.intake.models import IncomingAttachment

    settings.TASKS, settings.MEDIA_ROOT = DB_TASKS, tmp_path
    request = delivered(wa, wa.user_sends_image(CULTURE, jpeg(), caption="La invitación"))

    def refuse(sender, instance, **kwargs):  # fault injection: the database refuses the file's row
        raise RuntimeError("the database went away")

    post_save.connect(refuse, sender=IncomingAttachment)
    try:
        run_worker()  # applies the webhook, then downloads the photo and fails to record it
    finally:
        post_save.disconnect(refuse, sender=IncomingAttachment)

    message = stored(request)
    assert not message.attachments.exists() and [p for p in tmp_path.rglob("*") if p.is_file()] == []
    (failed,) = DBTaskResult.objects.filter(task_path=whatsapp_media_fetch.module_path)
    assert failed.status == "FAILED"

    assert whatsapp_media_fetch.call(message.pk, failed.args_kwargs["args"][1]) == "stored"
    (attachment,) = message.attachments.all()
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()] == [attachment.file.name]
