"""Invitation page load benchmark (prints figures; not a test).

    .venv/bin/python bench/rsvp_load.py                       # 60 s per step, PostgreSQL on 127.0.0.1
    .venv/bin/python bench/rsvp_load.py --seconds 10          # a quick try
    DATABASE_URL=postgres://user@host:5432/ .venv/bin/python bench/rsvp_load.py --profile

Works in its own PostgreSQL database (pregonero_rsvp_bench, created and dropped; only the server and
credentials of DATABASE_URL are used). It seeds a campaign in `sending` with --invitations guests (bulk inserts;
60 % pending, 30 % attending — their page carries the door QR, kept on the row as their confirmations keep it —
10 % declined), starts gunicorn with DEBUG off and persistent database connections (bench/rsvp_site.py:
Pregonero's settings plus the bare view), and loads it from wrk on loopback, rotating over every token so no
row is hot:

(1) bare view: a plain Django view that reads one invitation by token and renders a tiny template;
(2) the invitation page, GET /i/<token>;
(3) the answer, POST /i/<token> with the CSRF cookie and field, each token alternating attending/declined so
    every POST is a real write (answer, history row, confirmation task); the 302 to the page counts as success.

Targets (issue 5): (2) ≥ 800 requests/s for 60 s, p99 ≤ 60 ms, no errors, and ≥ 75 % of (1) in the same run;
(3) ≥ 500 requests/s with p99 ≤ 60 ms. Errors are socket errors, timeouts and any status other than 2xx/3xx.
Beside each step: the CPU each request cost in gunicorn, in the PostgreSQL backends and in wrk (from /proc), and
the load average before and after (the machine may be shared: rerun when it is quiet).

The server: gunicorn sync workers, 2 × cores. Measured against gthread (4 × 4 and 4 × 2 threads, 2 × 8) on
2 cores: the same CPU per request and throughput, but gthread's p99 jumped to 0.3–1.1 s whenever a worker had
accepted more keep-alive connections than it had threads, while sync workers stayed at 18–40 ms. Behind a
reverse proxy (production) connections to gunicorn are short anyway, which is what sync workers are for.
--profile runs the page and the answer in this process instead: queries per request and a cProfile listing;
--cpu the CPU per request of the three in this process (steadier than requests/s on a shared machine).
"""

import argparse
import cProfile
import os
import pstats
import random
import resource
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from loadkit import WRK_REPORT, stop, wrk_result

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "pregonero_rsvp_bench"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/"
TURNS = 15  # of --cpu
# The CSRF secret the load sends as cookie and form field (Django accepts the unmasked secret in the field).
CSRF_SECRET = "".join(random.Random(5).choices(string.ascii_letters + string.digits, k=32))

LUA = """
local mode, secret, nthreads = "%(mode)s", "%(secret)s", %(threads)d
local tokens = {%(tokens)s}
local answers = {%(answers)s}

function init(args)
  -- each wrk thread takes its own share of the tokens, so two requests never race on one invitation
  mine, state, counter, statuses = {}, {}, 1, {}
  for i = id + 1, #tokens, nthreads do
    table.insert(mine, tokens[i])
    table.insert(state, answers[i])
  end
end

function request()
  local i = counter
  counter = counter %% #mine + 1
  local token = mine[i]
  if mode == "bare" then return wrk.format("GET", "/bench/bare/" .. token) end
  if mode == "page" then return wrk.format("GET", "/i/" .. token) end
  local answer = state[i] == "attending" and "declined" or "attending"
  state[i] = answer
  local companions = answer == "attending" and (i %% 3) or 0
  local body = "csrfmiddlewaretoken=" .. secret .. "&answer=" .. answer .. "&companions=" .. companions
  return wrk.format("POST", "/i/" .. token, {["Cookie"] = "csrftoken=" .. secret,
                    ["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def prepare_environment(data_dir: Path, conn_max_age: int) -> None:
    """This process and the web server: a private data folder, the dedicated database, DEBUG off, persistent
    connections, bench/ importable for the bench settings."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgres"):
        raise SystemExit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://… (default " + DEFAULT_URL + ")")
    os.environ.update({
        "DATABASE_URL": urlunsplit(urlsplit(url)._replace(path=f"/{BENCH_DB}")),
        "DJANGO_SETTINGS_MODULE": "rsvp_site", "PREGONERO_DATA_DIR": str(data_dir), "DEBUG": "0",
        "DB_CONN_MAX_AGE": str(conn_max_age), "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "bench"), os.environ.get("PYTHONPATH")])),
    })
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]
    import django

    django.setup()


