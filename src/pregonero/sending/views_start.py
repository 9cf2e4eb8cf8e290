"""Before the real send: a test send to oneself, and a start scheduled for later."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_POST

from pregonero.campaigns.views import visible_campaign_or_404

from . import prestart
from .models import Message
from .quiet import in_quiet_hours
from .services import SendRefused


class ScheduleForm(forms.Form):
    # The browser's datetime-local field; read in the server's time zone (America/Cancun).
    programar_para = forms.DateTimeField(
        label=gettext_lazy("Programar el envío para…"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        error_messages={"required": gettext_lazy("Elija la fecha y la hora del envío."),
                        "invalid": gettext_lazy("Escriba una fecha y hora válidas.")})


def back(folio):
    return redirect("campaigns:detail", folio=folio)


@login_required
@require_POST
def send_test(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    phone = request.POST.get("celular", "")[:40]
    try:
        outcomes = prestart.send_to_self(campaign=campaign, actor=request.user, phone=phone,
                                         to_email=request.POST.get("correo") == "on")
    except SendRefused as refusal:
        messages.error(request, str(refusal))
        return back(folio)
    if phone.strip():
        request.session[prestart.TEST_PHONE_SESSION_KEY] = phone.strip()
    for channel, reason in outcomes.items():
        label = Message.Channel(channel).label
        if reason:
            messages.error(request, _("La prueba por %(channel)s no salió: %(reason)s") % {"channel": label,
                                                                                           "reason": reason})
        else:
            messages.success(request, _("Prueba enviada por %(channel)s: revise que le llegó y cómo se ve. Sus "
                                        "botones y su enlace son de prueba y no registran respuestas.")
                             % {"channel": label})
    return back(folio)


@login_required
@require_POST
def schedule(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        # The permission still decides first: a requester gets a 403, not a form error.
        prestart.social_media_only(request.user, campaign, _("programa el envío"))
        messages.error(request, " ".join(form.errors["programar_para"]))
        return back(folio)
    ignore_quiet = request.POST.get("ignore_quiet_hours") == "on"
    try:
        when = prestart.send_schedule(campaign=campaign, actor=request.user,
                                      when=form.cleaned_data["programar_para"], ignore_quiet_hours=ignore_quiet)
    except SendRefused as refusal:
        messages.error(request, str(refusal))
        return back(folio)
    messages.success(request, _("Envío programado para %(when)s. Empezará solo a esa hora, si la solicitud sigue "
                                "lista para envío.") % {"when": prestart.local(when)})
    if in_quiet_hours(when) and not ignore_quiet:
        messages.info(request, _("Esa hora cae en el horario de descanso: los mensajes esperarán a que termine."))
    if warning := prestart.tier_warning(prestart.whatsapp_tier_check(campaign)):
        messages.warning(request, warning)
    return back(folio)


@login_required
@require_POST
def schedule_cancel(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if prestart.send_schedule_cancel(campaign=campaign, actor=request.user):
        messages.success(request, _("Programación cancelada: el envío no empezará solo."))
    else:
        messages.info(request, _("No había un envío programado."))
    return back(folio)


urlpatterns = [
    path("solicitudes/<str:folio>/envio/prueba/", send_test, name="test_send"),
    path("solicitudes/<str:folio>/envio/programar/", schedule, name="schedule"),
    path("solicitudes/<str:folio>/envio/programar/cancelar/", schedule_cancel, name="schedule_cancel"),
]
