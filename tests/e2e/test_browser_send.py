"""A real send from the UI: social media presses the button, the worker sends to the WhatsApp emulator and the
test SMTP server, and the progress bar on the page reaches 100 %."""

import threading

import pytest

from pregonero.sending.dispatcher import Dispatcher

from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None



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
