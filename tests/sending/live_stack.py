"""Pregonero as real processes over the test database: `pregonero runserver` receiving the emulator's status
webhooks and `pregonero worker` sending, each with its own environment, killable at any moment.

The test process builds data with the ORM in a transactional test (so it is committed and visible to the
processes) and hands them the same database by URL. Every process is ended when the test ends, pass or fail,
and dies with the test run if pytest itself is killed (Linux parent-death signal).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from django.db import connection
from django.db.models import Count
from django_tasks_db.models import DBTaskResult

from pregonero.campaigns.models import Campaign, State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.directory.guestlists import guest_list_for
from pregonero.directory.models import Contact
from pregonero.sending.models import Message, WebhookEvent

PREGONERO = [sys.executable, "-m", "pregonero"]
PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def database_url() -> str:
    """The URL of the database this test runs on (the test database), for the other processes."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(condition, *, timeout: float, what: str, every: float = 0.2, details=lambda: ""):
    """Polls ``condition`` until it returns something true; fails the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g} s\n{details()}")
        time.sleep(every)


class LiveStack:
    """The web server and the worker of one test, sharing its database, its emulator and its SMTP server."""

    def __init__(self, directory: Path, *, emulator, smtp_port: int, web_port: int, **env: str | int | float):
        self.directory = directory
        self.emulator = emulator
        self.web_url = f"http://127.0.0.1:{web_port}"
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.workers_started = 0
        config = emulator.config
        self.env = {
            **os.environ,
            "PREGONERO_DATA_DIR": str(directory / "var"),
            "DATABASE_URL": database_url(),
            "SECRET_KEY": "clave-de-las-pruebas-de-procesos",
            "MEDIA_ROOT": str(directory / "media"),
            "SITE_URL": self.web_url,
            "LOG_LEVEL": "WARNING",
            "WHATSAPP_API_BASE_URL": emulator.base_url,
            "WHATSAPP_TOKEN": config.token,
            "WHATSAPP_APP_SECRET": config.app_secret,
            "WHATSAPP_VERIFY_TOKEN": config.verify_token,
            "WHATSAPP_PHONE_NUMBER_ID": config.phone_number_id,
            "WHATSAPP_WABA_ID": config.waba_id,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_USE_TLS": "0",
            "SENDING_QUIET_HOURS": "",
            **{name: str(value) for name, value in env.items()},
        }

    def _spawn(self, argv: list[str], log_name: str, env: dict) -> subprocess.Popen:
        log = open(self.directory / log_name, "ab")  # a file, not a pipe: a full pipe would stall the process
        try:
            return subprocess.Popen([*PREGONERO, *argv], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        finally:
            log.close()

    def start_web(self) -> None:
        port = self.web_url.rsplit(":", 1)[1]
        self.web = self._spawn(["runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"], "web.log", self.env)
        wait_for(self._web_answers, timeout=30, what="the web server answers", details=self.logs)

    def _web_answers(self) -> bool:
        assert self.web.poll() is None, f"the web server exited\n{self.logs()}"
        try:
            urllib.request.urlopen(f"{self.web_url}/webhooks/whatsapp/", timeout=2)
        except urllib.error.HTTPError:
            return True  # the handshake refuses a GET without our token: the server is up
        except OSError:
            return False
        return True

    def start_worker(self, **env: str) -> None:
        assert self.worker is None or self.worker.poll() is not None, "a worker is already running"
        self.workers_started += 1
        self.worker = self._spawn(["worker", "--no-startup-delay"], f"worker-{self.workers_started}.log",
                                  {**self.env, **env})

    def kill_worker(self) -> None:
        """kill -9: no clean-up of any kind, whatever the worker was doing."""
        assert self.worker.poll() is None, f"the worker died on its own\n{self.logs()}"
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(timeout=10)

    def stop_worker(self) -> int:
        """SIGTERM, as a service manager stops it; returns its exit code."""
        self.worker.send_signal(signal.SIGTERM)
        return self.worker.wait(timeout=60)

    def stop(self) -> None:
        for process in (self.worker, self.web):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)

    def logs(self, tail: int = 3000) -> str:
        texts = []
        for path in sorted(self.directory.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines(keepends=True)
            text = "".join(line for line in lines if " INFO django.tasks " not in line)  # one per task run
            texts.append(f"--- {path.name} ---\n{text[-tail:]}")
        return "\n".join(texts)

    def progress(self, campaign: Campaign) -> str:
        """Where a send stands, for failure messages."""
        states = Message.objects.filter(campaign=campaign).values_list("state", "outcome_unknown")
        counts: dict[str, int] = {}
        for state, unknown in states:
            key = f"{state}{' (unknown)' if unknown else ''}"
            counts[key] = counts.get(key, 0) + 1
        pending = WebhookEvent.objects.filter(processed_at__isnull=True).count()
        tasks = dict(DBTaskResult.objects.values_list("status").annotate(Count("pk")))
        return (f"messages: {counts}; webhooks not applied: {pending}; tasks: {tasks}; "
                f"emulator (seed {self.emulator.config.seed}): {self.emulator.stats}\n{self.logs()}")

    def wait_until_sent(self, campaign: Campaign, *, timeout: float) -> None:
        wait_for(lambda: Campaign.objects.filter(pk=campaign.pk, state=State.SENT).exists(), timeout=timeout,
                 what=f"campaign {campaign.folio} sent", every=0.5, details=lambda: self.progress(campaign))

    def wait_until_applied(self, campaign: Campaign, *, timeout: float) -> None:
        """Every status the emulator meant to post was received and applied."""
        wait_for(lambda: self.emulator.wait_idle(timeout=0.1)
                 and not WebhookEvent.objects.filter(processed_at__isnull=True).exists(),
                 timeout=timeout, what="every webhook applied", every=0.3,
                 details=lambda: self.progress(campaign))


def ready_with_guests(campaign: Campaign, *, author, whatsapp: int = 0, both: int = 0) -> Campaign:
    """A ready campaign (the demo's approved proof and confirmed list) with many made-up guests, bulk-created:
    ``whatsapp`` with a mobile only, ``both`` with a mobile and an e-mail. Their numbers (+529984/5 1NNNNN) never
    end like the emulator's scripted recipients (…00000N), so every one of them is an ordinary guest."""
    demo_ready_campaign(campaign=campaign, author=author, whatsapp=0, email_only=0, both=0, opted_out_whatsapp=0)
    people = [Contact(name=f"Invitado {n}", mobile=f"+529984{100000 + n}") for n in range(whatsapp)]
    people += [Contact(name=f"Invitada {n}", mobile=f"+529985{100000 + n}", email=f"invitada{n}@correo.example")
               for n in range(both)]
    guest_list_for(campaign).additions.add(*Contact.objects.bulk_create(people, batch_size=1000))
    campaign.refresh_from_db()
    return campaign
