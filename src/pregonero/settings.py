"""Pregonero's settings, read from the environment.

With nothing set, Pregonero runs in its *embedded* mode: SQLite in WAL mode under ``var/``, a secret key
generated once and kept in ``var/``, and e-mail delivered to the local sink (``pregonero mailsink``) whose
messages staff read in the browser.

``PREGONERO_ENV=production`` turns on the production mode: ``DATABASE_URL``, ``SECRET_KEY``, ``ALLOWED_HOSTS``,
``SITE_URL`` and ``EMAIL_HOST`` become required (a clear error names the one missing), there is no emulator nor
mail sink, and the browser is held to HTTPS (HSTS, secure cookies). ``deploy/pregonero.env.example`` lists every
variable read here; ``pregonero check --deploy`` stays silent with it.
"""

import hashlib
import os
import re
import secrets
from datetime import date
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
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


def env_required(name: str, hint: str = "") -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"Falta {name}: es obligatoria en producción (PREGONERO_ENV=production).{' ' + hint if hint else ''}")
    return value


PREGONERO_ENV = os.environ.get("PREGONERO_ENV", "").strip().lower() or "embedded"
if PREGONERO_ENV not in {"embedded", "production"}:
    raise ImproperlyConfigured(f"PREGONERO_ENV debe ser «production» o «embedded», no {PREGONERO_ENV!r}.")
PRODUCTION = PREGONERO_ENV == "production"
# nginx in front (deploy/nginx-pregonero.conf): it says whether the client used HTTPS and who the client is.
BEHIND_PROXY = PRODUCTION and env_bool("BEHIND_PROXY")


def production_secret_key() -> str:
    """Django's own test of a strong key (security.W009): 50 characters or more, 5 distinct or more."""
    key = env_required("SECRET_KEY", "Genérela con: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'")
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            "SECRET_KEY es demasiado débil: debe tener al menos 50 caracteres variados. "
            "Genérela con: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'")
    return key


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
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG no puede estar activo en producción: muestra datos internos en los errores.")
    SECRET_KEY = production_secret_key()
    # The previous key while rotating: sessions and sealed second-factor secrets made with it stay valid.
    SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", []) or [env_required("ALLOWED_HOSTS", "Ej.: invitaciones.ejemplo.gob.mx")]
else:
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
    "pregonero.intake",
    "pregonero.devtools",
    "pregonero.ops",  # backup and restore: pregonero backup / pregonero restore
]

MIDDLEWARE = [
    *(["pregonero.proxy.RealClientAddressMiddleware"] if BEHIND_PROXY else []),
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
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
                "django.template.context_processors.csp",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pregonero.accounts.context_processors.navigation",
            ],
        },
    },
    {
        # The guest's pages (rsvp/jinja2/): see pregonero/jinja.py for why they are Jinja2.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "APP_DIRS": True,
        "OPTIONS": {"environment": "pregonero.jinja.environment"},
    },
]

if PRODUCTION:
    DATABASE_URL = env_required("DATABASE_URL", "Ej.: postgres://pregonero:CLAVE@127.0.0.1:5432/pregonero")
else:
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

# Argon2 for every new or changed password; older hashes still verify and are upgraded at the next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

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
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
if PRODUCTION:
    # `pregonero collectstatic` fills STATIC_ROOT with fingerprinted, compressed copies: cached for a year.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
else:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even when serving from the finders
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
if PRODUCTION:
    env_required("EMAIL_HOST", "El servidor SMTP de la oficina; sin él los avisos y las invitaciones no salen.")
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
# Where a guest's "BAJA" e-mail goes (the List-Unsubscribe header); empty: the address mail comes from.
UNSUBSCRIBE_EMAIL = os.environ.get("UNSUBSCRIBE_EMAIL", "").strip()
# E-mail intake (intake/imap.py): the office's mailbox, read over IMAP with TLS every INTAKE_IMAP_POLL_SECONDS by a
# worker task; no INTAKE_IMAP_HOST, no polling. INTAKE_IMAP_CA_FILE: a private authority that signed the server.
INTAKE_IMAP_HOST = os.environ.get("INTAKE_IMAP_HOST", "").strip()
INTAKE_IMAP_SECURITY = os.environ.get("INTAKE_IMAP_SECURITY", "ssl").strip().lower()
if INTAKE_IMAP_SECURITY not in {"ssl", "starttls"}:
    raise ImproperlyConfigured(f"INTAKE_IMAP_SECURITY debe ser «ssl» o «starttls», no {INTAKE_IMAP_SECURITY!r}.")
