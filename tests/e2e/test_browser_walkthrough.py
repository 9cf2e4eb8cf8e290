"""The procedure in a real browser: each role logs in through the form, sees its step, acts, and logs out.

One request goes from the requester's form to "Lista para envío" (authorization, an information request and
its answer, proof v1 returned, proof v2 approved); another is rejected and the requester reads the reason.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips, or fails when a browser is required
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REQUESTER_MAIL = "cultura@pregonero.example"
SAMPLE_GUEST = "María Fernanda López Hernández"  # the typical invitee the preview uses with an empty directory
MESSAGE = "{tratamiento} {nombre}, le invitamos a {evento} el {fecha} a las {hora} en {lugar}."


def local_input(days: int, hour: int) -> str:
    """A datetime-local value (YYYY-MM-DDTHH:MM) some days from today, in the site's time zone."""
    return f"{timezone.localdate() + timedelta(days=days):%Y-%m-%d}T{hour:02d}:00"


def plain_text(message) -> str:
    return message.get_body(("plain",)).get_content()


def fill_request(page, title: str, image=None):
    """The requester's form: event, message, one sector, the image; the RSVP deadline left empty."""
    page.locator("header nav").get_by_role("link", name="Nueva solicitud").click()
    expect(page.locator("h1")).to_have_text("Solicitar difusión de una invitación")
    page.fill("#id_title", title)
    page.fill("#id_starts_at", local_input(30, 19))
    page.fill("#id_venue", "Parque de las Palapas")
    page.fill("#id_message_text", MESSAGE)
    page.get_by_label("Empresarios").check()
    if image:
        page.set_input_files("#id_invitation_image", str(image))
    page.get_by_role("button", name="Registrar solicitud").click()


def new_request(site, title: str, image=None) -> str:
    """The requester registers a request and sees it received; returns its folio."""
    fill_request(site.page, title, image)
    site.expect_message("Solicitud registrada con el folio")
    site.expect_state("received", "Recibida")
    expect(site.page.locator("h1")).to_contain_text(title)
    return site.page.locator("h1 .folio").inner_text()


def expect_buttons(page, present=(), absent=()):
    for name in present:
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    for name in absent:
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)


def turn_to_director(site, folio: str):
    site.login("asistente")
    site.open_from_inbox(folio)
    expect_buttons(site.page, present=["Turnar a la Dirección"], absent=["Autorizar", "Rechazar"])
    site.act("turn")
    site.expect_message("Listo: Turnar a la Dirección.")
    site.expect_state("in_review", "En revisión de la Dirección")
    expect_buttons(site.page, absent=["Turnar a la Dirección"])
    site.logout()


