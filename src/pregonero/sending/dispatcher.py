"""The dispatcher: claim due messages with a lease, send them concurrently, record every outcome.

Lock, mark in flight, send outside the lock, record (pretix's outbox). A message whose outcome is unknown is
never resent until the status webhooks had a chance to say it went out (``inbound.apply_status``).
"""

import asyncio
import concurrent.futures
import gc
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import Campaign, State
from pregonero.campaigns.notifications import notify
from pregonero.campaigns.services import audit_log
from pregonero.health import HEARTBEAT_SECONDS, worker_heartbeat
from pregonero.rawrows import Columns

from . import media, ratelimit
from .channels.base import Channel, SendError, SendResult
from .channels.email import EmailChannel
from .channels.whatsapp import WhatsAppClient, WhatsAppConfig
from .inbound import apply_pending_events
from .models import Message, SendControl
from .quiet import in_quiet_hours

log = logging.getLogger(__name__)
OPEN_STATES = (Message.State.QUEUED, Message.State.SENDING)


def setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


# What sending and recording a claimed message read; its other columns stay in the database. Making instances of
# all 24 (nine datetimes, parsed from text on SQLite) was 14 % of the dispatcher's cProfile listing.
CLAIMED = ("id", "campaign_id", "channel", "kind", "payload", "state", "attempts", "next_attempt_at", "public_id")


class Claimed:
    """A claimed message as sending and recording read it: its CLAIMED columns, converted as the ORM converts them,
    and nothing else. Not a Message: making 200 model instances per claim (``Model.from_db``) was a tenth of the
    engine's instructions per message (callgrind: 1.37 M a message with instances, 1.23 M with these; see
    bench/send_throughput.py). Read the row again through ``Message.objects`` to change it."""

    __slots__ = (*(name for name in CLAIMED if name != "payload"), "stored", "_payload")

    @property
    def pk(self) -> int:
        return self.id

    @property
    def payload(self) -> dict:
        """The payload decoded, on first use (e-mail; a header image to upload): a WhatsApp message goes out as
        ``stored``, the text the outbox keeps, its header image link replaced in the text (media.whatsapp_body).
        Decoding every payload took a fifth of the dispatcher's time, and writing it out again more of the sending
        thread's (bench/send_throughput.py)."""
        try:
            return self._payload
        except AttributeError:
            self._payload = load_payload(self.stored)
            return self._payload

    def __repr__(self) -> str:
        return f"<Claimed message {self.id} ({self.channel})>"

    @classmethod
    def of(cls, columns: Columns, row, connection) -> "Claimed":
        claimed = cls.__new__(cls)
        for name, value in zip(columns.names, columns.values(row, connection), strict=True):
            setattr(claimed, "stored" if name == "payload" else name, value)
        return claimed


def load_payload(value):
    """A stored payload as JSONField reads it (the text as it is if it is not JSON), decoded by orjson: the stdlib
    decoder was a tenth of the dispatcher's time (bench/send_throughput.py)."""
    if value is None or isinstance(value, dict):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def claimed_columns(connection) -> Columns:
    """The CLAIMED columns and their converters, but for the payload: it stays the stored text (Claimed.payload
    decodes it when it is needed)."""
    columns = Columns.of(Message, connection, only=CLAIMED)
    payload = columns.names.index("payload")
    columns.converters = [converter for converter in columns.converters if converter[0] != payload]
    return columns


@dataclass
class Outcome:
    message: Claimed
    result: SendResult | None = None
    error: SendError | None = None


# --------------------------------------------------------------------------- claim


def release_stale(now) -> None:
    """Expired leases become unknown (the worker may have sent them); old unknowns go back to the queue."""
    Message.objects.filter(state=Message.State.SENDING, outcome_unknown=False, lease_expires_at__lt=now).update(
        outcome_unknown=True, lease_owner="", lease_expires_at=None, updated_at=now)
    window = timedelta(seconds=setting("SENDING_RECONCILE_SECONDS", 600))
    overdue = Message.objects.filter(state=Message.State.SENDING, outcome_unknown=True, updated_at__lt=now - window)
    if overdue.exists():
        # A status already received but not applied yet (its task queued behind others, or lost with a killed
        # worker) may say the message went out: it must count before the message may be sent again.
        apply_pending_events()
    overdue.update(state=Message.State.QUEUED, outcome_unknown=False, next_attempt_at=now, updated_at=now)


