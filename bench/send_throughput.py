"""Sending benchmark (prints figures; not a test).

    .venv/bin/python bench/send_throughput.py                  # SQLite, in a throwaway data folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pregonero .venv/bin/python bench/send_throughput.py

On PostgreSQL it works in its own database (pregonero_send_bench, created and dropped; only the server and
credentials of DATABASE_URL are used). The WhatsApp emulator runs in its own process (`pregonero
whatsapp-emulator`), so it never shares the engine's GIL. Steps (issue 4):

(a) bare loop: aiohttp posts the send's 20,000 payloads to the emulator with the engine's concurrency (one
    session, 100 requests in flight), nothing else;
(b) the engine end to end (claimed, sent, recorded) with our pace off (WHATSAPP_RATE_LIMIT=0) and the emulator's
    limits off: Dispatcher.run_forever on a thread of this process (what `pregonero worker` runs in its
    dispatcher thread), in turns with (a), --rounds times (the machine may be shared: the median round counts),
    both with this process's garbage collector set up as the worker sets up its own (worker_collector);
    then real `pregonero worker` processes (1, and 2 on PostgreSQL); targets ≥ 1,000 msg/s and ≥ 70 % of (a);
(c) with WHATSAPP_RATE_LIMIT=80 and the emulator at 80 msg/s (its default burst), 2,000 messages: the rate from
    the emulator's acceptance timestamps (target 80 ± 3 %) and its count of 130429 answers (target 0);
(d) webhooks: signed status POSTs built as the emulator builds them, to gunicorn serving Pregonero (sync workers
    as bench/rsvp_load.py runs them, 4 × cores: see --web-workers), from wrk (Debian package wrk; as
    bench/rsvp_load.py loads the guest's page: aiohttp cost the shared cores five times its CPU): first the floor
    (the same URL's GET handshake: Django with every middleware, no database; the POSTs skip Django's middleware
    through pregonero.wsgi's front, so they may beat it), then one event per POST (target ≥ 2,000 events/s
    received), then `pregonero worker --no-dispatcher` applying what was stored until every message is
    `delivered`; then the same with --webhook-batch statuses per POST, as Meta may batch them (reference §5.2:
    not guaranteed).
Beside the figures: the CPU each message or event cost in each process (from /proc) and the load average.
"""

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from loadkit import WRK_REPORT, stop, wrk_result

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "pregonero_send_bench"
TOKEN, APP_SECRET, PHONE_ID, WABA_ID = "bench-token", "bench-app-secret", "106540352242922", "102290129340398"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[3:5]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def prepare_environment(data_dir: Path, emulator_port: int) -> None:
    """Settings for this process and every child: a private data folder, the emulator's credentials, no quiet
    hours, our pace off (step (c) turns it on), and a dedicated PostgreSQL database when DATABASE_URL is set."""
    url = os.environ.get("DATABASE_URL", "")
    if url:
        os.environ["DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/{BENCH_DB}"))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "pregonero.settings", "PREGONERO_DATA_DIR": str(data_dir),
        "WHATSAPP_TOKEN": TOKEN, "WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_VERIFY_TOKEN": "bench-verify",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID, "WHATSAPP_WABA_ID": WABA_ID,
        "WHATSAPP_API_BASE_URL": f"http://127.0.0.1:{emulator_port}", "WHATSAPP_RATE_LIMIT": "0",
        "WHATSAPP_DAILY_TIER": "unlimited", "SENDING_QUIET_HOURS": "", "LOG_LEVEL": "WARNING",
        "SITE_URL": "http://127.0.0.1:8000",
    })
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def fresh_database() -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        drop_database()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)


def drop_database() -> None:
    from django.conf import settings
    from django.db import connection

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        connection.close()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')


