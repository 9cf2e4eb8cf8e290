"""The campaign report (whoever may see the request) and the office's monthly dashboard (office staff)."""

import datetime
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.accounts.decorators import office_staff_required
from pregonero.campaigns.views import visible_campaign_or_404

from . import reports
from .finallist import LIST_STATES, final_list_counts, final_list_queryset

MONTH = re.compile(r"(\d{4})-(\d{2})")


@login_required
def campaign_report(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    return render(request, "rsvp/report.html", {
        "campaign": campaign, "has_list": campaign.state in LIST_STATES,
        "counts": final_list_counts(final_list_queryset(campaign)), **reports.campaign_report(campaign),
    })


def chosen_month(request) -> datetime.date:
    """?mes=AAAA-MM; the current month (local time) when absent or not a real month."""
    current = reports.month_start(timezone.localdate())
    text = request.GET.get("mes", "").strip()
    if not text:
        return current
    match = MONTH.fullmatch(text)
    if match and 2000 <= int(match[1]) <= 2100 and 1 <= int(match[2]) <= 12:
        return datetime.date(int(match[1]), int(match[2]), 1)
    messages.error(request, _("«%(value)s» no es un mes válido (use AAAA-MM); se muestra el mes actual.") % {
        "value": text[:20]})
    return current


@office_staff_required
def office_dashboard(request):
    month = chosen_month(request)
    current = reports.month_start(timezone.localdate())
    return render(request, "rsvp/dashboard.html", {
        **reports.dashboard(month), "value": month.strftime("%Y-%m"),
        "previous": reports.add_months(month, -1).strftime("%Y-%m"),
        "next": reports.add_months(month, 1).strftime("%Y-%m") if month < current else None,
    })


urlpatterns = [
    path("solicitudes/<str:folio>/informe/", campaign_report, name="campaign"),
    path("tablero/", office_dashboard, name="dashboard"),
]