def claimable_campaigns(now) -> tuple[set[int], set[int], set[int] | None]:
    """What the claim may take, in one small query: the sending campaigns not paused, the paused ones, and, in
    quiet hours, the ones allowed to send anyway (None outside them)."""
    quiet = in_quiet_hours(now)
    wanted = Q(state=State.SENDING) | Q(send_control__paused_at__isnull=False)
    if quiet:
        wanted |= Q(send_control__ignore_quiet_hours=True)
    rows = Campaign.objects.filter(wanted).values_list("pk", "state", "send_control__paused_at",
                                                       "send_control__ignore_quiet_hours")
    sending, paused, loud = set(), set(), set()
    for pk, state, paused_at, ignore_quiet_hours in rows:
        if paused_at is not None:
            paused.add(pk)
        elif state == State.SENDING:
            sending.add(pk)
        if ignore_quiet_hours:
            loud.add(pk)
    return sending, paused, loud if quiet else None


def claim(worker_id: str, limit: int = 200, lease_seconds: int = 120, *, release: bool = True) -> list[Claimed]:
    """Leases up to ``limit`` due messages to this worker (SKIP LOCKED on PostgreSQL; SQLite has one worker), in
    the order they fell due; first, unless ``release`` is false, runs ``release_stale``. The campaigns it may take
    from are read first (``claimable_campaigns``) and travel as lists, so the claim reads the outbox alone, in the
    queued messages' index order, and stops at its batch: joined to the campaigns, PostgreSQL read every queued
    message of the campaign and sorted them for each batch (14 ms a batch of 200 with 20,000 queued, and growing
    with the queue: bench/send_throughput.py). No index serves the campaign condition (it is ORed with the
    message's kind); with the outbox's statistics current (``outbox_written``) the plan is the queued messages'
    index in order. With stale ones PostgreSQL may still read and sort the queue, as the join did."""
    now = timezone.now()
    with transaction.atomic():
        if release:
            release_stale(now)
        sending, paused, loud = claimable_campaigns(now)
        if loud is not None and not loud:  # quiet hours, and no campaign may break them
            return []
        due = (Message.objects.select_for_update(skip_locked=True)
               .filter(state=Message.State.QUEUED, outcome_unknown=False, next_attempt_at__lte=now)
               # A cancelled campaign's invitations stop, but its cancellation notices still go out.
               .filter(Q(campaign_id__in=sending) | Q(kind=Message.Kind.CANCELLATION))
               .exclude(campaign_id__in=paused)
               .order_by("next_attempt_at", "pk"))
        if loud is not None:
            due = due.filter(campaign_id__in=loud)
        return lease(due.values_list("pk", flat=True)[:limit], worker_id, now, lease_seconds)


def lease(due, worker_id: str, now, lease_seconds: int) -> list[Claimed]:
    """Marks the messages ``due`` selects as in flight with this worker's lease and returns them, in one
    statement (UPDATE … WHERE id IN (the locking SELECT) RETURNING …). Selecting the ids, updating them and
    reading the rows back took three: on PostgreSQL the second and third cost more than the claim itself
    (bench/send_throughput.py)."""
    columns = claimed_columns(connection)
    select, params = due.query.sql_with_params()
    adapt, quote = connection.ops.adapt_datetimefield_value, connection.ops.quote_name
    with connection.cursor() as cursor:
        # Only names from the model's metadata; the selection is the ORM's own statement with its parameters.
        cursor.execute(
            f"UPDATE {quote(Message._meta.db_table)} SET state = %s, lease_owner = %s, lease_expires_at = %s, "  # nosec B608
            f"updated_at = %s WHERE id IN ({select}) RETURNING {columns.sql}",
            [Message.State.SENDING, worker_id, adapt(now + timedelta(seconds=lease_seconds)), adapt(now), *params])
        rows = cursor.fetchall()
    return sorted((Claimed.of(columns, row, connection) for row in rows), key=lambda m: (m.next_attempt_at, m.id))


# --------------------------------------------------------------------------- send


