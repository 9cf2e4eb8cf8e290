"""The assistant's inbox of requests that arrived by e-mail or WhatsApp: list, open, register and turn, merge,
discard, restore; every decision once, every refusal in Spanish, the requester told the folio by their channel."""

import io
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from pregonero.campaigns.models import Attachment, AuditEntry, Campaign, FolioCounter, State
from pregonero.intake.models import Draft, KnownSender
from pregonero.intake.services import draft_contents

OFFICE_MAIL = "cultura@pregonero.example"  # Cultura's own address: drafts from it are matched to Cultura
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png_bytes(size=(60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (18, 64, 107)).save(buffer, "PNG")
    return buffer.getvalue()


def register_data(draft, **overrides) -> dict:
    data = {
        "seen": " ".join(draft_contents(draft)),  # what the page showed: everything on the draft now
        "submission_key": str(uuid.uuid4()),
        "title": "Concierto de la Orquesta Juvenil",
        "department": draft.department_id or "",
        "received_on": f"{timezone.localdate():%Y-%m-%d}",
        "oficio_number": "",
        "turn": "1",
    }
    data.update(overrides)
    return data


def discard_data(draft, reason) -> dict:
    return {"reason": reason, "seen": " ".join(draft_contents(draft))}


def carry(message, **kinds) -> dict:
    """Form fields carrying the message's files: {original name: kind}."""
    data = {}
    for attachment in message.attachments.all():
        if attachment.original_name in kinds:
            data[f"carry_{attachment.pk}"] = "on"
            data[f"kind_{attachment.pk}"] = kinds[attachment.original_name]
    return data


def page_text(response) -> str:
    return response.content.decode()


def flashed(response) -> list[str]:
    """The messages the response added (those of earlier, unfollowed redirects are left out)."""
    return [str(m) for m in response.wsgi_request._messages._queued_messages]


# --------------------------------------------------------------------------- the list


def test_the_assistant_sees_open_drafts_newest_first_with_their_source_sender_and_files(
        client, people, receive_email, receive_whatsapp):
    KnownSender.objects.create(department=people.tourism, source="whatsapp", address="+529981112233")
    old = receive_email(subject="Feria del libro", minutes_ago=90,
                        files=[("invitacion.png", "image/png", png_bytes()), ("oficio.pdf", "application/pdf", PDF)])
    unknown = receive_email(sender="alguien@otro.example", name="", subject="Consulta", minutes_ago=30)
    whatsapp = receive_whatsapp(files=[("foto.jpg", "image/jpeg", b"not checked until registered")])
    receive_email(subject="Respuesta automática: fuera de la oficina", aside_reason="Respuesta automática")

    client.force_login(people.assistant)
    response = client.get(reverse("intake:inbox"))
    assert response.status_code == 200
    rows = [int(pk) for pk in re.findall(r'<tr data-draft="(\d+)"', page_text(response))]
    assert rows == [whatsapp.draft_id, unknown.draft_id, old.draft_id]  # newest first; the auto-reply set aside
    html = page_text(response)
    assert "Dirección de Cultura" in html and "Dirección de Turismo" in html and "sin identificar" in html
    assert 'data-source="whatsapp"' in html and 'data-source="email"' in html
    assert "2 archivos" in html and "Secretaria de Turismo" in html
    assert 'id="nav-intake"' in html and '<span class="badge" title="Solicitudes por registrar">3</span>' in html

    aside = client.get(reverse("intake:inbox") + "?ver=apartados")
    assert "Respuesta automática: fuera de la oficina" in page_text(aside)
    assert "Feria del libro" not in page_text(aside)


# --------------------------------------------------------------------------- register and turn


def test_register_and_turn_an_email_draft_carries_its_files_and_tells_everybody(
        client, people, receive_email, inbox, django_capture_on_commit_callbacks):
    message = receive_email(subject="RE: Solicitud de difusión: Concierto de la Orquesta Juvenil",
                            body="Adjuntamos la invitación y el oficio.\n<script>alert(1)</script>",
                            files=[("invitacion.png", "image/png", png_bytes()), ("oficio.pdf", "application/pdf", PDF)])
    draft = message.draft
    client.force_login(people.assistant)

    page = client.get(reverse("intake:draft", args=[draft.pk]))
    html = page_text(page)
    assert 'value="Solicitud de difusión: Concierto de la Orquesta Juvenil"' in html  # title from the subject
    assert f'<option value="{people.culture.pk}" selected>' in html  # department matched from the address
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html  # shown escaped
    assert "Registrar y turnar a la Dirección" in html

    data = register_data(draft, **carry(message, **{"invitacion.png": "image", "oficio.pdf": "scan"}))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("intake:register", args=[draft.pk]), data)
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response.headers["Location"] == reverse("campaigns:detail", args=[campaign.folio])
    assert f"Solicitud registrada con el folio {campaign.folio} y turnada a la Dirección" in flashed(response)[0]
    assert (campaign.state, campaign.received_via, campaign.department) == (State.IN_REVIEW, "email", people.culture)
    assert sorted((a.kind, a.original_name) for a in campaign.attachments.all()) == [
        ("image", "invitacion.png"), ("scan", "oficio.pdf")]
    assert campaign.invitation_image.content_type == "image/png"
    draft.refresh_from_db()
    assert (draft.status, draft.campaign, draft.decided_by) == (Draft.Status.REGISTERED, campaign, people.assistant)
    assert list(AuditEntry.objects.filter(campaign=campaign).values_list("action", flat=True)) == [
        "campaign.create", "intake.register", "campaign.turn"]

    # The Director is told, in the app and by e-mail.
    assert people.director.notifications.filter(campaign=campaign, audit_entry__action="campaign.turn").exists()
    assert inbox.to(people.director.email)

    # The requester gets the folio in the thread of their own message.
    [ack] = inbox.to(OFFICE_MAIL)
    assert ack["In-Reply-To"] == f"<{message.external_id}>" and f"<{message.external_id}>" in ack["References"]
    assert campaign.folio in ack["Subject"] and ack["Subject"].startswith("Re: Solicitud de difusión: Concierto")
    assert ack["Auto-Submitted"] == "auto-replied"
    text = ack.get_body(("plain",)).get_content()
    assert f"registró con el folio {campaign.folio}" in text and "Ya está en revisión de la Dirección" in text
    draft.refresh_from_db()
    assert draft.acknowledged_at is not None

    detail = client.get(reverse("campaigns:detail", args=[campaign.folio]))
    assert "La registró desde lo recibido por correo o WhatsApp" in page_text(detail)


