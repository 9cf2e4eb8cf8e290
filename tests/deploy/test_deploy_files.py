"""The files in deploy/ agree with the code: every variable it reads is in the template, the limits fit."""

import re
from pathlib import Path

from django.conf import settings

import pregonero.settings


def names_read_by_settings() -> set[str]:
    source = Path(pregonero.settings.__file__).read_text()
    pattern = r'(?:env_(?:bool|int|float|list|required)\(|os\.environ(?:\.get\(|\[))"([A-Z][A-Z0-9_]*)"'
    return set(re.findall(pattern, source))


def test_the_environment_template_lists_every_variable_the_code_reads(deploy_dir):
    template = (deploy_dir / "pregonero.env.example").read_text()
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", template, flags=re.MULTILINE))
    units = "".join(path.read_text() for path in deploy_dir.glob("pregonero-*.service"))
    used_by_units = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", units))
    assert len(names_read_by_settings()) > 40
    assert names_read_by_settings() - listed == set()
    assert used_by_units - listed == set()


def test_the_template_is_production_and_leaves_nothing_required_out(template_values):
    values = template_values
    assert values["PREGONERO_ENV"] == "production" and values["BEHIND_PROXY"] == "1"
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "DATABASE_URL", "EMAIL_HOST"):
        assert values[name]


def megabytes(text: str) -> int:
    return int(re.fullmatch(r"(\d+)m", text).group(1)) * 1024 * 1024


def test_nginx_lets_the_largest_uploads_reach_the_app(deploy_dir):
    conf = (deploy_dir / "nginx-pregonero.conf").read_text()
    general = megabytes(re.search(r"^    client_max_body_size (\w+);", conf, flags=re.MULTILINE).group(1))
    imports = re.search(r"location = /directorio/importaciones/nueva/ \{\s+client_max_body_size (\w+);", conf)
    assert general > 2 * settings.UPLOAD_MAX_BYTES  # a request's form carries two attachments
    assert megabytes(imports.group(1)) > settings.IMPORT_MAX_BYTES
    assert "proxy_set_header X-Real-IP $remote_addr;" in conf and "X-Forwarded-Proto $scheme" in conf


def test_the_units_run_commands_that_exist(deploy_dir):
    web = (deploy_dir / "pregonero-web.service").read_text()
    assert "gunicorn pregonero.wsgi:application" in web
    from pregonero.wsgi import application
    assert callable(application)
    worker = (deploy_dir / "pregonero-worker@.service").read_text()
    assert "/bin/pregonero worker" in worker