async def send_one(message: Claimed, channels: dict, slot: float = 0.0, media_ids: dict | None = None) -> Outcome:
    """Sends one message at its booked slot (the sender's shared pace)."""
    wait = slot - time.time()
    if wait > 0:
        await asyncio.sleep(wait)
    try:
        if message.channel == Message.Channel.EMAIL:
            result = await channels["email"].send({**message.payload, "public_id": str(message.public_id)})
        else:
            body = media.whatsapp_body(message, (media_ids or {}).get(message.campaign_id))
            result = await channels["whatsapp"].send(body)
        return Outcome(message, result=result)
    except SendError as error:
        return Outcome(message, error=error)
    except Exception as exc:  # a broken row must not stop the batch
        log.exception("message %s raised unexpectedly", message.pk)
        reason = _("Error inesperado al enviar: %(error)s") % {"error": type(exc).__name__}
        return Outcome(message, error=SendError(kind=SendError.PERMANENT, reason=reason, detail=str(exc)))


class _Batch:
    """The outcomes of one batch as the pool's senders fill them in, and the future its caller waits on."""

    __slots__ = ("outcomes", "left", "done")

    def __init__(self, size: int, done: asyncio.Future):
        self.outcomes, self.left, self.done = [None] * size, size, done

    def fill(self, index: int, outcome: Outcome) -> None:
        self.outcomes[index] = outcome
        self.left -= 1
        if not self.left and not self.done.done():
            self.done.set_result(self.outcomes)


class SendPool:
    """SENDING_CONCURRENCY senders, each taking the next message from one queue, sending it and taking another,
    for every batch of a loop: the worker's concurrency is the number of senders. A task per message waiting on a
    semaphore made and woke 200 tasks a batch: the pool cut the engine's instructions per message by 8 % (callgrind,
    1.23 M → 1.13 M; bench/send_throughput.py); the bare loop it is measured against sends this way too. Messages
    leave in the order they were queued, each at its booked slot."""

    def __init__(self, channels: dict, size: int):
        self.channels, self.size = channels, size
        self.queue: asyncio.Queue | None = None
        self.senders: list[asyncio.Task] = []

    async def send(self, messages: list[Claimed], slots: dict[int, float], media_ids: dict) -> list[Outcome]:
        if not messages:
            return []
        if self.queue is None:  # made in the running loop
            self.queue = asyncio.Queue()
            self.senders = [asyncio.create_task(self._sender()) for _ in range(self.size)]
        batch = _Batch(len(messages), asyncio.get_running_loop().create_future())
        for index, message in enumerate(messages):
            self.queue.put_nowait((batch, index, message, slots.get(message.pk, 0.0), media_ids))
        return await batch.done

    async def _sender(self) -> None:
        queue, channels = self.queue, self.channels
        while True:
            batch, index, message, slot, media_ids = await queue.get()
            batch.fill(index, await send_one(message, channels, slot, media_ids))

    async def close(self) -> None:
        for sender in self.senders:
            sender.cancel()
        await asyncio.gather(*self.senders, return_exceptions=True)
        self.senders, self.queue = [], None


class UnconfiguredWhatsApp(Channel):
    """Stands in when WhatsApp settings are missing: every send is an account error, so the campaign pauses."""

    name = "whatsapp"

    async def send(self, message_payload) -> SendResult:
        raise SendError(kind=SendError.ACCOUNT, reason=_("WhatsApp no está configurado en el servidor."))


def add_whatsapp(channels: dict, messages: list[Claimed]) -> None:
    """Opens the WhatsApp channel among ``channels`` if the batch has a WhatsApp message and it is not open yet."""
    if "whatsapp" not in channels and any(m.channel == Message.Channel.WHATSAPP for m in messages):
        channels["whatsapp"] = whatsapp_channel()


def whatsapp_channel() -> Channel:
    try:
        return WhatsAppClient(WhatsAppConfig.from_settings())
    except ImproperlyConfigured:
        log.error("WhatsApp is not configured; pausing the campaigns that need it")
        return UnconfiguredWhatsApp()


def book_slots(messages: list[Claimed], rates: dict[str, float] | None = None) -> dict[int, float]:
    """Books each message's sending slot with its sender, in claim order, at the ``rates`` in force (read if not
    given; see ``ratelimit``)."""
    slots = {}
    for channel in {m.channel for m in messages}:
        mine = [m for m in messages if m.channel == channel]
        booked = ratelimit.book(channel, len(mine), None if rates is None else rates[channel])
        slots.update(zip((m.pk for m in mine), booked, strict=True))
    return slots


