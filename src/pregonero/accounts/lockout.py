"""Lock-out after repeated failed sign-ins, shared by every web process (one ``rsvp.Throttle`` counter per key).

Two counters: one per username (LOGIN_MAX_FAILURES wrong passwords or codes lock that name, whether or not
it exists, so the answer never tells), and one per IP address (LOGIN_IP_MAX_FAILURES, for someone trying many
names). Each counts failures in a window of LOGIN_LOCKOUT_MINUTES that starts with the first one; while a
counter is full, sign-ins are refused before the password is even checked. A success clears the username's
counter, never the address's: one good account must not buy more guesses at the others.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pregonero.rsvp.models import Throttle
from pregonero.rsvp.throttle import throttle_hit

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = _(
    "Demasiados intentos fallidos. Por seguridad, la entrada está bloqueada unos minutos: inténtelo más tarde "
    "o pida al área de sistemas que la desbloquee."
)


def client_ip(request) -> str:
    # The address the web server saw, as rsvp's throttle uses it; behind a proxy it must pass the client's on.
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def _user_key(username: str) -> str:
    return f"login-user:{username.casefold()}"


def _ip_key(ip: str) -> str:
    return f"login-ip:{ip}"


def _window_seconds() -> int:
    return settings.LOGIN_LOCKOUT_MINUTES * 60


def locked_out(request, username: str) -> bool:
    """True while the username's or the address's counter is full (nothing is counted by asking)."""
    full = Q(key=_user_key(username), hits__gte=settings.LOGIN_MAX_FAILURES)
    full |= Q(key=_ip_key(client_ip(request)), hits__gte=settings.LOGIN_IP_MAX_FAILURES)
    window_open = Q(window_start__gt=timezone.now() - timedelta(seconds=_window_seconds()))
    return Throttle.objects.filter(full & window_open).exists()


def login_failed(request, username: str, *, step: str) -> bool:
    """Counts a wrong password or code; True when this failure locks the name or the address.

    Logged (and audited when it locks) with the name only when the account exists, and never the password.
    """
    from pregonero.campaigns.services import audit_log

    ip = client_ip(request)
    name_open = throttle_hit(_user_key(username), settings.LOGIN_MAX_FAILURES - 1, _window_seconds())
    ip_open = throttle_hit(_ip_key(ip), settings.LOGIN_IP_MAX_FAILURES - 1, _window_seconds())
    user = get_user_model().objects.filter(username=username).first()
    who = user.get_username() if user else "an unknown username"
    logger.warning("Failed sign-in (%s) for %s from %s", step, who, ip)
    if name_open and ip_open:
        return False
    logger.warning("Sign-in locked for %d minutes: %s", settings.LOGIN_LOCKOUT_MINUTES,
                   f"user {who}" if not name_open else f"address {ip}")
    audit_log(campaign=None, actor=None, action="accounts.login_locked",
              data={"username": user.get_username() if user else "", "ip": ip, "step": step,
                    "by": "username" if not name_open else "address"})
    return True


def login_succeeded(username: str) -> None:
    Throttle.objects.filter(key=_user_key(username)).delete()


def login_unlock(*, actor, username: str = "", ip: str = "") -> int:
    """An administrator lifts a lock-out (of a username, an address or both); returns how many were lifted."""
    from pregonero.campaigns.services import audit_log

    keys = [key for key in (username and _user_key(username), ip and _ip_key(ip)) if key]
    lifted, _per_model = Throttle.objects.filter(key__in=keys).delete()
    audit_log(campaign=None, actor=actor, action="accounts.login_unlocked", data={"username": username, "ip": ip})
    logger.info("Sign-in unlocked for %s", " and ".join(filter(None, (username, ip))))
    return lifted
