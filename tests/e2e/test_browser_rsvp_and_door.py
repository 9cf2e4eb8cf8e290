"""From the guest's phone to the door: the guest opens the personal link on a phone, confirms with one companion and
gets the entry code; door staff, on another phone, scan that code with the camera, scan it again, register a
walk-in while the venue's network is down (sent once when it comes back, even if the phone sends it twice) and
find a guest by name.

Chromium's fake camera plays a video made from a screenshot of the guest's QR, so the door page's real path runs:
getUserMedia, canvas frames, the vendored jsQR, the JSON endpoint.
"""

import io

import pytest
from django.utils import timezone
from PIL import Image

from pregonero.campaigns.models import State
from pregonero.directory.models import Contact, Sector
from pregonero.directory.services import contact_create
from pregonero.rsvp.models import CheckIn, Invitation
from pregonero.rsvp.qr import checkin_code

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips, or fails when a browser is required
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True,
         "locale": "es-MX"}
CAMERA_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def guest(campaign, name, *, answer=Invitation.Answer.PENDING, companions=0):
    sector, _ = Sector.objects.get_or_create(name="Empresarios")
    contact = contact_create(actor=None, values={"honorific": "Lic.", "name": name, "organization": "Cámara de Comercio",
                                                 "email": f"{name.split()[0].lower()}@example.com"}, sectors=[sector])
    return Invitation.objects.create(campaign=campaign, contact=contact, answer=answer, companions=companions)


def camera_video(png: bytes, path) -> None:
    """A still Y4M video (what Chromium's fake camera plays) of a picture centred on a white frame."""
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = max(640, picture.width + 64) // 2 * 2, max(480, picture.height + 64) // 2 * 2
    frame = Image.new("RGB", (width, height), "white")
    frame.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + (b"FRAME\n" + planes) * 3)


def door_result(page, level: str, *texts: str):
    panel = page.locator("#door-result")
    expect(panel).to_have_attribute("data-level", level)
    for text in texts:
        expect(panel).to_contain_text(text)


def test_a_guest_confirms_on_a_phone_and_is_checked_in_at_the_door(site, browser, people, make_campaign, tmp_path):
    event = make_campaign(state=State.SENT, max_companions=2, title="Noche de Cultura", dress_code="Formal")
    ana = guest(event, "Ana Lucía Pérez Ruiz")
    bruno = guest(event, "Bruno Díaz Soto", answer=Invitation.Answer.ATTENDING)
    Site = type(site)  # the conftest's helpers, on phone-sized tabs

    # The guest, on her phone: confirms with one companion and sees her entry code.
    guest_context = browser.new_context(**PHONE)
    phone = Site(guest_context.new_page(), site.base_url)
    phone.goto(f"/i/{ana.token}")
    expect(phone.page.locator("h1")).to_have_text("Noche de Cultura")
    phone.page.get_by_label("Número de acompañantes").fill("1")
    phone.page.get_by_role("button", name="Confirmo asistencia").tap()
    expect(phone.page.get_by_text("¡Gracias! Registramos su respuesta.")).to_be_visible()
    expect(phone.page.get_by_text("Usted confirmó su asistencia con 1 acompañante.")).to_be_visible()
    ana.refresh_from_db()
    assert (ana.answer, ana.companions, ana.answered_via) == ("attending", 1, "link")
    video = tmp_path / "camera.y4m"
    camera_video(phone.page.locator("#qr svg").screenshot(), video)

    # Door staff, on another phone whose camera sees the guest's screen.
    door_browser = browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                               args=[*CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"])
    door_context = door_browser.new_context(**PHONE)
    door_context.grant_permissions(["camera"], origin=site.base_url)
    door = Site(door_context.new_page(), site.base_url)
    door.login("redes")
    door.goto(f"/solicitudes/{event.folio}/puerta/")
    page = door.page
    expect(page.locator("#door-count-guests")).to_have_text("0 / 2")
    page.get_by_role("button", name="Escanear con la cámara").tap()
    door_result(page, "ok", "Bienvenido/a, Lic. Ana Lucía Pérez Ruiz", "+ 1 acompañante")
    page.get_by_role("button", name="Detener la cámara").tap()
    expect(page.locator("#door-count-guests")).to_have_text("1 / 2")
    expect(page.locator("#door-count-people")).to_have_text("2 / 3")
    ana.refresh_from_db()
    assert ana.checked_in_companions == 1 and CheckIn.objects.filter(invitation=ana).count() == 1

    # The same code again, through the scanner's entry point: already in, and when.
    page.evaluate("code => window.pregoneroDoor.submitCode(code)", checkin_code(ana))
    arrived = timezone.localtime(ana.checked_in_at).strftime("%H:%M")
    door_result(page, "warning", f"Ya había ingresado a las {arrived}", "Entró con 1 acompañante.")
    assert list(CheckIn.objects.filter(invitation=ana).values_list("first", flat=True)) == [True, False]

    # The venue's network goes down: a walk-in is kept on the phone, then sent once when the network is back,
    # although the phone's queue holds it twice (as after a retry whose answer was lost).
    door_context.set_offline(True)
    page.get_by_text("Registrar a alguien sin invitación").tap()
    page.get_by_label("Nombre", exact=True).fill("Carla Gómez")
    page.get_by_label("Organización (opcional)").fill("Radio Municipal")
    page.get_by_role("button", name="Registrar ingreso sin invitación").tap()
    door_result(page, "queued", "Sin conexión: registro guardado")
    expect(page.locator("#door-pending")).to_contain_text("1 registro guardado en este teléfono espera la red")
    page.evaluate("""folio => {
        const key = "pregonero.door." + folio, queue = JSON.parse(localStorage.getItem(key));
        localStorage.setItem(key, JSON.stringify([queue[0], queue[0]]));
    }""", event.folio)
    assert not Contact.objects.filter(name="Carla Gómez").exists()
    door_context.set_offline(False)
    door_result(page, "ok", "Bienvenido/a, Carla Gómez")
    expect(page.locator("#door-pending")).to_be_hidden()
    expect(page.locator("#door-log")).to_contain_text("enviado al volver la red")
    carla = Invitation.objects.get(contact__name="Carla Gómez")
    assert carla.walk_in and carla.checked_in_at is not None
    assert CheckIn.objects.filter(invitation=carla).count() == 1
    assert Contact.objects.filter(name="Carla Gómez").count() == 1

    # A guest without the phone at hand: found by name and checked in with a tap.
    page.get_by_placeholder("Nombre u organización").fill("bruno")
    result = page.locator("#door-search-results li").filter(has_text="Lic. Bruno Díaz Soto")
    expect(result).to_contain_text("Cámara de Comercio · Empresarios")
    expect(result).to_contain_text("Asistirá")
    result.get_by_role("button", name="Registrar ingreso").tap()
    door_result(page, "ok", "Bienvenido/a, Lic. Bruno Díaz Soto")
    expect(page.locator("#door-count-guests")).to_have_text("3 / 3")
    expect(page.locator("#door-count-people")).to_have_text("4 / 4")
    assert CheckIn.objects.filter(invitation=bruno, first=True).count() == 1
    page.screenshot(path="/tmp/e2e-door.png", full_page=True)

    guest_context.close()
    door_context.close()
    door_browser.close()
    assert not phone.problems and not door.problems, phone.problems + door.problems