def pregonero(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pregonero", *args], env=os.environ, **kwargs)


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (Linux /proc)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def children(process: subprocess.Popen) -> list[int]:
    return [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
            if stat.read_text().rsplit(")", 1)[-1].split()[1:2] == [str(process.pid)]]


def database_backends() -> list[int]:
    """The PostgreSQL backends serving the bench's database (none on SQLite: it runs inside each process)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                       "pg_backend_pid()")
        return [pid for (pid,) in cursor.fetchall()]


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Meter:
    """CPU spent over a measurement by this process (``own`` names its role) and by named groups of processes; a
    group given as a function is asked again at each ``sample()`` and at the end, so processes started meanwhile
    (database backends) count, and one that ended after a sample counts with its last reading (the worker's task
    connection closes when its task ends)."""

    def __init__(self, own: str = "", **groups):
        self.own_name, self.groups = own, groups
        self.before = {name: cpu_seconds(self.pids(name)) for name in groups}
        self.seen = {name: dict(readings) for name, readings in self.before.items()}
        self.own = time.process_time()

    def pids(self, name: str) -> list[int]:
        group = self.groups[name]
        return group() if callable(group) else group

    def sample(self) -> None:
        for name in self.groups:
            self.seen[name].update(cpu_seconds(self.pids(name)))

    def per(self, count: int, noun: str, unit: str = "µs") -> str:
        self.sample()
        spent = {self.own_name: time.process_time() - self.own} if self.own_name else {}
        for name in self.groups:
            spent[name] = sum(seconds - self.before[name].get(pid, 0) for pid, seconds in self.seen[name].items())
        scale, digits = (1e6, 0) if unit == "µs" else (1e3, 2)
        return f"CPU {unit} per {noun}: " + ", ".join(
            f"{name} {seconds / count * scale:.{digits}f}" for name, seconds in spent.items() if seconds > 0)


# --------------------------------------------------------------------------- the send


def ready_campaign(guests: int):
    """A ready campaign of ``guests`` WhatsApp guests (bulk inserts, as demo_ready_campaign builds them)."""
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.utils import timezone

    from pregonero.accounts.models import Department, User
    from pregonero.accounts.roles import Role
    from pregonero.campaigns.models import Campaign, State
    from pregonero.devtools.demo import demo_ready_campaign

    department = Department.objects.create(name="Dirección de Cultura", short_name="CULT")
    office = Department.objects.create(name="Dirección de Relaciones Públicas", short_name="RP", is_requester=False)
    social = User.objects.create(username="redes", department=office)
    social.groups.add(Group.objects.get(name=Role.SOCIAL_MEDIA.group_name))
    now = timezone.now()
    campaign = Campaign.objects.create(
        folio="RP-BENCH-0001", department=department, title="Noche de Cultura en el Parque de las Palapas",
        starts_at=now + timedelta(days=30), venue="Parque de las Palapas", rsvp_deadline=now + timedelta(days=25),
        created_by=social, state=State.READY)
    demo_ready_campaign(campaign=campaign, author=social, whatsapp=guests, email_only=0, both=0,
                        opted_out_whatsapp=0)
    return campaign, social


def requeue(campaign, count: int | None = None) -> None:
    """Back to the start of the send: ``count`` (or all) messages queued again, the campaign sending, pace reset."""
    from django.utils import timezone

    from pregonero.campaigns.models import Campaign, State
    from pregonero.sending.models import Message, SenderLimit, outbox_written

    messages = Message.objects.filter(campaign=campaign)
    if count is not None:
        chosen = list(messages.order_by("pk").values_list("pk", flat=True)[:count])
        # The rest as a finished send leaves them: run alone (--only paced), send_start had left all of them queued
        # and step (c) sent the whole outbox at 80 msg/s.
        messages.exclude(pk__in=chosen).update(state=Message.State.SENT, lease_owner="", lease_expires_at=None,
                                               outcome_unknown=False)
        messages = messages.filter(pk__in=chosen)
    queued = messages.update(state=Message.State.QUEUED, provider_id="", sent_at=None, delivered_at=None, attempts=0,
                    next_attempt_at=timezone.now(), lease_owner="", lease_expires_at=None, outcome_unknown=False)
    Campaign.objects.filter(pk=campaign.pk).update(state=State.SENDING)
    SenderLimit.objects.all().delete()
    outbox_written(queued)  # as after a new send's outbox is written: its statistics refreshed


def wait_until(done, timeout: float, poll: float = 0.25) -> None:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise SystemExit("timed out waiting for the engine")
        time.sleep(poll)


def all_recorded(campaign):
    """A check for wait_until: no message of the campaign open, through the outbox's (campaign, state) index;
    cheap, as it runs beside the engine being measured."""
    from pregonero.sending.models import Message

    return lambda: not Message.objects.filter(campaign=campaign, state__in=("queued", "sending")).exists()


def last_update(campaign) -> float:
    """When the last message was recorded (epoch seconds): the end of a run, exact whatever the polling."""
    from django.db.models import Max

    from pregonero.sending.models import Message

    return Message.objects.filter(campaign=campaign).aggregate(last=Max("updated_at"))["last"].timestamp()


# --------------------------------------------------------------------------- emulator


class Emulator:
    def __init__(self, port: int):
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.process = pregonero("whatsapp-emulator", "--port", str(port), "--rate", "1000000", "--no-pair-limit",
                                 "--daily-limit", "0", "--no-statuses", "--no-callback", stdout=subprocess.DEVNULL)
        wait_for_port(port, self.process)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        from urllib.request import Request, urlopen

        data = json.dumps(body).encode() if body is not None else None
        request = Request(self.base + "/_emulator" + path, data=data, method=method,
                          headers={"Content-Type": "application/json"})
        with urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def reset(self, **config) -> None:
        self.call("POST", "/reset")
        self.call("POST", "/config", {"rate": 1_000_000.0, "burst": None, **config})

    def messages(self) -> list[dict]:
        return self.call("GET", "/messages")["data"]

    def stats(self) -> dict:
        return self.call("GET", "/stats")


# --------------------------------------------------------------------------- (a) the bare loop


async def bare_loop(payloads: list[str], concurrency: int, url: str) -> int:
    """The HTTP floor: the engine's client library and settings (one session, ``concurrency`` requests in
    flight, each body the payload's JSON text posted as WhatsAppClient posts it, the answer read with orjson),
    nothing else: no database, no batches."""
    import aiohttp
    import aiohttp.payload
    import orjson

    ok = 0
    queue = iter(payloads)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200),
                                     timeout=aiohttp.ClientTimeout(total=15),
                                     json_serialize_bytes=orjson.dumps,
                                     headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "Pregonero"}) as http:
        async def post_next():
            nonlocal ok
            for payload in queue:
                body = aiohttp.payload.BytesPayload(payload.encode(), content_type="application/json")
                async with http.post(url, data=body) as response:
                    body = orjson.loads(await response.read())
                    ok += response.status == 200 and bool(body["messages"][0]["id"])

        await asyncio.gather(*(post_next() for _ in range(concurrency)))
    return ok


def measure_bare(emulator: Emulator, campaign) -> tuple[float, str]:
    """Posts what the engine posts: the stored payloads' text, with the header image as an uploaded media id
    (media.media_id_in_text, as the engine does per message). They are loaded before the clock starts and
    dropped after, so they weigh on no other measurement."""
    from django.conf import settings
    from django.db import connection

    from pregonero.sending import media
    from pregonero.sending.models import Message

    with connection.cursor() as cursor:
        # The stored text as the claim reads it (the ORM would decode it).
        cursor.execute(f"SELECT payload FROM {connection.ops.quote_name(Message._meta.db_table)} "  # nosec B608
                       "WHERE campaign_id = %s ORDER BY id", [campaign.pk])
        payloads = [media.media_id_in_text(stored, "1234567890123456") for (stored,) in cursor.fetchall()]
    if not all(isinstance(payload, str) for payload in payloads):
        raise SystemExit("bare loop: a stored payload without its one header image link")
    emulator.reset()
    url = f"{emulator.base}/{settings.WHATSAPP_API_VERSION}/{PHONE_ID}/messages"
    gc.collect()
    meter, started = Meter("client", emulator=[emulator.process.pid]), time.perf_counter()
    ok = asyncio.run(bare_loop(payloads, int(getattr(settings, "SENDING_CONCURRENCY", 100)), url))
    seconds = time.perf_counter() - started
    cost = meter.per(len(payloads), "message")
    if ok != len(payloads) or emulator.stats()["accepted"] != len(payloads):
        raise SystemExit(f"bare loop: only {ok} of {len(payloads)} accepted")
    return len(payloads) / seconds, cost


# --------------------------------------------------------------------------- (b) the engine


def check_sent(campaign, emulator: Emulator, expected: int) -> None:
    from pregonero.sending.models import Message

    sent = Message.objects.filter(campaign=campaign, state=Message.State.SENT).count()
    logged = emulator.messages()
    callbacks = [m["biz_opaque_callback_data"] for m in logged]
    duplicates = len(callbacks) - len(set(callbacks))
    if sent != expected or len(logged) != expected or duplicates:
        raise SystemExit(f"engine: {sent} sent, {len(logged)} accepted, {duplicates} duplicates of {expected}")


def run_dispatcher(campaign, worker_id: str, profile: bool = False) -> float:
    """``Dispatcher.run_forever`` (what `pregonero worker` runs in its dispatcher thread) on a thread of this
    process until no message of the campaign is open; returns the seconds it took."""
    import threading

    from pregonero.sending.dispatcher import Dispatcher

    stop_event = threading.Event()
    profiler = cProfile.Profile() if profile else None

    def work():
        from django.db import connection

        if profiler:
            profiler.enable()
        try:
            Dispatcher(worker_id, idle_sleep=0.05).run_forever(stop_event)
        finally:
            if profiler:
                profiler.disable()
            connection.close()

    thread = threading.Thread(target=work)
    gc.collect()
    started = time.time()
    thread.start()
    try:
        wait_until(all_recorded(campaign), timeout=600)
    finally:
        stop_event.set()
        thread.join()
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
    return last_update(campaign) - started


def measure_in_process(campaign, emulator: Emulator, count: int, profile: bool = False) -> tuple[float, str]:
    requeue(campaign)
    emulator.reset()
    meter = Meter("engine", emulator=[emulator.process.pid], postgres=database_backends)
    seconds = run_dispatcher(campaign, "bench-in-process", profile)
    cost = meter.per(count, "message")
    check_sent(campaign, emulator, count)
    return count / seconds, cost


def measure_workers(campaign, emulator: Emulator, count: int, workers: int) -> tuple[float, str]:
    from pregonero.sending.models import SendControl

    requeue(campaign)
    emulator.reset()
    # Started paused, so process start-up is not counted: the clock starts when the campaign is released.
    SendControl.objects.filter(campaign=campaign).update(paused_at=time_now())
    processes = [pregonero("worker", "--no-startup-delay", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
    try:
        time.sleep(3)  # imports and the first idle poll
        meter = Meter(workers=[process.pid for process in processes], emulator=[emulator.process.pid],
                      postgres=database_backends)
        SendControl.objects.filter(campaign=campaign).update(paused_at=None)
        wait_until(all_recorded(campaign), timeout=600)
        cost = meter.per(count, "message")
    finally:
        for process in processes:
            stop(process)
    check_sent(campaign, emulator, count)
    # From the first message the emulator accepted: an idle worker looks for work once a second.
    started = min(m["timestamp"] for m in emulator.messages())
    return count / (last_update(campaign) - started), cost


def time_now():
    from django.utils import timezone

    return timezone.now()


# --------------------------------------------------------------------------- (c) the shared pace


def measure_paced(campaign, emulator: Emulator, count: int, rate: float) -> tuple[float, int, int]:
    from django.conf import settings

    requeue(campaign, count)
    emulator.reset(rate=rate)
    settings.WHATSAPP_RATE_LIMIT = rate
    try:
        run_dispatcher(campaign, "bench-paced")
    finally:
        settings.WHATSAPP_RATE_LIMIT = 0.0
    stamps = sorted(m["timestamp"] for m in emulator.messages())
    measured = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return measured, emulator.stats().get("throttled", 0), len(stamps)


# --------------------------------------------------------------------------- (d) webhooks


def status_bodies(campaign, status: str, per_post: int) -> list[tuple[bytes, str]]:
    """Signed webhooks with one ``status`` per sent message, ``per_post`` of them in each POST, built as the
    emulator builds them (its batching merges the statuses of several messages into one change)."""
    from itertools import batched

    from pregonero.devtools.emulator import EmulatorConfig, LoggedMessage
    from pregonero.devtools.emulator import payloads as emulated
    from pregonero.sending.models import Message

    config = EmulatorConfig(app_secret=APP_SECRET, phone_number_id=PHONE_ID, waba_id=WABA_ID, callback_url=None)
    now = time.time()
    items = []
    for provider_id, public_id, address in Message.objects.filter(campaign=campaign).values_list(
            "provider_id", "public_id", "address"):
        logged = LoggedMessage(wamid=provider_id, to=address, wa_id="521" + address.removeprefix("+52"),
                               type="template", request={"biz_opaque_callback_data": str(public_id)},
                               timestamp=now, api_version="v24.0", category="marketing")
        items.append(emulated.status(logged, status, now, with_pricing=True))
    bodies = []
    for chunk in batched(items, per_post):
        body = emulated.encode(emulated.envelope(config, [emulated.messages_change(config, statuses=list(chunk))]))
        bodies.append((body, emulated.sign(APP_SECRET, body)))
    return bodies


WEBHOOK_LUA = """
-- Meta's side: the signed POSTs, one per line of the bodies file (their signatures in the other), each sent once,
-- in order; with no files, or past the last body, the GET handshake (which stores nothing).
local handshake, bodies, signatures = "%(handshake)s", {}, {}

function init(args)
  sent, statuses = 0, {}
  if args[1] then
    for line in io.lines(args[1]) do table.insert(bodies, line) end
    for line in io.lines(args[2]) do table.insert(signatures, line) end
  end
end

function request()
  -- wrk calls this once before the load to check the script: that call gets the handshake, not a body
  local body = sent
  sent = sent + 1
  if body < 1 or body > #bodies then return wrk.format("GET", handshake) end
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json",
                    ["X-Hub-Signature-256"] = signatures[body], ["User-Agent"] = "facebookexternalua"}, bodies[body])
