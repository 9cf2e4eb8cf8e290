"""PREGONERO_ENV=production: every secret from the environment, HTTPS held by the browser, `check --deploy` silent.

Settings are read once per process, so production runs in subprocesses with the environment a server would have
(``production_env``); the embedded default is what every other test runs on.
"""

import json
import runpy
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

import pregonero.settings


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_finds_nothing_with_production_settings(production_env):
    done = run(production_env, "-m", "pregonero", "check", "--deploy", "--fail-level", "DEBUG")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def load_settings(monkeypatch, env: dict) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(pregonero.settings.__file__)


@pytest.mark.parametrize("name", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "SITE_URL", "EMAIL_HOST"])
def test_a_missing_required_variable_is_named(monkeypatch, production_env, name):
    monkeypatch.delenv(name, raising=False)
    production_env.pop(name)
    with pytest.raises(ImproperlyConfigured, match=f"Falta {name}: es obligatoria en producción"):
        load_settings(monkeypatch, production_env)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SECRET_KEY", "corta-y-adivinable", "SECRET_KEY es demasiado débil"),
    ("SECRET_KEY", "a" * 60, "SECRET_KEY es demasiado débil"),
    ("DEBUG", "1", "DEBUG no puede estar activo en producción"),
    ("SITE_URL", "http://invitaciones.ejemplo.gob.mx", "SITE_URL debe empezar con https://"),
    ("PREGONERO_ENV", "produccion", "PREGONERO_ENV debe ser «production» o «embedded»"),
])
def test_an_unsafe_value_is_refused(monkeypatch, production_env, name, value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(monkeypatch, {**production_env, name: value})


def test_production_turns_off_the_emulator_and_the_mail_sink(monkeypatch, production_env):
    loaded = load_settings(monkeypatch, production_env)
    assert not loaded["WHATSAPP_EMULATOR"] and not loaded["MAIL_SINK_ENABLED"]
    assert loaded["WHATSAPP_TOKEN"] == "" and loaded["WHATSAPP_PHONE_NUMBER_ID"] == ""
    assert loaded["LOG_FORMAT"] == "json"
    assert loaded["MIDDLEWARE"][0] == "pregonero.proxy.RealClientAddressMiddleware"  # BEHIND_PROXY=1


RESPONSES = """
import json, django
django.setup()
from django.contrib.auth.hashers import make_password
from django.test import Client
client = Client(HTTP_HOST="invitaciones.ejemplo.gob.mx")
page = client.get("/cuenta/entrar/", secure=True, headers={"x-forwarded-proto": "https"})
plain = client.get("/cuenta/entrar/")
health = client.get("/salud/")
print(json.dumps({
    "status": page.status_code, "headers": dict(page.headers),
    "cookies": {name: {key: morsel[key] for key in ("secure", "httponly", "samesite")}
                for name, morsel in page.cookies.items()},
    "plain": [plain.status_code, plain.headers.get("Location")], "health": health.status_code,
    "hash": make_password("una clave cualquiera").split("$")[0],
}))
"""


def test_production_pages_hold_the_browser_to_https(production_env):
    collected = run(production_env, "-m", "pregonero", "collectstatic", "--noinput", "-v0")
    assert collected.returncode == 0, collected.stderr  # pages refer to the fingerprinted copies it writes
    done = run(production_env, "-c", RESPONSES)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    headers = seen["headers"]
    assert seen["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert seen["cookies"]["__Host-csrftoken"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert seen["plain"] == [301, "https://invitaciones.ejemplo.gob.mx/cuenta/entrar/"]
    assert seen["health"] == 503  # answered over plain HTTP (no redirect): tables missing, nothing migrated
    assert seen["hash"] == "argon2"
