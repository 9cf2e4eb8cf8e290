"""The dispatcher over real HTTP (the WhatsApp emulator) and real SMTP: everything once, nothing twice."""

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from test_send_start import build_ready

from pregonero.campaigns.models import AuditEntry, Notification, State
from pregonero.sending.dispatcher import Dispatcher, Sender, batch_record, claim
from pregonero.sending.inbound import apply_status
from pregonero.sending.models import Message, SendControl
from pregonero.sending.services import send_start, sending_resume



@pytest.fixture(autouse=True)
def short_client_timeout(settings):
    """Below the emulator's 2 s hold, so an injected timeout really times out."""
    settings.WHATSAPP_TIMEOUT = 0.5


@pytest.fixture
def sending(people, make_campaign, emulator):
    campaign = build_ready(people, make_campaign)
    send_start(campaign=campaign, actor=people.social_media)
    return campaign


def run_until_idle(dispatcher, rounds=10):
    for _ in range(rounds):
        if not dispatcher.run_once():
            # Transient retries wait for their backoff; let "time pass" for the ones still queued.
            if not Message.objects.filter(state="queued").update(next_attempt_at=timezone.now() - timedelta(seconds=1)):
                return


def test_everything_is_sent_once_and_the_campaign_ends_sent(sending, emulator, inbox, people):
    run_until_idle(Dispatcher("w1"))

    whatsapp = Message.objects.filter(channel="whatsapp").exclude(state="skipped")
    assert set(whatsapp.values_list("state", flat=True)) == {"sent"}
    assert len(emulator.messages()) == whatsapp.count() == 22
    assert emulator.duplicates() == {}
    assert {m.provider_id for m in whatsapp} == {logged.wamid for logged in emulator.messages()}
    emails = Message.objects.filter(channel="email")
    assert set(emails.values_list("state", flat=True)) == {"sent"}
    for message in emails:
        received = inbox.to(message.address)
        assert len(received) == 1
        assert received[0]["Message-ID"] == f"<{message.public_id}@pregonero>"
        assert received[0]["List-Unsubscribe"].startswith("<mailto:")
        assert received[0].get_body(preferencelist=("html",)) is not None
    sending.refresh_from_db()
    assert sending.state == State.SENT
    finish = AuditEntry.objects.get(campaign=sending, action="campaign.finish_send")
    assert Notification.objects.filter(audit_entry=finish, recipient=people.requester).exists()


def test_transient_faults_are_retried_without_duplicates(sending, emulator, inbox):
    emulator.inject_fault(131000, count=5)

    dispatcher = Dispatcher("w1")
    dispatcher.run_once()
    retried = Message.objects.filter(state="queued", channel="whatsapp")
    assert retried.count() == 5 and all(m.next_attempt_at > timezone.now() for m in retried)
    run_until_idle(dispatcher)

    assert Message.objects.filter(channel="whatsapp", state="sent").count() == 22
    assert Message.objects.filter(attempts=2).count() == 5
    assert len(emulator.messages()) == 22 and emulator.duplicates() == {}
    sending.refresh_from_db()
    assert sending.state == State.SENT


def test_a_timeout_is_reconciled_from_the_status_not_resent(sending, emulator, inbox):
    Message.objects.exclude(pk=Message.objects.filter(channel="whatsapp").first().pk).update(state="skipped")
    emulator.configure(timeout_rate=1.0, timeout_mode="accepted")

    dispatcher = Dispatcher("w1")
    assert dispatcher.run_once() == 1
    message = Message.objects.get(state="sending")
    assert message.outcome_unknown and message.lease_owner == ""
    assert dispatcher.run_once() == 0  # not resent while its outcome is unknown
    assert emulator.wait_idle()
    [logged] = emulator.messages()
    assert logged.request["biz_opaque_callback_data"] == str(message.public_id)

    apply_status({"id": logged.wamid, "status": "sent", "timestamp": "1750030073",
                  "recipient_id": logged.wa_id, "biz_opaque_callback_data": str(message.public_id)})

    message.refresh_from_db()
    assert message.state == "sent" and not message.outcome_unknown and message.provider_id == logged.wamid
    assert dispatcher.run_once() == 0
    assert len(emulator.messages()) == 1


def test_an_expired_lease_is_never_resent_blindly(sending):
    [claimed] = claim("dead-worker", limit=1, lease_seconds=0)
    time.sleep(0.01)
    assert claimed.pk not in {m.pk for m in claim("w2", limit=100)}
    message = Message.objects.get(pk=claimed.pk)
    assert message.state == "sending" and message.outcome_unknown