end
"""


def webhook_load(port: int, concurrency: int, folder: Path, bodies: list[tuple[bytes, str]] | None = None,
                 seconds: float = 10) -> tuple[float, dict]:
    """wrk on loopback, as bench/rsvp_load.py loads the guest's page: the client costs the shared cores a fifth of
    what aiohttp's did (0.1 against 0.5 ms a request), which the server had been paying for. With ``bodies``: each
    sent once, and the seconds until the last one is stored (the stored events counted every 50 ms); without: the
    GET handshake for ``seconds``, and its requests/s. Returns that figure and wrk's result."""
    from django.conf import settings

    from pregonero.sending.models import WebhookEvent

    script = folder / "webhooks.lua"
    script.write_text(WEBHOOK_LUA % {"path": "/webhooks/whatsapp/", "handshake": (
        f"/webhooks/whatsapp/?hub.mode=subscribe&hub.challenge=1&hub.verify_token={settings.WHATSAPP_VERIFY_TOKEN}")}
        + WRK_REPORT)
    arguments = []
    if bodies:
        (folder / "bodies").write_bytes(b"\n".join(body for body, _signature in bodies) + b"\n")
        (folder / "signatures").write_text("".join(f"{signature}\n" for _body, signature in bodies))
        arguments = ["--", str(folder / "bodies"), str(folder / "signatures")]
    already = WebhookEvent.objects.count()
    duration = f"{seconds:.0f}s" if not bodies else "600s"
    command = ["wrk", "-t", "1", "-c", str(concurrency), "-d", duration, "--timeout", "5s", "--latency",
               "-s", str(script), f"http://127.0.0.1:{port}", *arguments]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not bodies:
        result = wrk_result(*process.communicate(), process.returncode)
        return result["rps"], result
    # The load is over when what is stored stops growing with wrk past the last body (counted every 50 ms); its
    # time is the last growth. A POST whose connection failed is lost, as Meta would retry it: wrk counts it among
    # its errors.
    def stored() -> int:
        return WebhookEvent.objects.count() - already

    count, grew = 0, time.perf_counter()
    try:
        while process.poll() is None and time.perf_counter() - grew < 1.0:
            time.sleep(0.05)
            if (now := stored()) > count:
                count, grew = now, time.perf_counter()
            if count >= len(bodies):
                break
    finally:
        process.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
    stdout, stderr = process.communicate()
    result = wrk_result(stdout, stderr)  # wrk's exit status after SIGINT says nothing
    result["lost"] = len(bodies) - count
    if result["lost"] > result["errors"]:
        raise SystemExit(f"webhooks: {count:,} of {len(bodies):,} stored; wrk: {result}")
    return count / (grew - started), result


