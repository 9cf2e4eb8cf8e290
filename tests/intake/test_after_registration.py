"""What the assistant does around a registration: remembering a sender for a department, sending a failed
acknowledgement again, and adding a later message to the request it is about."""

from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns.models import Attachment, AuditEntry, Campaign, FolioCounter, Notification, State
from pregonero.intake import services as intake_services
from pregonero.intake.models import AckFailure, Draft, KnownSender
from pregonero.intake.services import draft_contents, match_department

from test_inbox import (OFFICE_MAIL, PDF, carry, closed_port, discard_data, flashed, page_text, png_bytes,
                         register_data, run_worker)

MESSENGER = "Mensajero.Cultura@Correo.example"  # writes for Cultura from an address nobody knows yet


def unescaped(response) -> str:
    return page_text(response).replace("&laquo;", "«").replace("&raquo;", "»").replace("&#x27;", "'")


# --------------------------------------------------------------------------- remembering a sender


def test_a_sender_remembered_at_registration_is_matched_next_time(client, people, receive_email):
    draft = receive_email(sender=MESSENGER, name="Pedro Chan").draft
    assert draft.department is None
    client.force_login(people.assistant)
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert 'id="remember-sender"' in page
    assert "Recordar este remitente (mensajero.cultura@correo.example) para la dirección elegida" in page

    response = client.post(reverse("intake:register", args=[draft.pk]),
                           register_data(draft, department=people.culture.pk, remember_sender="on"))
    assert response.status_code == 302, page_text(response)
    campaign = Campaign.objects.get()
    known = KnownSender.objects.get()
    assert (known.department, known.source, known.address, known.name) == (
        people.culture, "email", "mensajero.cultura@correo.example", "Pedro Chan")
    entry = AuditEntry.objects.get(action="intake.remember_sender")
    assert entry.campaign == campaign and entry.actor == people.assistant and entry.data["draft"] == draft.pk
    assert "correo.example" not in str(entry.data) + entry.comment  # never the address in clear

    assert match_department("email", "MENSAJERO.cultura@correo.example") == people.culture
    assert receive_email(sender=MESSENGER, subject="Otra solicitud").draft.department == people.culture


def test_a_sender_is_remembered_only_when_asked(client, people, receive_email):
    draft = receive_email(sender=MESSENGER).draft
    client.force_login(people.assistant)
    client.post(reverse("intake:register", args=[draft.pk]), register_data(draft, department=people.culture.pk))
    assert Campaign.objects.exists() and not KnownSender.objects.exists()
    assert receive_email(sender=MESSENGER).draft.department is None


def test_a_whatsapp_sender_matched_to_another_department_is_remembered_for_the_chosen_one(
        client, people, receive_whatsapp, emulator):
    people.culture.whatsapp = "998 111 2233"
    people.culture.save(update_fields=["whatsapp"])
    draft = receive_whatsapp(sender="+529981112233", name="Rosa Ek").draft
    assert draft.department == people.culture  # Cultura's own number: the wrong department this time
    client.force_login(people.assistant)
    response = client.post(reverse("intake:register", args=[draft.pk]),
                           register_data(draft, department=people.tourism.pk, remember_sender="on"))
    assert response.status_code == 302, page_text(response)
    known = KnownSender.objects.get()
    assert (known.department, known.source, known.address) == (people.tourism, "whatsapp", "+529981112233")
    # The assistant's choice wins over the department's own number from now on.
    assert match_department("whatsapp", "5219981112233") == people.tourism


def test_a_sender_known_for_another_department_is_explained_not_offered(client, people, receive_email):
    KnownSender.objects.create(department=people.tourism, source="email", address=MESSENGER.lower())
    draft = receive_email(sender=MESSENGER).draft
    client.force_login(people.assistant)
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert 'id="remember-sender"' not in page
    assert "Este remitente ya es remitente conocido de Dirección de Turismo" in page


def test_a_sender_remembered_for_another_department_meanwhile_stops_the_registration(
        client, people, receive_email, inbox):
    draft = receive_email(sender=MESSENGER).draft
    client.force_login(people.assistant)
    data = register_data(draft, department=people.culture.pk, remember_sender="on")
    client.get(reverse("intake:draft", args=[draft.pk]))  # the page offered it; then the administrator acts
    KnownSender.objects.create(department=people.tourism, source="email", address=MESSENGER.lower())
    response = client.post(reverse("intake:register", args=[draft.pk]), data)
    assert response.status_code == 200
    assert "ya es remitente conocido de Dirección de Turismo" in unescaped(response)
    assert not Campaign.objects.exists() and not FolioCounter.objects.filter(last__gt=0).exists()
    assert KnownSender.objects.get().department == people.tourism and not inbox.to(MESSENGER.lower())
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.OPEN


