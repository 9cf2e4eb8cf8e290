"""The shared sending pace per sender, and the invitation image uploaded once as WhatsApp media."""

import io
import json
import threading

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from pregonero.campaigns.models import Attachment, State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.sending import media, ratelimit
from pregonero.sending.dispatcher import Dispatcher, claim
from pregonero.sending.models import Message, SenderLimit, SendControl
from pregonero.sending.services import send_start


def send_all(campaign, batch_size=200):
    dispatcher = Dispatcher("t", batch_size=batch_size)
    while dispatcher.run_once():
        pass
    campaign.refresh_from_db()


@pytest.mark.django_db(transaction=True)
def test_workers_book_disjoint_slots_at_the_shared_pace(settings):
    settings.WHATSAPP_RATE_LIMIT = 200
    slots, lock = [], threading.Lock()

    def worker():
        from django.db import connection
        try:
            for _ in range(5):
                booked = ratelimit.book(Message.Channel.WHATSAPP, 20)
                with lock:
                    slots.extend(booked)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    assert len(slots) == 300
    gaps = [later - earlier for earlier, later in zip(slots, slots[1:])]
    assert min(gaps) >= 1 / 200 - 1e-6, "two messages share a slot: the workers would burst past the limit"


@pytest.mark.django_db
def test_the_office_can_set_a_sender_rate_within_the_api_maximum(settings):
    settings.WHATSAPP_RATE_LIMIT = 80
    assert ratelimit.sender_rate(Message.Channel.WHATSAPP) == 80
    SenderLimit.objects.create(key=ratelimit.sender_key(Message.Channel.WHATSAPP), rate=5000)
    assert ratelimit.sender_rate(Message.Channel.WHATSAPP) == 1000
    SenderLimit.objects.update(rate=4)
    first, second = ratelimit.book(Message.Channel.WHATSAPP, 2)
    assert second - first == pytest.approx(0.25)
    # A batch is always sent well within its lease, even at a slow pace.
    assert ratelimit.batch_size_for([Message.Channel.WHATSAPP], 200, lease_seconds=20) == 20


@pytest.mark.parametrize("pace, throttled", [(25, False), (0, True)])
def test_the_send_keeps_the_senders_pace(pace, throttled, settings, people, make_campaign, emulator, inbox):
    """The emulator refuses (130429) anything faster than 25 msg/s with a burst of 3: our pace never trips it,
    while the same send without a pace does (the check can fail)."""
    settings.WHATSAPP_RATE_LIMIT = pace
    emulator.configure(rate=25, burst=3, daily_limit=None)
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=40, email_only=0, both=0, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)
    Dispatcher("t").run_once()
    assert (emulator.stats.get("throttled", 0) > 0) is throttled
    if not throttled:
        assert len(emulator.messages()) == 40
        assert Message.objects.filter(campaign=campaign, state=Message.State.SENT).count() == 40


def png_upload() -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, "PNG")
    return ContentFile(buffer.getvalue(), name="invitacion.png")


def header_image(logged) -> dict:
    header = next(c for c in logged.request["template"]["components"] if c["type"] == "header")
    return header["parameters"][0]["image"]


def test_the_invitation_image_is_uploaded_once_and_sent_by_media_id(people, make_campaign, emulator, inbox):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media)
    Attachment.objects.create(campaign=campaign, kind="image", file=png_upload(), original_name="invitacion.png",
                              content_type="image/png", size=100, uploaded_by=people.assistant)
    send_start(campaign=campaign, actor=people.social_media)
    send_all(campaign, batch_size=5)  # several batches: the image is still uploaded only once

    media = emulator.call(lambda: dict(emulator.state.media))
    assert len(media) == 1
    (media_id,) = media
    sent = emulator.messages()
    assert len(sent) == 22 and {header_image(m).get("id") for m in sent} == {media_id}
    assert SendControl.objects.get(campaign=campaign).header_media_id == media_id
    assert campaign.state == State.SENT


def test_a_stored_payload_goes_out_as_stored_with_only_its_header_image_changed(people, make_campaign):
    """The dispatcher posts a WhatsApp message's stored text without decoding it: the same request as the decoded
    payload with the media id, in this database's own JSON text."""
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=2, email_only=0, both=0, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)
    claimed = [m for m in claim("t") if m.channel == Message.Channel.WHATSAPP]
    assert len(claimed) == 2
    for message in claimed:
        stored = Message.objects.get(pk=message.pk).payload
        body = media.whatsapp_body(message, "4242")
        assert isinstance(body, str) and json.loads(body) == media.with_media_id(stored, "4242")
        assert media.whatsapp_body(message, None) == message.stored  # no media id yet: the link goes out
    # A text with two image links is not the outbox's: the decoded payload is used instead.
    message = claimed[0]
    message.stored = message.stored.replace('"to": ', '"image": {"link": "x"}, "to": ', 1)
    assert isinstance(media.whatsapp_body(message, "4242"), dict)


def test_without_an_image_of_its_own_the_office_card_goes_out(people, make_campaign, emulator, inbox):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=3, email_only=0, both=0, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)
    send_all(campaign)
    media = emulator.call(lambda: list(emulator.state.media.values()))
    assert len(media) == 1 and media[0].mime_type == "image/jpeg"
    assert all(header_image(m).get("id") for m in emulator.messages())


def test_the_image_link_is_public_only_once_the_campaign_is_sent(client, people, make_campaign, emulator, inbox):
    campaign = make_campaign(state=State.PROOF_DRAFT)
    assert client.get(f"/i/imagen/{campaign.folio}").status_code == 404
    campaign.state = State.SENDING
    campaign.save(update_fields=["state"])
    response = client.get(f"/i/imagen/{campaign.folio}")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