INTAKE_IMAP_PORT = env_int("INTAKE_IMAP_PORT", 993 if INTAKE_IMAP_SECURITY == "ssl" else 143)
INTAKE_IMAP_USER = os.environ.get("INTAKE_IMAP_USER", "").strip()
INTAKE_IMAP_PASSWORD = os.environ.get("INTAKE_IMAP_PASSWORD", "")
if INTAKE_IMAP_HOST and not (INTAKE_IMAP_USER and INTAKE_IMAP_PASSWORD):
    raise ImproperlyConfigured("Con INTAKE_IMAP_HOST hacen falta INTAKE_IMAP_USER e INTAKE_IMAP_PASSWORD.")
INTAKE_IMAP_MAILBOX = os.environ.get("INTAKE_IMAP_MAILBOX", "").strip() or "INBOX"
INTAKE_IMAP_CA_FILE = os.environ.get("INTAKE_IMAP_CA_FILE", "").strip()
INTAKE_IMAP_POLL_SECONDS = max(10, env_int("INTAKE_IMAP_POLL_SECONDS", 60))
# The office's mailbox address: the Reply-To of the acknowledgements, so a department's answer lands where it is
# read. Empty: INTAKE_IMAP_USER when it is an address.
address_pattern = r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+"
INTAKE_ADDRESS = os.environ.get("INTAKE_ADDRESS", "").strip() or (
    INTAKE_IMAP_USER if re.fullmatch(address_pattern, INTAKE_IMAP_USER) else "")
if INTAKE_ADDRESS and not re.fullmatch(address_pattern, INTAKE_ADDRESS):
    raise ImproperlyConfigured(f"INTAKE_ADDRESS debe ser una dirección de correo, no {INTAKE_ADDRESS!r}.")
# A bigger attachment is not stored as a file of its own (it stays inside the stored .eml).
INTAKE_MAX_ATTACHMENT_BYTES = env_int("INTAKE_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024)
SITE_URL = (env_required("SITE_URL", "Ej.: https://invitaciones.ejemplo.gob.mx") if PRODUCTION
            else os.environ.get("SITE_URL", "http://127.0.0.1:8000")).rstrip("/")
if PRODUCTION and not SITE_URL.startswith("https://"):
    raise ImproperlyConfigured(
        "SITE_URL debe empezar con https:// en producción: es el enlace que reciben los invitados.")

# WhatsApp Business Cloud API. With no WHATSAPP_TOKEN, the embedded mode talks to the local emulator
# (pregonero whatsapp-emulator) with credentials derived from the secret key; production sets all of these (until
# it does, WhatsApp sends pause their campaign with "WhatsApp no está configurado").
WHATSAPP_EMULATOR = not PRODUCTION and not os.environ.get("WHATSAPP_TOKEN")
_emulator_secret = hashlib.sha256(f"pregonero-emulator:{SECRET_KEY}".encode()).hexdigest()
WHATSAPP_TOKEN = os.environ.get("WHATSAPP_TOKEN") or (f"emu-token-{_emulator_secret[:24]}" if WHATSAPP_EMULATOR else "")
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
WHATSAPP_PHONE_NUMBER_ID = os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "" if PRODUCTION else "100000000000001")
WHATSAPP_WABA_ID = os.environ.get("WHATSAPP_WABA_ID", "" if PRODUCTION else "200000000000001")
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
# How often a web process looks for a waiting task that drains a backlog: the webhook applier, the answers'
# confirmations (pregonero.taskqueue.Drain).
WEBHOOK_WAKE_SECONDS = env_float("WEBHOOK_WAKE_SECONDS", 0.1, maximum=5.0)
SENDING_RECONCILE_SECONDS = env_int("SENDING_RECONCILE_SECONDS", 600)
SENDING_BACKOFF_BASE = env_int("SENDING_BACKOFF_BASE", 30)
SENDING_BACKOFF_CAP = env_int("SENDING_BACKOFF_CAP", 3600)
# Shared pace per sender, in messages per second, for all workers together (reference §4: 80 by default, up to
# 1,000 once Meta raises the number's throughput). 0 turns our pace off: only for benchmarks against the emulator.
WHATSAPP_RATE_LIMIT = env_float("WHATSAPP_RATE_LIMIT", 80.0, maximum=1000.0)
EMAIL_RATE_LIMIT = env_float("EMAIL_RATE_LIMIT", 50.0, maximum=10000.0)

