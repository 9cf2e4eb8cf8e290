"""The privacy notices: seeded, edited by the administrator as new versions, shown on the public pages and linked
from every e-mail a guest receives."""

import re

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from pregonero.campaigns.models import AuditEntry, State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.directory.models import PrivacyNotice
from pregonero.rsvp.models import Invitation
from pregonero.rsvp.services import invitation_answer
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.models import Message
from pregonero.sending.services import send_start

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    return " ".join(strip_tags(response.content.decode()).split())


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="ti", password="clave-de-prueba-1"))
    return client


def test_the_public_pages_show_the_seeded_notices_with_the_configured_contact(client, settings):
    settings.PRIVACY_EMAIL, settings.RETENTION_MONTHS = "privacidad@cancun.example", 18
    simplified = client.get(reverse("rsvp:privacy"))
    text = text_of(simplified)
    assert "Aviso de privacidad simplificado" in text and "H. Ayuntamiento" in text and "Finalidad" in text
    assert "ARCO" in text and "privacidad@cancun.example" in text and "{correo}" not in text
    assert "Versión 1, publicada el" in text
    assert f'href="{reverse("rsvp:privacy_full")}"' in simplified.content.decode()
    full = text_of(client.get(reverse("rsvp:privacy_full")))
    assert "Aviso de privacidad integral" in full and "Derechos ARCO" in full and "20 días hábiles" in full
    assert "se conservan 18 meses después del evento" in full and "privacidad@cancun.example" in full
    assert 'href="mailto:privacidad@cancun.example"' in client.get(reverse("rsvp:privacy_full")).content.decode()
    # The staff's public page (the login) links the notice too, like every guest page does.
    assert f'href="{reverse("rsvp:privacy")}"' in client.get(reverse("login")).content.decode()


def test_an_edit_in_the_admin_publishes_a_new_version_and_keeps_the_old_one(admin_client, client):
    first = PrivacyNotice.objects.get(kind="simplified")
    url = reverse("admin:directory_privacynotice_change", args=[first.pk])
    assert "H. Ayuntamiento" in admin_client.get(url).content.decode()
    lines = ["Responsable: el H. Ayuntamiento de Benito Juárez.", "Finalidad: invitarle a eventos. Escriba a {correo}."]
    text = "\r\n\r\n\r\n".join(lines)  # as a browser sends it, with one blank line too many
    response = admin_client.post(url, {"text": text})
    assert response.status_code == 302
    latest = PrivacyNotice.objects.filter(kind="simplified").order_by("-version").first()
    assert latest.version == 2 and latest.published_by.username == "ti"
    assert latest.text == "\n\n".join(lines)
    first.refresh_from_db()
    assert first.version == 1 and "Dirección de Relaciones Públicas" in first.text  # the old version stays as it was
    page = client.get(reverse("rsvp:privacy")).content.decode()
    assert "Benito Juárez" in page and "Versión 2" in page and page.count("<p>") >= 2
    entry = AuditEntry.objects.get(action="directory.privacy.publish")
    assert entry.data == {"notice": latest.pk, "kind": "simplified", "version": 2}
    # The same text again (a form sent twice) publishes nothing; a notice is never deleted.
    admin_client.post(reverse("admin:directory_privacynotice_change", args=[latest.pk]), {"text": latest.text})
    assert PrivacyNotice.objects.filter(kind="simplified").count() == 2
    assert admin_client.get(reverse("admin:directory_privacynotice_delete", args=[latest.pk])).status_code == 403


def test_a_new_full_notice_can_be_added_and_an_empty_one_is_refused(admin_client):
    add = reverse("admin:directory_privacynotice_add")
    refused = admin_client.post(add, {"kind": "full", "text": "  "})
    assert refused.status_code == 200 and "Este campo es obligatorio" in refused.content.decode()
    admin_client.post(add, {"kind": "full", "text": "Aviso integral, segunda versión."})
    assert list(PrivacyNotice.objects.filter(kind="full").values_list("version", flat=True)) == [2, 1]


def test_every_email_to_a_guest_links_the_privacy_notice_and_the_opt_out(
        people, make_campaign, emulator, inbox, settings, django_capture_on_commit_callbacks):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=0, email_only=1, both=0, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)
    while Dispatcher("w1").run_once():
        pass
    message = Message.objects.get(campaign=campaign)
    token = message.invitation.token
    (invitation_mail,) = inbox.to(message.address)
    text = invitation_mail.get_body(("plain",)).get_content()
    assert f"Aviso de privacidad: {settings.SITE_URL}/privacidad/" in text
    assert f"Para no recibir más invitaciones: {settings.SITE_URL}/i/{token}/baja" in text
    assert f'href="{settings.SITE_URL}/privacidad/"' in invitation_mail.get_body(("html",)).get_content()
    # The confirmation of an answer (rsvp/confirmations.py) links it too.
    with django_capture_on_commit_callbacks(execute=True):
        invitation_answer(invitation=Invitation.objects.get(pk=message.invitation_id), answer="attending",
                          via=Invitation.Via.LINK)
    (_first, confirmation) = inbox.to(message.address)
    assert re.search(rf"{re.escape(settings.SITE_URL)}/privacidad/", confirmation.get_body(("plain",)).get_content())
    assert f'href="{settings.SITE_URL}/privacidad/"' in confirmation.get_body(("html",)).get_content()
