"""Every way an answer arrives lands on the same invitation: the WhatsApp quick reply (over the emulator and the
signed webhook), the personal page, and the office's entry of answers by phone, letter or in person."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from test_invitation_page import after_commit, campaign, invitation_of, page_url, text_of  # noqa: F401 (fixtures)

from pregonero.campaigns.models import Campaign, State
from pregonero.rsvp.models import AnswerRecord, Invitation, Throttle
from pregonero.rsvp.services import AnswerRefused, invitation_answer
from pregonero.rsvp.throttle import throttle_hit
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.models import InboundMessage, Message

SECRET = "test_app_secret"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.WHATSAPP_APP_SECRET = SECRET


@pytest.fixture
def delivered(campaign, emulator):
    """The invitations went out: WhatsApp ones to the emulator, e-mails to the test SMTP server."""
    dispatcher = Dispatcher("t")
    while dispatcher.run_once():
        pass
    return campaign


def webhook(client, message: dict):
    """What Meta would POST for one inbound message: signed, then applied by its task after commit."""
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "messages": [message]}}]}]}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post("/webhooks/whatsapp/", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=signature)
    assert response.status_code == 200


def tap(client, emulator, invitation, index: int):
    """The guest taps quick reply ``index`` (0 "Confirmo asistencia", 1 "No podré asistir") on their invitation."""
    sent = Message.objects.get(invitation=invitation, channel="whatsapp")
    webhook(client, emulator.user_taps_quick_reply(sent.provider_id, index)["message"])


def texts_to(emulator, invitation) -> list[str]:
    """The free-text WhatsApp messages the guest received (templates left out)."""
    return [m.request["text"]["body"] for m in emulator.messages() if m.type == "text"
            and m.to == invitation.contact.mobile.removeprefix("+")]


# --------------------------------------------------------------------------- WhatsApp and the page


def test_a_tap_and_the_page_show_the_same_answer(client, delivered, emulator, after_commit):
    guest = invitation_of(delivered, "Invitado 0")
    with after_commit(execute=True):
        tap(client, emulator, guest, 0)
    guest.refresh_from_db()
    assert (guest.answer, guest.answered_via) == ("attending", "button")
    page = text_of(client.get(page_url(guest)))
    assert "Usted confirmó su asistencia." in page and "Su código de entrada" in page
    (reply,) = texts_to(emulator, guest)  # the tap opened the 24-hour window: a free-text confirmation
    assert "registramos su respuesta para «Noche de Cultura en el Parque de las Palapas»" in reply
    assert f"/i/{guest.token}" in reply

    with after_commit(execute=True):
        client.post(page_url(guest), {"answer": "declined"})
    guest.refresh_from_db()
    assert (guest.answer, guest.answered_via) == ("declined", "link")
    assert "Usted indicó que no podrá asistir." in texts_to(emulator, guest)[-1]
    assert list(guest.answers.values_list("via", "answer")) == [("button", "attending"), ("link", "declined")]


@pytest.mark.parametrize("change, reason", [
    ({"state": State.CANCELLED}, "fue cancelado; ya no recibe respuestas"),
    ({"rsvp_deadline": timezone.now() - timedelta(hours=1)}, "La fecha límite para confirmar"),
], ids=["cancelled", "past-deadline"])
def test_a_refused_tap_is_answered_with_the_reason(client, delivered, emulator, after_commit, change, reason):
    guest = invitation_of(delivered, "Invitado 1")
    Campaign.objects.filter(pk=delivered.pk).update(**change)
    with after_commit(execute=True):
        tap(client, emulator, guest, 0)
    guest.refresh_from_db()
    assert guest.answer == "pending" and not guest.answers.exists()
    (reply,) = texts_to(emulator, guest)
    assert reason in reply and "«Noche de Cultura en el Parque de las Palapas»" in reply


def test_a_page_answer_is_confirmed_on_whatsapp_only_inside_the_24_hour_window(client, delivered, emulator,
                                                                               after_commit):
    guest = invitation_of(delivered, "Invitado 1")
    with after_commit(execute=True):
        client.post(page_url(guest), {"answer": "attending"})
    assert texts_to(emulator, guest) == []  # never wrote to us: WhatsApp would only take a template

    with after_commit(execute=True):
        webhook(client, emulator.user_sends_text(guest.contact.mobile, "¿Puedo llevar a mi esposa?")["message"])
        client.post(page_url(guest), {"answer": "attending", "companions": "1"})
    (reply,) = texts_to(emulator, guest)
    assert "Usted confirmó su asistencia con 1 acompañante." in reply

    InboundMessage.objects.update(received_at=timezone.now() - timedelta(hours=25))
    with after_commit(execute=True):
        client.post(page_url(guest), {"answer": "declined"})
    assert len(texts_to(emulator, guest)) == 1


@pytest.mark.parametrize("answers, confirmed", [
    (["attending", "declined"], "Usted indicó que no podrá asistir."),  # only the last answer is confirmed
    (["attending", "attending"], "Usted confirmó su asistencia."),  # a repeat changes nothing, yet one confirms
])
def test_two_quick_answers_get_one_confirmation_of_the_last(client, campaign, inbox, after_commit, answers,
                                                             confirmed):
    guest = invitation_of(campaign, "Correo 0")
    with after_commit(execute=True):  # the confirmation tasks run after both answers were taken
        for answer in answers:
            client.post(page_url(guest), {"answer": answer})
    (mail,) = inbox.to("correo0@example.com")
    assert confirmed in mail.get_body(preferencelist=("plain",)).get_content()


def test_an_answer_is_judged_on_the_event_as_it_is_now_not_as_the_screen_read_it(campaign):
    held = invitation_of(campaign, "Correo 0")  # a door or staff screen read it while the event was on
    Campaign.objects.filter(pk=campaign.pk).update(state=State.CANCELLED)
    with pytest.raises(AnswerRefused, match="fue cancelado"):
        invitation_answer(invitation=held, answer="attending", via=Invitation.Via.LINK)
    assert Invitation.objects.get(pk=held.pk).answer == Invitation.Answer.PENDING


@pytest.mark.django_db(transaction=True)
def test_the_same_answer_twice_at_once_is_confirmed_once(people, make_campaign, inbox):
    """Two taps of "Confirmo asistencia" at the same moment: the second answer reads the first under its lock, so it
    sees nothing changed and sends no second confirmation."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's write transactions already run one at a time")
    from test_invitation_page import sent_campaign

    guest = invitation_of(sent_campaign(people, make_campaign), "Correo 0")

    def second():
        try:
            invitation_answer(invitation=guest, answer="attending", via=Invitation.Via.LINK)
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    with transaction.atomic():
        invitation_answer(invitation=guest, answer="attending", via=Invitation.Via.BUTTON)
        thread.start()
        with connection.cursor() as cursor:  # the second answer has read what it reads and waits for this one
            for _ in range(100):
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # this transaction's view of it is not kept
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                               "AND datname = current_database()")
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the second answer never waited for the first")
    thread.join(timeout=30)
    assert [r.via for r in AnswerRecord.objects.filter(invitation=guest).order_by("pk")] == ["button", "link"]
    assert len(inbox.to("correo0@example.com")) == 1


