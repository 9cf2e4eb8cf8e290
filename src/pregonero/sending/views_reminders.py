"""Reminders to guests who have not answered: plan one, call it off, or send one now (see reminders.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _, ngettext
from django.views.decorators.http import require_POST

from pregonero.campaigns.services import TransitionConflict
from pregonero.campaigns.views import visible_campaign_or_404

from . import reminders
from .prestart import local, social_media_only
from .services import SendRefused


def back(folio):
    return redirect(reverse("campaigns:detail", args=[folio]) + "#reminders")


def chosen_from(request) -> list[int]:
    """The checked guests when "elegidos" is chosen; an empty list means every pending guest."""
    if request.POST.get("destinatarios") != "elegidos":
        return []
    chosen = [int(value) for value in request.POST.getlist("invitados")[:reminders.CHECKLIST_MAX] if value.isdigit()]
    if not chosen:
        raise SendRefused(_("Marque a los invitados que recibirán el recordatorio, o elija «todos los invitados sin "
                            "respuesta»."))
    return chosen


def days_from(request) -> int:
    text = request.POST.get("dias", "").strip()
    if not text.isdigit():
        raise SendRefused(_("Escriba cuántos días antes, de %(min)d a %(max)d.") % {
            "min": reminders.DAYS_MIN, "max": reminders.DAYS_MAX})
    return int(text)


@login_required
@require_POST
def plan(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    social_media_only(request.user, campaign, _("programa recordatorios"))
    try:
        reminder = reminders.reminder_plan(campaign=campaign, actor=request.user,
                                           anchor=request.POST.get("antes_de", ""), days_before=days_from(request),
                                           chosen=chosen_from(request))
    except SendRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Recordatorio programado para el %(when)s, %(to)s.") % {
            "when": local(reminder.scheduled_for), "to": reminders.audience(reminder)})
    return back(folio)


@login_required
@require_POST
def send_now(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    social_media_only(request.user, campaign, _("envía recordatorios"))
    try:
        reminder = reminders.reminder_now(campaign=campaign, actor=request.user, chosen=chosen_from(request))
    except (SendRefused, TransitionConflict) as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, ngettext("Recordatorio enviado: %(n)d mensaje en la bandeja de salida.",
                                           "Recordatorio enviado: %(n)d mensajes en la bandeja de salida.",
                                           reminder.sent_count) % {"n": reminder.sent_count})
    return back(folio)


@login_required
@require_POST
def cancel(request, folio, reminder_id):
    campaign = visible_campaign_or_404(request, folio)
    if reminders.reminder_cancel(campaign=campaign, actor=request.user, reminder_id=reminder_id):
        messages.success(request, _("Recordatorio cancelado: no se enviará."))
    else:
        messages.info(request, _("Ese recordatorio ya no estaba programado."))
    return back(folio)


urlpatterns = [
    path("solicitudes/<str:folio>/envio/recordatorios/programar/", plan, name="reminder_plan"),
    path("solicitudes/<str:folio>/envio/recordatorios/ahora/", send_now, name="reminder_now"),
    path("solicitudes/<str:folio>/envio/recordatorios/<int:reminder_id>/cancelar/", cancel, name="reminder_cancel"),
]
