"""The assistant's inbox in a real browser: an e-mail with the invitation image waits in "Recibidas"; she opens
it, registers it and turns it to the Director in one click, sees the folio, and the sender gets it by e-mail."""

import uuid

import pytest
from django.utils import timezone

from pregonero.intake.services import Incoming, IncomingFile, record_incoming

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips, or fails when a browser is required
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SENDER = "cultura@pregonero.example"  # Cultura's own address, so the draft comes matched to Cultura


@pytest.mark.e2e
def test_the_assistant_registers_an_email_request_and_turns_it(site, people, invitation_png, mail_to):
    message_id = f"{uuid.uuid4().hex}@cultura.example"  # stored as the mail parser does: no <>
    record_incoming(Incoming(
        source="email", external_id=message_id, sender_address=SENDER, sender_name="Lucía Pech",
        subject="Solicitud de difusión: Noche de Trova", body="Les pedimos difundir la Noche de Trova.",
        sent_at=timezone.now(), files=[IncomingFile(invitation_png.name, "image/png", invitation_png.read_bytes())],
    ))
    page = site.page
    site.login("asistente")
    page.locator("header nav").get_by_role("link", name="Recibidas").click()
    expect(page.locator("h1")).to_have_text("Recibidas por correo y WhatsApp")
    page.locator("#drafts").get_by_role("link", name="Solicitud de difusión: Noche de Trova").click()

    expect(page.locator("#messages")).to_contain_text("Les pedimos difundir la Noche de Trova.")
    expect(page.locator("#id_title")).to_have_value("Solicitud de difusión: Noche de Trova")
    expect(page.locator("#id_department option:checked")).to_have_text("Dirección de Cultura")
    row = page.locator("#carry tbody tr").first
    expect(row.locator("input[type=checkbox]")).to_be_checked()  # an image: carried as the invitation image
    expect(row.locator("select option:checked")).to_have_text("Imagen de la invitación")
    page.fill("#id_title", "Noche de Trova en el Parque de las Palapas")
    page.get_by_role("button", name="Registrar y turnar a la Dirección").click()

    site.expect_message("y turnada a la Dirección")
    site.expect_state("in_review", "En revisión de la Dirección")
    folio = page.locator("h1 .folio").inner_text()
    expect(page.locator("ul.messages")).to_contain_text(folio)
    expect(page.locator("#event .attachments")).to_contain_text(invitation_png.name)
    [ack] = mail_to(SENDER, folio)
    assert ack["In-Reply-To"] == f"<{message_id}>"


@pytest.mark.e2e
def test_the_assistant_adds_a_reply_with_a_file_to_the_request_it_answers(site, people, invitation_png):
    first_id = f"{uuid.uuid4().hex}@cultura.example"
    first, _created = record_incoming(Incoming(
        source="email", external_id=first_id, sender_address=SENDER, sender_name="Lucía Pech",
        subject="Solicitud de difusión: Noche de Trova", body="Les pedimos difundir la Noche de Trova.",
        sent_at=timezone.now()))
    page = site.page
    site.login("asistente")
    site.goto(f"/recibidas/{first.draft_id}/")
    page.get_by_role("button", name="Registrar y turnar a la Dirección").click()
    site.expect_state("in_review", "En revisión de la Dirección")
    folio = page.locator("h1 .folio").inner_text()

    # The department answers the acknowledgement with the invitation image.
    reply, _created = record_incoming(Incoming(
        source="email", external_id=f"{uuid.uuid4().hex}@cultura.example", sender_address=SENDER,
        sender_name="Lucía Pech", subject=f"Re: Solicitud de difusión: Noche de Trova — folio {folio}",
        body="Les enviamos la imagen de la invitación.", sent_at=timezone.now(), replies_to=(first_id,),
        files=[IncomingFile(invitation_png.name, "image/png", invitation_png.read_bytes())]))
    page.locator("header nav").get_by_role("link", name="Recibidas").click()
    expect(page.locator(f'.follows-up[data-folio="{folio}"]')).to_be_visible()
    site.goto(f"/recibidas/{reply.draft_id}/")
    expect(page.locator("#follows-up")).to_have_attribute("data-folio", folio)
    row = page.locator("#follow-up-form tbody tr").first
    expect(row).to_contain_text(invitation_png.name)
    row.locator("input[type=checkbox]").check()
    row.locator("select").select_option(label="Imagen de la invitación")
    page.get_by_role("button", name=f"Agregar a la solicitud {folio}").click()

    site.expect_message(f"Se agregó a la solicitud {folio}, con 1 archivo")
    expect(page.locator("h1 .folio")).to_have_text(folio)
    expect(page.locator("#event .attachments")).to_contain_text(invitation_png.name)
    site.expect_state("in_review", "En revisión de la Dirección")