# --------------------------------------------------------------------------- a failed acknowledgement


def mail_server_down(settings):
    working = settings.MAILERS
    settings.MAILERS = {"default": {**working["default"], "OPTIONS": {**working["default"]["OPTIONS"],
                                                                       "port": closed_port()}}}
    return working


@pytest.mark.django_db(transaction=True)
def test_an_acknowledgement_given_up_is_shown_and_sent_again_once_however_many_clicks(
        client, people, receive_email, inbox, settings):
    from django_tasks_db.models import DBTaskResult

    from pregonero.intake.acknowledgements import email_acknowledge

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    working = mail_server_down(settings)
    draft = receive_email(subject="Feria <b>del</b> Libro").draft
    client.force_login(people.assistant)
    client.post(reverse("intake:register", args=[draft.pk]), register_data(draft))
    folio = Campaign.objects.get().folio
    waiting = DBTaskResult.objects.filter(task_path=email_acknowledge.module_path, status="READY")
    run_worker()
    for _attempt in range(4):  # the retries, without their waits: the server stays down
        assert Draft.objects.get(pk=draft.pk).acknowledgement_failed_at is None
        assert waiting.update(run_after=timezone.now()) == 1
        run_worker()
    assert not waiting.exists()  # given up

    draft.refresh_from_db()
    assert (draft.acknowledged_at, draft.acknowledgement_failure) == (None, AckFailure.UNREACHABLE)
    reason = "Acuse no enviado: no se pudo conectar con el servidor de correo tras varios intentos"
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert reason in page and "Enviar el acuse de nuevo" in page and "acuse pendiente" not in page
    history = page_text(client.get(reverse("intake:inbox") + "?ver=historial"))
    assert reason in history and reverse("intake:acknowledge_again", args=[draft.pk]) in history
    client.force_login(people.director)  # the Director reads, never acts
    assert "Enviar el acuse de nuevo" not in page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert client.post(reverse("intake:acknowledge_again", args=[draft.pk])).status_code == 403

    client.force_login(people.assistant)
    first = client.post(reverse("intake:acknowledge_again", args=[draft.pk]))
    second = client.post(reverse("intake:acknowledge_again", args=[draft.pk]))  # a double click
    assert flashed(first) == ["El acuse se enviará de nuevo por Correo electrónico."]
    assert flashed(second) == ["El acuse ya se está enviando de nuevo."]
    assert waiting.count() == 1
    settings.MAILERS = working
    run_worker()
    run_worker()

    [ack] = inbox.to(OFFICE_MAIL)
    assert folio in ack["Subject"]
    draft.refresh_from_db()
    assert draft.acknowledged_at is not None and draft.acknowledgement_failed_at is None
    assert "Acuse no enviado" not in page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    entry = AuditEntry.objects.get(action="intake.acknowledge_again")
    assert entry.data["draft"] == draft.pk and entry.actor == people.assistant
    assert flashed(client.post(reverse("intake:acknowledge_again", args=[draft.pk]))) == ["El acuse ya se envió."]