def test_request_walks_from_the_form_to_ready(site, people, mail_to, invitation_png):
    page = site.page
    title = "Noche de Cultura en el Parque de las Palapas"

    # 1. Cultura asks for the campaign, leaving the RSVP deadline out.
    site.login("cultura")
    folio = new_request(site, title, invitation_png)
    expect(page.locator("#event")).to_contain_text("Empresarios")
    expect(page.locator("#event .attachments")).to_contain_text(invitation_png.name)
    expect_buttons(page, present=["Cancelar solicitud"], absent=["Turnar a la Dirección", "Autorizar"])
    site.logout()

    # 2-3. The assistant turns it to the Director, who authorizes it.
    turn_to_director(site, folio)
    site.login("directora")
    site.open_from_inbox(folio)
    expect_buttons(page, present=["Autorizar", "Rechazar"], absent=["Turnar a la Dirección"])
    site.act("authorize")
    site.expect_message("Listo: Autorizar.")
    site.expect_state("authorized", "Autorizada")
    expect(page.locator("#checklist")).to_have_count(0)  # the checklist is Redes Sociales' step
    site.logout()

    # 4. Redes Sociales sees the RSVP deadline missing and asks for it.
    site.login("redes")
    site.open_from_inbox(folio)
    checklist = page.locator("#checklist")
    expect(checklist.locator("li.missing[data-check=rsvp_deadline]")).to_contain_text(
        "Fecha límite para confirmar asistencia (falta)"
    )
    for rule in ("title", "starts_at", "venue", "image", "message", "guests"):
        expect(checklist.locator(f"li.ok[data-check={rule}]")).to_be_visible()
    expect_buttons(page, absent=["Autorizar", "Enviar información"])
    checklist.locator("li.manual input[type=checkbox]").check()
    checklist.get_by_role("button", name="Información completa: elaborar prueba").click()
    site.expect_message("No puede marcarse completa: falta Fecha límite para confirmar asistencia")
    site.expect_state("authorized", "Autorizada")
    page.locator("#checklist li.manual input[type=checkbox]").check()
    page.fill("#checklist textarea[name=comment]", "Indiquen hasta cuándo se confirma la asistencia.")
    page.locator("#checklist").get_by_role("button", name="Incompleta: pedir lo que falta").click()
    site.expect_state("info_requested", "Información solicitada")
    requests = page.locator("#info-requests")
    expect(requests).to_contain_text("Fecha límite para confirmar asistencia")
    expect(requests).to_contain_text("Sin respuesta todavía.")
    expect(page.locator("#edit-proof")).to_have_count(0)
    site.logout()

    # 5. Cultura is told (in the app and by mail), reads the request and answers it.
    mails = mail_to(REQUESTER_MAIL, "ahora «Información solicitada»")
    assert mails, "no e-mail told Cultura what was missing"
    assert "Indiquen hasta cuándo se confirma la asistencia." in plain_text(mails[0]) and folio in mails[0]["Subject"]
    site.login("cultura")
    expect(page.locator("header .badge")).to_be_visible()
    site.open_from_inbox(folio)
    expect(page.locator("#info-requests")).to_contain_text("Indiquen hasta cuándo se confirma la asistencia.")
    page.locator("#answer-info").click()
    expect(page.locator("h1")).to_have_text(f"Completar la solicitud {folio}")
    expect(page.locator("section.notice")).to_contain_text("Fecha límite para confirmar asistencia")
    expect(page.locator("#id_title")).to_have_value(title)
    expect(page.get_by_label("Empresarios")).to_be_checked()
    page.fill("#id_rsvp_deadline", local_input(25, 18))
    page.fill("#id_answer", "Se confirma hasta cinco días antes del evento.")
    page.get_by_role("button", name="Enviar información").click()
    site.expect_message("Información enviada a Redes Sociales y Difusión.")
    site.expect_state("authorized", "Autorizada")
    expect(page.locator("#info-requests .answer")).to_contain_text("Se confirma hasta cinco días antes del evento.")
    expect(page.locator("#answer-info")).to_have_count(0)
    site.logout()

    # 6. Redes Sociales finds it complete and sends proof v1 to the Director.
    site.login("redes")
    site.open_from_inbox(folio)
    expect(page.locator("#checklist li.ok[data-check=rsvp_deadline]")).to_be_visible()
    expect(page.locator("#checklist li.missing")).to_have_count(0)
    page.locator("#checklist li.manual input[type=checkbox]").check()
    page.locator("#checklist").get_by_role("button", name="Información completa: elaborar prueba").click()
    site.expect_state("proof_draft", "Prueba en elaboración")
    page.locator("#edit-proof").click()
    expect(page.locator("#id_whatsapp_body")).to_have_value(MESSAGE)
    expect(page.locator("#wa-bubble")).to_contain_text(f"Lic. {SAMPLE_GUEST}, le invitamos a {title}")
    page.get_by_role("button", name="Guardar y enviar a visto bueno").click()
    site.expect_message("Prueba v1 enviada a visto bueno.")
    site.expect_state("proof_review", "Prueba en revisión")
    expect(page.locator("#proofs")).to_contain_text("Versión 1 · En revisión")
    expect_buttons(page, absent=["Dar visto bueno", "Devolver con cambios"])
    site.logout()

    # 7. The Director reviews v1 as a guest will see it and returns it with comments.
    site.login("directora")
    site.open_from_inbox(folio)
    page.get_by_role("link", name="Revisar la prueba v1").click()
    expect(page.locator("#proof-status")).to_have_text("En revisión")
    bubble = page.locator("#wa-bubble")
    expect(bubble).to_contain_text(f"Lic. {SAMPLE_GUEST}, le invitamos a {title}")
    expect(bubble).to_contain_text("a las 19:00 en Parque de las Palapas.")
    expect(bubble).not_to_contain_text("{")
    expect(bubble.locator("img")).to_be_visible()
    expect(page.locator(".wa-button")).to_have_text(["↩ Confirmo asistencia", "↩ No podré asistir", "↗ Ver invitación"])
    assert bubble.locator("img").evaluate("img => img.naturalWidth") == 480  # the uploaded PNG is served
    page.screenshot(path="/tmp/e2e-proof-v1.png", full_page=True)
    site.act("return_proof", "Agreguen el código de vestimenta y resalten la fecha.")
    site.expect_message("Listo: Devolver con cambios.")
    site.expect_state("proof_draft", "Prueba en elaboración")
    site.logout()

    # 8. Redes Sociales reads the comment, edits the text and sends v2.
    site.login("redes")
    site.open_from_inbox(folio)
    expect(page.locator("#proofs")).to_contain_text("Devuelta con cambios — Agreguen el código de vestimenta")
    page.locator("#edit-proof").click()
    expect(page.locator("section.notice")).to_contain_text("La Dirección devolvió la versión 1")
    expect(page.locator("section.notice")).to_contain_text("Al guardar se crea la versión 2.")
    page.fill("#id_whatsapp_body", MESSAGE + "\n*Fecha: {fecha}*\nVestimenta: formal.")
    page.get_by_role("button", name="Guardar y ver vista previa").click()
    site.expect_message("Prueba v2 guardada.")
    expect(page.locator("#wa-bubble strong")).to_contain_text("Fecha:")
    expect(page.locator("#wa-bubble")).to_contain_text("Vestimenta: formal.")
    page.get_by_role("button", name="Guardar y enviar a visto bueno").click()
    site.expect_message("Prueba v2 enviada a visto bueno.")
    site.expect_state("proof_review", "Prueba en revisión")
    site.logout()

    # 9. The Director approves v2: the request is ready to send.
    site.login("directora")
    site.open_from_inbox(folio)
    page.get_by_role("link", name="Revisar la prueba v2").click()
    expect(page.locator("#wa-bubble")).to_contain_text("Vestimenta: formal.")
    page.screenshot(path="/tmp/e2e-proof-v2.png", full_page=True)
    site.act("approve_proof")
    site.expect_message("Listo: Dar visto bueno.")
    site.expect_state("ready", "Lista para envío")
    proofs = page.locator("#proofs li")
    expect(proofs).to_have_count(2)
    expect(proofs.nth(0)).to_have_text("Versión 2 · Visto bueno")
    expect(proofs.nth(1)).to_contain_text("Versión 1 · Devuelta con cambios — Agreguen el código de vestimenta")
    for action in ("create", "turn", "authorize", "request_info", "provide_info", "mark_complete", "approve_proof"):
        expect(page.locator(f"#timeline li[data-action='campaign.{action}']")).to_have_count(1)
    expect(page.locator("#timeline li[data-action='campaign.submit_proof']")).to_have_count(2)
    page.screenshot(path="/tmp/e2e-campaign-detail.png", full_page=True)
    for version, status in ((1, "Devuelta con cambios"), (2, "Visto bueno")):
        site.goto(f"/solicitudes/{folio}/prueba/v{version}/")
        expect(page.locator("#proof-status")).to_have_text(status)
        expect(page.locator("#actions")).to_have_count(0)
    expect(page.locator("#wa-bubble")).to_contain_text(SAMPLE_GUEST)
    site.logout()

    # The requester sees it ready, with nothing left to decide there.
    site.login("cultura")
    site.goto(f"/solicitudes/{folio}/")
    site.expect_state("ready", "Lista para envío")
    expect_buttons(page, absent=["Dar visto bueno", "Devolver con cambios", "Autorizar"])


