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
PAGE_SCALE = 8  # pixels per module on the guest's page


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


def _kept(invitation: Invitation, code: str) -> str:
    """The picture kept on the invitation while it still stands for ``code`` (a new SECRET_KEY changes every
    code), else ""."""
    return invitation.qr_svg if invitation.qr_code == code else ""


def page_qr_svg(invitation: Invitation) -> str:
    """The QR on the guest's page: the kept picture, else drawn now."""
    code = checkin_code(invitation)
    return _kept(invitation, code) or _svg(code, PAGE_SCALE)


def keep_page_qr(invitation: Invitation) -> None:
    """Draws the page's QR once and keeps it on the invitation (the confirmation of an attending answer does this,
    in the worker), so no visit of the guest's page has to draw it. Writes only those two columns."""
    code = checkin_code(invitation)
    if _kept(invitation, code):
        return
    invitation.qr_code, invitation.qr_svg = code, _svg(code, PAGE_SCALE)
    Invitation.objects.filter(pk=invitation.pk).update(qr_code=invitation.qr_code, qr_svg=invitation.qr_svg)


@lru_cache(maxsize=4096)
def _svg(code: str, scale: int) -> str:
    # Drawn at most once per code in each process: the page's own visits before its confirmation was sent (the
    # redirect after answering comes first), and the codes of a changed SECRET_KEY. About 1.5 KB each.
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


def qr_png(invitation: Invitation, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    _qr(checkin_code(invitation)).save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