async def run_batch(messages: list[Claimed], slots: dict[int, float] | None = None, images: list = (),
                    media_ids: dict[int, str] | None = None, *, channels: dict | None = None,
                    pool: SendPool | None = None) -> tuple[list[Outcome], dict[int, str]]:
    """Sends the batch concurrently: one WhatsApp client (one connection pool), e-mail in threads. Uploads the
    header images that still need a media id first; returns the outcomes and the new media ids. Channels and pool
    given by a ``Sender`` serve its other batches too and stay open."""
    own = channels is None
    channels = {"email": EmailChannel()} if own else channels
    add_whatsapp(channels, messages)
    own_pool = pool is None
    pool = pool or SendPool(channels, int(setting("SENDING_CONCURRENCY", 100)))
    try:
        uploaded = {}
        if images and isinstance(channels.get("whatsapp"), WhatsAppClient):
            uploaded = await media.upload(channels["whatsapp"], images)
        outcomes = await pool.send(messages, slots or {}, {**(media_ids or {}), **uploaded})
        return outcomes, uploaded
    finally:
        if own_pool:
            await pool.close()
        for channel in channels.values() if own else ():
            await channel.aclose()


def batch_arguments(messages: list[Claimed], rates: dict[str, float] | None = None) -> dict:
    """What ``run_batch`` needs besides the messages: their booked slots, the header images still to upload and
    the media ids already known."""
    images, media_ids = media.media_for(messages)
    return {"slots": book_slots(messages, rates), "images": images, "media_ids": media_ids}


def batch_record(result: tuple[list[Outcome], dict[int, str]], busy: frozenset[int] = frozenset()) -> None:
    outcomes, uploaded = result
    media.save(uploaded)
    record(outcomes, busy)


@dataclass
class InFlight:
    task: concurrent.futures.Future  # of run_batch, in the Sender's loop
    uploads: bool  # it uploads a header image: its media id must be stored before the next batch looks for one
    paced: bool  # its messages wait for slots booked with their sender
    campaigns: frozenset[int]  # whose messages it sends: none of them can be finished before it is recorded