@pytest.mark.parametrize("stored, answered", [
    ("abc.123@correo.example", "<abc.123@correo.example>"),  # as the mail parser stores it
    ("<abc.123@correo.example>", "<abc.123@correo.example>"),
    ("sha256:0f1e2d", None),  # a message that had no Message-ID is stored under its digest: nothing to answer
    ("mid-sha256:0f1e2d", None),
])
def test_the_acknowledgement_answers_the_message_id_only_when_there_was_one(stored, answered):
    from pregonero.intake.acknowledgements import message_id

    assert message_id(stored) == answered


def test_register_only_leaves_it_received_for_turning_later(client, people, receive_email):
    draft = receive_email().draft
    client.force_login(people.assistant)
    response = client.post(reverse("intake:register", args=[draft.pk]), register_data(draft, turn="0"))
    campaign = Campaign.objects.get()
    assert campaign.state == State.RECEIVED and response.status_code == 302
    assert flashed(response) == [f"Solicitud registrada con el folio {campaign.folio}."]


def test_a_double_submit_registers_once_and_a_second_decision_is_told_clearly(
        client, people, receive_email, inbox, django_capture_on_commit_callbacks):
    draft = receive_email().draft
    client.force_login(people.assistant)
    data = register_data(draft)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(reverse("intake:register", args=[draft.pk]), data)
        second = client.post(reverse("intake:register", args=[draft.pk]), data)
    campaign = Campaign.objects.get()
    assert first.headers["Location"] == second.headers["Location"]
    assert flashed(second) == [f"Esta solicitud ya se había registrado con el folio {campaign.folio}."]
    assert len(inbox.to(OFFICE_MAIL)) == 1
    assert AuditEntry.objects.filter(action="intake.register").count() == 1

    # Someone else's form (another key), or a discard, arriving after the registration: a clear message, no change.
    third = client.post(reverse("intake:register", args=[draft.pk]), register_data(draft))
    discard = client.post(reverse("intake:discard", args=[draft.pk]), discard_data(draft, "Duplicada"))
    for response in (third, discard):
        assert response.headers["Location"] == reverse("intake:draft", args=[draft.pk])
        assert flashed(response) == [f"Esta solicitud ya se registró con el folio {campaign.folio}."]
    assert Campaign.objects.count() == 1
    draft.refresh_from_db()
    assert draft.status == Draft.Status.REGISTERED


