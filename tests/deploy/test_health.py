"""/salud/ tells a monitor whether the database answers and a worker's loop turns; 503 says which check failed."""

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from pregonero.health import HEARTBEAT_PREFIX, HEARTBEAT_STALE_SECONDS
from pregonero.rsvp.models import Throttle
from pregonero.sending.dispatcher import Dispatcher


def health(client):
    response = client.get("/salud/")
    return response.status_code, response.json()


@pytest.mark.django_db
def test_without_a_worker_it_answers_503_naming_the_workers(client):
    status, body = health(client)
    assert status == 503
    assert body["status"] == "error" and body["failed"] == ["workers"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["workers"]["alive"] == 0
    assert "pregonero worker" in body["checks"]["workers"]["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_makes_it_healthy_without_naming_the_machine(client):
    stop = threading.Event()
    dispatcher = Dispatcher("servidor-interno-7-4242", idle_sleep=0.05)
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while (status := health(client)[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    response = client.get("/salud/")
    assert status == 200 and response.status_code == 200
    assert response.json() == {"status": "ok", "failed": [], "checks": {
        "database": {"ok": True}, "workers": {"ok": True, "alive": 1, "last_seen_seconds": 0}}}
    assert "servidor-interno" not in response.content.decode()
    assert "no-cache" in response.headers["Cache-Control"]


@pytest.mark.django_db
def test_a_worker_silent_for_too_long_counts_as_dead(client):
    Throttle.objects.create(key=f"{HEARTBEAT_PREFIX}w1",
                            window_start=timezone.now() - timedelta(seconds=HEARTBEAT_STALE_SECONDS + 5))
    status, body = health(client)
    assert status == 503 and body["failed"] == ["workers"]
    assert body["checks"]["workers"]["last_seen_seconds"] >= HEARTBEAT_STALE_SECONDS + 5


def test_with_the_database_down_it_answers_503_naming_the_database(clean_env):
    """A real request against a PostgreSQL address where nothing listens."""
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "response = Client().get('/salud/')\n"
        "print(response.status_code, response.content.decode())\n"
    )
    env = {**clean_env, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nothing", "ALLOWED_HOSTS": "testserver"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    status, _space, body = done.stdout.strip().partition(" ")
    assert status == "503", done.stderr
    assert json.loads(body)["failed"] == ["database", "workers"]
