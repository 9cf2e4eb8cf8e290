import os
import secrets
from pathlib import Path

import pytest

import pregonero

KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


@pytest.fixture
def clean_env(tmp_path) -> dict:
    """A server's environment for a subprocess: none of the test run's variables, this checkout's code."""
    return {**{name: os.environ[name] for name in KEPT if name in os.environ},
            "PYTHONPATH": str(Path(pregonero.__file__).parents[1]), "DJANGO_SETTINGS_MODULE": "pregonero.settings",
            "PREGONERO_DATA_DIR": str(tmp_path)}


@pytest.fixture
def production_env(clean_env, tmp_path) -> dict:
    """Production as deploy/pregonero.env.example describes it (the database is only reached by some tests)."""
    return {**clean_env, "PREGONERO_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "invitaciones.ejemplo.gob.mx", "SITE_URL": "https://invitaciones.ejemplo.gob.mx",
            "BEHIND_PROXY": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "EMAIL_HOST": "smtp.ejemplo.gob.mx", "STATIC_ROOT": str(tmp_path / "static")}
