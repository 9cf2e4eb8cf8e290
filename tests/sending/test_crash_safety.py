"""Crash safety with real processes: `pregonero worker` killed with SIGKILL mid-send, faults injected by the
WhatsApp emulator, and status webhooks posted by it to a real `pregonero runserver`. The emulator's log of
accepted messages is the referee: exactly one per guest and channel, none missing.

The duplicate/out-of-order and forged-signature cases of the webhook view itself are in test_webhooks.py; here
they run end to end, from the emulator through the web server and the worker's tasks.
"""

import json
import random
import time

import pytest
from live_stack import LiveStack, free_port, ready_with_guests, wait_for

from pregonero.campaigns.models import AuditEntry, Notification, State
from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer
from pregonero.directory.models import Contact
from pregonero.rsvp.models import Invitation
from pregonero.sending.channels.base import SendError
from pregonero.sending.dispatcher import Dispatcher, Outcome, claim, record
from pregonero.sending.models import Message, SendControl, WebhookEvent
from pregonero.sending.services import send_start, sending_resume

pytestmark = pytest.mark.django_db(transaction=True)

# Compressed time for the worker. A message whose outcome is unknown (its worker died, or its request timed
# out) goes back to the queue only after SENDING_RECONCILE_SECONDS without a status, and only after every
# webhook already stored was applied. So the window must be comfortably longer than the emulator's sent_delay
# (0.05 s) plus the webhook's trip to the database (the emulator's queue, the POST, the web server storing it),
# or a message that did go out would rightly be sent again, and be counted here as a duplicate.
WORKER_ENV = {
    "SENDING_LEASE_SECONDS": 3,
    "SENDING_RECONCILE_SECONDS": 8,
    "SENDING_BACKOFF_BASE": 1,
    "SENDING_BACKOFF_CAP": 2,
    "WHATSAPP_TIMEOUT": 1,  # below the emulator's timeout_hold, so an injected timeout really times out
    "WHATSAPP_RATE_LIMIT": 1000,
    "EMAIL_RATE_LIMIT": 1000,
}


@pytest.fixture
def live(transactional_db, smtp_server, tmp_path):
    """Starts the emulator (status webhooks on, aimed at a real web server process) and that web server; the
    test starts and kills workers. Everything is stopped at the end, whatever happened."""
    started = []

    def start(**emulator_options) -> LiveStack:
        web_port = free_port()
        options = {"token": "token-de-prueba", "app_secret": "secreto-de-la-app", "verify_token": "verificame",
                   "callback_url": f"http://127.0.0.1:{web_port}/webhooks/whatsapp/", "daily_limit": None,
                   "rate": 5000, "read_probability": 0.0, "batch_probability": 1.0, "batch_max": 50,
                   "seed": random.randrange(10**6), **emulator_options}
        emulator = EmulatorServer(EmulatorConfig(**options))
        emulator.start()
        stack = LiveStack(tmp_path, emulator=emulator, smtp_port=smtp_server[0].port, web_port=web_port,
                          **WORKER_ENV)
        started.append(stack)
        stack.start_web()
        return stack

    yield start
    for stack in started:
        stack.stop()
        stack.emulator.stop()


def assert_once_each(stack: LiveStack, campaign, note: str = "") -> int:
    """Every WhatsApp message of the campaign was accepted by the emulator exactly once."""
    expected = {str(public_id) for public_id in Message.objects.filter(campaign=campaign, channel="whatsapp")
                .values_list("public_id", flat=True)}
    accepted = stack.emulator.count_by_callback_data()
    twice = sorted(key for key, count in accepted.items() if count > 1)
    assert not twice, f"{len(twice)} messages sent more than once {note}\n{stack.progress(campaign)}"
    missing = expected - set(accepted)
    assert not missing, f"{len(missing)} messages never sent {note}\n{stack.progress(campaign)}"
    assert set(accepted) == expected
    return len(expected)


def webhook_posts(stack: LiveStack) -> list[dict]:
    """The emulator's webhook POSTs so far: HTTP status, events carried, whether it was a duplicate delivery."""
    return stack.emulator.call(lambda: list(stack.emulator.dispatcher.attempts))


def states(campaign, channel="whatsapp") -> dict:
    found = {}
    for state in Message.objects.filter(campaign=campaign, channel=channel).values_list("state", flat=True):
        found[state] = found.get(state, 0) + 1
    return found


# --------------------------------------------------------------------------- kill -9


def test_kill_9_at_random_points_sends_each_invitation_exactly_once(people, make_campaign, live):
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    stack = live()
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media, whatsapp=2000)
    send_start(campaign=campaign, actor=people.social_media)

    stack.start_worker()
    kills = []
    for _kill in range(5):  # each after a random number of further messages; 0 kills it while it starts up
        target = len(stack.emulator.log) + rng.randrange(0, 250)
        wait_for(lambda: len(stack.emulator.log) >= target, timeout=60, what=f"{target} messages accepted",
                 every=0.01, details=lambda: stack.progress(campaign))
        time.sleep(rng.uniform(0, 0.1))
        kills.append(len(stack.emulator.log))
        stack.kill_worker()
        stack.start_worker()
    stack.wait_until_sent(campaign, timeout=80)

    note = f"(seed {seed}, killed after {kills} accepted)"
    assert assert_once_each(stack, campaign, note) == 2000
    assert kills[-1] < 2000, note  # every kill fell in the middle of the send
    stack.wait_until_applied(campaign, timeout=30)
    assert states(campaign) == {Message.State.DELIVERED: 2000}, note


