"""The guest's personal invitation (``/i/<token>``) and what hangs from it (image, calendar, opt-out), the
privacy notice, and the office's entry of answers received by phone, letter or in person.

The token is the only key: an unknown, malformed or expired one gets the same 404 page and counts as a miss
for the caller's IP address; too many misses get 429. A valid token is always served (guests at the venue may
share one IP address with somebody who mistyped a link), and its page costs one indexed query.
"""

import re
from datetime import timedelta
from functools import lru_cache, wraps
from urllib.parse import quote_plus

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import get_script_prefix, get_urlconf, path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import State
from pregonero.campaigns.placeholders import fill, values_for
from pregonero.campaigns.services import acts_as
from pregonero.campaigns.views import visible_campaign_or_404
from pregonero.directory.models import Contact, PrivacyNotice
from pregonero.directory.privacy import current_notice, notice_text, privacy_email
from pregonero.directory.selectors import contact_search
from pregonero.directory.services import contact_opt_out
from pregonero.sending.media import image_of

from .calendar import invitation_ics
from .models import Invitation
from .lookup import invitation_by_token, invitation_locked_by_token
from .qr import page_qr_svg
from .services import (AnswerRefused, answer_deadline, answer_summary, answer_take, guest_refusal,
                       invitation_answer)
from .throttle import throttle_hit

GUEST_PAGES = "jinja2"  # the template engine of the guest's pages (pregonero/jinja.py)
TEST_TOKEN_PREFIX = "prueba-"  # sending.prestart: the token of a test send to oneself

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")
MISS_LIMIT, MISS_WINDOW_SECONDS = 20, 600  # wrong links per IP address and window
PAGE_STATES = (State.SENDING, State.SENT, State.CLOSED, State.CANCELLED)
PAGE_LIFETIME = timedelta(days=30)  # after the event, its links stop working


# --------------------------------------------------------------------------- the guest's side


def guest_invitation(token: str, *, locked: bool = False) -> Invitation | None:
    """The invitation this link opens, or None. ``locked``: read under the row's lock, for an answer in the
    caller's transaction."""
    if not TOKEN_RE.fullmatch(token):
        return None
    # Found by its unique token (rsvp/lookup.py: one statement composed once), then checked on the row.
    invitation = (invitation_locked_by_token if locked else invitation_by_token)(token)
    if invitation is None:
        return None
    campaign = invitation.campaign
    expired = campaign.starts_at is not None and campaign.starts_at < timezone.now() - PAGE_LIFETIME
    if campaign.state not in PAGE_STATES or invitation.contact.erased_at is not None or expired:
        return None
    return invitation


def private(response: HttpResponse) -> HttpResponse:
    """The token is in the URL: keep it out of shared caches, other sites' referrers and search engines.

    "same-origin", not "no-referrer": under "no-referrer" browsers send ``Origin: null`` with the page's own
    form POSTs (Fetch standard), which Django's CSRF check rightly refuses. Other sites still get no referrer.
    """
    response.headers.setdefault("Cache-Control", "private, no-store")
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


def missed(request) -> HttpResponse:
    """The one answer to every wrong link, whatever was wrong with it."""
    ip = request.META.get("REMOTE_ADDR", "")
    if not throttle_hit(f"invitation-miss:{ip}", MISS_LIMIT, MISS_WINDOW_SECONDS):
        response = render(request, "rsvp/invitation_throttled.html", status=429, using=GUEST_PAGES)
        response["Retry-After"] = str(MISS_WINDOW_SECONDS)
        return response
    return render(request, "rsvp/invitation_missing.html", status=404, using=GUEST_PAGES)


def by_token(view):
    @wraps(view)
    def wrapper(request, token, *args, **kwargs):
        if token.startswith(TEST_TOKEN_PREFIX):  # the link of a test send to staff: no guest, nothing to count
            return private(render(request, "rsvp/invitation_test.html", using=GUEST_PAGES))
        invitation = guest_invitation(token)
        if invitation is None:
            return private(missed(request))
        return private(view(request, invitation, *args, **kwargs))

    return wrapper


def companions_from(value) -> int:
    try:
        return int(str(value or "0").strip())
    except ValueError:
        return -1  # not a number: refused with the allowed range


TOKEN_LINKS = {"page": "rsvp:invitation", "image": "rsvp:invitation_image",
               "calendar": "rsvp:invitation_calendar", "opt_out": "rsvp:invitation_opt_out"}
TOKEN_STAND_IN = "TOKEN-STAND-IN-0123456789"  # what <str:token> matches; 25 characters, a real token has 32


