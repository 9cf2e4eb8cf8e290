"""Registering requests: the department's form, the assistant's intake, and every bad input refused in Spanish."""

import io
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from pregonero.campaigns.models import Attachment, AuditEntry, Campaign, FolioCounter, State


def png_bytes(size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (18, 64, 107)).save(buffer, "PNG")
    return buffer.getvalue()


def local(dt) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def form_data(**overrides):
    now = timezone.now()
    data = {
        "submission_key": str(uuid.uuid4()),
        "title": "Inauguración del Festival de la Cultura Maya",
        "starts_at": local(now + timedelta(days=20)),
        "rsvp_deadline": local(now + timedelta(days=15)),
        "venue": "Teatro de la Ciudad",
        "address": "Av. Tulum, SM 2",
        "message_text": "{tratamiento} {nombre}, le invitamos a {evento}.",
    }
    data.update(overrides)
    return data


def test_requester_registers_a_request_and_the_assistant_is_told(client, people, inbox, django_capture_on_commit_callbacks):
    client.force_login(people.requester)
    image = SimpleUploadedFile("invitacion.png", png_bytes(), content_type="image/png")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:new"), {**form_data(), "invitation_image": image})
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert campaign.folio == f"RP-{timezone.localdate().year}-0001"
    assert (campaign.state, campaign.department, campaign.received_via) == (State.RECEIVED, people.culture, "portal")
    assert campaign.invitation_image.content_type == "image/png"
    assert AuditEntry.objects.get(campaign=campaign).action == "campaign.create"
    assert people.assistant.notifications.filter(campaign=campaign).exists()
    [mail] = inbox.to(people.assistant.email)
    assert campaign.folio in mail["Subject"]


def test_assistant_registers_an_oficio_with_its_scan(client, people):
    client.force_login(people.assistant)
    scan = SimpleUploadedFile("oficio.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF", content_type="application/pdf")
    data = form_data(department=people.tourism.pk, received_via="oficio", oficio_number="DT/0457/2026",
                     received_on=timezone.localdate().isoformat())
    response = client.post(reverse("campaigns:new"), {**data, "scan": scan})
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.department, campaign.received_via, campaign.oficio_number) == (people.tourism, "oficio", "DT/0457/2026")
    assert campaign.attachments.get().kind == "scan"


def test_an_oficio_needs_its_number_and_scan(client, people):
    client.force_login(people.assistant)
    data = form_data(department=people.tourism.pk, received_via="oficio", received_on=timezone.localdate().isoformat())
    response = client.post(reverse("campaigns:new"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "necesita su número de oficio" in page and "Adjunte el escaneo del oficio" in page
    assert not Campaign.objects.exists()


def test_a_double_submit_registers_one_request(client, people):
    client.force_login(people.requester)
    data = form_data()
    first = client.post(reverse("campaigns:new"), data)
    second = client.post(reverse("campaigns:new"), data, follow=True)
    assert Campaign.objects.count() == 1
    assert first["Location"].endswith(f"/{Campaign.objects.get().folio}/")
    assert "ya se había registrado" in second.content.decode()
    assert FolioCounter.objects.get().last == 1


def refused(client, people, data, files=None):
    client.force_login(people.requester)
    response = client.post(reverse("campaigns:new"), {**data, **(files or {})})
    assert response.status_code == 200
    assert not Campaign.objects.exists() and not Attachment.objects.exists()
    assert not FolioCounter.objects.exists() or FolioCounter.objects.get().last == 0
    return response.content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"starts_at": local(timezone.now() - timedelta(days=1))}, "La fecha del evento ya pasó"),
        ({"rsvp_deadline": local(timezone.now() + timedelta(days=40))}, "debe ser antes del evento"),
        ({"message_text": "Hola {nombre_completo}"}, "Marcador desconocido: {nombre_completo}"),
        ({"title": ""}, "Este campo es obligatorio"),
        ({"starts_at": "mañana temprano"}, "fecha/hora válida"),
    ],
    ids=["past-event", "deadline-after-event", "unknown-placeholder", "no-title", "not-a-date"],
)
def test_bad_event_data_is_refused_in_spanish(client, people, overrides, message):
    assert message in refused(client, people, form_data(**overrides))


def test_an_oversize_upload_is_refused(client, people, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    big = SimpleUploadedFile("invitacion.png", png_bytes((400, 400)), content_type="image/png")
    assert "el máximo es" in refused(client, people, form_data(), {"invitation_image": big})


@pytest.mark.parametrize(
    ("field", "name", "content"),
    [
        ("invitation_image", "invitacion.png", b"esto es texto, no una imagen"),
        ("invitation_image", "invitacion.jpg", png_bytes()),  # a PNG calling itself JPEG
        ("invitation_image", "invitacion.pdf", b"%PDF-1.4"),
        ("guest_list", "invitados.xlsx", b"PK\x03\x04 not really a workbook"),
        ("guest_list", "invitados.csv", b"\x00\x01\x02binary"),
    ],
    ids=["text-as-png", "png-as-jpg", "pdf-as-image", "fake-xlsx", "binary-csv"],
)
def test_content_that_is_not_what_the_extension_says_is_refused(client, people, field, name, content):
    upload = SimpleUploadedFile(name, content)
    page = refused(client, people, form_data(), {field: upload})
    assert "no corresponde a un archivo" in page or "no es de un tipo aceptado" in page


def test_a_real_spreadsheet_is_accepted(client, people):
    from openpyxl import Workbook  # noqa: PLC0415 - only this test builds a workbook
    buffer = io.BytesIO()
    workbook = Workbook()
    workbook.active.append(["Nombre", "Celular"])
    workbook.save(buffer)
    client.force_login(people.requester)
    upload = SimpleUploadedFile("invitados.xlsx", buffer.getvalue())
    response = client.post(reverse("campaigns:new"), {**form_data(), "guest_list": upload})
    assert response.status_code == 302
    assert Campaign.objects.get().guest_list_file.original_name == "invitados.xlsx"


def test_an_office_role_without_intake_cannot_register(client, people):
    client.force_login(people.director)
    assert client.get(reverse("campaigns:new")).status_code == 403


def test_other_departments_requests_are_invisible(client, people, make_campaign):
    campaign = make_campaign()
    client.force_login(people.other_requester)
    assert client.get(reverse("campaigns:detail", args=[campaign.folio])).status_code == 404
    assert campaign.folio not in client.get(reverse("campaigns:list")).content.decode()


def test_attachments_are_served_only_to_those_who_see_the_request(client, people):
    client.force_login(people.requester)
    image = SimpleUploadedFile("invitación final.png", png_bytes(), content_type="image/png")
    client.post(reverse("campaigns:new"), {**form_data(), "invitation_image": image})
    campaign = Campaign.objects.get()
    url = reverse("campaigns:attachment", args=[campaign.folio, campaign.invitation_image.pk])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png_bytes()
    assert "invitaci" in response["Content-Disposition"]
    client.force_login(people.other_requester)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