# --------------------------------------------------------------------------- faults


def test_transient_errors_and_timeouts_deliver_everything_once(people, make_campaign, live, inbox):
    stack = live(transient_error_rate=0.10, timeout_rate=0.02, timeout_mode="accepted", timeout_hold=3.0)
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media,
                                 whatsapp=1800, both=200)
    send_start(campaign=campaign, actor=people.social_media)

    stack.start_worker()
    stack.wait_until_sent(campaign, timeout=80)

    # Refused requests were retried and requests answered too late were reconciled, not resent: the emulator
    # accepted each message exactly once all the same.
    assert assert_once_each(stack, campaign) == 2000
    stats = stack.emulator.stats
    assert stats["injected_errors"] >= 100 and stats["injected_timeouts"] >= 10, stats
    stack.wait_until_applied(campaign, timeout=30)
    assert states(campaign) == {Message.State.DELIVERED: 2000}
    assert states(campaign, "email") == {Message.State.SENT: 200}
    for n in range(200):
        assert len(inbox.to(f"invitada{n}@correo.example")) == 1


# --------------------------------------------------------------------------- webhooks end to end


def test_duplicated_batched_and_out_of_order_statuses_end_in_the_right_state(people, make_campaign, live):
    numbers = {"+529984100000": "out_of_order", "+529984100001": "read_without_delivered",
               "+529984100002": "duplicate_deliveries", "+529984100003": "unread",
               "+529984100004": "not_on_whatsapp"}
    stack = live(read_probability=1.0, duplicate_probability=0.5, batch_probability=0.5, batch_max=5,
                 recipients={number.lstrip("+"): behaviour for number, behaviour in numbers.items()})
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media, whatsapp=30)
    send_start(campaign=campaign, actor=people.social_media)

    stack.start_worker()
    stack.wait_until_sent(campaign, timeout=60)
    [tapped] = stack.emulator.messages(to="+529984100010")
    stack.emulator.user_taps_quick_reply(tapped.wamid, 0)  # "Confirmo asistencia", maybe delivered twice
    stack.wait_until_applied(campaign, timeout=30)

    by_number = {m.address: m for m in Message.objects.filter(campaign=campaign)}
    assert by_number["+529984100000"].state == "read" and not by_number["+529984100000"].delivered_at
    assert by_number["+529984100001"].state == "read" and not by_number["+529984100001"].delivered_at
    assert by_number["+529984100002"].state == "read" and by_number["+529984100002"].delivered_at
    assert by_number["+529984100003"].state == "delivered"
    failed = by_number["+529984100004"]
    assert (failed.state, failed.error_code) == ("failed", "131026") and failed.error_reason
    assert Contact.objects.get(mobile="+529984100004").whatsapp_unavailable_at is not None
    others = [m for address, m in by_number.items() if address not in numbers]
    assert {m.state for m in others} == {"read"} and all(m.delivered_at and m.read_at for m in others)
    invitation = Invitation.objects.get(campaign=campaign, contact__mobile="+529984100010")
    assert invitation.answer == Invitation.Answer.ATTENDING and invitation.answers.count() == 1

    posts = webhook_posts(stack)
    assert any(post["duplicate"] for post in posts) and any(post["events"] > 1 for post in posts)
    assert not WebhookEvent.objects.exclude(error="").exists()
    assert assert_once_each(stack, campaign) == 30


def test_a_webhook_signed_with_another_secret_is_refused_and_leaves_no_trace(people, make_campaign, live):
    stack = live(statuses=False, webhook_max_attempts=2)
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media, whatsapp=3)
    send_start(campaign=campaign, actor=people.social_media)
    stack.start_worker()
    stack.wait_until_sent(campaign, timeout=60)
    [tapped] = stack.emulator.messages(to="+529984100001")
    posts_before = len(webhook_posts(stack))

    stack.emulator.configure(app_secret="secreto-de-otra-app")  # a forger who knows the format, not our secret
    stack.emulator.user_taps_quick_reply(tapped.wamid, 0)
    assert stack.emulator.wait_idle(timeout=15)

    posts = webhook_posts(stack)[posts_before:]
    assert [post["status"] for post in posts] == [403, 403]  # refused, and refused again on Meta-style retry
    assert not WebhookEvent.objects.exists()
    assert Invitation.objects.get(contact__mobile="+529984100001").answer == Invitation.Answer.PENDING

    stack.emulator.configure(app_secret="secreto-de-la-app")
    stack.emulator.user_taps_quick_reply(tapped.wamid, 0)
    wait_for(lambda: Invitation.objects.get(contact__mobile="+529984100001").answer == Invitation.Answer.ATTENDING,
             timeout=30, what="the genuine tap recorded", details=lambda: stack.progress(campaign))
    assert WebhookEvent.objects.count() == 1


