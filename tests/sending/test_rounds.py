"""Rounds after the first: resend to new guests, to failed messages and to non-responders; cancel a send, with or
without a notice to those already invited. Real HTTP to the WhatsApp emulator, real SMTP to the inbox.

The ready campaign (see test_send_start): "Invitado 0-19" WhatsApp only, "Correo 0-5" e-mail only, "Ambos 0-1"
both, "Baja 0-1" opted out of WhatsApp (e-mail only). Round 1: 22 WhatsApp messages and 10 e-mails.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from test_send_start import build_ready

from pregonero.campaigns.models import AuditEntry, State
from pregonero.directory.guestlists import GuestListError, guest_list_add_late, guest_list_for
from pregonero.directory.models import Contact
from pregonero.rsvp.models import Invitation
from pregonero.rsvp.services import invitation_answer
from pregonero.sending.dispatcher import Dispatcher, campaign_finish_if_done
from pregonero.sending.inbound import apply_inbound, apply_status
from pregonero.sending.models import Message
from pregonero.sending.rounds import campaign_cancel, resend, resend_counts
from pregonero.sending.services import SendRefused, send_start

FIRST_ROUND_WHATSAPP, FIRST_ROUND_EMAIL = 22, 10


def send_all(campaign, dispatcher=None):
    """Drives the dispatcher until nothing is left to send (backoffs are skipped), then reloads the campaign."""
    dispatcher = dispatcher or Dispatcher("t")
    for _ in range(20):
        if not dispatcher.run_once() and not Message.objects.filter(state="queued").exclude(
                next_attempt_at__lte=timezone.now()).update(next_attempt_at=timezone.now() - timedelta(seconds=1)):
            break
    campaign.refresh_from_db()


def guest_mail(inbox) -> list:
    """E-mails to guests (staff notices go to @pregonero.example)."""
    return [message for rcpts, message in inbox.messages if any(r.endswith("@example.com") for r in rcpts)]


def contact(name) -> Contact:
    return Contact.objects.get(name=name)


def whatsapp_to(emulator, name) -> list:
    return emulator.messages(to=contact(name).mobile)


def round_of(campaign, number) -> set[tuple[str, str]]:
    rows = Message.objects.filter(campaign=campaign, round=number)
    return set(rows.values_list("invitation__contact__name", "channel"))


@pytest.fixture
def sent(people, make_campaign, emulator, inbox):
    campaign = build_ready(people, make_campaign)
    send_start(campaign=campaign, actor=people.social_media)
    send_all(campaign)
    assert campaign.state == State.SENT
    assert len(emulator.messages()) == FIRST_ROUND_WHATSAPP and len(guest_mail(inbox)) == FIRST_ROUND_EMAIL
    return campaign


# --------------------------------------------------------------------------- resend


def test_resend_to_new_guests_reaches_only_the_late_guest(sent, people, emulator, inbox):
    late = Contact.objects.create(name="Tardía", mobile="+529981119999", email="tardia@example.com")
    gone = Contact.objects.create(name="Se dio de baja", mobile="+529981118888", whatsapp_opt_out=True,
                                  opted_out_at=timezone.now())
    guest_list = guest_list_for(sent)
    with pytest.raises(PermissionDenied):
        guest_list_add_late(guest_list=guest_list, actor=people.social_media, contact=late)
    assert guest_list_add_late(guest_list=guest_list, actor=people.database, contact=late)
    assert not guest_list_add_late(guest_list=guest_list, actor=people.database, contact=late)  # a double click
    with pytest.raises(GuestListError, match="dio de baja"):
        guest_list_add_late(guest_list=guest_list, actor=people.database, contact=gone)
    assert not Invitation.objects.filter(contact=gone).exists()
    assert resend_counts(sent) == {"new": 2, "failed": 0, "pending": 30}

    assert resend(campaign=sent, actor=people.social_media, target="new") == 2
    assert sent.state == State.SENDING
    send_all(sent)

    assert sent.state == State.SENT
    assert round_of(sent, 2) == {("Tardía", "whatsapp"), ("Tardía", "email")}
    assert len(emulator.messages()) == FIRST_ROUND_WHATSAPP + 1 and len(whatsapp_to(emulator, "Tardía")) == 1
    assert len(guest_mail(inbox)) == FIRST_ROUND_EMAIL + 1 and len(inbox.to("tardia@example.com")) == 1
    assert emulator.duplicates() == {} and set(emulator.count_by_recipient().values()) == {1}
    entry = AuditEntry.objects.get(campaign=sent, action="campaign.resend")
    assert entry.data == {"target": "new", "round": 2, "messages": 2}
    with pytest.raises(SendRefused, match="No hay invitados nuevos"):
        resend(campaign=sent, actor=people.social_media, target="new")


def fail(campaign, name, code):
    """The provider reports, after the fact, that a WhatsApp message failed (a status webhook)."""
    message = Message.objects.get(campaign=campaign, channel="whatsapp", invitation__contact__name=name)
    apply_status({"id": message.provider_id, "status": "failed", "biz_opaque_callback_data": str(message.public_id),
                  "errors": [{"code": code}]})


def test_resend_to_failed_messages_goes_once_more_on_the_failed_channel_only(sent, people, emulator, inbox):
    fail(sent, "Invitado 0", 131049)
    fail(sent, "Ambos 0", 131049)
    fail(sent, "Invitado 1", 131026)  # not on WhatsApp: the number is marked, nothing to resend
    fail(sent, "Invitado 2", 131049)
    apply_inbound(emulator.user_sends_text(contact("Invitado 2").mobile, "BAJA")["message"])  # then opted out
    assert resend_counts(sent)["failed"] == 2

    assert resend(campaign=sent, actor=people.social_media, target="failed") == 2
    send_all(sent)

    assert sent.state == State.SENT
    assert round_of(sent, 2) == {("Invitado 0", "whatsapp"), ("Ambos 0", "whatsapp")}
    assert len(whatsapp_to(emulator, "Invitado 0")) == len(whatsapp_to(emulator, "Ambos 0")) == 2
    assert len(whatsapp_to(emulator, "Invitado 1")) == len(whatsapp_to(emulator, "Invitado 2")) == 1
    assert len(inbox.to("ambos0@example.com")) == 1  # its e-mail had gone out: not resent
    assert emulator.duplicates() == {}
    with pytest.raises(SendRefused, match="No hay mensajes fallidos"):
        resend(campaign=sent, actor=people.social_media, target="failed")


def test_resend_to_non_responders_skips_answers_and_opt_outs(sent, people, emulator, inbox):
    first = whatsapp_to(emulator, "Invitado 0")[0]
    apply_inbound(emulator.user_taps_quick_reply(first.wamid, 0)["message"])  # "Confirmo asistencia"
    apply_inbound(emulator.user_sends_text(contact("Invitado 1").mobile, "BAJA")["message"])
    invitation_answer(invitation=Invitation.objects.get(contact__name="Correo 0"), answer="declined", via="link")
    assert Invitation.objects.get(contact__name="Invitado 0").answer == "attending"
    assert resend_counts(sent)["pending"] == 30 - 3

    assert resend(campaign=sent, actor=people.social_media, target="pending") == 27
    send_all(sent)

    expected = {(f"Invitado {n}", "whatsapp") for n in range(2, 20)} | {(f"Correo {n}", "email") for n in range(1, 6)}
    expected |= {(f"Ambos {n}", channel) for n in range(2) for channel in ("whatsapp", "email")}
    assert round_of(sent, 2) == expected
    assert set(Message.objects.filter(round=2).values_list("state", flat=True)) == {"sent"}
    for name in ("Invitado 0", "Invitado 1"):
        assert len(whatsapp_to(emulator, name)) == 1
    for address in ("correo0@example.com", "baja0@example.com", "baja1@example.com"):
        assert len(inbox.to(address)) == 1  # answered or opted out: round 1 only
    assert len(whatsapp_to(emulator, "Invitado 5")) == 2 and len(inbox.to("correo5@example.com")) == 2
    assert emulator.duplicates() == {}


def test_a_double_resend_writes_one_round(sent, people):
    assert resend(campaign=sent, actor=people.social_media, target="pending") == 30
    with pytest.raises(SendRefused, match="solo se reenvía cuando el envío terminó"):
        resend(campaign=sent, actor=people.social_media, target="pending")
    assert Message.objects.filter(round=2).count() == 30 and not Message.objects.filter(round=3).exists()
    assert AuditEntry.objects.filter(campaign=sent, action="campaign.resend").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_resends_at_the_same_moment_write_one_round(sent, people):
    barrier = threading.Barrier(2)

    def click(_):
        try:
            barrier.wait(timeout=10)
            return resend(campaign=sent, actor=people.social_media, target="pending")
        except SendRefused as refusal:
            return str(refusal)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(click, range(2)))

    assert 30 in results and any("solo se reenvía" in str(result) for result in results)
    assert Message.objects.filter(round=2).count() == 30 and not Message.objects.filter(round=3).exists()


def test_only_social_media_resends_and_only_a_known_target(sent, people):
    for person in (people.requester, people.director, people.database):
        with pytest.raises(PermissionDenied, match="Solo Redes Sociales"):
            resend(campaign=sent, actor=person, target="pending")
    with pytest.raises(SendRefused, match="Elija a quién reenviar"):
        resend(campaign=sent, actor=people.social_media, target="todos")
    sent.refresh_from_db()
    assert sent.state == State.SENT and not Message.objects.filter(round=2).exists()


# --------------------------------------------------------------------------- cancel


def start_and_send_some(people, make_campaign, count):
    """A send that was cancelled midway: the first ``count`` messages (20 WhatsApp, then e-mails) went out."""
    campaign = build_ready(people, make_campaign)
    send_start(campaign=campaign, actor=people.social_media)
    assert Dispatcher("t", batch_size=count).run_once() == count
    return campaign


def test_cancel_during_a_send_skips_what_was_queued(people, make_campaign, emulator, inbox):
    campaign = start_and_send_some(people, make_campaign, 5)
    with pytest.raises(ValidationError):  # the reason is required: a refused cancel stops nothing
        campaign_cancel(campaign=campaign, actor=people.director, comment=" ")
    assert Message.objects.filter(campaign=campaign, state="queued").count() == 27

    campaign_cancel(campaign=campaign, actor=people.director, comment="El evento se pospone.")
    send_all(campaign)

    assert campaign.state == State.CANCELLED
    skipped = Message.objects.filter(campaign=campaign, error_reason="Solicitud cancelada")
    assert skipped.count() == 27 and set(skipped.values_list("state", flat=True)) == {"skipped"}
    assert len(emulator.messages()) == 5 and len(guest_mail(inbox)) == 0
    assert not campaign_finish_if_done(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.state == State.CANCELLED
    entry = AuditEntry.objects.get(campaign=campaign, action="campaign.cancel")
    assert entry.data == {"notify_guests": False, "skipped": 27, "notices": 0}


def test_the_cancellation_notice_reaches_exactly_those_already_invited(people, make_campaign, emulator, inbox):
    campaign = start_and_send_some(people, make_campaign, 24)  # Invitado 0-19 and Correo 0-3
    invited = {f"Invitado {n}" for n in range(20)} | {f"Correo {n}" for n in range(4)}

    campaign_cancel(campaign=campaign, actor=people.requester, comment="Se suspende por lluvia.", notify_guests=True)
    send_all(campaign)

    assert campaign.state == State.CANCELLED
    notices = Message.objects.filter(campaign=campaign, kind="cancellation")
    assert {name for name, _channel in notices.values_list("invitation__contact__name", "channel")} == invited
    assert set(notices.values_list("state", flat=True)) == {"sent"} and set(notices.values_list("round", flat=True)) == {2}
    templates = [m.request["template"] for m in emulator.messages()]
    assert [t["name"] for t in templates].count("cancelacion_evento") == 20
    notice = next(t for t in templates if t["name"] == "cancelacion_evento")
    params = [p["text"] for p in notice["components"][0]["parameters"]]
    assert params[0].startswith("Lic. Invitado ") and params[1] == campaign.title and " de " in params[2]
    for n in range(4):
        [invitation, cancellation] = inbox.to(f"correo{n}@example.com")
        assert cancellation["Subject"] == f"Cancelado: {campaign.title}"
        assert "ha sido cancelado" in cancellation.get_body(preferencelist=("plain",)).get_content()
    for address in ("correo4@example.com", "correo5@example.com", "ambos0@example.com", "baja0@example.com"):
        assert inbox.to(address) == []  # never invited: neither an invitation nor a notice
    assert emulator.duplicates() == {}


# --------------------------------------------------------------------------- the page


def test_the_panel_offers_each_resend_with_its_count_and_refuses_a_requester(client, sent, people):
    detail = reverse("campaigns:detail", args=[sent.folio])
    client.force_login(people.requester)
    assert 'id="resend-form"' not in client.get(detail).content.decode()
    assert client.post(reverse("sending:resend", args=[sent.folio]), {"target": "pending"}).status_code == 403

    client.force_login(people.social_media)
    page = client.get(detail).content.decode()
    assert 'data-resend="new">0 mensajes' in page and 'data-resend="pending">30 mensajes' in page
    response = client.post(reverse("sending:resend", args=[sent.folio]), {"target": "pending"}, follow=True)
    assert "Reenvío iniciado: 30 mensajes" in response.content.decode()
    again = client.post(reverse("sending:resend", args=[sent.folio]), {"target": "pending"}, follow=True)
    assert "solo se reenvía cuando el envío terminó" in again.content.decode()
    assert Message.objects.filter(round=2).count() == 30

    page = client.get(detail).content.decode()
    assert 'id="send-rounds"' in page and "Reenvío: a quienes no han respondido" in page
    rounds = client.get(reverse("sending:progress", args=[sent.folio])).json()["rounds"]
    assert [(r["number"], r["total"], r["open"]) for r in rounds] == [(1, 32, 0), (2, 30, 30)]
    recipients = client.get(reverse("sending:recipients", args=[sent.folio])).content.decode()
    assert 'data-round="2"' in recipients and 'data-kind="invitation"' in recipients


def test_the_cancel_form_offers_the_notice_once_invitations_went_out(client, sent, people, emulator, inbox):
    client.force_login(people.director)
    page = client.get(reverse("campaigns:detail", args=[sent.folio])).content.decode()
    assert "Avisar a los invitados que ya recibieron la invitación" in page

    client.post(reverse("campaigns:act", args=[sent.folio, "cancel"]),
                {"comment": "Cambio de agenda.", "expected_state": "sent", "notify_guests": "on"})

    sent.refresh_from_db()
    assert sent.state == State.CANCELLED
    assert Message.objects.filter(campaign=sent, kind="cancellation").count() == FIRST_ROUND_WHATSAPP + FIRST_ROUND_EMAIL
    send_all(sent)
    assert len(emulator.messages()) == 2 * FIRST_ROUND_WHATSAPP
    assert len(inbox.to("baja0@example.com")) == 2  # invited by e-mail, so told by e-mail


def test_base_de_datos_adds_a_late_guest_from_the_guest_list_page(sent, people, client):
    late = Contact.objects.create(name="Tardío Página", mobile="+529981117777")
    page_url = reverse("directory:guest_list", args=[sent.folio])
    client.force_login(people.database)
    page = client.get(page_url, {"buscar": "Tardío"})
    assert "recibe la invitación cuando Redes Sociales" in page.content.decode() and "Tardío Página" in page.content.decode()
    response = client.post(reverse("directory:guest_list_add", args=[sent.folio]), {"contacto": late.pk}, follow=True)
    assert "Se agregó a Tardío Página" in response.content.decode()
    assert Invitation.objects.filter(campaign=sent, contact=late).exists()
    assert resend_counts(sent)["new"] == 1
