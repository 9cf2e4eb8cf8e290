"""Pregonero's settings, read from the environment.

With nothing set, Pregonero runs in its *embedded* mode: SQLite in WAL mode under ``var/``, a secret key
generated once and kept in ``var/``, and e-mail delivered to the local sink (``pregonero mailsink``) whose
messages staff read in the browser. Production sets ``DATABASE_URL``, ``SECRET_KEY``, ``EMAIL_HOST`` … .
"""

import hashlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("PREGONERO_DATA_DIR", Path.cwd() / "var")).resolve()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_float(name: str, default: float, *, maximum: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if not 0 <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between 0 and {maximum:g}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    return default if value in (None, "") else [item.strip() for item in value.split(",") if item.strip()]


WHATSAPP_TIERS = (250, 2000, 10000, 100000)


def parse_daily_tier(text: str) -> int | None:
    """WhatsApp's daily unique-recipient tier: 250, 2000, 10000 or 100000, or None for "unlimited"."""
    value = text.strip().lower()
    if value == "unlimited":
        return None
    if value.isdigit() and int(value) in WHATSAPP_TIERS:
        return int(value)
    raise ImproperlyConfigured(
        f"WHATSAPP_DAILY_TIER must be one of {', '.join(map(str, WHATSAPP_TIERS))} or 'unlimited', not {text!r}")


def embedded_secret_key() -> str:
    """A key generated on first start and kept in the data folder, so sessions survive restarts."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY") or embedded_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "pregonero.accounts",
    "pregonero.campaigns",
    "pregonero.directory",
    "pregonero.sending",
    "pregonero.rsvp",
    "pregonero.devtools",
    "pregonero.ops",  # backup and restore: pregonero backup / pregonero restore
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "pregonero.accounts.middleware.SpanishFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "pregonero.accounts.middleware.IdleSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pregonero.urls"
WSGI_APPLICATION = "pregonero.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pregonero.accounts.context_processors.navigation",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'pregonero.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of failing half-way.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    # Tests use a file, not memory, so concurrent-request tests meet SQLite's real locking.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-pregonero.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "campaigns:inbox"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "es-mx"
LANGUAGES = [("es-mx", _("Español (México)")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "America/Cancun")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even when serving from the finders
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "media/"

# Uploads: the limit a person is told about, checked by the form before anything is stored.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
# Contact imports: a bigger file is refused whole, with the limit in the message.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 200 * 1024 * 1024)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 1_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o640

TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# E-mail: with no EMAIL_HOST, the embedded local sink (pregonero mailsink) on loopback receives everything.
MAIL_SINK_ENABLED = not os.environ.get("EMAIL_HOST")
MAIL_SINK_PORT = env_int("MAIL_SINK_PORT", 8025)
if MAIL_SINK_ENABLED:
    SMTP_OPTIONS = {"host": "127.0.0.1", "port": MAIL_SINK_PORT}
else:
    _smtp_port = env_int("EMAIL_PORT", 587)
    SMTP_OPTIONS = {
        "host": os.environ["EMAIL_HOST"],
        "port": _smtp_port,
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", _smtp_port == 587),
        "use_ssl": env_bool("EMAIL_USE_SSL", _smtp_port == 465),
    }
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {**SMTP_OPTIONS, "timeout": env_int("EMAIL_TIMEOUT", 20)},
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Relaciones Públicas <pregonero@localhost>")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# WhatsApp Business Cloud API. With no WHATSAPP_TOKEN, the embedded mode talks to the local emulator
# (pregonero whatsapp-emulator) with credentials derived from the secret key; production sets all of these.
WHATSAPP_EMULATOR = not os.environ.get("WHATSAPP_TOKEN")
_emulator_secret = hashlib.sha256(f"pregonero-emulator:{SECRET_KEY}".encode()).hexdigest()
WHATSAPP_TOKEN = os.environ.get("WHATSAPP_TOKEN") or f"emu-token-{_emulator_secret[:24]}"
WHATSAPP_APP_SECRET = os.environ.get("WHATSAPP_APP_SECRET") or (
    f"emu-secret-{_emulator_secret[24:48]}" if WHATSAPP_EMULATOR else ""
)
WHATSAPP_VERIFY_TOKEN = os.environ.get("WHATSAPP_VERIFY_TOKEN") or (
    f"emu-verify-{_emulator_secret[48:60]}" if WHATSAPP_EMULATOR else ""
)
WHATSAPP_EMULATOR_PORT = env_int("WHATSAPP_EMULATOR_PORT", 8026)
WHATSAPP_API_BASE_URL = os.environ.get("WHATSAPP_API_BASE_URL") or (
    f"http://127.0.0.1:{WHATSAPP_EMULATOR_PORT}" if WHATSAPP_EMULATOR else ""
)
WHATSAPP_API_VERSION = os.environ.get("WHATSAPP_API_VERSION", "v24.0")
WHATSAPP_PHONE_NUMBER_ID = os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "100000000000001")
WHATSAPP_WABA_ID = os.environ.get("WHATSAPP_WABA_ID", "200000000000001")
WHATSAPP_TIMEOUT = env_int("WHATSAPP_TIMEOUT", 15)  # seconds for one API request, connection included
# Unique people the account may start conversations with in 24 h (Meta's messaging tier; None: unlimited).
# The panel warns before a send that would pass it. 250 is a new account's tier, and the emulator's too.
WHATSAPP_DAILY_TIER = parse_daily_tier(os.environ.get("WHATSAPP_DAILY_TIER") or "250")

# No invitations leave between these local times (TIME_ZONE) unless a send overrides it; "" turns it off.
SENDING_QUIET_HOURS = os.environ.get("SENDING_QUIET_HOURS", "21:00-08:00")
# The dispatcher's clock, in seconds: how long a claimed batch stays one worker's; how long a message whose outcome
# is unknown (worker died, request timed out) waits for its status webhook before it may go out again; the retry
# backoff after a transient error (doubling from the base up to the cap, with jitter).
SENDING_LEASE_SECONDS = env_int("SENDING_LEASE_SECONDS", 120)
SENDING_RECONCILE_SECONDS = env_int("SENDING_RECONCILE_SECONDS", 600)
SENDING_BACKOFF_BASE = env_int("SENDING_BACKOFF_BASE", 30)
SENDING_BACKOFF_CAP = env_int("SENDING_BACKOFF_CAP", 3600)
# Shared pace per sender, in messages per second, for all workers together (reference §4: 80 by default, up to
# 1,000 once Meta raises the number's throughput). 0 turns our pace off: only for benchmarks against the emulator.
WHATSAPP_RATE_LIMIT = env_float("WHATSAPP_RATE_LIMIT", 80.0, maximum=1000.0)
EMAIL_RATE_LIMIT = env_float("EMAIL_RATE_LIMIT", 50.0, maximum=10000.0)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Hardened access (accounts): lock-out after failed sign-ins (per username, and per IP address for many names),
# the authenticator-app second factor for these roles, and sessions closed after idle minutes or at most
# SESSION_COOKIE_AGE seconds after signing in.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_IP_MAX_FAILURES = env_int("LOGIN_IP_MAX_FAILURES", 50)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
OTP_REQUIRED_ROLES = env_list("OTP_REQUIRED_ROLES", ["director", "database"])
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # aiosmtpd logs every envelope address at INFO; addresses never go to the logs in clear.
    "loggers": {"django.server": {"level": "WARNING"}, "mail.log": {"level": "WARNING"}},
}

# Data protection (issue 6, P3): a campaign's message contents and RSVP personal data are purged this many months
# after its event (pregonero retention); ARCO requests and privacy questions go to PRIVACY_EMAIL (shown in the
# privacy notices; empty: the unsubscribe or sender address).
RETENTION_MONTHS = env_int("RETENTION_MONTHS", 24)
if RETENTION_MONTHS < 1:
    raise ImproperlyConfigured("RETENTION_MONTHS debe ser un número entero de meses, 1 o más.")
PRIVACY_EMAIL = os.environ.get("PRIVACY_EMAIL", "").strip()