def test_rejected_request_shows_its_reason_to_the_requester(site, people, mail_to):
    page = site.page
    reason = "La fecha coincide con el informe de gobierno; propongan otra."

    site.login("cultura")
    folio = new_request(site, "Concierto de la Orquesta Juvenil")
    site.logout()
    turn_to_director(site, folio)

    site.login("directora")
    site.open_from_inbox(folio)
    reject = page.locator("form.action-form[data-action=reject]")
    reject.get_by_role("button", name="Rechazar").click()  # no reason: the browser holds the form back
    expect(reject.locator("textarea:invalid")).to_have_count(1)
    site.expect_state("in_review", "En revisión de la Dirección")
    site.act("reject", reason)
    site.expect_message("Listo: Rechazar.")
    site.expect_state("rejected", "Rechazada")
    expect(page.locator("#actions")).to_have_count(0)
    site.logout()

    mails = mail_to(REQUESTER_MAIL, "Rechazada")
    assert mails, "no e-mail told Cultura about the rejection"
    assert reason in plain_text(mails[0]) and folio in mails[0]["Subject"]
    site.login("cultura")
    expect(page.locator("header .badge")).to_have_text("1")
    expect(page.locator("ul.notes")).to_contain_text(f"{folio} «Concierto de la Orquesta Juvenil»: Rechazar")
    page.locator("header nav").get_by_role("link", name="Avisos").click()
    notice = page.locator("ul.notes li.unread")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text(reason)
    notice.get_by_role("link").click()
    site.expect_state("rejected", "Rechazada")
    expect(page.locator("#final-reason")).to_contain_text("Motivo del rechazo")
    expect(page.locator("#final-reason")).to_contain_text(reason)
    expect(page.locator("#actions")).to_have_count(0)
    expect(page.locator("header .badge")).to_have_count(0)  # opening the request read the notice
    page.screenshot(path="/tmp/e2e-rejected.png", full_page=True)