class Sender:
    """The sends of a running dispatcher: one event loop in a thread of its own, one set of channels (one WhatsApp
    connection pool) and one pool of senders (SendPool) for all its batches. The loop thread only sends: every
    database call stays in the dispatcher's thread, which claims and records while the batch in flight goes on. A
    loop that ran only while the dispatcher waited for a batch stood still during each claim and record, and on
    PostgreSQL, where those are round trips the process sleeps through, that idled the provider half the time
    (bench/send_throughput.py). A loop per batch reconnected every time."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.channels = {"email": EmailChannel()}
        self.pool = SendPool(self.channels, int(setting("SENDING_CONCURRENCY", 100)))
        self.thread = threading.Thread(target=self.loop.run_forever, name="pregonero-sender", daemon=True)
        self.thread.start()

    def submit(self, messages: list[Claimed], rates: dict[str, float] | None = None) -> InFlight:
        arguments = batch_arguments(messages, rates)
        add_whatsapp(self.channels, messages)  # its settings read here, not in the loop's thread
        batch = run_batch(messages, **arguments, channels=self.channels, pool=self.pool)
        paced = max(arguments["slots"].values(), default=0) > time.time()
        return InFlight(asyncio.run_coroutine_threadsafe(batch, self.loop), uploads=bool(arguments["images"]),
                        paced=paced, campaigns=frozenset(m.campaign_id for m in messages))

    def result(self, batch: InFlight) -> tuple[list[Outcome], dict[int, str]]:
        return batch.task.result()

    def close(self) -> None:
        async def close():
            leftovers = asyncio.all_tasks() - {asyncio.current_task()}  # batches dropped by an error: their leases
            for task in leftovers:                                       # will run out
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            for channel in self.channels.values():
                await channel.aclose()

        try:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


# --------------------------------------------------------------------------- record


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    base, cap = setting("SENDING_BACKOFF_BASE", 30), setting("SENDING_BACKOFF_CAP", 3600)
    delay = min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0)
    return timedelta(seconds=max(delay, retry_after or 0))


def changes_for(outcome: Outcome, now) -> dict:
    """The column values one outcome sets on its (still in flight) message."""
    message, error = outcome.message, outcome.error
    attempts = message.attempts + 1
    # The outcome is known now, even if another worker's claim found the lease run out and marked it unknown.
    lease = {"lease_owner": "", "lease_expires_at": None, "outcome_unknown": False, "updated_at": now}
    if error is None:
        return {**lease, "state": Message.State.SENT, "provider_id": outcome.result.provider_id, "sent_at": now,
                "attempts": attempts, "error_code": "", "error_reason": ""}
    failure = {"error_code": str(error.code or "")[:20], "error_reason": error.reason[:300]}
    if error.kind == SendError.TRANSIENT:
        return {**lease, **failure, "state": Message.State.QUEUED, "attempts": attempts,
                "next_attempt_at": now + backoff(attempts, error.retry_after)}
    if error.kind == SendError.UNKNOWN:
        return {**lease, **failure, "outcome_unknown": True, "attempts": attempts}
    if error.kind == SendError.ACCOUNT:
        return {**lease, **failure, "state": Message.State.QUEUED, "next_attempt_at": now}
    return {**lease, **failure, "state": Message.State.FAILED, "failed_at": now, "attempts": attempts}


def record(outcomes: list[Outcome], busy: frozenset[int] = frozenset()) -> None:
    """Writes every outcome in one transaction. Only rows still in flight change: a status webhook that came
    first (sent, delivered) is never undone, it only gains the provider id. The campaigns in ``busy`` have other
    messages in flight with this worker: they cannot be finished yet, and are not looked at (on PostgreSQL that
    look cost 4 ms a batch in the middle of a send: bench/send_throughput.py)."""
    now = timezone.now()
    with transaction.atomic():
        record_accepted([outcome for outcome in outcomes if outcome.error is None], now)
        for outcome in outcomes:
            if outcome.error is not None:  # few, each with its own reason and retry time
                Message.objects.filter(pk=outcome.message.pk, state=Message.State.SENDING).update(
                    **changes_for(outcome, now))
        for outcome in outcomes:
            if outcome.error is not None and outcome.error.kind == SendError.ACCOUNT:
                campaign_pause(campaign_id=outcome.message.campaign_id, reason=outcome.error.reason)
        for campaign_id in {outcome.message.campaign_id for outcome in outcomes} - busy:
            campaign_finish_if_done(campaign_id)


def record_accepted(outcomes: list[Outcome], now) -> None:
    """The accepted messages of a batch (nearly all of it) as ``changes_for`` writes them, in one statement: one
    ORM update per row cost more than sending the message, and on PostgreSQL even a pipelined executemany spent
    25 ms a batch planning 200 statements (bench/send_throughput.py). On PostgreSQL the ids and provider ids
    travel as two arrays; elsewhere as a CASE of one placeholder pair per message."""
    if not outcomes:
        return
    table, when = connection.ops.quote_name(Message._meta.db_table), connection.ops.adapt_datetimefield_value(now)
    ids = [outcome.message.pk for outcome in outcomes]
    provider_ids = [outcome.result.provider_id for outcome in outcomes]
    if connection.vendor == "postgresql":
        batch = "FROM unnest(%s::bigint[], %s::text[]) AS batch (id, provider_id) WHERE m.id = batch.id"
        batch_params = [ids, provider_ids]
    else:
        cases, in_batch = " ".join(["WHEN %s THEN %s"] * len(ids)), ", ".join(["%s"] * len(ids))
        batch = (f"FROM (SELECT id, CASE id {cases} END AS provider_id FROM {table} "  # nosec B608
                 f"WHERE id IN ({in_batch})) AS batch WHERE m.id = batch.id")
        batch_params = [*(value for pair in zip(ids, provider_ids, strict=True) for value in pair), *ids]
    with connection.cursor() as cursor:
        # Only the table's name from the model's metadata; every value is a parameter.
        cursor.execute(
            f"UPDATE {table} AS m SET state = %s, provider_id = batch.provider_id, sent_at = %s, "  # nosec B608
            "updated_at = %s, outcome_unknown = %s, attempts = m.attempts + 1, error_code = '', error_reason = '', "
            f"lease_owner = '', lease_expires_at = NULL {batch} AND m.state = %s",
            [Message.State.SENT, when, when, False, *batch_params, Message.State.SENDING])
        if cursor.rowcount < len(ids):  # a status webhook came first: keep its state, add the provider id
            cursor.execute(f"UPDATE {table} AS m SET provider_id = batch.provider_id {batch} "  # nosec B608
                           "AND m.provider_id = ''", batch_params)


def campaign_pause(*, campaign_id: int, reason: str) -> bool:
    """Pauses a campaign's sending and alerts the office, once: a second account error adds nothing."""
    control, _created = SendControl.objects.get_or_create(campaign_id=campaign_id)
    if not SendControl.objects.filter(pk=control.pk, paused_at__isnull=True).update(
            paused_at=timezone.now(), reason=reason[:300]):
        return False
    campaign = Campaign.objects.get(pk=campaign_id)
    entry = audit_log(campaign=campaign, actor=None, action="sending.paused",
                      comment=_("Envío pausado: %(reason)s") % {"reason": reason}, data={"reason": reason})
    notify(entry=entry, roles={Role.SOCIAL_MEDIA, Role.DIRECTOR})
    log.warning("campaign %s paused: %s", campaign.folio, reason)
    return True


