"""The second factor: an authenticator app (TOTP, RFC 6238, through pyotp) and one-time recovery codes.

A code is good for its 30-second step and the ones either side (phones' clocks drift), and only once: the
newest step accepted is stored and no code of that step or an earlier one is taken again. The eight recovery
codes are random, shown once, stored as SHA-256 hashes and spent on use, so a lost phone does not lock the
Director out.

The app's secret is stored sealed: XOR with an HMAC-SHA256 keystream (a fresh random nonce each time) and an
HMAC tag, both keyed by SECRET_KEY (or one of SECRET_KEY_FALLBACKS while it rotates), so a copy of the database
alone, such as a backup, does not reveal it.
"""

import base64
import hashlib
import io
import logging
import secrets

import pyotp
import segno
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils.crypto import constant_time_compare, salted_hmac
from pyotp.exceptions import OTPVerificationError

from .models import SecondFactor
from .roles import Role

logger = logging.getLogger(__name__)

ISSUER = "Pregonero"
RECOVERY_CODE_COUNT = 8
NONCE_BYTES = TAG_BYTES = 16


def required_roles() -> list[Role]:
    try:
        return [Role(value) for value in settings.OTP_REQUIRED_ROLES]
    except ValueError:
        raise ImproperlyConfigured(
            f"OTP_REQUIRED_ROLES must name roles among {', '.join(Role.values)}, not {settings.OTP_REQUIRED_ROLES!r}"
        ) from None


def second_factor_required(user) -> bool:
    return any(user.has_role(role) for role in required_roles())


# Sealing the secret -----------------------------------------------------------------------------------------

def _keystream(secret_key: str, nonce: bytes, length: int) -> bytes:
    blocks = (salted_hmac("pregonero.otp.stream", nonce + bytes([n]), secret=secret_key, algorithm="sha256").digest()
              for n in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def _tag(secret_key: str, body: bytes) -> bytes:
    return salted_hmac("pregonero.otp.tag", body, secret=secret_key, algorithm="sha256").digest()[:TAG_BYTES]


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def seal(secret: str) -> str:
    nonce, plain = secrets.token_bytes(NONCE_BYTES), secret.encode()
    body = nonce + _xor(plain, _keystream(settings.SECRET_KEY, nonce, len(plain)))
    return base64.urlsafe_b64encode(body + _tag(settings.SECRET_KEY, body)).decode()


def unseal(sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed)
    body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    nonce, cipher = body[:NONCE_BYTES], body[NONCE_BYTES:]
    for secret_key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if constant_time_compare(tag, _tag(secret_key, body)):
            return _xor(cipher, _keystream(secret_key, nonce, len(cipher))).decode()
    raise ValueError("the second factor was sealed with a key that is no longer configured")


# Codes --------------------------------------------------------------------------------------------------------

def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.get_username(), issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


def _compact(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(_compact(code).encode()).hexdigest()


def is_app_code(code: str) -> bool:
    compact = _compact(code)
    return len(compact) == 6 and compact.isdigit()


def _matching_step(secret: str, code: str, *, after: int) -> int | None:
    """The step (of now and the ones either side) whose code this is, if newer than ``after``."""
    try:
        step = pyotp.TOTP(secret).verify_and_get_timecode(_compact(code), valid_window=1)
    except OTPVerificationError:
        return None
    return step if step > after else None


# Services -----------------------------------------------------------------------------------------------------

def second_factor_enrol(*, user, secret: str, code: str) -> list[str] | None:
    """Stores the factor once a first code proves the app holds the secret; returns the recovery codes to show once.

    None when the code is wrong, or when the person finished enrolling meanwhile in another tab.
    """
    from pregonero.campaigns.services import audit_log

    step = _matching_step(secret, code, after=0) if is_app_code(code) else None
    if step is None:
        return None
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODE_COUNT)]
    try:
        with transaction.atomic():
            SecondFactor.objects.create(user=user, secret=seal(secret), last_step=step,
                                        recovery_codes=[_recovery_hash(code) for code in codes])
            audit_log(campaign=None, actor=user, action="accounts.second_factor_enrolled")
    except IntegrityError:
        return None
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def second_factor_check(*, user, code: str) -> str | None:
    """"app" or "recovery" when the code is good (and now spent), None when it is not."""
    from pregonero.campaigns.services import audit_log

    with transaction.atomic():
        factor = SecondFactor.objects.select_for_update().filter(user=user).first()
        if factor is None:
            return None
        if is_app_code(code):
            try:
                step = _matching_step(unseal(factor.secret), code, after=factor.last_step)
            except ValueError as error:  # SECRET_KEY changed without a fallback: recovery codes still work
                logger.error("Second factor of %s unreadable: %s", user.get_username(), error)
                return None
            if step is None:
                return None
            factor.last_step = step
            factor.save(update_fields=["last_step"])
            return "app"
        hashed = _recovery_hash(code)
        if hashed not in factor.recovery_codes:
            return None
        factor.recovery_codes.remove(hashed)
        factor.save(update_fields=["recovery_codes"])
        audit_log(campaign=None, actor=user, action="accounts.recovery_code_used",
                  data={"left": len(factor.recovery_codes)})
        return "recovery"


def recovery_codes_left(user) -> int:
    factor = SecondFactor.objects.filter(user=user).first()
    return len(factor.recovery_codes) if factor else 0


def second_factor_reset(*, user, actor) -> bool:
    """An administrator removes a person's factor; they enrol a new one at their next sign-in."""
    from pregonero.campaigns.services import audit_log

    deleted, _per_model = SecondFactor.objects.filter(user=user).delete()
    if deleted:
        audit_log(campaign=None, actor=actor, action="accounts.second_factor_reset",
                  data={"username": user.get_username()})
        logger.info("Second factor reset for %s", user.get_username())
    return bool(deleted)