def test_a_form_with_errors_is_shown_again_with_them(client, people, receive_email):
    draft = receive_email(sender="alguien@otro.example").draft
    client.force_login(people.assistant)
    response = client.post(reverse("intake:register", args=[draft.pk]), register_data(draft, title=""))
    assert response.status_code == 200 and "Este campo es obligatorio." in page_text(response)
    assert not Campaign.objects.exists()


# --------------------------------------------------------------------------- hostile files


@pytest.mark.parametrize("name, content_type, content, kind, message", [
    ("invitacion.png", "image/png", b"<html><script>alert(1)</script></html>", "image",
     "Imagen de la invitación: El contenido de «invitacion.png» no corresponde a un archivo .png válido."),
    ("oficio.pdf", "application/pdf", PDF + b"<html><body>hola</body></html>", "scan",
     "Oficio o documento escaneado: «oficio.pdf» trae otro archivo escondido dentro"),
    ("lista.xlsx", "application/octet-stream", b"PK\x03\x04 not really a workbook", "guest_list",
     "Lista de invitados:"),
])
def test_a_hostile_file_is_refused_with_a_clear_message_and_nothing_is_written(
        client, people, receive_email, inbox, django_capture_on_commit_callbacks,
        name, content_type, content, kind, message):
    email = receive_email(files=[("bien.png", "image/png", png_bytes()), (name, content_type, content)])
    draft = email.draft
    client.force_login(people.assistant)
    data = register_data(draft, **carry(email, **{"bien.png": "image", name: kind}))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("intake:register", args=[draft.pk]), data)
    assert response.status_code == 200
    assert message in page_text(response).replace("&laquo;", "«").replace("&raquo;", "»")
    assert 'id="register-errors"' in page_text(response)
    assert not Campaign.objects.exists() and not Attachment.objects.exists() and not FolioCounter.objects.filter(last__gt=0).exists()
    assert not AuditEntry.objects.exists() and not inbox.to(OFFICE_MAIL)
    draft.refresh_from_db()
    assert draft.status == Draft.Status.OPEN
    # Left out, the same request registers.
    data.pop(f"carry_{email.attachments.get(original_name=name).pk}")
    retried = client.post(reverse("intake:register", args=[draft.pk]), data)
    assert retried.status_code == 302, page_text(retried)
    assert [a.original_name for a in Campaign.objects.get().attachments.all()] == ["bien.png"]


def test_a_file_is_downloaded_under_its_cleaned_name_never_shown_inline(client, people, receive_email):
    message = receive_email(files=[("página.html", "text/html", b"<script>alert(1)</script>")])
    attachment = message.attachments.get()
    client.force_login(people.assistant)
    response = client.get(reverse("intake:attachment", args=[attachment.pk]))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    original = client.get(reverse("intake:original", args=[message.pk]))
    assert original.headers["Content-Disposition"].startswith("attachment;")
    assert message.external_id.encode() in b"".join(original.streaming_content)


# --------------------------------------------------------------------------- merge, discard, restore


def test_two_messages_about_one_event_are_merged_and_registered_together(
        client, people, receive_email, receive_whatsapp, django_capture_on_commit_callbacks, inbox):
    first = receive_email(subject="Festival de Jazz", body="Les enviamos la solicitud.", minutes_ago=20)
    second = receive_email(subject="Festival de Jazz: la imagen", body="Olvidamos la imagen.",
                           files=[("jazz.png", "image/png", png_bytes())])
    client.force_login(people.assistant)
    page = page_text(client.get(reverse("intake:draft", args=[first.draft_id])))
    assert f'value="{second.draft_id}"' in page  # offered for merging

    response = client.post(reverse("intake:merge", args=[first.draft_id]), {"drafts": [second.draft_id]})
    assert flashed(response) == ["Se unió 1 solicitud a esta, con sus mensajes y archivos."]
    into, merged = Draft.objects.get(pk=first.draft_id), Draft.objects.get(pk=second.draft_id)
    assert sorted(into.messages.values_list("pk", flat=True)) == [first.pk, second.pk]
    assert (merged.status, merged.merged_into) == (Draft.Status.MERGED, into)
    entry = AuditEntry.objects.get(action="intake.merge")
    assert (entry.campaign, entry.actor, entry.data["into"], entry.data["draft"]) == (None, people.assistant, into.pk, merged.pk)
    html = page_text(client.get(reverse("intake:draft", args=[into.pk])))
    assert "Olvidamos la imagen." in html and "Les enviamos la solicitud." in html and "jazz.png" in html
    assert "Unió aquí la n.º" in html
    assert Draft.objects.filter(status="open").count() == 1

    # Merging it again (a double click) changes nothing and says why.
    again = client.post(reverse("intake:merge", args=[first.draft_id]), {"drafts": [second.draft_id]})
    assert "ya no está por registrar" in flashed(again)[0]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("intake:register", args=[into.pk]),
                    register_data(into, **carry(second, **{"jazz.png": "image"})))
    campaign = Campaign.objects.get()
    merged.refresh_from_db()
    assert merged.status == Draft.Status.REGISTERED and campaign.invitation_image.original_name == "jazz.png"
    assert len(inbox.to(OFFICE_MAIL)) == 1  # one acknowledgement for the request, in the first message's thread
    assert inbox.to(OFFICE_MAIL)[0]["In-Reply-To"] == f"<{first.external_id}>"
    history = page_text(client.get(reverse("intake:inbox") + "?ver=historial"))
    assert history.count(f'class="folio">{campaign.folio}<') == 2  # the draft, and the one merged into it


