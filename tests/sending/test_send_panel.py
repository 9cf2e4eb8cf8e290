"""The send from the campaign page: start, live progress, pause and resume, and each recipient's outcome."""

from django.urls import reverse

from pregonero.campaigns.models import State
from pregonero.sending.models import Message, SendControl

from test_send_start import build_ready


def detail(client, campaign):
    return client.get(reverse("campaigns:detail", args=[campaign.folio])).content.decode()


def test_social_media_starts_the_send_from_the_campaign_page(client, people, make_campaign):
    campaign = build_ready(people, make_campaign)
    client.force_login(people.director)
    assert 'id="start-send"' not in detail(client, campaign)
    assert client.post(reverse("sending:start", args=[campaign.folio])).status_code == 403
    client.force_login(people.social_media)
    assert 'id="start-send"' in detail(client, campaign)
    response = client.post(reverse("sending:start", args=[campaign.folio]), follow=True)
    assert "Envío iniciado: 32 mensajes" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING
    progress = client.get(reverse("sending:progress", args=[campaign.folio])).json()
    assert (progress["total"], progress["by_state"]["queued"], progress["percent"]) == (32, 32, 0)
    again = client.post(reverse("sending:start", args=[campaign.folio]), follow=True)
    assert again.status_code == 200 and Message.objects.filter(campaign=campaign).count() == 32


def test_a_campaign_without_a_confirmed_list_cannot_start(client, people, make_campaign):
    campaign = make_campaign(state=State.READY)
    client.force_login(people.social_media)
    response = client.post(reverse("sending:start", args=[campaign.folio]), follow=True)
    assert response.status_code == 200 and not Message.objects.exists()
    campaign.refresh_from_db()
    assert campaign.state == State.READY


def test_pause_and_resume(client, people, make_campaign):
    campaign = build_ready(people, make_campaign)
    client.force_login(people.social_media)
    client.post(reverse("sending:start", args=[campaign.folio]))
    client.post(reverse("sending:pause", args=[campaign.folio]))
    assert SendControl.objects.get(campaign=campaign).paused_at is not None
    assert 'id="send-paused"' in detail(client, campaign)
    assert client.get(reverse("sending:progress", args=[campaign.folio])).json()["paused"]
    client.post(reverse("sending:resume", args=[campaign.folio]))
    assert SendControl.objects.get(campaign=campaign).paused_at is None


def test_each_recipient_with_the_reason_of_a_failure(client, people, make_campaign):
    campaign = build_ready(people, make_campaign)
    client.force_login(people.social_media)
    client.post(reverse("sending:start", args=[campaign.folio]))
    Message.objects.filter(campaign=campaign, channel="whatsapp").update(
        state=Message.State.FAILED, error_reason="El número no tiene WhatsApp o no puede recibir mensajes.")
    page = client.get(reverse("sending:recipients", args=[campaign.folio]), {"estado": "failed"}).content.decode()
    assert "El número no tiene WhatsApp" in page and "Invitado 0" in page
    client.force_login(people.requester)
    assert client.get(reverse("sending:recipients", args=[campaign.folio])).status_code == 403
