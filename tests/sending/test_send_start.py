"""Starting a send: the list freezes and the outbox is written once, with a reason for every guest left out."""

import pytest
from django.utils import timezone

from pregonero.campaigns.models import AuditEntry, Proof, State
from pregonero.directory.guestlists import guest_list_for
from pregonero.directory.models import Contact
from pregonero.rsvp.models import Invitation
from pregonero.sending.models import Message
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.sending.services import SendRefused, outbox_write, send_start

WHATSAPP_GUESTS, EMAIL_ONLY, BOTH, OPTED_OUT_WHATSAPP = 20, 6, 2, 2


def build_ready(people, make_campaign, *, whatsapp=WHATSAPP_GUESTS, email_only=EMAIL_ONLY, both=BOTH,
                opted_out_whatsapp=OPTED_OUT_WHATSAPP):
    """A campaign with an approved proof and a confirmed guest list: numbers +52998100NNNN, e-mails gNN@…"""
    return demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                               whatsapp=whatsapp, email_only=email_only, both=both,
                               opted_out_whatsapp=opted_out_whatsapp)


@pytest.fixture
def ready_campaign(people, make_campaign):
    return build_ready(people, make_campaign)


def test_send_start_writes_one_message_per_reachable_channel(ready_campaign, people):
    created = send_start(campaign=ready_campaign, actor=people.social_media)

    ready_campaign.refresh_from_db()
    assert ready_campaign.state == State.SENDING
    assert Invitation.objects.filter(campaign=ready_campaign).count() == 30
    messages = Message.objects.filter(campaign=ready_campaign)
    assert created == messages.count() == 20 + 6 + 2 * 2 + 2
    assert messages.filter(channel="whatsapp", state="queued").count() == 22
    assert messages.filter(channel="email", state="queued").count() == 10
    whatsapp = messages.filter(channel="whatsapp").select_related("invitation").first()
    payload = whatsapp.payload
    assert payload["biz_opaque_callback_data"] == str(whatsapp.public_id)
    assert payload["template"]["name"] == "invitacion_evento"
    assert payload["template"]["language"]["code"] == "es_MX"
    body = next(c for c in payload["template"]["components"] if c["type"] == "body")["parameters"]
    assert body[0]["text"] == "Lic. Invitado 0" and body[4]["text"] == "Parque de las Palapas"
    buttons = [(c["sub_type"], c["index"], c["parameters"][0]) for c in payload["template"]["components"]
               if c["type"] == "button"]
    token = whatsapp.invitation.token
    assert buttons == [("quick_reply", "0", {"type": "payload", "payload": f"rsvp:{token}:yes"}),
                       ("quick_reply", "1", {"type": "payload", "payload": f"rsvp:{token}:no"}),
                       # "Ver invitación": the guest's page, with the event's details, the privacy notice and the
                       # opt-out; the approved template holds the address, the message only the token
                       ("url", "2", {"type": "text", "text": token})]
    mail = messages.filter(channel="email", address="correo0@example.com").select_related("invitation").get()
    assert mail.payload["subject"] == "Invitación: Noche de Cultura en el Parque de las Palapas"
    assert mail.payload["text"].startswith("Ing. Correo 0:")
    assert f"/i/{mail.invitation.token}" in mail.payload["text"]
    assert AuditEntry.objects.filter(campaign=ready_campaign, action="campaign.start_send").count() == 1


def test_a_second_start_writes_nothing(ready_campaign, people):
    send_start(campaign=ready_campaign, actor=people.social_media)
    count = Message.objects.count()

    with pytest.raises(SendRefused):
        send_start(campaign=ready_campaign, actor=people.social_media)
    proof = ready_campaign.proofs.get()
    assert outbox_write(campaign=ready_campaign, proof=proof) == 0
    assert Message.objects.count() == count


def test_guests_no_channel_reaches_are_skipped_with_a_reason(ready_campaign, people):
    # Invitations that exist before the freeze (e.g. a guest who opted out after being invited) still get a row.
    gone = Contact.objects.create(name="Se fue", mobile="+529984440000", whatsapp_opt_out=True,
                                  opted_out_at=timezone.now())
    bad = Contact.objects.create(name="Sin datos")
    for contact in (gone, bad):
        Invitation.objects.create(campaign=ready_campaign, contact=contact)

    send_start(campaign=ready_campaign, actor=people.social_media)

    skipped = dict(Message.objects.filter(state="skipped").values_list("invitation__contact__name", "error_reason"))
    assert skipped == {"Se fue": "Se dio de baja", "Sin datos": "Sin celular ni correo válidos"}


def test_refused_without_a_confirmed_list_or_outside_ready(ready_campaign, people, make_campaign):
    unconfirmed = make_campaign(state=State.READY)
    with pytest.raises(SendRefused, match="no está confirmada"):
        send_start(campaign=unconfirmed, actor=people.social_media)
    draft = make_campaign(state=State.PROOF_DRAFT)
    with pytest.raises(SendRefused, match="lista para envío"):
        send_start(campaign=draft, actor=people.social_media)
    assert not Message.objects.exists()