def test_an_expired_token_pauses_the_campaign_and_alerts(sending, emulator, people):
    emulator.expire_token()

    Dispatcher("w1").run_once()

    control = SendControl.objects.get(campaign=sending)
    assert control.paused_at is not None
    assert not Message.objects.filter(state="failed").exists()
    assert not Message.objects.filter(channel="whatsapp", state="sending").exists()
    entry = AuditEntry.objects.get(campaign=sending, action="sending.paused")
    alerted = set(Notification.objects.filter(audit_entry=entry).values_list("recipient__username", flat=True))
    assert {"redes", "directora"} <= alerted
    assert claim("w1") == []  # nothing of a paused campaign is claimed
    sending.refresh_from_db()
    assert sending.state == State.SENDING

    emulator.call(setattr, emulator.state, "token_expired", False)  # the office renewed the token
    assert sending_resume(campaign=sending, actor=people.social_media)
    run_until_idle(Dispatcher("w1"))
    sending.refresh_from_db()
    assert sending.state == State.SENT and emulator.duplicates() == {}


def test_a_campaign_with_nothing_to_send_ends_sent(people, make_campaign, emulator):
    campaign = build_ready(people, make_campaign, whatsapp=0, email_only=0, both=0, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)

    assert Dispatcher("w1").run_once() == 0
    campaign.refresh_from_db()
    assert campaign.state == State.SENT


def test_nothing_due_returns_quickly(db, emulator):
    started = time.monotonic()
    assert Dispatcher("w1").run_once() == 0
    assert time.monotonic() - started < 0.5


def test_run_forever_stops_on_request(sending, emulator, inbox):
    stop = threading.Event()
    dispatcher = Dispatcher("w1", idle_sleep=0.05)
    stop_after_idle = threading.Timer(3.0, stop.set)
    stop_after_idle.start()
    dispatcher.run_forever(stop)
    stop_after_idle.cancel()
    sending.refresh_from_db()
    assert sending.state == State.SENT


def test_a_batch_in_flight_goes_out_while_the_dispatcher_works_on_the_database(sending, emulator, inbox):
    """The dispatcher records one batch and claims the next while the one before is being sent: the sends go on in
    the sender's own thread instead of waiting for the dispatcher to ask for their outcomes."""
    whatsapp = [m for m in claim("w1", limit=100) if m.channel == Message.Channel.WHATSAPP]
    sender = Sender()
    try:
        in_flight = sender.submit(whatsapp)
        deadline = time.monotonic() + 10
        while len(emulator.messages()) < len(whatsapp) and time.monotonic() < deadline:
            time.sleep(0.05)  # this thread busy elsewhere: it never waits on the batch
        assert len(emulator.messages()) == len(whatsapp) == 22
        batch_record(sender.result(in_flight))
    finally:
        sender.close()
    assert set(Message.objects.filter(channel="whatsapp").exclude(state="skipped")
               .values_list("state", flat=True)) == {"sent"}


def test_smtp_failures_say_what_to_do_next(sending, settings, inbox):
    import smtplib

    from pregonero.sending.channels.email import classify_smtp

    assert classify_smtp(smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"no")})).kind == "permanent"
    assert classify_smtp(smtplib.SMTPAuthenticationError(535, b"bad")).kind == "account"
    assert classify_smtp(smtplib.SMTPServerDisconnected("gone")).kind == "unknown"
    assert classify_smtp(smtplib.SMTPDataError(451, b"later")).kind == "transient"
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": "127.0.0.1", "port": closed_port, "timeout": 2}}}
    Message.objects.filter(channel="whatsapp").update(state="skipped")

    Dispatcher("w1").run_once()  # nobody listens on that port: refused before anything left

    emails = Message.objects.filter(channel="email")
    assert set(emails.values_list("state", flat=True)) == {"queued"}
    assert all(m.attempts == 1 and m.next_attempt_at > timezone.now() for m in emails)
    assert inbox.messages == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_never_share_a_message(people, make_campaign, emulator):
    from django.db import connection

    campaign = build_ready(people, make_campaign)
    send_start(campaign=campaign, actor=people.social_media)
    due = set(Message.objects.filter(state="queued").values_list("pk", flat=True))
    start, claimed = threading.Barrier(2), {}

    def work(worker_id):
        try:
            start.wait()
            claimed[worker_id] = {m.pk for m in claim(worker_id, limit=20)}
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("wA", "wB")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not claimed["wA"] & claimed["wB"]
    assert claimed["wA"] | claimed["wB"] == due
    owners = dict(Message.objects.filter(pk__in=due).values_list("pk", "lease_owner"))
    assert all(owners[pk] == name for name, pks in claimed.items() for pk in pks)


def test_missing_whatsapp_settings_pause_instead_of_failing(people, make_campaign, settings, inbox):
    settings.WHATSAPP_API_BASE_URL = ""
    campaign = build_ready(people, make_campaign)
    send_start(campaign=campaign, actor=people.social_media)

    Dispatcher("w1").run_once()

    assert SendControl.objects.get(campaign=campaign).reason == "WhatsApp no está configurado en el servidor."
    assert not Message.objects.filter(state__in=["failed", "sending"]).exists()
