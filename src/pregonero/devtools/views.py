"""Read the messages the embedded local sink caught (only in embedded mode, see ``mailsink``)."""

import email
import functools
from email import policy
from email.message import EmailMessage

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csp import csp_override

from pregonero.accounts.decorators import office_staff_required

from .models import SinkMessage

MESSAGES_PER_PAGE = 50
# Shown in this order when present; the envelope (incl. Bcc) is shown separately from the stored row.
SHOWN_HEADERS = [
    ("From", _("De")),
    ("Reply-To", _("Responder a")),
    ("To", _("Para")),
    ("Cc", _("Cc")),
    ("Date", _("Fecha")),
    ("Subject", _("Asunto")),
    ("Message-ID", _("Identificador")),
]


def sink_enabled(view):
    """404 for everyone when an SMTP server is configured: the sink, and so these pages, don't exist then."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.MAIL_SINK_ENABLED:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@sink_enabled
@office_staff_required
def mail_list(request):
    # The raw message can be megabytes; the list needs only the stored summary columns.
    messages = SinkMessage.objects.defer("raw")
    page_obj = Paginator(messages, MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "devtools/mail_list.html", {"page_obj": page_obj})


@sink_enabled
@office_staff_required
# The e-mail's HTML, in its sandboxed frame, inherits this page's policy: it may keep its inline styles.
@csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE], "img-src": [CSP.SELF, "data:"]})
def mail_detail(request, pk):
    message = get_object_or_404(SinkMessage, pk=pk)
    parsed = email.message_from_bytes(bytes(message.raw), policy=policy.default)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    context = {
        "message": message,
        "headers": header_rows(parsed),
        "text_body": part_text(text_part),
        "html_body": part_text(html_part),
        "attachments": attachment_rows(parsed, skip=(text_part, html_part)),
    }
    return render(request, "devtools/mail_detail.html", context)


def header_rows(parsed: EmailMessage) -> list[tuple[str, str]]:
    rows = []
    for name, label in SHOWN_HEADERS:
        try:
            value = parsed.get(name)
        except Exception:  # noqa: BLE001 - a malformed header is shown raw rather than breaking the page
            value = next((raw for key, raw in parsed.raw_items() if key.lower() == name.lower()), "")
        if value:
            rows.append((label, str(value)))
    return rows


def part_text(part) -> str:
    """The decoded text of a body part; '' when the message has no such part."""
    if part is None:
        return ""
    try:
        return part.get_content()
    except (LookupError, UnicodeError):
        # Unknown or lying charset: show what we can rather than nothing.
        return (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")


def attachment_rows(parsed: EmailMessage, skip) -> list[dict]:
    """Every leaf part that is not one of the shown bodies: attachments and inline images alike."""
    rows = []
    for part in parsed.walk():
        if part.is_multipart() or any(part is body for body in skip):
            continue
        payload = part.get_payload(decode=True) or b""
        rows.append({"name": part.get_filename() or "", "content_type": part.get_content_type(), "size": len(payload)})
    return rows
