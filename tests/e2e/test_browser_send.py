"""A real send from the UI: social media presses the button, the worker sends to the WhatsApp emulator and the
test SMTP server, and the progress bar on the page reaches 100 %."""

import threading

import pytest

from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer
from pregonero.sending.dispatcher import Dispatcher

from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None

TOKEN, PHONE_ID, WABA_ID = "e2e-token", "106540352242922", "102290129340398"


@pytest.fixture
def emulator(settings):
    config = EmulatorConfig(token=TOKEN, phone_number_id=PHONE_ID, waba_id=WABA_ID, callback_url=None,
                            statuses=False, seed=3)
    with EmulatorServer(config) as server:
        settings.WHATSAPP_API_BASE_URL = server.base_url
        settings.WHATSAPP_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID, settings.WHATSAPP_WABA_ID = TOKEN, PHONE_ID, WABA_ID
        yield server


@pytest.fixture
def worker():
    """The dispatcher loop of `pregonero worker`, in a thread of the test process (it shares the test database)."""
    stop = threading.Event()
    thread = threading.Thread(target=Dispatcher("e2e-worker", idle_sleep=0.2).run_forever, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


@pytest.mark.e2e
def test_a_send_started_from_the_page_reaches_100_percent(site, people, make_campaign, emulator, worker, inbox):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media)
    site.login("redes")
    site.goto(f"/solicitudes/{campaign.folio}/")
    site.page.get_by_role("button", name="Iniciar envío masivo").click()
    site.expect_message("Envío iniciado: 32 mensajes")
    expect(site.page.locator("#send-percent")).to_have_text("100 %", timeout=30_000)
    site.expect_state("sent", "Enviada")
    assert len(emulator.messages()) == 22 and emulator.duplicates() == {}
    assert len(inbox.to("correo0@example.com")) == 1
    site.page.screenshot(path="/tmp/e2e-send.png", full_page=True)
