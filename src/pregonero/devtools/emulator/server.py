"""Running the emulator: inside a test process on a background thread, or in the foreground from the CLI."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import inbound
from .app import build_app
from .config import EmulatorConfig
from .state import EmulatorState, LoggedMessage
from .webhooks import Dispatcher


class EmulatorServer:
    """`EmulatorServer(config).start()` returns the base URL; `.stop()` ends it. Methods drive scenarios from Python.

    Methods other than start/stop/serve/shutdown hop onto the emulator's thread, so they are only for the embedded
    (background thread) mode.
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any):
        if config is None:
            config = EmulatorConfig.from_settings(**overrides)
        elif overrides:
            config = config.updated(**overrides)
        self.state = EmulatorState(config)
        self.dispatcher = Dispatcher(self.state)
        self.runner: web.AppRunner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.base_url: str | None = None

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    # In the current event loop (CLI) --------------------------------------------------------------------------

    async def serve(self) -> str:
        config = self.state.config
        await self.dispatcher.start()
        # No access log: query strings of the test-only endpoints may carry phone numbers.
        self.runner = web.AppRunner(build_app(self.state, self.dispatcher), access_log=None,
                                    shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, config.host, config.port).start()
        host, port = self.runner.addresses[0][:2]
        self.base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        return self.base_url

    async def shutdown(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.dispatcher.close()
        if self.state.log_file is not None:
            self.state.log_file.close()
            self.state.log_file = None

    # On a background thread (tests, embedded mode) ------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> str:
        ready = threading.Event()
        failure: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(ready, failure), name="whatsapp-emulator",
                                       daemon=True)
        self.thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the WhatsApp emulator did not start in time")
        if failure:
            raise failure[0]
        return self.base_url

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            failure.append(exc)
        ready.set()
        try:
            if not failure:
                loop.run_forever()
        finally:
            loop.run_until_complete(self.shutdown())
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self.loop is not None and self.thread is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.thread = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `function` on the emulator's loop, where all state lives, and return its result."""
        if self.thread is None or not self.thread.is_alive():
            return function(*args, **kwargs)  # stopped (or never started): nothing else touches the state

        async def run():
            return function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    # Message log ----------------------------------------------------------------------------------------------

    @property
    def log(self) -> list[LoggedMessage]:
        return self.call(self.state.messages)

    def messages(self, to: str | None = None) -> list[LoggedMessage]:
        return self.call(self.state.messages, to)

    def count_by_recipient(self) -> Counter:
        return self.call(self.state.count_by_recipient)

    def count_by_callback_data(self) -> Counter:
        return self.call(self.state.count_by_callback_data)

    def duplicates(self) -> dict[str, int]:
        """biz_opaque_callback_data values accepted more than once: double sends of one invitation."""
        return {key: count for key, count in self.count_by_callback_data().items() if count > 1}

    @property
    def stats(self) -> dict:
        return self.call(lambda: {**self.state.stats, "pending_webhooks": self.dispatcher.pending})

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every scheduled webhook was delivered or dropped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(lambda: self.dispatcher.pending) == 0:
                return True
            time.sleep(0.01)
        return False

    # Scenario control -----------------------------------------------------------------------------------------

    def reset(self) -> None:
        self.call(self.state.reset)

    def configure(self, **changes: Any) -> EmulatorConfig:
        return self.call(self.state.apply_config, changes)

    def inject_fault(self, code: int, count: int = 1, status: int | None = None) -> None:
        self.call(self.state.add_fault, code, count, status)

    def expire_token(self) -> None:
        self.call(setattr, self.state, "token_expired", True)

    def advance_clock(self, seconds: float) -> None:
        self.call(self.state.clock.advance, seconds)

    def script_recipient(self, number: str, behaviour: str) -> None:
        self.call(self.state.script_recipient, number, behaviour)

    def verify_webhook(self) -> dict:
        return asyncio.run_coroutine_threadsafe(self.dispatcher.verify(), self.loop).result(timeout=30)

    # Simulated users and Meta ---------------------------------------------------------------------------------

    def user_sends_text(self, number: str, body: str, name: str | None = None) -> dict:
        return self.call(inbound.user_sends_text, self.state, self.dispatcher, number, body, name)

    def user_sends_media(self, number: str, kind: str, content: bytes, mime_type: str, *,
                         filename: str | None = None, caption: str | None = None, name: str | None = None) -> dict:
        """A photo (kind "image"), a file ("document") and so on; the result carries the wamid and media id."""
        return self.call(inbound.user_sends_media, self.state, self.dispatcher, number, kind, content, mime_type,
                         filename, caption, name)

    def user_sends_image(self, number: str, content: bytes, mime_type: str = "image/jpeg", *,
                         caption: str | None = None, name: str | None = None) -> dict:
        return self.user_sends_media(number, "image", content, mime_type, caption=caption, name=name)

    def user_sends_document(self, number: str, content: bytes, mime_type: str, filename: str, *,
                            caption: str | None = None, name: str | None = None) -> dict:
        return self.user_sends_media(number, "document", content, mime_type, filename=filename, caption=caption,
                                     name=name)

    def fail_media_downloads(self, count: int = 1, status: int = 500) -> None:
        """The next `count` downloads of any media file answer `status` (a CDN hiccup)."""
        self.call(self.state.fail_media_downloads, count, status)

    def user_taps_quick_reply(self, message_id: str, index: int, with_context: bool = True) -> dict:
        return self.call(inbound.user_taps_quick_reply, self.state, self.dispatcher, message_id, index,
                         with_context=with_context)

    def user_taps_button(self, message_id: str, index: int | None = None, button_id: str | None = None) -> dict:
        return self.call(inbound.user_taps_button, self.state, self.dispatcher, message_id, index, button_id)

    def user_stops_marketing(self, number: str) -> dict:
        return self.call(inbound.user_sets_marketing_preference, self.state, self.dispatcher, number, "stop")

    def user_resumes_marketing(self, number: str) -> dict:
        return self.call(inbound.user_sets_marketing_preference, self.state, self.dispatcher, number, "resume")

    def template_status_changes(self, name: str, language: str, event: str, reason: str | None = None) -> dict:
        return self.call(inbound.template_status_changes, self.state, self.dispatcher, name, language, event, reason)