@lru_cache(maxsize=16)
def _link_patterns(prefix: str, urlconf) -> dict[str, str]:
    # ``prefix`` only keys the cache: reverse() puts the current script prefix in front of each address itself.
    links = {key: reverse(name, args=[TOKEN_STAND_IN], urlconf=urlconf) for key, name in TOKEN_LINKS.items()}
    return {**links, "privacy": reverse("rsvp:privacy", urlconf=urlconf)}


def guest_links(token: str) -> dict[str, str]:
    """The addresses the guest's page links to: each reversed once per process with a stand-in token, which the
    guest's own replaces. Four `{% url %}` tags were an eighth of the page's CPU (bench/rsvp_load.py --profile);
    a token is URL-safe as it is, so putting it in needs no quoting."""
    patterns = _link_patterns(get_script_prefix(), get_urlconf())
    return {key: pattern.replace(TOKEN_STAND_IN, token, 1) for key, pattern in patterns.items()}


def page_context(invitation: Invitation) -> dict:
    campaign, contact = invitation.campaign, invitation.contact
    values = values_for(campaign, contact)
    place = " ".join(part for part in (campaign.venue, campaign.address) if part)
    attending = invitation.answer == Invitation.Answer.ATTENDING and campaign.state != State.CANCELLED
    return {
        "invitation": invitation, "campaign": campaign, "guest": str(contact), "values": values,
        "message": fill(campaign.message_text, values),
        "map_url": f"https://www.google.com/maps/search/?api=1&query={quote_plus(place)}" if place else "",
        "deadline": answer_deadline(campaign), "refusal": guest_refusal(campaign),
        "summary": answer_summary(invitation),
        "qr": mark_safe(page_qr_svg(invitation)) if attending else "",  # segno's SVG of the QR  # nosec B308 B703
        "opted_out": contact.whatsapp_opt_out and contact.email_opt_out, "links": guest_links(invitation.token),
    }


@require_http_methods(["GET", "POST"])
def invitation_page(request, token):
    if request.method == "POST" and not token.startswith(TEST_TOKEN_PREFIX):
        return private(guest_answer(request, token))
    return invitation_page_show(request, token)


@by_token
def invitation_page_show(request, invitation):
    return page_response(request, invitation)


def page_response(request, invitation, error: str = "") -> HttpResponse:
    context = {**page_context(invitation), "error": error, "saved": bool(request.GET.get("respuesta"))}
    return render(request, "rsvp/invitation.html", context, status=400 if error else 200, using=GUEST_PAGES)


def guest_answer(request, token: str) -> HttpResponse:
    """The page's form. The invitation is read once, under its lock, and answered in the same transaction: the
    page's lookup and then the answer's own locked read cost an answer an eighth of its CPU
    (bench/rsvp_load.py --profile)."""
    invitation, error = None, ""
    try:
        with transaction.atomic():
            invitation = guest_invitation(token, locked=True)
            if invitation is not None:
                answer_take(invitation, answer=request.POST.get("answer", ""), via=Invitation.Via.LINK,
                            companions=companions_from(request.POST.get("companions")))
    except AnswerRefused as refusal:
        error = str(refusal)
    if invitation is None:
        return missed(request)
    if error:
        return page_response(request, invitation, error)
    # Not redirect(): given an address, it first tries it as a URL name (reverse) and fails.
    return HttpResponseRedirect(guest_links(token)["page"] + "?respuesta=1#answer")


