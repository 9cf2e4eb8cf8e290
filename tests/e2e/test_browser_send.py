"""A real send from the UI: social media presses the button, the worker sends to the WhatsApp emulator and the
test SMTP server, and the progress bar on the page reaches 100 %."""

import re
import threading

import pytest

from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.rsvp.models import Invitation
from pregonero.rsvp.services import invitation_answer
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.models import Message

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


@pytest.mark.e2e
def test_a_resend_to_those_who_have_not_answered_goes_out_as_a_second_round(site, people, make_campaign, emulator,
                                                                           worker, inbox):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media)
    site.login("redes")
    site.goto(f"/solicitudes/{campaign.folio}/")
    site.page.get_by_role("button", name="Iniciar envío masivo").click()
    expect(site.page.locator("#send-percent")).to_have_text("100 %", timeout=30_000)
    site.expect_state("sent", "Enviada")
    first_round = len(emulator.messages())

    answered = Message.objects.filter(campaign=campaign, channel="whatsapp").first().invitation
    invitation_answer(invitation=answered, answer=Invitation.Answer.ATTENDING, via=Invitation.Via.BUTTON,
                      confirm=False)
    site.page.reload()
    offered = site.page.locator('[data-resend="pending"]')
    expect(offered).to_have_text(re.compile(r"^[1-9]\d* mensajes$"))
    pending = int(offered.inner_text().split()[0])
    site.page.get_by_label("A quienes no han respondido").check()
    site.page.locator("#resend").click()
    site.expect_message(f"Reenvío iniciado: {pending} mensajes")
    expect(site.page.locator("#send-percent")).to_have_text("100 %", timeout=30_000)
    second = site.page.locator('#send-rounds tr[data-round="2"]')
    expect(second).to_contain_text("Reenvío: a quienes no han respondido")
    expect(second.locator('[data-count="total"]')).to_have_text(str(pending))
    expect(second.locator('[data-count="open"]')).to_have_text("0")

    # The guest who answered got the invitation once; the second round's WhatsApp messages all reached the
    # emulator, none of either round twice.
    number = answered.contact.mobile.removeprefix("+")
    assert len([m for m in emulator.messages() if m.to == number]) == 1
    resent = Message.objects.filter(campaign=campaign, round=2, channel="whatsapp").count()
    assert len(emulator.messages()) == first_round + resent and emulator.duplicates() == {}
