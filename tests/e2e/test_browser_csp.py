"""The Content Security Policy holds on every kind of page: each one renders and works with no script or style
blocked (the ``site`` fixture fails the test on any CSP message in the console)."""

import email
import threading
from email import policy

import pytest

from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.devtools.models import SinkMessage
from pregonero.rsvp.models import Invitation
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.services import send_start

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None


def sent_campaign(people, make_campaign):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media)
    send_start(campaign=campaign, actor=people.social_media)

    def dispatch():  # in a thread of its own: Playwright's event loop runs in this one
        dispatcher = Dispatcher("csp-tour")
        while dispatcher.run_once():
            pass

    thread = threading.Thread(target=dispatch)
    thread.start()
    thread.join(timeout=60)
    campaign.refresh_from_db()
    assert campaign.state == State.SENT
    return campaign


@pytest.mark.e2e
def test_the_office_pages_run_under_the_policy(site, people, make_campaign, emulator, inbox):
    campaign = sent_campaign(people, make_campaign)
    people.social_media.is_staff = people.social_media.is_superuser = True
    people.social_media.save(update_fields=["is_staff", "is_superuser"])
    site.login("redes")
    page = site.page

    site.goto(f"/solicitudes/{campaign.folio}/")  # the send panel and its reminder picker (inline scripts)
    page.fill("#reminder-search", "zzz-nadie")
    expect(page.locator("#reminder-guests li").first).to_be_hidden()
    expect(page.locator(".df-flow .node.current rect")).to_have_css("stroke-width", "3px")  # the diagram's styles

    site.goto(f"/solicitudes/{campaign.folio}/informe/")  # inline <style> and the charts' colour swatches
    expect(page.locator(".chart-legend .swatch").first).to_be_visible()
    site.goto("/tablero/")
    site.goto(f"/solicitudes/{campaign.folio}/lista-final/")
    site.goto(f"/solicitudes/{campaign.folio}/lista-final/imprimir/")
    expect(page.get_by_role("button", name="Imprimir")).to_be_visible()
    site.goto("/procedimiento/")

    site.goto("/")  # the language menu changes the page language by itself (a script, no inline handler)
    page.select_option("#language", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.select_option("#language", "es-mx")
    expect(page.locator("html")).to_have_attribute("lang", "es-mx")

    site.goto("/admin/")
    site.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    site.goto("/admin/accounts/user/")

    # An HTML e-mail in the local mail viewer keeps its own inline styles inside its sandboxed frame.
    raw = inbox.messages[0][1].as_bytes(policy=policy.SMTP)
    parsed = email.message_from_bytes(raw, policy=policy.default)
    caught = SinkMessage.objects.create(mail_from=parsed["From"], recipients="x@example.com",
                                        subject=parsed["Subject"], raw=raw)
    site.goto(f"/correo-local/{caught.pk}/")
    expect(page.locator("iframe[srcdoc]")).to_be_visible()


@pytest.mark.e2e
def test_the_public_pages_run_under_the_policy(site, people, make_campaign, emulator, inbox):
    campaign = sent_campaign(people, make_campaign)
    invitation = Invitation.objects.filter(campaign=campaign).first()
    site.goto(f"/i/{invitation.token}")
    expect(site.page.locator("body")).to_have_css("background-color", "rgb(244, 246, 249)")  # its inline <style>
    site.goto("/privacidad/")
    site.goto("/no-existe/")