def test_discarding_needs_a_reason_and_keeps_it_in_the_audit_log(client, people, receive_email):
    draft = receive_email(subject="Boletín semanal de noticias", sender="boletin@noticias.example").draft
    client.force_login(people.assistant)
    empty = client.post(reverse("intake:discard", args=[draft.pk]), {"reason": "  "})
    assert flashed(empty) == ["Escriba el motivo del descarte: queda en el registro."]
    draft.refresh_from_db()
    assert draft.status == Draft.Status.OPEN

    response = client.post(reverse("intake:discard", args=[draft.pk]),
                           discard_data(draft, "Es un boletín, no una solicitud."))
    assert response.headers["Location"] == reverse("intake:inbox")
    draft.refresh_from_db()
    assert (draft.status, draft.discard_reason) == (Draft.Status.DISCARDED, "Es un boletín, no una solicitud.")
    entry = AuditEntry.objects.get(action="intake.discard")
    assert (entry.campaign, entry.actor, entry.comment) == (None, people.assistant, "Es un boletín, no una solicitud.")
    assert entry.data["draft"] == draft.pk

    # The Director may look at what was discarded (read-only: no forms).
    client.force_login(people.director)
    history = page_text(client.get(reverse("intake:inbox") + "?ver=historial"))
    assert "Boletín semanal de noticias" in history and "Es un boletín, no una solicitud." in history
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert "Es un boletín, no una solicitud." in page and "<form method=\"post\" action=\"/recibidas/" not in page


def test_a_message_set_aside_goes_back_to_the_drafts_to_register(client, people, receive_email):
    draft = receive_email(subject="Re: fuera de la oficina", aside_reason="Respuesta automática").draft
    client.force_login(people.assistant)
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert "Respuesta automática" in page and 'id="register-form"' not in page
    blocked = client.post(reverse("intake:register", args=[draft.pk]), register_data(draft))
    assert flashed(blocked) == ["Esta solicitud está apartada; primero márquela como solicitud."]

    response = client.post(reverse("intake:restore", args=[draft.pk]))
    assert flashed(response) == ["Listo: la solicitud volvió a «Por registrar»."]
    draft.refresh_from_db()
    assert draft.status == Draft.Status.OPEN
    assert AuditEntry.objects.get(action="intake.restore").data["draft"] == draft.pk
    assert 'id="register-form"' in page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    again = client.post(reverse("intake:restore", args=[draft.pk]))
    assert "alguien más actuó antes" in flashed(again)[0]


# --------------------------------------------------------------------------- WhatsApp


def test_a_whatsapp_draft_is_registered_as_received_by_whatsapp(client, people, receive_whatsapp, emulator, settings,
                                                                 django_capture_on_commit_callbacks):
    KnownSender.objects.create(department=people.tourism, source="whatsapp", address="+529981112233")
    message = receive_whatsapp(files=[("invitacion.png", "image/png", png_bytes())])
    draft = message.draft
    client.force_login(people.assistant)
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert 'value="Hola, mandamos la invitación."' in page  # no subject: the first line is the title
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("intake:register", args=[draft.pk]),
                    register_data(draft, **carry(message, **{"invitacion.png": "image"})))
    campaign = Campaign.objects.get()
    assert (campaign.received_via, campaign.department, campaign.state) == ("whatsapp", people.tourism, State.IN_REVIEW)
    draft.refresh_from_db()
    assert draft.acknowledged_at is not None
    sent = [m for m in emulator.messages() if campaign.folio in str(m.request)]
    assert sent, "the emulator never received the acknowledgement with the folio"


