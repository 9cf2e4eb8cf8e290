"""The check-in code a confirmed guest shows at the door, and its QR picture (segno).

The code names the invitation and carries a signature made with the site's secret, so it can be checked at the
door without revealing the personal RSVP link: whoever photographs a QR cannot answer for the guest.
"""

import hashlib
import hmac
import io
from functools import lru_cache

import segno
from django.conf import settings

from .models import Invitation

PREFIX = "PRG1"
QR_MASK = 7  # the one segno picks most often for these codes


def _signature(invitation_id: int, token: str) -> str:
    key = hashlib.sha256(f"checkin:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, f"{invitation_id}:{token}".encode(), hashlib.sha256).hexdigest()[:20]


def checkin_code(invitation: Invitation) -> str:
    return f"{PREFIX}-{invitation.pk}-{_signature(invitation.pk, invitation.token)}"


def invitation_for_code(code: str) -> Invitation | None:
    """The invitation a scanned code stands for, or None when the code is not one of ours (or was tampered with)."""
    parts = str(code).strip().split("-")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
        return None
    invitation = Invitation.objects.select_related("campaign", "contact").filter(pk=int(parts[1])).first()
    if invitation is None or not hmac.compare_digest(parts[2], _signature(invitation.pk, invitation.token)):
        return None
    return invitation


def _qr(code: str) -> segno.QRCode:
    # A fixed mask: segno's default tries all eight and keeps the best-scoring one, 2.8 of the 3.3 ms a code
    # took, more than the rest of a confirmed guest's page (bench/rsvp_load.py). Readers take the mask from the
    # code's format bits, so any mask scans (tests/e2e decodes the page's QR with the door's jsQR).
    return segno.make(code, error="m", mask=QR_MASK)


def qr_svg(invitation: Invitation, scale: int = 6) -> str:
    return _svg(checkin_code(invitation), scale)


@lru_cache(maxsize=4096)
def _svg(code: str, scale: int) -> str:
    # A guest opens their page several times (and the door list prints many): the picture of a code never
    # changes, so each process draws it once. 4,096 codes of about 3 KB each at most.
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


def qr_png(invitation: Invitation, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    _qr(checkin_code(invitation)).save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
