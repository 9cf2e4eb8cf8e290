"""The send, as the office sees it: start it, pause and resume it, follow its progress round by round, resend,
read each failure."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import State
from pregonero.campaigns.services import TransitionConflict, acts_as
from pregonero.campaigns.views import visible_campaign_or_404

from .dispatcher import campaign_pause
from .quiet import in_quiet_hours
from .models import Message, SendControl
from .rounds import TARGETS, cancellation_notice_possible, resend, resend_counts, resend_targets_by_round
from .services import FIRST_ROUND, SendRefused, send_start, sending_resume

OPEN = (Message.State.QUEUED, Message.State.SENDING)


def progress(campaign) -> dict:
    """Counts per state and channel; `done` is the share of messages that reached a final state."""
    rows = Message.objects.filter(campaign=campaign).values("state", "channel").annotate(n=Count("pk"))
    by_state = {state: 0 for state in Message.State.values}
    by_channel: dict[str, dict[str, int]] = {}
    for row in rows:
        by_state[row["state"]] += row["n"]
        by_channel.setdefault(row["channel"], {})[row["state"]] = row["n"]
    total = sum(by_state.values())
    unknown = Message.objects.filter(campaign=campaign, outcome_unknown=True).count()
    final = total - by_state[Message.State.QUEUED] - by_state[Message.State.SENDING]
    control = SendControl.objects.filter(campaign=campaign, paused_at__isnull=False).first()
    return {
        "total": total, "final": final, "percent": round(100 * final / total) if total else 0,
        "by_state": by_state, "by_channel": by_channel, "unknown": unknown,
        "paused": bool(control), "paused_reason": control.reason if control else "",
        "waiting_quiet_hours": in_quiet_hours() and not SendControl.objects.filter(
            campaign=campaign, ignore_quiet_hours=True).exists(),
        "state": campaign.state, "rounds": rounds(campaign),
    }


def round_label(number: int, kind: str, targets: dict[int, str]) -> str:
    if kind != Message.Kind.INVITATION:
        return str(Message.Kind(kind).label)
    if number == FIRST_ROUND:
        return _("Envío inicial")
    target = targets.get(number)
    return _("Reenvío: %(target)s") % {"target": str(TARGETS[target]).lower()} if target in TARGETS else _("Reenvío")


def rounds(campaign) -> list[dict]:
    """Each round's counts: how many messages, and how many went out, failed, were not sent or still wait."""
    rows = Message.objects.filter(campaign=campaign).values("round", "kind", "state").annotate(n=Count("pk"))
    found: dict[tuple[int, str], dict] = {}
    for row in rows.order_by("round", "kind"):
        counts = found.setdefault((row["round"], row["kind"]), dict.fromkeys(
            ("total", "sent", "failed", "skipped", "open"), 0))
        counts["total"] += row["n"]
        group = {Message.State.FAILED: "failed", Message.State.SKIPPED: "skipped"}.get(
            row["state"], "open" if row["state"] in OPEN else "sent")
        counts[group] += row["n"]
    targets = resend_targets_by_round(campaign) if len(found) > 1 else {}
    return [{"number": number, "kind": kind, "label": round_label(number, kind, targets), **counts}
            for (number, kind), counts in found.items()]


def shows_progress(campaign) -> bool:
    if campaign.state in (State.SENDING, State.SENT):
        return True
    return campaign.state == State.CANCELLED and Message.objects.filter(campaign=campaign).exists()


def resend_options(campaign) -> list[dict]:
    counts = resend_counts(campaign)
    return [{"target": target, "label": label, "count": counts[target]} for target, label in TARGETS.items()]