# --------------------------------------------------------------------------- who may


@pytest.mark.parametrize("role", ["requester", "social_media", "database"])
def test_other_roles_never_see_the_inbox(client, people, receive_email, role):
    message = receive_email(files=[("oficio.pdf", "application/pdf", PDF)])
    client.force_login(getattr(people, role))
    urls = [reverse("intake:inbox"), reverse("intake:draft", args=[message.draft_id]),
            reverse("intake:attachment", args=[message.attachments.get().pk])]
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("intake:discard", args=[message.draft_id]), {"reason": "x"}).status_code == 403
    assert 'id="nav-intake"' not in page_text(client.get(reverse("campaigns:inbox")))


def test_the_director_reads_but_never_decides(client, people, receive_email):
    draft = receive_email().draft
    client.force_login(people.director)
    assert client.get(reverse("intake:inbox")).status_code == 200
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert 'id="register-form"' not in page and 'id="discard"' not in page
    for name, data in (("register", register_data(draft)), ("discard", {"reason": "no"}), ("restore", {}),
                       ("merge", {"drafts": [draft.pk]})):
        assert client.post(reverse(f"intake:{name}", args=[draft.pk]), data).status_code == 403
    draft.refresh_from_db()
    assert draft.status == Draft.Status.OPEN and not Campaign.objects.exists()


def test_signed_out_visitors_go_to_the_login_page(client, receive_email):
    draft = receive_email().draft
    response = client.get(reverse("intake:draft", args=[draft.pk]))
    assert response.status_code == 302 and response.headers["Location"].startswith(reverse("login"))


# --------------------------------------------------------------------------- two clicks at the same moment