@require_http_methods(["GET"])
@by_token
def invitation_image(request, invitation):
    """The campaign's invitation image (or the office's generic card), reachable only through a guest's link."""
    image = image_of(invitation.campaign)
    if not image.path.is_file():
        return render(request, "rsvp/invitation_missing.html", status=404, using=GUEST_PAGES)
    response = FileResponse(image.path.open("rb"), content_type=image.mime_type or "image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_http_methods(["GET"])
@by_token
def invitation_calendar(request, invitation):
    if invitation.campaign.starts_at is None:
        return render(request, "rsvp/invitation_missing.html", status=404, using=GUEST_PAGES)
    response = HttpResponse(invitation_ics(invitation), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="evento.ics"'
    return response


@require_http_methods(["GET", "POST"])
@by_token
def invitation_opt_out(request, invitation):
    """"No deseo recibir más invitaciones": a confirm step, then the same opt-out as a "BAJA" on WhatsApp."""
    done = request.method == "POST"
    if done:
        contact_opt_out(contact=invitation.contact, whatsapp=True, email=True,
                        source=f"Enlace personal: baja ({invitation.campaign.folio})")
    return render(request, "rsvp/invitation_opt_out.html", {"invitation": invitation, "done": done}, using=GUEST_PAGES)


def privacy_page(request, kind: str):
    """The notice's latest published version (the office edits it in the admin); the built-in text only if none."""
    notice = current_notice(kind)
    return render(request, "rsvp/invitation_privacy.html", {
        "notice": notice, "text": notice_text(notice) if notice else "", "contact_email": privacy_email(),
        "full": kind == PrivacyNotice.Kind.FULL,
    }, using=GUEST_PAGES)


def privacy(request):
    return privacy_page(request, PrivacyNotice.Kind.SIMPLIFIED)


def privacy_full(request):
    return privacy_page(request, PrivacyNotice.Kind.FULL)


# --------------------------------------------------------------------------- the office's side

STAFF_VIA = [(v, label) for v, label in Invitation.Via.choices if v in ("phone", "letter", "in_person")]


class StaffAnswerForm(forms.Form):
    answer = forms.ChoiceField(label=gettext_lazy("Respuesta"), widget=forms.RadioSelect, choices=[
        (Invitation.Answer.ATTENDING, gettext_lazy("Asistirá")),
        (Invitation.Answer.DECLINED, gettext_lazy("No asistirá")),
    ])
    companions = forms.IntegerField(label=gettext_lazy("Acompañantes"), min_value=0, initial=0, required=False)
    via = forms.ChoiceField(label=gettext_lazy("Recibida por"), choices=STAFF_VIA)
    note = forms.CharField(label=gettext_lazy("Nota"), max_length=300, required=False,
                           help_text=gettext_lazy("Quién llamó, número de oficio, quién lo recibió…"))

    def __init__(self, *args, campaign, **kwargs):
        super().__init__(*args, **kwargs)
        if campaign.max_companions:  # the upper limit is invitation_answer's to check, with its message
            self.fields["companions"].widget.attrs["max"] = campaign.max_companions
        else:
            del self.fields["companions"]


def staff_campaign(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if not (acts_as(request.user, Role.DATABASE, campaign) or acts_as(request.user, Role.SOCIAL_MEDIA, campaign)):
        raise PermissionDenied(_("Registrar respuestas corresponde a Base de Datos y a Redes Sociales y Difusión."))
    return campaign


@login_required
def answers(request, folio):
    """Find a guest of the campaign by name (or organization, number…) to record an answer."""
    campaign = staff_campaign(request, folio)
    q = request.GET.get("q", "").strip()
    found = []
    if q:
        contacts = contact_search(Contact.objects.filter(invitations__campaign=campaign), q)
        found = (Invitation.objects.filter(campaign=campaign, contact__in=contacts)
                 .select_related("contact").order_by("contact__name", "pk")[:50])
    return render(request, "rsvp/answer_search.html", {"campaign": campaign, "q": q, "found": found})


@login_required
@require_http_methods(["GET", "POST"])
def answer_entry(request, folio, pk):
    campaign = staff_campaign(request, folio)
    invitation = get_object_or_404(Invitation.objects.select_related("contact", "campaign"), pk=pk, campaign=campaign)
    form = StaffAnswerForm(request.POST or None, campaign=campaign,
                           initial={"answer": invitation.answer, "companions": invitation.companions})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation_answer(invitation=invitation, answer=data["answer"], via=data["via"], actor=request.user,
                              companions=data.get("companions") or 0, note=data["note"])
        except AnswerRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, _("Respuesta de %(guest)s registrada.") % {"guest": invitation.contact})
            return redirect("rsvp:answer_entry", folio=campaign.folio, pk=invitation.pk)
    history = invitation.answers.select_related("recorded_by").order_by("-at", "-pk")
    context = {"campaign": campaign, "invitation": invitation, "form": form, "history": history,
               "summary": answer_summary(invitation), "closed": guest_refusal(campaign, staff=True),
               "past_deadline": bool(guest_refusal(campaign))}
    return render(request, "rsvp/answer_entry.html", context, status=400 if form.errors else 200)


urlpatterns = [
    path("i/<str:token>", invitation_page, name="invitation"),
    path("i/<str:token>/imagen", invitation_image, name="invitation_image"),
    path("i/<str:token>/evento.ics", invitation_calendar, name="invitation_calendar"),
    path("i/<str:token>/baja", invitation_opt_out, name="invitation_opt_out"),
    path("privacidad/", privacy, name="privacy"),
    path("privacidad/integral/", privacy_full, name="privacy_full"),
    path("solicitudes/<str:folio>/respuestas/", answers, name="answers"),
    path("solicitudes/<str:folio>/respuestas/<int:pk>/", answer_entry, name="answer_entry"),
]
