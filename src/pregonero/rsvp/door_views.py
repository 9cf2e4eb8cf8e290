"""The door page: office staff check guests in from a phone, by QR code or by name, online or queued offline.

The page posts JSON; every answer the page should show carries a "level" (ok, warning, error) and the texts of
the result panel, so the page only draws what the server decided.
"""

import json
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from pregonero.accounts.roles import Role
from pregonero.campaigns.services import acts_as
from pregonero.campaigns.views import visible_campaign_or_404

from .checkin import (CLOSED_DOORS, CheckInRefused, check_in, clock, companions_text, door_counts, door_search,
                      walk_in)
from .models import Invitation
from .qr import checkin_code, invitation_for_code

DOOR_ROLES = (Role.SOCIAL_MEDIA, Role.DATABASE, Role.DIRECTOR)
MIN_SEARCH = 2


def door_campaign(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if not any(acts_as(request.user, role, campaign) for role in DOOR_ROLES):
        raise PermissionDenied(_("El registro en la puerta es para Redes Sociales, Base de Datos y la Dirección."))
    return campaign


def refusal(headline: str, *details: str, status: int = 422, **extra) -> JsonResponse:
    return JsonResponse({"level": "error", "headline": headline, "details": list(details), **extra}, status=status)


def door_json(view):
    """JSON in and out: a clear refusal instead of a login redirect, an HTML error page or a 500."""

    @wraps(view)
    def wrapped(request, folio):
        if not request.user.is_authenticated:
            return refusal(_("Su sesión terminó: entre de nuevo para enviar los registros."), status=401, login=True)
        try:
            campaign = door_campaign(request, folio)
        except Http404 as missing:
            return refusal(str(missing), status=404)
        except PermissionDenied as denied:
            return refusal(str(denied), status=403)
        data = {}
        if request.method == "POST":
            try:
                data = json.loads(request.body or b"{}")
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return refusal(_("El registro llegó incompleto; vuelva a intentarlo."), status=400)
        try:
            return view(request, campaign, data)
        except CheckInRefused as refused:
            return refusal(str(refused))

    return wrapped


def scan_time(value):
    """When the phone says the scan happened (it may have waited offline); None when it sent nothing usable."""
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def result_payload(result, campaign) -> dict:
    return {
        "level": result.level, "status": result.status, "headline": result.headline, "details": result.details,
        "name": result.name, "first": result.first, "replayed": result.replayed, "counts": door_counts(campaign),
    }


@login_required
@require_GET
def door_page(request, folio):
    campaign = door_campaign(request, folio)
    context = {"campaign": campaign, "counts": door_counts(campaign), "closed": campaign.state in CLOSED_DOORS,
               "min_search": MIN_SEARCH}
    return render(request, "rsvp/door.html", context)


@require_POST
@door_json
def door_scan(request, campaign, data):
    invitation = invitation_for_code(str(data.get("code", ""))[:200])
    if invitation is None:
        return refusal(_("Código no reconocido"),
                       _("Este código no es una invitación de Pregonero. Busque a la persona por nombre."))
    if invitation.campaign_id != campaign.pk:
        return refusal(_("No está en la lista de este evento"),
                       _("La invitación de %(name)s es para «%(title)s».")
                       % {"name": invitation.contact, "title": invitation.campaign.title})
    result = check_in(invitation=invitation, nonce=data.get("nonce"), at=scan_time(data.get("at")),
                      companions=data.get("companions"), actor=request.user)
    return JsonResponse(result_payload(result, campaign))


@require_POST
@door_json
def door_walk_in(request, campaign, data):
    result = walk_in(campaign=campaign, name=str(data.get("name", "")), organization=str(data.get("organization", "")),
                     companions=data.get("companions"), nonce=data.get("nonce"), at=scan_time(data.get("at")),
                     actor=request.user)
    return JsonResponse(result_payload(result, campaign))


def answer_text(invitation) -> str:
    answer = invitation.get_answer_display()
    if invitation.answer == Invitation.Answer.ATTENDING and invitation.companions:
        return f"{answer} {companions_text(invitation.companions)}"
    return answer


def search_row(invitation) -> dict:
    contact = invitation.contact
    return {
        "code": checkin_code(invitation),
        "name": str(contact),
        "organization": contact.organization,
        "sectors": ", ".join(sector.name for sector in contact.sectors.all()),
        "answer": answer_text(invitation),
        "answer_code": invitation.answer,
        "checked_in": (_("Ingresó a las %(time)s") % {"time": clock(invitation.checked_in_at)}
                       if invitation.checked_in_at else ""),
    }


@require_GET
@door_json
def door_search_json(request, campaign, data):
    query = " ".join(request.GET.get("q", "").split())[:100]
    if len(query) < MIN_SEARCH:
        message = ngettext("Escriba al menos %(n)d letra del nombre.", "Escriba al menos %(n)d letras del nombre.",
                           MIN_SEARCH) % {"n": MIN_SEARCH}
        return JsonResponse({"results": [], "message": message})
    rows = [search_row(invitation) for invitation in door_search(campaign, query)]
    message = "" if rows else _("Nadie con ese nombre en la lista de este evento.")
    return JsonResponse({"results": rows, "message": message})


urlpatterns = [
    path("solicitudes/<str:folio>/puerta/", door_page, name="page"),
    path("solicitudes/<str:folio>/puerta/escaneo/", door_scan, name="scan"),
    path("solicitudes/<str:folio>/puerta/sin-invitacion/", door_walk_in, name="walk_in"),
    path("solicitudes/<str:folio>/puerta/buscar/", door_search_json, name="search"),
]