# --------------------------------------------------------------------------- confirmations through the task queue

@pytest.fixture
def task_queue(settings):
    """Tasks wait in the database for a worker, as in production (the suite's immediate backend runs them at once)."""
    from pregonero.rsvp.confirmations import confirmer

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    settings.WEBHOOK_WAKE_SECONDS = 1.0
    confirmer._last_wake = 0.0  # a look made by an earlier test of this process must not count for this one
    yield
    confirmer._last_wake = 0.0


def confirmation_tasks():
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path="pregonero.rsvp.confirmations.answers_confirm")


def run_worker():
    from django.core.management import call_command

    call_command("worker", "--batch", "--interval", "0", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_answers_waits_for_the_worker_and_each_guest_gets_one_confirmation_of_their_last(
        client, people, make_campaign, inbox, task_queue, settings):
    from test_invitation_page import sent_campaign

    settings.WEBHOOK_WAKE_SECONDS = 0  # every answer looks for a waiting task: the first one's serves them all
    campaign = sent_campaign(people, make_campaign)
    guests = list(Invitation.objects.filter(campaign=campaign).select_related("contact"))
    for guest in guests:  # every guest changes their mind once: only the last answer is confirmed
        for answer in ("declined", "attending"):
            assert client.post(page_url(guest), {"answer": answer}).status_code == 302
    with_email = [guest.contact.email for guest in guests if guest.contact.email]
    assert len(with_email) == 2
    assert not inbox.messages  # nobody is told before a worker runs
    assert AnswerRecord.objects.filter(confirm_due=True).count() == 2 * len(guests)
    assert confirmation_tasks().count() == 1

    run_worker()
    for address in with_email:
        (mail,) = inbox.to(address)
        assert "Usted confirmó su asistencia." in mail.get_body(preferencelist=("plain",)).get_content()
    assert not AnswerRecord.objects.filter(confirm_due=True).exists()
    assert Invitation.objects.filter(campaign=campaign, qr_svg__gt="").count() == len(guests)  # the page's QR kept


@pytest.mark.django_db(transaction=True)
def test_an_answer_whose_confirmation_task_died_is_confirmed_when_a_worker_starts(people, make_campaign, inbox,
                                                                                   task_queue):
    from test_invitation_page import sent_campaign

    guest = invitation_of(sent_campaign(people, make_campaign), "Correo 0")
    invitation_answer(invitation=guest, answer="attending", via=Invitation.Via.LINK)
    confirmation_tasks().delete()  # as if a killed worker had taken it: django-tasks-db never runs it again
    run_worker()
    (mail,) = inbox.to("correo0@example.com")
    assert "Usted confirmó su asistencia." in mail.get_body(preferencelist=("plain",)).get_content()
    run_worker()  # a second start finds nothing waiting: no second confirmation
    assert len(inbox.to("correo0@example.com")) == 1


# --------------------------------------------------------------------------- the office's entry


def entry_url(invitation) -> str:
    return reverse("rsvp:answer_entry", args=[invitation.campaign.folio, invitation.pk])


def test_staff_find_a_guest_and_record_a_phone_answer_with_a_note(client, people, campaign, inbox, after_commit):
    client.force_login(people.database)
    found = client.get(reverse("rsvp:answers", args=[campaign.folio]), {"q": "correo"})
    assert found.status_code == 200
    guest = invitation_of(campaign, "Correo 0")
    assert entry_url(guest) in found.content.decode() and "Invitado 0" not in text_of(found)

    with after_commit(execute=True):
        response = client.post(entry_url(guest), {"answer": "attending", "companions": "2", "via": "phone",
                                                  "note": "Llamó su asistente, Sra. Canché"})
    assert response.status_code == 302
    guest.refresh_from_db()
    assert (guest.answer, guest.companions, guest.answered_via) == ("attending", 2, "phone")
    (record,) = guest.answers.all()
    assert (record.recorded_by, record.via) == (people.database, "phone")
    assert record.note == "Llamó su asistente, Sra. Canché"
    page = text_of(client.get(entry_url(guest)))
    assert "Respuesta de Ing. Correo 0 registrada." in page
    assert "Historial de respuestas" in page and "Teléfono" in page and "Llamó su asistente, Sra. Canché" in page
    assert "Basedatos" in page
    (mail,) = inbox.to("correo0@example.com")  # the guest gets the confirmation with the door QR
    assert [part for part in mail.walk() if part.get_content_type() == "image/png"]
    assert "Usted confirmó su asistencia con 2 acompañantes." in text_of(client.get(page_url(guest)))


def test_only_database_and_social_media_record_answers(client, people, campaign):
    guest = invitation_of(campaign, "Correo 0")
    for person, status in ((people.social_media, 200), (people.database, 200), (people.requester, 403),
                           (people.director, 403)):
        client.force_login(person)
        assert client.get(entry_url(guest)).status_code == status
        assert client.get(reverse("rsvp:answers", args=[campaign.folio])).status_code == status
    client.force_login(people.requester)
    client.post(entry_url(guest), {"answer": "attending", "via": "phone"})
    guest.refresh_from_db()
    assert guest.answer == "pending"


def test_staff_may_record_after_the_deadline_but_not_for_a_cancelled_event(client, people, campaign):
    guest = invitation_of(campaign, "Correo 0")
    Campaign.objects.filter(pk=campaign.pk).update(rsvp_deadline=timezone.now() - timedelta(days=1))
    assert client.post(page_url(guest), {"answer": "attending"}).status_code == 400  # the guest may not
    client.force_login(people.social_media)
    page = text_of(client.get(entry_url(guest)))
    assert "el personal todavía puede registrar respuestas" in page
    response = client.post(entry_url(guest), {"answer": "declined", "via": "letter", "note": "Oficio 123/2026"})
    assert response.status_code == 302
    guest.refresh_from_db()
    assert (guest.answer, guest.answered_via) == ("declined", "letter")

    Campaign.objects.filter(pk=campaign.pk).update(state=State.CANCELLED)
    assert "fue cancelado; ya no recibe respuestas" in text_of(client.get(entry_url(guest)))
    refused = client.post(entry_url(guest), {"answer": "attending", "via": "phone"})
    assert refused.status_code == 400 and "fue cancelado; ya no recibe respuestas" in text_of(refused)
    guest.refresh_from_db()
    assert guest.answer == "declined"


def test_staff_cannot_exceed_the_companions_allowed(client, people, campaign):
    guest = invitation_of(campaign, "Correo 0")
    client.force_login(people.database)
    response = client.post(entry_url(guest), {"answer": "attending", "companions": "5", "via": "in_person"})
    assert response.status_code == 400
    assert "Puede registrar de 0 a 2 acompañantes." in text_of(response)
    with pytest.raises(AnswerRefused, match="Puede registrar de 0 a 2 acompañantes."):
        invitation_answer(invitation=guest, answer="attending", companions=3, via="phone", actor=people.database)
    with pytest.raises(AnswerRefused, match="Elija si asistirá o no."):
        invitation_answer(invitation=guest, answer="maybe", via="phone", actor=people.database)
    guest.refresh_from_db()
    assert guest.answer == "pending" and not guest.answers.exists()


def test_the_last_answer_wins_whichever_way_it_came(client, people, delivered, emulator, after_commit):
    guest = invitation_of(delivered, "Ambos 0")
    with after_commit(execute=True):
        tap(client, emulator, guest, 0)
    client.post(page_url(guest), {"answer": "declined"})
    client.force_login(people.database)
    client.post(entry_url(guest), {"answer": "attending", "companions": "1", "via": "letter", "note": "Oficio 9"})
    guest.refresh_from_db()
    assert (guest.answer, guest.companions, guest.answered_via) == ("attending", 1, "letter")
    history = list(guest.answers.values_list("via", "answer", "recorded_by"))
    assert history == [("button", "attending", None), ("link", "declined", None),
                       ("letter", "attending", people.database.pk)]
    assert Invitation.objects.filter(campaign=delivered, answer="attending").count() == 1


def test_the_campaign_page_links_to_the_answer_entry(client, people, campaign):
    client.force_login(people.database)
    assert reverse("rsvp:answers", args=[campaign.folio]) in client.get(
        reverse("campaigns:detail", args=[campaign.folio])).content.decode()


# --------------------------------------------------------------------------- the throttle


def test_the_throttle_counts_per_key_and_starts_a_new_window(db):
    assert all(throttle_hit("ip:1", 3, 600) for _ in range(3))
    assert not throttle_hit("ip:1", 3, 600)
    assert throttle_hit("ip:2", 3, 600)
    Throttle.objects.filter(key="ip:1").update(window_start=timezone.now() - timedelta(seconds=601))
    assert throttle_hit("ip:1", 3, 600)
    assert Throttle.objects.get(key="ip:1").hits == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_are_all_counted():
    def worker():
        try:
            for _ in range(25):
                throttle_hit("ip:busy", 1000, 600)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Throttle.objects.get(key="ip:busy").hits == 150