def test_a_whatsapp_acknowledgement_whatsapp_failed_is_sent_again(
        client, people, receive_whatsapp, emulator, django_capture_on_commit_callbacks):
    KnownSender.objects.create(department=people.tourism, source="whatsapp", address="+529981112233")
    draft = receive_whatsapp().draft
    emulator.inject_fault(131000, count=10)  # WhatsApp's "something went wrong", for a while
    client.force_login(people.assistant)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("intake:register", args=[draft.pk]), register_data(draft))
    folio = Campaign.objects.get().folio
    draft.refresh_from_db()
    assert draft.acknowledged_at is None and draft.acknowledgement_failure == AckFailure.WHATSAPP_UNAVAILABLE
    assert not [m for m in emulator.messages() if folio in str(m.request)]
    assert "Acuse no enviado: WhatsApp no respondió tras varios intentos" in page_text(
        client.get(reverse("intake:draft", args=[draft.pk])))

    emulator.call(emulator.state.faults.clear)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("intake:acknowledge_again", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.acknowledged_at is not None and not draft.acknowledgement_failure
    assert len([m for m in emulator.messages() if folio in str(m.request)]) == 1


def test_an_acknowledgement_the_mail_server_refused_says_so(client, people, receive_email, settings,
                                                          django_capture_on_commit_callbacks):
    working = mail_server_down(settings)
    draft = receive_email().draft
    client.force_login(people.assistant)
    with django_capture_on_commit_callbacks(execute=True):  # tasks run at once here: no retry to wait for
        client.post(reverse("intake:register", args=[draft.pk]), register_data(draft))
    settings.MAILERS = working
    assert Draft.objects.get(pk=draft.pk).acknowledgement_failure == AckFailure.UNREACHABLE


# --------------------------------------------------------------------------- a follow-up of a registered request


@pytest.fixture
def follow_up(client, people, receive_email):
    """A request registered from an e-mail (in review), then the department's reply with two files."""
    first = receive_email(subject="Solicitud: Noche de Museos")
    client.force_login(people.assistant)
    client.post(reverse("intake:register", args=[first.draft_id]), register_data(first.draft))
    campaign = Campaign.objects.get()
    reply = receive_email(subject=f"Re: Solicitud: Noche de Museos — recibida con el folio {campaign.folio}",
                          body="Va el oficio firmado y la invitación <script>alert(1)</script>.",
                          files=[("oficio.pdf", "application/pdf", PDF), ("invitacion.png", "image/png", png_bytes())],
                          replies_to=(first.external_id,))
    assert reply.draft.follows_up == campaign
    return campaign, reply


def follow_up_data(message, **kinds) -> dict:
    return {"seen": " ".join(draft_contents(message.draft)), **carry(message, **kinds)}


def test_a_follow_up_adds_its_files_and_text_to_its_request(client, people, follow_up):
    campaign, reply = follow_up
    draft = reply.draft
    url = reverse("intake:follow_up", args=[draft.pk])
    page = page_text(client.get(reverse("intake:draft", args=[draft.pk])))
    assert f"Agregar a la solicitud {campaign.folio}" in page and url in page
    notified = Notification.objects.count()

    response = client.post(url, follow_up_data(reply, **{"oficio.pdf": "scan", "invitacion.png": "image"}))
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:detail", args=[campaign.folio])
    assert flashed(response) == [f"Se agregó a la solicitud {campaign.folio}, con 2 archivos; el texto quedó en su "
                                 "historial."]
    assert sorted(campaign.attachments.values_list("original_name", "kind")) == [
        ("invitacion.png", "image"), ("oficio.pdf", "scan")]
    draft.refresh_from_db()
    assert (draft.status, draft.campaign, draft.follows_up) == (Draft.Status.REGISTERED, None, campaign)
    entry = AuditEntry.objects.get(action="intake.follow_up")
    assert entry.campaign == campaign and entry.data["draft"] == draft.pk
    assert "2 archivos agregados" in entry.comment and "Va el oficio firmado" in entry.comment
    assert "cultura@pregonero.example" not in entry.comment + str(entry.data)
    # The Directors, whom a request in review waits on, are told; the assistant who acted is not.
    assert set(Notification.objects.filter(audit_entry=entry).values_list("recipient__username", flat=True)) == {
        "directora", "directora2"}
    assert Notification.objects.count() == notified + 2

    detail = page_text(client.get(reverse("campaigns:detail", args=[campaign.folio])))
    assert "Agregó un mensaje de seguimiento recibido por correo o WhatsApp" in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "<script>alert(1)" not in detail
    history = page_text(client.get(reverse("intake:inbox") + "?ver=historial"))
    assert f'<tr data-draft="{draft.pk}">' in history and "agregada a" in history
    assert f"La agregó a la solicitud {campaign.folio}" in page_text(
        client.get(reverse("intake:draft", args=[draft.pk])))

    again = client.post(url, follow_up_data(reply, **{"oficio.pdf": "scan"}))  # a double click
    assert flashed(again) == [f"Estos mensajes ya se agregaron a la solicitud {campaign.folio}."]
    assert campaign.attachments.count() == 2


def test_a_follow_up_without_files_keeps_its_text_and_tells_nobody(client, people, follow_up):
    campaign, reply = follow_up
    notified = Notification.objects.count()
    response = client.post(reverse("intake:follow_up", args=[reply.draft_id]), follow_up_data(reply))
    assert response.status_code == 302
    assert not campaign.attachments.exists() and Notification.objects.count() == notified
    assert "sin archivos agregados" in AuditEntry.objects.get(action="intake.follow_up").comment


def test_a_hostile_file_in_a_follow_up_stops_it_and_nothing_is_written(client, people, follow_up):
    campaign, reply = follow_up
    fake = [a for a in reply.attachments.all() if a.original_name == "invitacion.png"][0]
    with fake.file.open("wb") as handle:
        handle.write(b"<html><script>alert(1)</script></html>")
    fake.size = 38
    fake.save(update_fields=["size"])
    entries = AuditEntry.objects.count()
    response = client.post(reverse("intake:follow_up", args=[reply.draft_id]),
                           follow_up_data(reply, **{"oficio.pdf": "scan", "invitacion.png": "image"}))
    assert response.status_code == 200 and 'id="follow-up-errors"' in page_text(response)
    assert "no corresponde a un archivo .png válido" in unescaped(response)
    assert not Attachment.objects.filter(campaign=campaign).exists() and AuditEntry.objects.count() == entries
    assert Draft.objects.get(pk=reply.draft_id).status == Draft.Status.OPEN


def files_on_disk(settings) -> set[str]:
    media = Path(settings.MEDIA_ROOT)
    return {str(path.relative_to(media)) for path in media.rglob("*") if path.is_file()}


def test_a_follow_up_that_fails_after_storing_its_files_leaves_none_on_disk(client, people, follow_up, settings,
                                                                          monkeypatch):
    campaign, reply = follow_up
    before = files_on_disk(settings)

    def notify_fails(**kwargs):  # the last step of the transaction, after the files were written
        raise ConnectionError("the database went away")

    monkeypatch.setattr(intake_services, "notify", notify_fails)
    with pytest.raises(ConnectionError):
        client.post(reverse("intake:follow_up", args=[reply.draft_id]),
                    follow_up_data(reply, **{"oficio.pdf": "scan", "invitacion.png": "image"}))
    assert not Attachment.objects.filter(campaign=campaign).exists()
    assert files_on_disk(settings) == before
    assert Draft.objects.get(pk=reply.draft_id).status == Draft.Status.OPEN


def test_a_registration_that_fails_after_its_request_was_created_leaves_no_files(client, people, receive_email,
                                                                              settings, monkeypatch):
    """The request and its files are written by campaign_create, inside the registration's transaction; a failure
    after that rolls both back, and the files go too."""
    received = receive_email(files=[("oficio.pdf", "application/pdf", PDF)])
    before = files_on_disk(settings)

    def turn_fails(**kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(intake_services, "campaign_transition", turn_fails)
    client.force_login(people.assistant)
    with pytest.raises(ConnectionError):
        client.post(reverse("intake:register", args=[received.draft_id]),
                    {**register_data(received.draft), **carry(received, **{"oficio.pdf": "scan"})})
    assert not Campaign.objects.exists() and not Attachment.objects.exists()
    assert files_on_disk(settings) == before


@pytest.mark.parametrize("state", [State.CLOSED, State.REJECTED, State.CANCELLED])
def test_a_follow_up_of_a_finished_request_is_refused_clearly(client, people, follow_up, state):
    campaign, reply = follow_up
    Campaign.objects.filter(pk=campaign.pk).update(state=state)
    label = State(state).label
    page = unescaped(client.get(reverse("intake:draft", args=[reply.draft_id])))
    message = f"La solicitud {campaign.folio} está «{label}»: ya no se le agregan mensajes ni archivos."
    assert message in page and 'id="follow-up-form"' not in page
    response = client.post(reverse("intake:follow_up", args=[reply.draft_id]),
                           follow_up_data(reply, **{"oficio.pdf": "scan"}))
    assert message in unescaped(response)
    assert not campaign.attachments.exists() and not AuditEntry.objects.filter(action="intake.follow_up").exists()
    assert Draft.objects.get(pk=reply.draft_id).status == Draft.Status.OPEN
    # It can still be registered as a new request, or discarded.
    assert client.post(reverse("intake:discard", args=[reply.draft_id]),
                       discard_data(reply.draft, "Ya cerrada")).status_code == 302


def test_a_reply_to_a_follow_up_points_at_the_same_request(client, people, follow_up, receive_email):
    campaign, reply = follow_up
    client.post(reverse("intake:follow_up", args=[reply.draft_id]), follow_up_data(reply))
    later = receive_email(subject="Re: otra cosa", body="Una más.", replies_to=(reply.external_id,))
    assert later.draft.follows_up == campaign and later.draft.status == Draft.Status.OPEN


def test_only_the_assistant_adds_a_follow_up(client, people, follow_up):
    campaign, reply = follow_up
    client.force_login(people.director)
    page = page_text(client.get(reverse("intake:draft", args=[reply.draft_id])))
    assert 'id="follow-up-form"' not in page
    assert client.post(reverse("intake:follow_up", args=[reply.draft_id]), follow_up_data(reply)).status_code == 403