def web_server(port: int, workers: int) -> subprocess.Popen:
    """Pregonero under gunicorn, the production web server, as bench/rsvp_load.py runs it: sync workers (measured
    there against gthread) and persistent database connections."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "pregonero.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
               "--log-level", "warning"]
    process = subprocess.Popen(command, env={**os.environ, "DB_CONN_MAX_AGE": "60"}, stdout=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process


def measure_webhooks(campaign, count: int, concurrency: int, web_workers: int, per_post: int,
                     folder: Path) -> None:
    """(d) Signed status POSTs to gunicorn, then `pregonero worker --no-dispatcher` applying what was stored, one
    after the other so each figure and its CPU belong to one side. The floor: the same server answering the same
    URL's GET handshake (every middleware, no database), with the same client and concurrency."""
    from django.db.models import CharField, Max, Min, Value
    from django.db.models.functions import Cast, Concat

    from pregonero.sending.models import Message, WebhookEvent

    # Every message sent, with a provider id of its own, as the engine leaves them.
    Message.objects.filter(campaign=campaign).update(
        state=Message.State.SENT, sent_at=time_now(), delivered_at=None, read_at=None,
        provider_id=Concat(Value("wamid.bench-"), Cast("pk", CharField())))
    port = free_port()
    server = web_server(port, web_workers)
    rounds = [("delivered", 1), ("read", per_post)] if per_post > 1 else [("delivered", 1)]
    try:
        time.sleep(2)  # gunicorn's workers up
        web = [server.pid, *children(server)]
        webhook_load(port, concurrency, folder, seconds=2)  # warm: each worker's imports and first requests
        meter, before = Meter(web=web), load()
        floor, result = webhook_load(port, concurrency, folder)
        print(f"(d) floor, the same gunicorn ({web_workers} sync workers) answering the endpoint's GET handshake "
              f"(every middleware, no database), wrk {concurrency} connections: {floor:,.0f} requests/s "
              f"(p99 {result['p99_us'] / 1000:.1f} ms); {meter.per(result['requests'], 'request', 'ms')}; "
              f"{before} → {load()}")
        for status, size in rounds:
            bodies = status_bodies(campaign, status, size)
            meter, before = Meter(web=web, postgres=database_backends), load()
            posts, result = webhook_load(port, concurrency, folder, bodies)
            received = posts * size
            print(f"(d) {len(bodies):,} signed POSTs of {size} `{status}` status{'es' if size > 1 else ''} each: "
                  f"received {received:,.0f} events/s (target ≥ 2,000; {posts:,.0f} POSTs/s, {posts / floor:.0%} "
                  f"of the floor; p99 {result['p99_us'] / 1000:.1f} ms; {result['lost']} lost with a failed "
                  f"connection); {meter.per(count, 'event', 'ms')}; "
                  f"{before} → {load()}")
            before = load()
            worker = pregonero("worker", "--no-dispatcher", "--no-startup-delay", stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            try:
                meter = Meter(worker=[worker.pid], postgres=database_backends)
                done = Message.objects.filter(campaign=campaign, state=status)
                expected = count - result["lost"] * size
                wait_until(lambda: meter.sample() or done.count() >= expected, timeout=1800, poll=0.5)
                cost = meter.per(count, "event", "ms")
            finally:
                stop(worker)
            applied = WebhookEvent.objects.filter(processed_at__isnull=False).aggregate(
                first=Min("processed_at"), last=Max("processed_at"))
            apply_seconds = (applied["last"] - applied["first"]).total_seconds()
            WebhookEvent.objects.all().delete()  # the next round's span starts clean
            print(f"    then applied by `pregonero worker`: {count / apply_seconds:,.0f} events/s (from its first "
                  f"event to its last; {cost}, the worker's start included); received + applied "
                  f"{count / (count / received + apply_seconds):,.0f} events/s; {before} → {load()}")
    finally:
        stop(server)


# --------------------------------------------------------------------------- main


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="bare loop and engine, in turn, this many times")
    parser.add_argument("--paced", type=int, default=2_000, help="messages of step (c)")
    parser.add_argument("--webhook-batch", type=int, default=10,
                        help="statuses per POST in the second round of step (d); 1 to skip it")
    parser.add_argument("--workers", type=int, nargs="*", default=None,
                        help="worker process counts of step (b); by default 1, and 2 on PostgreSQL (SQLite has one "
                             "worker: its writers queue for one lock)")
    parser.add_argument("--web-workers", type=int, default=4 * (os.cpu_count() or 1),
                        help="gunicorn worker processes of step (d): each POST waits for its commit's WAL flush, and "
                             "2 × cores sync workers left the cores idle meanwhile (1,725–2,107 against 2,150 events/s "
                             "with 8 on PostgreSQL); production runs 12 requests at once (gthread 3 × 4)")
    parser.add_argument("--webhook-concurrency", type=int, default=50)
    parser.add_argument("--only", choices=["send", "paced", "webhooks"], action="append")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process engine run")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # so the clean-up below runs
    wanted = options.only or ["send", "paced", "webhooks"]
    if "webhooks" in wanted and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian package wrk), or leave out the webhooks "
                         "with --only send --only paced.")

    data_dir = Path(tempfile.mkdtemp(prefix="pregonero-send-bench-"))
    emulator_port = free_port()
    prepare_environment(data_dir, emulator_port)
    from django.conf import settings

    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"Database: {database}; {os.cpu_count()} cores; {options.messages:,} WhatsApp messages; "
          f"concurrency {getattr(settings, 'SENDING_CONCURRENCY', 100)}")
    fresh_database()
    emulator = Emulator(emulator_port)
    try:
        run(options, wanted, emulator, data_dir)
    finally:
        stop(emulator.process)
        drop_database()
        if not options.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(options, wanted: list[str], emulator: Emulator, folder: Path) -> None:
    from django.db import connection

    from pregonero.sending.services import send_start

    started = time.perf_counter()
    campaign, social = ready_campaign(options.messages)
    built = time.perf_counter() - started
    started = time.perf_counter()
    written = send_start(campaign=campaign, actor=social)
    print(f"Setup: guests {built:.1f} s; send_start (freeze + outbox of {written:,}) "
          f"{time.perf_counter() - started:.1f} s")

    if "send" in wanted:
        from pregonero.sending.dispatcher import worker_collector

        worker_collector()  # this process's collector as `pregonero worker` sets it up, for (a) and (b) alike
        rounds = []
        for number in range(1, options.rounds + 1):
            bare, bare_cost = measure_bare(emulator, campaign)
            engine, engine_cost = measure_in_process(campaign, emulator, options.messages,
                                                     options.profile and number == 1)
            rounds.append((engine / bare, engine, bare))
            print(f"    round {number}: (a) bare aiohttp loop {bare:,.0f} msg/s ({bare_cost}); (b) engine "
                  f"{engine:,.0f} msg/s ({engine_cost}); ratio {engine / bare:.0%}; {load()}")
        ratio, engine, bare = sorted(rounds)[len(rounds) // 2]
        print(f"(a)+(b) median round of {len(rounds)}: bare aiohttp loop {bare:,.0f} msg/s; engine end to end "
              f"(Dispatcher.run_forever in this process) {engine:,.0f} msg/s (target ≥ 1,000); ratio {ratio:.0%} "
              f"(target ≥ 70 %)")
        postgres = connection.vendor == "postgresql"
        for workers in options.workers if options.workers is not None else ([1, 2] if postgres else [1]):
            bare, _cost = measure_bare(emulator, campaign)
            rate, cost = measure_workers(campaign, emulator, options.messages, workers)
            print(f"(b) {workers} `pregonero worker` process{'es' if workers > 1 else ''}: {rate:,.0f} msg/s "
                  f"({cost}); bare loop just before {bare:,.0f} msg/s; ratio {rate / bare:.0%}; {load()}")
    if "paced" in wanted:
        measured, throttled, accepted = measure_paced(campaign, emulator, options.paced, 80.0)
        print(f"(c) pace 80 msg/s, {accepted:,} messages: measured {measured:.2f} msg/s "
              f"({measured / 80 - 1:+.1%}; target ±3 %); 130429 answers: {throttled} (target 0)")
    if "webhooks" in wanted:
        measure_webhooks(campaign, options.messages, options.webhook_concurrency, options.web_workers,
                         options.webhook_batch, folder)


if __name__ == "__main__":
    main()