def fresh_database() -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    drop_database()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{settings.DATABASES["default"]["NAME"]}"')
    call_command("migrate", verbosity=0)


def drop_database() -> None:
    from django.conf import settings
    from django.db import connection

    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{settings.DATABASES["default"]["NAME"]}" WITH (FORCE)')


def seed(count: int) -> list[tuple[str, str]]:
    """A campaign in `sending` with ``count`` invitations (bulk inserts); returns (token, answer) pairs."""
    from django.utils import timezone

    from pregonero.accounts.models import Department, User
    from pregonero.campaigns.models import Campaign, State
    from pregonero.directory.models import Contact
    from pregonero.rsvp.models import Invitation
    from pregonero.rsvp.qr import keep_page_qr

    now = timezone.now()
    user = User.objects.create(username="bench")
    department = Department.objects.create(name="Dirección de Cultura", short_name="CULT")
    campaign = Campaign.objects.create(
        folio="RP-BENCH-0001", department=department, created_by=user, state=State.SENDING,
        title="Inauguración del Festival de Cultura del Caribe", starts_at=now + timedelta(days=20),
        rsvp_deadline=now + timedelta(days=10), venue="Teatro de la Ciudad", max_companions=2,
        address="Av. Yaxchilán s/n, SM 25, Cancún, Q. Roo", dress_code="Formal",
        message_text="{tratamiento} {nombre}:\nLa Presidencia Municipal tiene el honor de invitarle a «{evento}» "
                     "el {fecha} a las {hora} h en {lugar}.\n¡Le esperamos!")
    contacts = Contact.objects.bulk_create(
        Contact(honorific="Lic.", name=f"Invitada Número {n}", position="Directora",
                organization=f"Organización {n % 300}", mobile=f"+52998{n:07d}", email=f"persona{n}@ejemplo.mx")
        for n in range(count))
    mix = [Invitation.Answer.PENDING] * 6 + [Invitation.Answer.ATTENDING] * 3 + [Invitation.Answer.DECLINED]
    invitations = Invitation.objects.bulk_create(
        Invitation(campaign=campaign, contact=contact, answer=mix[n % 10],
                   companions=n % 3 if mix[n % 10] == Invitation.Answer.ATTENDING else 0,
                   answered_via=Invitation.Via.BUTTON if n % 10 >= 6 else "",
                   answered_at=now if n % 10 >= 6 else None)
        for n, contact in enumerate(contacts))
    for invitation in invitations:  # as each attending answer's confirmation did (rsvp.confirmations)
        if invitation.answer == Invitation.Answer.ATTENDING:
            keep_page_qr(invitation)
    pairs = [(invitation.token, invitation.answer) for invitation in invitations]
    random.Random(1).shuffle(pairs)  # requests do not walk the table in insertion order
    return pairs


def settle() -> None:
    """VACUUM ANALYZE once the seed is in: otherwise autovacuum wakes during the first step (the seed's updates of
    the kept QRs leave dead rows behind) and slows whichever step it falls in."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def web_server(port: int, options) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "gunicorn"), "pregonero.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", str(options.workers),
               "--worker-class", options.worker_class, "--log-level", "warning"]
    if options.worker_class == "gthread":
        command += ["--threads", str(options.threads)]
    process = subprocess.Popen(command, env=os.environ)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn: nothing listens on port {port}")


def wrk_script(folder: Path, mode: str, pairs: list[tuple[str, str]], threads: int) -> Path:
    path = folder / f"{mode}.lua"
    path.write_text(LUA % {
        "mode": mode, "secret": CSRF_SECRET, "threads": threads,
        "tokens": ",".join(f'"{token}"' for token, _answer in pairs),
        "answers": ",".join(f'"{answer}"' for _token, answer in pairs),
    } + WRK_REPORT)
    return path


def wrk(port: int, script: Path, seconds: int, options) -> dict:
    command = ["wrk", "-t", str(options.wrk_threads), "-c", str(options.connections), "-d", f"{seconds}s",
               "--timeout", "2s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return wrk_result(done.stdout, done.stderr, done.returncode)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc), for the CPU each request costs where."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def server_pids(server: subprocess.Popen) -> dict[str, list[int]]:
    """gunicorn's master and workers, and the PostgreSQL backends serving the benchmark database."""
    from django.db import connection

    workers = [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
               if stat.read_text().rsplit(")", 1)[-1].split()[1:2] == [str(server.pid)]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                       "pg_backend_pid()")
        backends = [pid for (pid,) in cursor.fetchall()]
    return {"gunicorn": [server.pid, *workers], "postgres": backends}