def at_once(*jobs):
    """Runs the jobs in threads released together, each on its own database connection."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        try:
            barrier.wait(timeout=10)
            return job()
        finally:
            connection.close()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def assistants(people, n):
    clients = [Client() for _ in range(n)]
    for client in clients:
        client.force_login(people.assistant)
    return clients


@pytest.mark.django_db(transaction=True)
def test_the_same_form_sent_twice_at_once_registers_once(people, receive_email, inbox):
    draft = receive_email().draft
    first, second = assistants(people, 2)
    data, url = register_data(draft), reverse("intake:register", args=[draft.pk])
    responses = at_once(lambda: first.post(url, data), lambda: second.post(url, data))
    folio = Campaign.objects.get().folio
    assert sorted(flashed(response)[-1][:40] for response in responses) == [
        "Esta solicitud ya se había registrado co", "Solicitud registrada con el folio RP-202"]
    assert {response.headers["Location"] for response in responses} == {reverse("campaigns:detail", args=[folio])}
    assert len(inbox.to(OFFICE_MAIL)) == 1 and AuditEntry.objects.filter(action="intake.register").count() == 1


@pytest.mark.django_db(transaction=True)
def test_register_and_discard_at_once_one_wins_and_the_other_is_told(people, receive_email, inbox):
    draft = receive_email().draft
    first, second = assistants(people, 2)
    register, discard = reverse("intake:register", args=[draft.pk]), reverse("intake:discard", args=[draft.pk])
    responses = at_once(lambda: first.post(register, register_data(draft)),
                        lambda: second.post(discard, discard_data(draft, "Duplicada")))
    draft.refresh_from_db()
    said = [flashed(response)[-1] for response in responses]
    if draft.status == Draft.Status.REGISTERED:
        assert said[1] == f"Esta solicitud ya se registró con el folio {Campaign.objects.get().folio}."
    else:
        assert draft.status == Draft.Status.DISCARDED and not Campaign.objects.exists() and not inbox.to(OFFICE_MAIL)
        assert said[0] == ("La solicitud por registrar ya está en «Descartada»; alguien más actuó antes. Revise la "
                           "información actual.")
    assert AuditEntry.objects.filter(action__startswith="intake.").count() == 1


def test_the_administrator_registers_a_department_contact_and_their_messages_are_matched(
        client, people, django_user_model, receive_whatsapp):
    admin = django_user_model.objects.create_superuser("admin", "admin@pregonero.example", "clave-de-prueba-1")
    client.force_login(admin)
    add = reverse("admin:intake_knownsender_add")
    bad = client.post(add, {"department": people.tourism.pk, "source": "whatsapp", "address": "12", "name": "X"})
    assert "Escriba un número de celular válido" in page_text(bad)
    client.post(add, {"department": people.tourism.pk, "source": "whatsapp", "address": "998 111 2233",
                      "name": "Secretaria de Turismo"})
    assert KnownSender.objects.get().address == "+529981112233"
    message = receive_whatsapp(sender="5219981112233", files=[("foto.png", "image/png", png_bytes())])
    assert message.draft.department == people.tourism
    for url in (reverse("admin:intake_incomingmessage_change", args=[message.pk]),
                reverse("admin:intake_draft_change", args=[message.draft_id])):
        assert client.get(url).status_code == 200
    for model in ("draft", "incomingmessage", "mailboxcursor"):
        assert client.get(reverse(f"admin:intake_{model}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:intake_{model}_add")).status_code == 403


# --------------------------------------------------------------------------- the acknowledgement by e-mail


def run_worker():
    from django.core.management import call_command

    call_command("db_worker", "--batch", "--interval", "0", verbosity=0)


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_the_acknowledgement_is_tried_again_while_the_mail_server_is_down_and_answers_go_to_the_office_mailbox(
        client, people, receive_email, inbox, settings):
    from django_tasks_db.models import DBTaskResult

    from pregonero.intake.acknowledgements import email_acknowledge

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    settings.INTAKE_ADDRESS = "difusion@pregonero.example"
    working = settings.MAILERS
    settings.MAILERS = {"default": {**working["default"], "OPTIONS": {**working["default"]["OPTIONS"],
                                                                       "port": closed_port()}}}
    message = receive_email(subject="Feria de Ciencia & Tecnología")
    draft = message.draft
    client.force_login(people.assistant)
    client.post(reverse("intake:register", args=[draft.pk]), register_data(draft))
    folio = Campaign.objects.get().folio

    run_worker()  # the mail server refuses connections

    assert not inbox.to(OFFICE_MAIL) and Draft.objects.get(pk=draft.pk).acknowledged_at is None
    (retry,) = DBTaskResult.objects.filter(task_path=email_acknowledge.module_path, status="READY")
    assert retry.run_after > timezone.now() + timezone.timedelta(seconds=30)
    assert "acuse pendiente" in page_text(client.get(reverse("intake:draft", args=[draft.pk])))

    settings.MAILERS = working
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    run_worker()
    run_worker()  # nothing left to send: told once

    [ack] = inbox.to(OFFICE_MAIL)
    assert ack["Subject"] == f"Re: Feria de Ciencia & Tecnología — recibida con el folio {folio}"  # not &amp;
    assert ack["Reply-To"] == "Relaciones Públicas <difusion@pregonero.example>"
    assert ack["From"] == settings.DEFAULT_FROM_EMAIL and ack["In-Reply-To"] == f"<{message.external_id}>"
    assert Draft.objects.get(pk=draft.pk).acknowledged_at is not None


def test_without_the_office_address_the_acknowledgement_has_no_reply_to_and_its_html_is_escaped(
        client, people, receive_email, inbox, settings, django_capture_on_commit_callbacks):
    settings.INTAKE_ADDRESS = ""
    draft = receive_email(name='Lucía "<i>" Pech').draft
    client.force_login(people.assistant)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("intake:register", args=[draft.pk]),
                    register_data(draft, title="Noche <b>de</b> Museos & más"))
    [ack] = inbox.to(OFFICE_MAIL)
    assert ack["Reply-To"] is None
    html = ack.get_body(("html",)).get_content()
    assert "«Noche &lt;b&gt;de&lt;/b&gt; Museos &amp; más»" in html and "<b>de</b>" not in html
    assert "&lt;i&gt;" in html and "<i>" not in html
    assert "«Noche <b>de</b> Museos & más»" in ack.get_body(("plain",)).get_content()


# --------------------------------------------------------------------------- what arrives while or after deciding


def test_a_message_that_arrives_while_the_assistant_reviews_is_never_registered_unseen(
        client, people, receive_email):
    first = receive_email(subject="Solicitud: Noche de Museos")
    client.force_login(people.assistant)
    page = page_text(client.get(reverse("intake:draft", args=[first.draft_id])))
    shown = re.search(r'name="seen" value="([^"]*)"', page).group(1)

    reply = receive_email(subject="Re: Solicitud: Noche de Museos", body="Olvidé la invitación, va adjunta.",
                          files=[("invitacion.png", "image/png", png_bytes())], replies_to=(first.external_id,))
    assert reply.draft_id == first.draft_id

    response = client.post(reverse("intake:register", args=[first.draft_id]),
                           register_data(first.draft, seen=shown))
    assert response.status_code == 200 and not Campaign.objects.exists()
    html = page_text(response)
    assert "Mientras revisaba llegó algo más a esta solicitud" in html
    assert "Olvidé la invitación, va adjunta." in html and "invitacion.png" in html
    shown_now = re.search(r'name="seen" value="([^"]*)"', html).group(1)

    response = client.post(reverse("intake:register", args=[first.draft_id]), register_data(
        first.draft, seen=shown_now, **carry(reply, **{"invitacion.png": "image"})))
    assert response.status_code == 302 and Campaign.objects.get().invitation_image is not None


def test_a_reply_that_arrives_while_the_assistant_discards_is_not_discarded_unread(client, people, receive_email):
    first = receive_email(subject="Prueba")
    client.force_login(people.assistant)
    page = page_text(client.get(reverse("intake:draft", args=[first.draft_id])))
    shown = re.search(r'name="seen" value="([^"]*)"', page).group(1)
    receive_email(subject="Re: Prueba", body="No era prueba: es la solicitud del Carnaval.",
                  replies_to=(first.external_id,))

    response = client.post(reverse("intake:discard", args=[first.draft_id]), {"reason": "Prueba", "seen": shown})
    assert flashed(response) == ["Mientras revisaba llegó algo más a esta solicitud (un mensaje, un archivo o una "
                                 "solicitud unida); está en la página. Revíselo antes de descartarla."]
    assert Draft.objects.get(pk=first.draft_id).status == Draft.Status.OPEN
    assert "es la solicitud del Carnaval" in page_text(client.get(response.headers["Location"]))


def test_a_reply_to_a_registered_request_is_a_new_draft_pointing_at_it(client, people, receive_email,
                                                                      receive_whatsapp):
    first = receive_email(subject="Solicitud: Noche de Museos")
    client.force_login(people.assistant)
    client.post(reverse("intake:register", args=[first.draft_id]), register_data(first.draft))
    campaign = Campaign.objects.get()

    # The department answers the acknowledgement: its References carry their first message's id.
    reply = receive_email(sender="otra.persona@pregonero.example", subject=f"Re: Solicitud: Noche de Museos — "
                          f"recibida con el folio {campaign.folio}", body="Cambió la sede.",
                          replies_to=("ack-1@pregonero.example", first.external_id))
    draft = reply.draft
    assert draft.pk != first.draft_id and draft.status == Draft.Status.OPEN
    assert (draft.follows_up, draft.department) == (campaign, people.culture)

    inbox_page = page_text(client.get(reverse("intake:inbox")))
    assert f'<tr data-draft="{draft.pk}">' in inbox_page and f"sobre {campaign.folio}" in inbox_page
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert f'href="{reverse("campaigns:detail", args=[campaign.folio])}">{campaign.folio}</a>' in page
    assert "Cambió la sede." in page and 'id="register-form"' in page

    # A WhatsApp message that cites the folio points at it too; one that cites none does not.
    KnownSender.objects.create(department=people.tourism, source="whatsapp", address="+529981112233")
    cited = receive_whatsapp(body=f"Sobre el folio {campaign.folio.lower()}: va la foto del lugar")
    assert cited.draft.follows_up == campaign
    assert receive_whatsapp(sender="+529984445566", body="Otra solicitud").draft.follows_up is None


def test_a_whatsapp_photo_sent_just_after_the_registration_points_at_the_request(client, people, receive_whatsapp):
    KnownSender.objects.create(department=people.tourism, source="whatsapp", address="+529981112233")
    text = receive_whatsapp(body="Solicitamos difundir el Tianguis Turístico")
    client.force_login(people.assistant)
    client.post(reverse("intake:register", args=[text.draft_id]), register_data(text.draft))
    campaign = Campaign.objects.get()

    photo = receive_whatsapp(body="", files=[("imagen-whatsapp.png", "image/png", png_bytes())])
    assert photo.draft_id != text.draft_id and photo.draft.status == Draft.Status.OPEN
    assert photo.draft.follows_up == campaign
    page = page_text(client.get(reverse("intake:draft", args=[photo.draft_id])))
    assert f">{campaign.folio}</a>" in page and "poco después de registrarla" in page
    assert receive_whatsapp(body="¿La recibieron?").draft_id == photo.draft_id  # the new draft is theirs now


def test_an_auto_reply_in_the_thread_of_an_open_request_is_kept_aside_not_added_to_it(people, receive_email):
    first = receive_email(subject="Solicitud: Noche de Museos")
    auto = receive_email(subject="Respuesta automática: Solicitud: Noche de Museos", body="Estoy de vacaciones.",
                         aside_reason="Respuesta automática", replies_to=(first.external_id,))
    assert auto.draft_id != first.draft_id and auto.draft.status == Draft.Status.ASIDE
    assert first.draft.messages.count() == 1


def test_drafts_merged_from_two_channels_tell_each_sender_by_their_own(
        client, people, receive_email, receive_whatsapp, emulator, inbox, django_capture_on_commit_callbacks):
    KnownSender.objects.create(department=people.culture, source="whatsapp", address="+529981112233")
    mail = receive_email(subject="Solicitud: Noche de Museos", body="Va el oficio.",
                         files=[("oficio.pdf", "application/pdf", PDF)])
    photo = receive_whatsapp(body="Y esta es la invitación", files=[("invitacion.png", "image/png", png_bytes())])
    client.force_login(people.assistant)
    client.post(reverse("intake:merge", args=[mail.draft_id]), {"drafts": [photo.draft_id]})

    # Their next WhatsApp message still finds the request, now on the e-mail's draft.
    later = receive_whatsapp(body="¿Ya lo recibieron?")
    assert later.draft_id == mail.draft_id

    draft = Draft.objects.get(pk=mail.draft_id)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("intake:register", args=[draft.pk]), register_data(
            draft, **carry(mail, **{"oficio.pdf": "scan"}), **carry(photo, **{"invitacion.png": "image"})))
    campaign = Campaign.objects.get()
    assert campaign.received_via == "email" and campaign.attachments.count() == 2

    [ack] = inbox.to(OFFICE_MAIL)
    assert campaign.folio in ack["Subject"]
    [whatsapp] = [m.request for m in emulator.messages("+529981112233")]
    assert campaign.folio in str(whatsapp)
    assert all(d.acknowledged_at for d in Draft.objects.filter(pk__in=[mail.draft_id, photo.draft_id]))


# --------------------------------------------------------------------------- the assistant's Bandeja


def test_the_assistants_bandeja_shows_the_drafts_waiting_instead_of_nothing_pending(client, people, receive_email):
    client.force_login(people.assistant)
    assert "Nada pendiente" in page_text(client.get(reverse("campaigns:inbox")))

    older = receive_email(subject="Feria del libro", minutes_ago=120)
    newer = receive_email(sender="alguien@otro.example", subject="Consulta <b>urgente</b>", minutes_ago=5)
    receive_email(subject="Respuesta automática: fuera de la oficina", aside_reason="Respuesta automática")

    page = page_text(client.get(reverse("campaigns:inbox")))
    assert "Nada pendiente" not in page
    assert "2 solicitudes recibidas por correo o WhatsApp por registrar" in page
    rows = [int(pk) for pk in re.findall(r'<tr data-draft="(\d+)"', page)]
    assert rows == [older.draft_id, newer.draft_id]  # the one waiting longest first; the auto-reply is not there
    assert "Consulta &lt;b&gt;urgente&lt;/b&gt;" in page and "sin identificar" in page
    assert f'href="{reverse("intake:inbox")}"' in page and f'href="{reverse("intake:draft", args=[older.draft_id])}"' in page

    for message in (older, newer):
        client.post(reverse("intake:discard", args=[message.draft_id]), discard_data(message.draft, "Duplicada"))
    assert "Nada pendiente" in page_text(client.get(reverse("campaigns:inbox")))


def test_the_directors_bandeja_does_not_list_the_drafts(client, people, receive_email):
    receive_email()
    client.force_login(people.director)
    page = page_text(client.get(reverse("campaigns:inbox")))
    assert 'id="intake-waiting"' not in page


@pytest.mark.parametrize("typed", ["998 111 2233", "(998) 111-2233", "+52 998 111 2233"])
def test_a_departments_whatsapp_typed_as_people_write_it_is_recognised(people, receive_whatsapp, typed):
    people.tourism.whatsapp = typed
    people.tourism.save(update_fields=["whatsapp"])
    assert receive_whatsapp(sender="5219981112233").draft.department == people.tourism
