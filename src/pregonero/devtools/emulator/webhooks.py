"""The webhook dispatcher: a bounded queue, a few sender tasks sharing one ClientSession, signed POSTs with retries.

It behaves like Meta's side of reference §5.2: the exact bytes are signed, several events may share one POST,
non-200 answers are retried with (compressed) backoff, and a delivered POST may arrive a second time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from . import payloads
from .state import EmulatorState, LoggedMessage

logger = logging.getLogger("pregonero.devtools.emulator")
WARNING_INTERVAL = 5.0


@dataclass
class Delivery:
    """One POST to make. `body` is fixed once encoded, so retries and duplicates resend identical bytes."""

    changes: list[dict]
    units: int = 1  # events it carries, for the idle count
    body: bytes | None = None
    attempt: int = 0
    duplicate: bool = False


class Dispatcher:
    def __init__(self, state: EmulatorState):
        self.state = state
        self.pending = 0  # events scheduled, queued, in flight or waiting for a retry
        self.attempts: deque[dict] = deque(maxlen=1000)
        self.timers: set[asyncio.TimerHandle] = set()
        self.tasks: set[asyncio.Task] = set()
        self.workers: list[asyncio.Task] = []
        self.session: aiohttp.ClientSession | None = None
        self.queue: asyncio.Queue[Delivery] | None = None
        self.last_warning, self.suppressed = -WARNING_INTERVAL, 0

    async def start(self) -> None:
        config = self.state.config
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue(maxsize=config.webhook_queue_size)
        connector = aiohttp.TCPConnector(limit=config.webhook_concurrency)
        self.session = aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=config.webhook_timeout))
        self.workers = [asyncio.create_task(self._work()) for _ in range(config.webhook_concurrency)]

    async def close(self) -> None:
        for handle in self.timers:
            handle.cancel()
        for task in [*self.workers, *self.tasks]:
            task.cancel()
        await asyncio.gather(*self.workers, *self.tasks, return_exceptions=True)
        if self.session:
            await self.session.close()

    # Scheduling ---------------------------------------------------------------------------------------------

    def emit(self, build: Callable[[], dict], delay: float = 0.0) -> bool:
        """Post the change `build()` returns after `delay` seconds; False when no callback URL is configured."""
        if not self.state.config.callback_url:
            self.state.stats["webhooks_without_callback"] += 1
            return False
        self.pending += 1
        # The change is built when it fires, so its timestamp is the emission time, as with real events.
        self._later(delay, lambda: self._put(Delivery(changes=[build()])))
        return True

    def schedule_statuses(self, message: LoggedMessage, plan: list[tuple[float, str, int | None]]) -> None:
        config = self.state.config
        priced_final = False
        for delay, name, code in plan:
            # Pricing rides on `sent` and on the first of delivered/read, never both (reference §5.5).
            with_pricing = name == "sent" or (name in ("delivered", "read") and not priced_final)
            priced_final = priced_final or name in ("delivered", "read")
            self.emit(self._status_builder(message, name, code, with_pricing), delay)
        if not config.callback_url:
            logger.debug("No callback URL: statuses for %s are not posted", message.wamid)

    def _status_builder(self, message: LoggedMessage, name: str, code: int | None, with_pricing: bool):
        def build() -> dict:
            message.statuses.append(name)
            item = payloads.status(message, name, self.state.clock.wall(), with_pricing=with_pricing,
                                   error_code=code)
            return payloads.messages_change(self.state.config, statuses=[item])
        return build

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        if delay <= 0:
            callback()
            return
        handle: asyncio.TimerHandle | None = None

        def run() -> None:
            self.timers.discard(handle)
            callback()

        handle = self.loop.call_later(delay, run)
        self.timers.add(handle)

    def _put(self, delivery: Delivery) -> None:
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            # Back-pressure instead of loss: wait for room, as a slow receiver makes Meta's queue grow too.
            task = asyncio.create_task(self.queue.put(delivery))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _done(self, units: int) -> None:
        self.pending -= units

    # Sending ------------------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            delivery = await self.queue.get()
            try:
                if delivery.body is None and self.state.roll(self.state.config.batch_probability):
                    delivery = await self._batch(delivery)
                await self._deliver(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Webhook delivery crashed; %d event(s) dropped", delivery.units)
                self._done(delivery.units)

    async def _batch(self, first: Delivery) -> Delivery:
        await asyncio.sleep(self.state.config.batch_window)
        batch = Delivery(changes=list(first.changes), units=first.units)
        while len(batch.changes) < self.state.config.batch_max and not self.queue.empty():
            other = self.queue.get_nowait()
            if other.body is not None:  # a retry or duplicate keeps its own bytes
                self._put(other)
                break
            batch.changes.extend(other.changes)
            batch.units += other.units
        return batch

    async def _deliver(self, delivery: Delivery) -> None:
        config = self.state.config
        if delivery.body is None:
            changes = payloads.merge(delivery.changes)
            # Account-level webhooks (template status) carry entry.time; message webhooks do not (reference §5.3).
            when = self.state.clock.wall() if any(c["field"] != "messages" for c in changes) else None
            delivery.body = payloads.encode(payloads.envelope(config, changes, when))
        if await self.post(delivery):
            self._done(delivery.units)
            if not delivery.duplicate and self.state.roll(config.duplicate_probability):
                self.pending += 1
                copy = Delivery(changes=[], body=delivery.body, duplicate=True)
                self._later(config.webhook_retry_delay, lambda: self._put(copy))
        elif delivery.attempt + 1 < config.webhook_max_attempts:
            delay = config.webhook_retry_delay * 2**delivery.attempt
            delivery.attempt += 1
            self._later(delay, lambda: self._put(delivery))
        else:
            self._warn(f"Webhook dropped after {delivery.attempt + 1} attempts")
            self.state.stats["webhooks_dropped"] += 1
            self._done(delivery.units)

    async def post(self, delivery: Delivery) -> bool:
        config = self.state.config
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua",
                   "X-Hub-Signature-256": payloads.sign(config.app_secret, delivery.body)}
        status: int | None = None
        try:
            async with self.session.post(config.callback_url, data=delivery.body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._warn(f"Webhook POST to the callback failed ({type(exc).__name__})")
        self.attempts.append({"time": time.time(), "status": status, "attempt": delivery.attempt,
                              "events": delivery.units, "bytes": len(delivery.body),
                              "duplicate": delivery.duplicate})
        self.state.stats["webhook_posts"] += 1
        return status == 200

    def _warn(self, text: str) -> None:
        """At most one warning every few seconds: a stopped web server must not flood the emulator's console."""
        self.suppressed += 1
        now = time.monotonic()
        if now - self.last_warning >= WARNING_INTERVAL:
            logger.warning("%s (%d such event(s) since the last warning)", text, self.suppressed)
            self.last_warning, self.suppressed = now, 0

    # Verification -------------------------------------------------------------------------------------------

    async def verify(self) -> dict:
        """The GET handshake Meta makes when the callback is configured (reference §5.1)."""
        config = self.state.config
        challenge = str(self.state.rng.randrange(10**9, 10**10))
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": config.verify_token}
        status, text = None, ""
        try:
            async with self.session.get(config.callback_url, params=params) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            text = f"{type(exc).__name__}: {exc}"
        return {"verified": status == 200 and text == challenge, "status": status, "challenge": challenge,
                "body": text[:500]}