def finish_idle_campaigns() -> int:
    """Campaigns in "sending" whose every message already ended (e.g. all skipped) are sent too."""
    idle = Campaign.objects.filter(state=State.SENDING).exclude(messages__state__in=OPEN_STATES)
    with transaction.atomic():
        return sum(campaign_finish_if_done(pk) for pk in idle.values_list("pk", flat=True))


def campaign_finish_if_done(campaign_id: int) -> bool:
    """A sending campaign with nothing queued, in flight or unknown is sent: tell the requester."""
    still_open = Message.objects.filter(campaign_id=campaign_id, state__in=OPEN_STATES)
    # Newest first: sends are claimed oldest first, so the campaign's index finds an open one at once instead of
    # walking every message already sent (that grew with each batch: bench/send_throughput.py).
    if still_open.order_by("-pk").values_list("pk", flat=True)[:1]:
        return False
    now = timezone.now()
    if not Campaign.objects.filter(pk=campaign_id, state=State.SENDING).update(state=State.SENT, state_changed_at=now):
        return False
    campaign = Campaign.objects.get(pk=campaign_id)
    counts = {state: Message.objects.filter(campaign_id=campaign_id, state=state).count()
              for state in (Message.State.SENT, Message.State.FAILED, Message.State.SKIPPED)}
    entry = audit_log(campaign=campaign, actor=None, action="campaign.finish_send", from_state=State.SENDING,
                      to_state=State.SENT, data={str(k): v for k, v in counts.items()})
    notify(entry=entry, roles={Role.REQUESTER, Role.SOCIAL_MEDIA})
    return True


# --------------------------------------------------------------------------- loop


# The cyclic collector of a worker process (see worker_collector): a young collection every 20,000 allocations
# instead of 2,000, the older generations in proportion.
WORKER_GC_THRESHOLDS = (20_000, 20, 20)