# --------------------------------------------------------------------------- expired token


def test_an_expired_token_pauses_alerts_and_resumes_without_resending(people, make_campaign, live, inbox):
    stack = live()
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media, whatsapp=400)
    send_start(campaign=campaign, actor=people.social_media)
    stack.start_worker()
    under_way = random.randrange(20, 150)
    wait_for(lambda: len(stack.emulator.log) >= under_way, timeout=60, every=0.01,
             what="the send under way", details=lambda: stack.progress(campaign))

    stack.emulator.expire_token()

    paused = wait_for(lambda: SendControl.objects.filter(campaign=campaign, paused_at__isnull=False).first(),
                      timeout=30, what="the send paused", details=lambda: stack.progress(campaign))
    assert paused.reason == "El token de acceso de WhatsApp expiró o no es válido."
    alert = AuditEntry.objects.get(campaign=campaign, action="sending.paused")
    alerted = set(Notification.objects.filter(audit_entry=alert).values_list("recipient__username", flat=True))
    assert {"redes", "directora"} <= alerted
    for address in ("redes@pregonero.example", "directora@pregonero.example"):
        wait_for(lambda: inbox.to(address), timeout=30, what=f"the alert e-mailed to {address}",
                 details=lambda: stack.progress(campaign))
    sent_before_pause = len(stack.emulator.log)
    assert 0 < sent_before_pause < 400
    assert not Message.objects.filter(campaign=campaign, state="failed").exists()
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING

    # The office renews the token: the emulator (Meta) knows it, the worker is restarted with it.
    stack.emulator.configure(token="token-renovado")
    assert stack.stop_worker() == 0
    stack.start_worker(WHATSAPP_TOKEN="token-renovado")
    assert sending_resume(campaign=campaign, actor=people.social_media)
    stack.wait_until_sent(campaign, timeout=60)

    assert assert_once_each(stack, campaign) == 400
    assert AuditEntry.objects.filter(campaign=campaign, action="sending.resumed").exists()
    assert not Message.objects.filter(campaign=campaign, state="failed").exists()


# --------------------------------------------------------------------------- the engine's reconciling, step by step


def status_event(message, name: str) -> bytes:
    status = {"id": "wamid.DEL-TRABAJADOR-MUERTO", "status": name, "timestamp": "1750030073",
              "recipient_id": "5219984100000", "biz_opaque_callback_data": str(message.public_id)}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [status]}}]}]}).encode()


@pytest.mark.django_db
def test_a_received_status_whose_task_was_lost_counts_before_a_resend(people, make_campaign, emulator, settings):
    """A worker killed while applying a webhook leaves its task "running" for ever (django-tasks-db does not
    take it back): the "sent" status it carried must still stop the message from going out twice."""
    settings.SENDING_RECONCILE_SECONDS = 0
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media, whatsapp=1)
    send_start(campaign=campaign, actor=people.social_media)
    [claimed] = claim("killed-worker", lease_seconds=0)  # it sent the message and died before recording it
    WebhookEvent.objects.create(body=status_event(claimed, "sent"))  # stored; its task died with a worker

    time.sleep(0.01)
    assert claim("w2") == []  # the lease ran out: the outcome is unknown
    time.sleep(0.01)
    assert claim("w2") == []  # overdue, but the stored status says it went out

    message = Message.objects.get(pk=claimed.pk)
    assert (message.state, message.provider_id) == ("sent", "wamid.DEL-TRABAJADOR-MUERTO")
    assert WebhookEvent.objects.get().processed_at is not None
    assert emulator.messages() == []


@pytest.mark.django_db
def test_a_batch_recorded_after_its_lease_ran_out_is_retried_not_stranded(people, make_campaign, emulator, settings):
    """A slow worker (a stalled VM, a batch slower than its lease) records its outcomes after another worker's
    claim marked them unknown: a known outcome clears that mark, so a transient error is retried."""
    settings.SENDING_BACKOFF_BASE = 0
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media, whatsapp=3)
    send_start(campaign=campaign, actor=people.social_media)
    slow = claim("slow-worker", lease_seconds=0)
    time.sleep(0.01)
    assert claim("w2") == []  # marks the slow worker's batch unknown

    busy = SendError(kind=SendError.TRANSIENT, code=131016, reason="WhatsApp está saturado.")
    record([Outcome(message, error=busy) for message in slow])  # nothing left: WhatsApp said so

    dispatcher = Dispatcher("w2")
    for _batch in range(5):
        if not dispatcher.run_once():
            break
    assert states(campaign) == {Message.State.SENT: 3}
    campaign.refresh_from_db()
    assert campaign.state == State.SENT and len(emulator.messages()) == 3 and emulator.duplicates() == {}
