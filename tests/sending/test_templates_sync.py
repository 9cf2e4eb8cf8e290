"""The account's WhatsApp templates, synced into Pregonero and offered when social media builds the proof."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from pregonero.campaigns.models import Proof, State
from pregonero.sending.models import WhatsAppTemplate
from pregonero.sending.tasks import sync_whatsapp_templates
from pregonero.sending.templates_sync import TemplateSyncError, body_text, templates_sync

pytestmark = pytest.mark.django_db

ACCOUNT = {  # what the emulator's account holds (devtools/emulator/templates.py)
    ("acuse_solicitud", "es_MX"): "APPROVED",
    ("agradecimiento_evento", "es_MX"): "PENDING",
    ("cancelacion_evento", "es_MX"): "APPROVED",
    ("invitacion_evento", "es_MX"): "APPROVED",
    ("invitacion_evento_promo", "es_MX"): "REJECTED",
    ("recordatorio_evento", "es_MX"): "APPROVED",
}


def stored() -> dict:
    return {(t.name, t.language): t.status for t in WhatsAppTemplate.objects.all()}


def remove_from_account(emulator, name, language="es_MX"):
    def remove():
        store = emulator.state.templates
        del store.templates[store.find(name, language).id]

    emulator.call(remove)


def proof_page(client, campaign):
    return client.get(reverse("campaigns:proof_edit", args=[campaign.folio])).content.decode()


def save_proof(client, campaign, template):
    data = {"whatsapp_template": template, "whatsapp_body": "{tratamiento} {nombre}: le invitamos a {evento}",
            "email_subject": "Invitación: {evento}", "email_body": "Le invitamos a {evento}"}
    return client.post(reverse("campaigns:proof_edit", args=[campaign.folio]), data)


def sync_button(client, campaign):
    return client.post(reverse("campaigns:proof_templates_sync", args=[campaign.folio]), follow=True)


def test_sync_stores_the_account_templates_with_their_approval_status(emulator):
    counts = templates_sync()

    assert counts == {"created": 6, "updated": 0, "removed": 0, "total": 6}
    assert stored() == ACCOUNT
    invitation = WhatsAppTemplate.objects.get(name="invitacion_evento")
    assert invitation.approved and invitation.category == "MARKETING" and invitation.provider_id
    assert "tiene el honor de invitarle a *{{2}}*" in body_text(invitation)


def test_a_second_sync_changes_nothing(emulator):
    templates_sync()
    before = {t.pk: (t.name, t.status, t.components) for t in WhatsAppTemplate.objects.all()}

    assert templates_sync() == {"created": 0, "updated": 0, "removed": 0, "total": 6}
    assert {t.pk: (t.name, t.status, t.components) for t in WhatsAppTemplate.objects.all()} == before


def test_a_template_removed_from_the_account_disappears_and_a_status_change_is_picked_up(emulator):
    templates_sync()
    remove_from_account(emulator, "agradecimiento_evento")
    emulator.template_status_changes("cancelacion_evento", "es_MX", "PAUSED")

    assert templates_sync() == {"created": 0, "updated": 1, "removed": 1, "total": 5}
    assert stored() == {("acuse_solicitud", "es_MX"): "APPROVED",
                        ("cancelacion_evento", "es_MX"): "PAUSED", ("invitacion_evento", "es_MX"): "APPROVED",
                        ("invitacion_evento_promo", "es_MX"): "REJECTED", ("recordatorio_evento", "es_MX"): "APPROVED"}


def test_an_expired_token_gives_a_clear_error_and_keeps_the_old_list(emulator):
    templates_sync()
    remove_from_account(emulator, "invitacion_evento")
    emulator.expire_token()

    with pytest.raises(TemplateSyncError) as refused:
        templates_sync()
    assert "El token de acceso de WhatsApp expiró o no es válido." in str(refused.value)
    assert "La lista guardada no cambió." in str(refused.value)
    assert stored() == ACCOUNT
    with pytest.raises(CommandError, match="token de acceso de WhatsApp expiró"):
        call_command("sync-templates")
    assert stored() == ACCOUNT


def test_without_whatsapp_settings_the_error_says_so(settings):
    settings.WHATSAPP_TOKEN = ""
    with pytest.raises(TemplateSyncError, match="WhatsApp no está configurado"):
        templates_sync()


def test_the_command_and_the_task_sync_too(emulator, capsys):
    call_command("sync-templates")
    out = capsys.readouterr().out
    assert "6 en total, 6 nuevas" in out
    assert "invitacion_evento_promo · es_MX · Rechazada" in out and "agradecimiento_evento · es_MX · En revisión" in out

    remove_from_account(emulator, "cancelacion_evento")
    result = sync_whatsapp_templates.enqueue()
    assert result.return_value == {"created": 0, "updated": 0, "removed": 1, "total": 5}
    assert ("cancelacion_evento", "es_MX") not in stored()


def test_the_proof_form_offers_approved_templates_and_shows_what_whatsapp_sends(
    emulator, client, people, make_campaign
):
    templates_sync()
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.social_media)
    page = proof_page(client, campaign)

    assert '<option value="invitacion_evento" selected>invitacion_evento · es_MX · Aprobada</option>' in page
    assert '<option value="cancelacion_evento">cancelacion_evento · es_MX · Aprobada</option>' in page
    assert ('<option value="invitacion_evento_promo" disabled>invitacion_evento_promo · es_MX · Rechazada</option>'
            in page)
    assert '<option value="recordatorio_evento">recordatorio_evento · es_MX · Aprobada</option>' in page
    assert '<option value="agradecimiento_evento" disabled>agradecimiento_evento · es_MX · En revisión</option>' in page
    assert "La Dirección de Relaciones Públicas tiene el honor de invitarle a *{{2}}*" in page
    assert "Actualizar plantillas" in page and "no se ha sincronizado" not in page

    assert save_proof(client, campaign, "cancelacion_evento").status_code == 302
    assert Proof.objects.get(campaign=campaign).whatsapp_template == "cancelacion_evento"


def test_the_proof_form_refuses_a_template_that_is_not_approved_or_not_on_the_account(
    emulator, client, people, make_campaign
):
    templates_sync()
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.social_media)

    rejected = save_proof(client, campaign, "invitacion_evento_promo")
    assert rejected.status_code == 200
    assert ("La plantilla «invitacion_evento_promo» no se puede usar porque WhatsApp la tiene como «Rechazada». "
            "Elija una plantilla aprobada.") in rejected.content.decode()
    unknown = save_proof(client, campaign, "plantilla_inventada")
    assert "La plantilla «plantilla_inventada» no está en la cuenta de WhatsApp." in unknown.content.decode()
    assert not Proof.objects.exists()


def test_without_a_synced_list_the_template_name_stays_free_text(client, people, make_campaign):
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.social_media)

    assert "La lista de plantillas de WhatsApp no se ha sincronizado" in proof_page(client, campaign)
    assert save_proof(client, campaign, "plantilla_de_la_oficina").status_code == 302
    assert Proof.objects.get(campaign=campaign).whatsapp_template == "plantilla_de_la_oficina"


def test_the_sync_button_works_for_social_media_and_reports_failures(emulator, client, people, make_campaign):
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.social_media)

    page = sync_button(client, campaign).content.decode()
    assert "Plantillas actualizadas desde la cuenta de WhatsApp: 6 en total, 6 nuevas" in page
    assert "invitacion_evento · es_MX · Aprobada" in page
    assert stored() == ACCOUNT

    emulator.expire_token()
    page = sync_button(client, campaign).content.decode()
    assert "No se pudo actualizar la lista de plantillas: El token de acceso de WhatsApp expiró" in page
    assert stored() == ACCOUNT


def test_the_sync_button_is_refused_to_a_requester(emulator, client, people, make_campaign):
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.requester)

    assert client.post(reverse("campaigns:proof_templates_sync", args=[campaign.folio])).status_code == 403
    assert client.get(reverse("campaigns:proof_templates_sync", args=[campaign.folio])).status_code == 405
    assert not WhatsAppTemplate.objects.exists()


def test_the_sync_button_needs_the_csrf_token(emulator, people, make_campaign):
    from django.test import Client

    campaign = make_campaign(state=State.PROOF_DRAFT)
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.social_media)

    assert client.post(reverse("campaigns:proof_templates_sync", args=[campaign.folio])).status_code == 403
    assert not WhatsAppTemplate.objects.exists()


SIMPLE = {  # an account template laid out otherwise: the programme's fixed link before the guest's page
    "name": "invitacion_programa", "language": "es_MX", "status": "APPROVED", "category": "MARKETING",
    "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "{{1}}: le invitamos a {{2}} el {{3}} a las {{4}} en {{5}}."},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Confirmo asistencia"}, {"type": "QUICK_REPLY", "text": "No podré"},
            {"type": "URL", "text": "Programa", "url": "https://cultura.example/programa"},
            {"type": "URL", "text": "Ver invitación", "url": "https://invitaciones.example/i/{{1}}"}]},
    ],
}


def test_the_personal_page_button_is_sent_where_the_synced_template_has_it(emulator, people, make_campaign):
    """Each message sends its guest's token to the template's "Ver invitación" button, found in the synced
    template (a template without one gets none); the emulator refuses a message that leaves it out (131008)."""
    from test_rounds import send_all
    from test_send_start import build_ready

    from pregonero.sending.models import Message
    from pregonero.sending.services import send_start
    from pregonero.sending.templates_sync import page_button_index

    emulator.call(lambda: emulator.state.templates.add(SIMPLE, template_id="1689556908129901"))
    templates_sync()
    assert [page_button_index(name, "es_MX") for name in (
        "invitacion_evento", "recordatorio_evento", "invitacion_programa", "cancelacion_evento", "no_existe")] == [
        2, 2, 3, None, None]

    campaign = build_ready(people, make_campaign, whatsapp=3, email_only=0, both=0, opted_out_whatsapp=0)
    Proof.objects.filter(campaign=campaign).update(whatsapp_template="invitacion_programa")
    send_start(campaign=campaign, actor=people.social_media)
    send_all(campaign)

    sent = Message.objects.filter(campaign=campaign, channel="whatsapp").select_related("invitation")
    assert sorted(sent.values_list("state", flat=True)) == ["sent"] * 3
    logged = {m.biz_opaque_callback_data: m.quick_replies[3]["url"] for m in emulator.messages()}
    assert logged == {str(m.public_id): f"https://invitaciones.example/i/{m.invitation.token}" for m in sent}


def test_the_proof_screen_warns_of_a_template_without_the_personal_page_button(emulator, client, people,
                                                                               make_campaign, settings):
    """Social media sees which templates would leave the guest without the link to the page and the privacy
    notice, or send them to another server, and the WhatsApp preview shows the «Ver invitación» button only
    when the chosen template has it."""
    import re

    def warnings(page, text):
        return {name for name, block in re.findall(r'<div data-template="([^"]+)"[^>]*>(.*?)</div>', page, re.S)
                if text in block}

    templates_sync()  # the emulator's account: its page buttons point at https://invitaciones.example
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.social_media)
    settings.SITE_URL = "https://invitaciones.example"
    page = proof_page(client, campaign)
    assert warnings(page, "no tiene el botón «Ver invitación»") == {
        "acuse_solicitud", "agradecimiento_evento", "cancelacion_evento", "invitacion_evento_promo"}
    assert warnings(page, "no a este servidor") == set()

    settings.SITE_URL = "https://pregonero.cancun.gob.mx"  # registered at Meta with another address
    page = proof_page(client, campaign)
    assert warnings(page, "lleva a https://invitaciones.example/i/{{1}}, no a este servidor "
                          "(https://pregonero.cancun.gob.mx)") == {"invitacion_evento", "recordatorio_evento"}

    save_proof(client, campaign, "invitacion_evento")
    assert "↗ Ver invitación" in proof_page(client, campaign)
    save_proof(client, campaign, "cancelacion_evento")
    assert "↗ Ver invitación" not in proof_page(client, campaign)