def panel_context(request, campaign) -> dict:
    from .prestart import start_panel_context
    from .reminders import reminders_panel_context

    may_send = acts_as(request.user, Role.SOCIAL_MEDIA, campaign)
    now = progress(campaign) if shows_progress(campaign) else None
    # A cancelled campaign's notices can be paused and resumed like a send.
    notices_open = campaign.state == State.CANCELLED and now and any(r["open"] for r in now["rounds"])
    context = {
        "send_progress": now,
        "can_start_send": may_send and campaign.state == State.READY,
        "can_control_send": may_send and (campaign.state == State.SENDING or bool(notices_open)),
        "can_resend": may_send and campaign.state == State.SENT,
        # The generic cancel form offers to warn the guests who already got the invitation.
        "offer_cancellation_notice": cancellation_notice_possible(campaign),
        "state_labels": dict(Message.State.choices),
        "quiet_hours": settings.SENDING_QUIET_HOURS,
    }
    if context["can_resend"]:
        context["resend_options"] = resend_options(campaign)
    if context["can_start_send"]:
        context.update(start_panel_context(request, campaign))  # the schedule, the tier warning, the test send
    if now:
        context.update(reminders_panel_context(request, campaign))  # reminders to guests who have not answered
    return context


def social_media_only(request, campaign):
    if not acts_as(request.user, Role.SOCIAL_MEDIA, campaign):
        raise PermissionDenied(_("Solo Redes Sociales y Difusión controla el envío."))


@login_required
@require_POST
def start(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    social_media_only(request, campaign)
    try:
        count = send_start(campaign=campaign, actor=request.user,
                           ignore_quiet_hours=request.POST.get("ignore_quiet_hours") == "on")
    except (SendRefused, TransitionConflict) as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Envío iniciado: %(n)d mensajes en la bandeja de salida.") % {"n": count})
    return redirect("campaigns:detail", folio=folio)


@login_required
@require_POST
def pause(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    social_media_only(request, campaign)
    reason = _("pausado por %(who)s") % {"who": request.user}
    if campaign_pause(campaign_id=campaign.pk, reason=reason):
        messages.success(request, _("Envío pausado: los mensajes en cola esperan."))
    else:
        messages.info(request, _("El envío ya estaba pausado."))
    return redirect("campaigns:detail", folio=folio)


@login_required
@require_POST
def resume(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if sending_resume(campaign=campaign, actor=request.user):
        messages.success(request, _("Envío reanudado."))
    else:
        messages.info(request, _("El envío no estaba pausado."))
    return redirect("campaigns:detail", folio=folio)


@login_required
@require_POST
def resend_round(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    social_media_only(request, campaign)
    try:
        count = resend(campaign=campaign, actor=request.user, target=request.POST.get("target", ""))
    except (SendRefused, TransitionConflict) as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Reenvío iniciado: %(n)d mensajes en la bandeja de salida.") % {"n": count})
    return redirect("campaigns:detail", folio=folio)


@login_required
def progress_json(request, folio):
    return JsonResponse(progress(visible_campaign_or_404(request, folio)))


@login_required
def recipients(request, folio):
    """Each message with its state and, for a failure, the reason in the office's words."""
    campaign = visible_campaign_or_404(request, folio)
    if not (acts_as(request.user, Role.SOCIAL_MEDIA, campaign) or acts_as(request.user, Role.DIRECTOR, campaign)
            or acts_as(request.user, Role.DATABASE, campaign)):
        raise PermissionDenied(_("El detalle por invitado es para el personal de Relaciones Públicas."))
    rows = Message.objects.filter(campaign=campaign).select_related("invitation__contact").order_by("state", "pk")
    wanted = request.GET.get("estado", "")
    if wanted in Message.State.values:
        rows = rows.filter(state=wanted)
    page = Paginator(rows, 50).get_page(request.GET.get("pagina"))
    context = {"campaign": campaign, "page": page, "states": Message.State.choices, "state": wanted}
    return render(request, "sending/recipients.html", context)


urlpatterns = [
    path("solicitudes/<str:folio>/envio/iniciar/", start, name="start"),
    path("solicitudes/<str:folio>/envio/pausar/", pause, name="pause"),
    path("solicitudes/<str:folio>/envio/reanudar/", resume, name="resume"),
    path("solicitudes/<str:folio>/envio/reenviar/", resend_round, name="resend"),
    path("solicitudes/<str:folio>/envio/avance/", progress_json, name="progress"),
    path("solicitudes/<str:folio>/envio/destinatarios/", recipients, name="recipients"),
]

from . import views_reminders, views_start  # noqa: E402  (their views live beside these, under the same namespace)

urlpatterns += views_start.urlpatterns + views_reminders.urlpatterns
