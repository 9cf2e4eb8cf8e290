import os
import re
import secrets
from pathlib import Path

import pytest

import pregonero

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


def env_file(path: Path) -> dict:
    """KEY=value lines as systemd's EnvironmentFile reads them (comments skipped, one layer of quotes removed)."""
    values = {}
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            name, value = match.groups()
            values[name] = value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"" else value
    return values


@pytest.fixture
def deploy_dir() -> Path:
    return DEPLOY


@pytest.fixture
def template_values() -> dict:
    return env_file(DEPLOY / "pregonero.env.example")


@pytest.fixture
def clean_env(tmp_path) -> dict:
    """A server's environment for a subprocess: none of the test run's variables, this checkout's code."""
    return {**{name: os.environ[name] for name in KEPT if name in os.environ},
            "PYTHONPATH": str(Path(pregonero.__file__).parents[1]), "DJANGO_SETTINGS_MODULE": "pregonero.settings",
            "PREGONERO_DATA_DIR": str(tmp_path)}


@pytest.fixture
def production_env(clean_env, template_values, tmp_path) -> dict:
    """deploy/pregonero.env.example as an administrator fills it in: a generated key, this machine's folders, and a
    SQLite file for the few tests that reach the database."""
    return {**clean_env, **template_values, "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PREGONERO_DATA_DIR": str(tmp_path),
            "MEDIA_ROOT": str(tmp_path / "media"), "STATIC_ROOT": str(tmp_path / "static")}