def line(label: str, result: dict, load_before: str) -> str:
    statuses = ", ".join([f"{code}: {n:,}" for code, n in sorted(result["statuses"].items())]
                         + [f"{kind} {result[kind]}" for kind in ("connect", "read", "write", "timeout")
                            if result[kind]])
    return (f"{label}: {result['rps']:,.0f} requests/s, p50 {result['p50_us'] / 1000:.1f} ms, "
            f"p90 {result['p90_us'] / 1000:.1f} ms, p99 {result['p99_us'] / 1000:.1f} ms, "
            f"max {result['max_us'] / 1000:.0f} ms; errors {result['errors']} ({statuses}); "
            f"{load_before} → {load()}")


def profile(pairs: list[tuple[str, str]], count: int) -> None:
    """The page and the answer in this process through Django's test client: queries per request and where the
    time goes (cProfile, top functions by cumulative time)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    client = Client()
    client.cookies["csrftoken"] = CSRF_SECRET
    for label, send in (
        ("page GET", lambda token, n: client.get(f"/i/{token}")),
        ("answer POST", lambda token, n: client.post(f"/i/{token}", {
            "csrfmiddlewaretoken": CSRF_SECRET, "answer": "attending" if n % 2 else "declined"})),
    ):
        send(pairs[0][0], 0)  # warm: imports, compiled templates, the connection
        with CaptureQueriesContext(connection) as queries:
            statuses = {send(token, n).status_code for n, (token, _answer) in enumerate(pairs[:200], start=1)}
        with CaptureQueriesContext(connection) as one:
            send(pairs[1][0], 1)
        print(f"profile {label}: {len(queries) / 200:.1f} queries per request, statuses {sorted(statuses)}; "
              f"one request's:")
        for query in one.captured_queries:
            print(f"    {query['sql'][:150]}")
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for n in range(count):
            send(pairs[n % len(pairs)][0], n)
        profiler.disable()
        print(f"profile {label}: {count / (time.perf_counter() - started):,.0f} requests/s in one process "
              f"under cProfile")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def cpu_profile(pairs: list[tuple[str, str]], count: int) -> None:
    """The CPU one request costs this process (Django's test client, no server, no profiler) for the bare view,
    the page and the answer, in turns: a figure to work on while the machine is shared, when requests/s are
    not. It leaves out the server and the database's own CPU, which the full run prints."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies["csrftoken"] = CSRF_SECRET
    statuses = {client.get(f"/bench/bare/{pairs[0][0]}").status_code, client.get(f"/i/{pairs[0][0]}").status_code}
    assert statuses == {200}, statuses
    # The answers change their own half of the invitations: the pages read the other half, as the answers left them
    # before the first turn (an answer decides whether the page draws a QR). Each visit of an invitation answers the
    # opposite of what it held, so every answer is a real change.
    read, written = pairs[:len(pairs) // 2], pairs[len(pairs) // 2:]

    def answer(seeded: str, n: int) -> str:
        first, then = ("declined", "attending") if seeded == "attending" else ("attending", "declined")
        return first if n // len(written) % 2 == 0 else then

    steps = {
        "bare": (read, lambda pair, n: client.get(f"/bench/bare/{pair[0]}")),
        "page": (read, lambda pair, n: client.get(f"/i/{pair[0]}")),
        "answer": (written, lambda pair, n: client.post(f"/i/{pair[0]}", {
            "csrfmiddlewaretoken": CSRF_SECRET, "answer": answer(pair[1], n)})),
    }
    # Many short turns, each step's median turn: a neighbour's burst on this shared machine spoils a turn or two,
    # not the figure.
    turns = {label: [] for label in steps}
    for turn in range(TURNS):
        for label, (chosen, send) in steps.items():
            client.get(f"/i/{read[0][0]}")  # warm, changing nothing
            started = time.process_time()
            for n in range(turn * count, (turn + 1) * count):
                send(chosen[n % len(chosen)], n)
            turns[label].append((time.process_time() - started) / count)
    ms = {label: statistics.median(spent) * 1000 for label, spent in turns.items()}
    print("in-process CPU per request: " + ", ".join(f"{label} {value:.2f} ms" for label, value in ms.items())
          + f"; bare / page {ms['bare'] / ms['page']:.0%}, bare / answer {ms['bare'] / ms['answer']:.0%}")


def measure(mode: str, port: int, server: subprocess.Popen, pairs: list, folder: Path, options) -> dict:
    script = wrk_script(folder, mode, pairs, options.wrk_threads)
    if options.warmup:  # the answer warms up on the page: a warm-up POST would change the answers the script expects
        wrk(port, script if mode != "answer" else wrk_script(folder, "page", pairs, options.wrk_threads),
            options.warmup, options)
    before, pids = load(), server_pids(server)
    cpu = {name: cpu_seconds(group) for name, group in pids.items()}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = wrk(port, script, options.seconds, options)
    spent = {name: cpu_seconds(pids[name]) - cpu[name] for name in cpu}
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent["wrk"] = wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime
    result["cpu_ms"] = {name: seconds / result["requests"] * 1000 for name, seconds in spent.items()}
    label = {"bare": "(1) bare view (one row, tiny template)", "page": "(2) invitation page GET",
             "answer": "(3) answer POST (a write)"}[mode]
    print(line(label, result, before))
    print("    CPU per request: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in result["cpu_ms"].items())
          + f" (total {sum(result['cpu_ms'].values()):.2f} ms)", flush=True)
    return result


def report(results: dict) -> None:
    from pregonero.rsvp.models import AnswerRecord

    if "page" in results:
        page = results["page"]
        verdict = page["rps"] >= 800 and page["p99_us"] <= 60_000 and page["errors"] == 0
        print(f"    page: target ≥ 800 requests/s, p99 ≤ 60 ms, no errors: {'met' if verdict else 'MISSED'}")
    if "page" in results and "bare" in results:
        ratio = results["page"]["rps"] / results["bare"]["rps"]
        cpu = sum(results["bare"]["cpu_ms"].values()) / sum(results["page"]["cpu_ms"].values())
        print(f"    ratio page / bare: {ratio:.0%} of the requests/s (target ≥ 75 %): "
              f"{'met' if ratio >= 0.75 else 'MISSED'}; bare's CPU per request / the page's: {cpu:.0%}")
    if "answer" in results:
        answer = results["answer"]
        verdict = answer["rps"] >= 500 and answer["p99_us"] <= 60_000 and answer["errors"] == 0
        print(f"    answer: target ≥ 500 requests/s, p99 ≤ 60 ms, no errors: {'met' if verdict else 'MISSED'}; "
              f"{AnswerRecord.objects.count():,} answers recorded for {answer['requests']:,} POSTs completed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60, help="each measured step (60 s for the targets)")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before each step, not counted")
    parser.add_argument("--invitations", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--conn-max-age", type=int, default=600, help="DB_CONN_MAX_AGE for the web server")
    parser.add_argument("--connections", type=int, default=16, help="wrk's open connections")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--only", choices=["bare", "page", "answer"], action="append")
    parser.add_argument("--profile", action="store_true", help="profile the page and the answer in-process instead")
    parser.add_argument("--cpu", action="store_true", help="in-process CPU per request of the three, no server")
    options = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian package wrk), then run this again.")
    wanted = options.only or ["bare", "page", "answer"]

    data_dir = Path(tempfile.mkdtemp(prefix="pregonero-rsvp-bench-"))
    prepare_environment(data_dir, options.conn_max_age)
    print(f"PostgreSQL ({BENCH_DB}); {os.cpu_count()} cores; {load()}; {options.invitations:,} invitations; "
          f"gunicorn {options.workers} × {options.worker_class}"
          + (f" ({options.threads} threads)" if options.worker_class == "gthread" else "")
          + f", CONN_MAX_AGE {options.conn_max_age}; wrk {options.wrk_threads} thread(s), "
          f"{options.connections} connections, {options.seconds} s per step")
    fresh_database()
    server = None
    try:
        pairs = seed(options.invitations)
        settle()
        if options.profile:
            profile(pairs, 2000)
            return
        if options.cpu:
            cpu_profile(pairs, 200)
            return
        port = free_port()
        server = web_server(port, options)
        results = {mode: measure(mode, port, server, pairs, data_dir, options)
                   for mode in ("bare", "page", "answer") if mode in wanted}
        report(results)
    finally:
        if server is not None:
            stop(server)
        drop_database()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