def worker_collector() -> None:
    """Sets up the cyclic garbage collector of a process that sends (`pregonero worker`; bench/send_throughput.py
    does the same before measuring). What start-up made (Django's apps, URLs, translations…) lives as long as the
    process: frozen, out of the collector's sight (collector time per message in a 20,000-message send: 29–31 µs
    before, 20–24 µs frozen). A batch in flight makes many short-lived objects, nearly none of them in cycles, and a
    young collection walks every one still alive: with the threshold at 20,000 the engine's CPU per message fell
    from 592–673 µs to 518–554 µs in back-to-back runs, while the bare loop's stayed at 314–376 µs
    (bench/send_throughput.py --only send)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


RELEASE_SECONDS = 5.0  # how often a running dispatcher looks for stale leases (a quarter of a shorter lease)
# Batches a dispatcher keeps in flight while it records the ones before and claims the next. On PostgreSQL its
# claim and record are round trips it waits through, and with one batch ahead the senders ran dry: two raised the
# engine from 3,494 to 3,715 msg/s (one worker process: 3,725 → 4,102). SQLite's work is this process's own CPU,
# and a second batch only kept more objects alive: 4,862 → 4,679 msg/s (bench/send_throughput.py --only send).
AHEAD = {"postgresql": 2}


def record_oldest(sender: Sender, in_flight: deque[InFlight]) -> None:
    """Waits for the oldest batch in flight and records it; the campaigns of the batches still out are busy."""
    batch = in_flight.popleft()
    batch_record(sender.result(batch), frozenset().union(*(later.campaigns for later in in_flight)))


class Dispatcher:
    """One worker's sending loop. A batch is at most ``batch_size`` messages (fewer at a slow pace: see
    ``ratelimit.batch_size_for``): each batch costs a few statements whatever its size, and 400 instead of 200 raised
    the engine from 4,389 to 4,613 msg/s on PostgreSQL and from 4,887 to 5,073 on SQLite (bench/send_throughput.py
    --only send)."""

    def __init__(self, worker_id: str, *, batch_size: int = 400, lease_seconds: int = 120, idle_sleep: float = 1.0):
        self.worker_id, self.batch_size = worker_id, batch_size
        self.lease_seconds, self.idle_sleep = lease_seconds, idle_sleep
        self.next_beat = self.next_release = 0.0
        self.rates: dict[str, float] = {}

    def claim_batch(self) -> list[Claimed]:
        """Claims the next batch, its size and the pace its slots are booked at read once for it (``rates``). Stale
        leases are released before the first claim and then every RELEASE_SECONDS at most, not before every batch:
        a lease runs out in minutes, and its two statements and look for overdue messages per claim were a twelfth
        of the dispatcher's time (bench/send_throughput.py)."""
        channels = list(Message.Channel.values)
        self.rates = ratelimit.rates_in_force(channels)
        size = ratelimit.batch_size_for(channels, self.batch_size, self.lease_seconds, self.rates)
        release = time.monotonic() >= self.next_release
        if release:
            self.next_release = time.monotonic() + min(RELEASE_SECONDS, self.lease_seconds / 4)
        return claim(self.worker_id, size, self.lease_seconds, release=release)

    def run_once(self) -> int:
        """Claims, sends and records one batch; returns how many messages it handled."""
        messages = self.claim_batch()
        if not messages:
            finish_idle_campaigns()
            return 0
        batch_record(asyncio.run(run_batch(messages, **batch_arguments(messages, self.rates))))
        return len(messages)

    def run_forever(self, stop_event: threading.Event) -> None:
        """Sends until ``stop_event`` is set, one batch ahead: the next batch is in flight before the last one is
        recorded (see ``Sender``). On stop, what is in flight is recorded first."""
        in_flight: deque[InFlight] = deque()
        sender = Sender()
        busy = False
        try:
            while not stop_event.is_set():
                # As Django does between requests, but only between idle polls or after an error: with the default
                # CONN_MAX_AGE of 0 it reconnects, and on PostgreSQL a connection per batch (a new backend
                # process) cost more than the batch's own queries.
                if not busy and not connection.in_atomic_block:  # a test's transaction must survive the loop
                    close_old_connections()
                try:
                    self.heartbeat()
                    busy = self.step(sender, in_flight) or in_flight
                except Exception:
                    log.exception("dispatcher batch failed; trying again shortly")
                    busy = False
                if not busy:
                    stop_event.wait(self.idle_sleep)
            while in_flight:
                record_oldest(sender, in_flight)
        finally:
            sender.close()

    def heartbeat(self) -> None:
        """Tells /salud/ that this worker's loop still turns (a database write every HEARTBEAT_SECONDS at most)."""
        if time.monotonic() >= self.next_beat:
            worker_heartbeat(self.worker_id)
            self.next_beat = time.monotonic() + HEARTBEAT_SECONDS

    def step(self, sender: Sender, in_flight: deque[InFlight]) -> int:
        """Claims a batch and starts sending it, then records the batches before it, leaving AHEAD in flight. Not
        while a paced batch is out: the sending thread waits for the interpreter while this one works, so messages
        whose slots fell in such a wait would leave together, faster than the sender's pace (the emulator answered
        130429 when the loop stood still during our database work). Paced batches go one at a time; with several
        workers the others keep the shared pace's slots filled."""
        if in_flight and in_flight[-1].paced:
            while in_flight:
                record_oldest(sender, in_flight)
        messages = self.claim_batch()
        if messages and in_flight and in_flight[-1].uploads:
            while in_flight:
                record_oldest(sender, in_flight)
        if messages:
            in_flight.append(sender.submit(messages, self.rates))
        else:
            finish_idle_campaigns()
        while len(in_flight) > (AHEAD.get(connection.vendor, 1) if messages else 0):
            record_oldest(sender, in_flight)
        return len(messages)