# The browser runs this site's own files and the inline scripts and styles that carry the page's nonce
# (nonce="{{ csp_nonce }}"); nothing from other sites, no plugins, no framing.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = LANGUAGE_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = LANGUAGE_COOKIE_SAMESITE = "Lax"
if PRODUCTION:
    if BEHIND_PROXY:
        # nginx terminates TLS and says so in X-Forwarded-Proto. Only safe when the app server listens where
        # nobody but nginx reaches it (deploy/ binds gunicorn to loopback).
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^salud/$"]  # a monitor on the server itself may ask over plain HTTP
    SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading binds the whole registered domain (the municipality's) to HTTPS for months and is hard to
        # undo, so it is that domain owner's decision (SECURE_HSTS_PRELOAD=1); its reminder is not a finding.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = True
    # __Host-: the browser keeps them to this exact host, over HTTPS, for the whole site.
    SESSION_COOKIE_NAME, CSRF_COOKIE_NAME = "__Host-sessionid", "__Host-csrftoken"

# Hardened access (accounts): lock-out after failed sign-ins (per username, and per IP address for many names),
# the authenticator-app second factor for these roles, and sessions closed after idle minutes or at most
# SESSION_COOKIE_AGE seconds after signing in.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_IP_MAX_FAILURES = env_int("LOGIN_IP_MAX_FAILURES", 50)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
OTP_REQUIRED_ROLES = env_list("OTP_REQUIRED_ROLES", ["director", "database"])
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60)

# Logs go to standard error (journald under systemd): one JSON object per line in production, plain lines in the
# embedded mode. Every line passes the personal-data filter, which masks phone numbers and e-mail addresses.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT debe ser «json» o «plain», no {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"personal_data": {"()": "pregonero.logs.RedactPersonalData"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "pregonero.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["personal_data"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers (console when DEBUG, e-mail to ADMINS) would bypass the filter: ours only.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # aiosmtpd logs every envelope address at INFO.
        "mail.log": {"level": "WARNING"},
    },
}

# Data protection (issue 6, P3): a campaign's message contents and RSVP personal data are purged this many months
# after its event (pregonero retention); ARCO requests and privacy questions go to PRIVACY_EMAIL (shown in the
# privacy notices; empty: the unsubscribe or sender address).
RETENTION_MONTHS = env_int("RETENTION_MONTHS", 24)
if RETENTION_MONTHS < 1:
    raise ImproperlyConfigured("RETENTION_MONTHS debe ser un número entero de meses, 1 o más.")
PRIVACY_EMAIL = os.environ.get("PRIVACY_EMAIL", "").strip()

# Days off the office publishes beyond the law's (ISO dates, comma-separated): the ARCO deadline skips them too.
try:
    ARCO_NON_WORKING_DAYS = [date.fromisoformat(day) for day in env_list("ARCO_NON_WORKING_DAYS", [])]
except ValueError as error:
    raise ImproperlyConfigured(f"ARCO_NON_WORKING_DAYS: fechas AAAA-MM-DD separadas por coma ({error}).") from None
