"""The assistant's inbox of requests that arrived by e-mail or WhatsApp (UI: "Recibidas"), and its decisions.

The assistant registers (and turns), merges, discards and restores; the Director may look, read-only, so what
was discarded without reaching them stays visible. Requesters and the other roles never see it.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _, ngettext
from django.views.decorators.http import require_POST

from pregonero.campaigns.models import AuditEntry
from pregonero.campaigns.uploads import SPREADSHEET_TYPES, clean_filename
from pregonero.campaigns.views import run_action
from pregonero.directory.permissions import requiring  # login, then the role check, or 403

from . import services
from .forms import DiscardForm, DraftRegisterForm, FollowUpForm, MergeForm
from .models import Draft, IncomingAttachment, IncomingMessage
from .selectors import with_first_text

TABS = {
    "": (Draft.Status.OPEN,),
    "apartados": (Draft.Status.ASIDE,),
    "historial": (Draft.Status.REGISTERED, Draft.Status.MERGED, Draft.Status.DISCARDED),
}
# Files keep their type on download only when it is one we accept anyway; anything else is plain bytes.
SAFE_TYPES = {"image/jpeg", "image/png", "application/pdf", *SPREADSHEET_TYPES.values()}


intake_viewer_required = requiring(
    services.may_view_intake, lambda: _("Las solicitudes recibidas por correo y WhatsApp son para la asistente y la Dirección.")
)
intake_decider_required = requiring(
    services.may_decide, lambda: _("Solo la asistente registra, une o descarta las solicitudes recibidas.")
)


@intake_viewer_required
def draft_list(request):
    tab = request.GET.get("ver", "")
    tab = tab if tab in TABS else ""
    drafts = (with_first_text(Draft.objects.filter(status__in=TABS[tab]))
              .select_related("department", "campaign", "merged_into__campaign", "decided_by", "follows_up")
              .annotate(message_count=Count("messages", distinct=True),
                        attachment_count=Count("messages__attachments", distinct=True))
              .order_by("-received_at", "-pk"))
    if tab == "historial":
        drafts = drafts.order_by("-decided_at", "-pk")
    counts = dict(Draft.objects.filter(status__in=TABS[""] + TABS["apartados"]).order_by()
                  .values_list("status").annotate(n=Count("pk")))
    page = Paginator(drafts, 50).get_page(request.GET.get("pagina"))
    return render(request, "intake/list.html", {
        "page": page, "tab": tab, "open_count": counts.get(Draft.Status.OPEN, 0),
        "aside_count": counts.get(Draft.Status.ASIDE, 0), "can_decide": services.may_decide(request.user),
    })


def draft_page(request, draft: Draft, *, form=None, follow_up_form=None, status=200):
    """The draft's page: its messages and files, what happened to it, and the assistant's forms."""
    incoming = list(draft.messages.prefetch_related("attachments"))
    attachments = [a for message in incoming for a in message.attachments.all()]
    can_decide = services.may_decide(request.user)
    context = {
        "can_acknowledge_again": can_decide and services.may_acknowledge_again(draft),
        "draft": draft, "incoming": incoming, "attachments": attachments, "can_decide": can_decide,
        "history": AuditEntry.objects.filter(Q(data__draft=draft.pk) | Q(data__into=draft.pk),
                                             action__startswith="intake.").select_related("actor", "campaign"),
        "outcome": draft.campaign or (draft.merged_into.campaign if draft.merged_into_id else None),
        "seen": " ".join(sorted(services.draft_contents(draft))),
    }
    if can_decide and draft.status == Draft.Status.OPEN:
        context["form"] = form or DraftRegisterForm(draft=draft, messages=incoming, attachments=attachments,
                                                    sender=services.sender_status(draft))
        if draft.follows_up_id:
            context["follow_up_refusal"] = services.follow_up_refusal(draft)
            context["follow_up_form"] = follow_up_form or FollowUpForm(attachments=attachments)
        merge_form = MergeForm(draft=draft)
        context["merge_form"] = merge_form if merge_form.fields["drafts"].queryset.exists() else None
    if can_decide and draft.status in (Draft.Status.OPEN, Draft.Status.ASIDE):
        context["discard_form"] = DiscardForm()
    return render(request, "intake/detail.html", context, status=status)


def draft_for_page(pk) -> Draft:
    return get_object_or_404(
        Draft.objects.select_related("department", "campaign", "merged_into__campaign", "decided_by", "follows_up"),
        pk=pk)


@intake_viewer_required
def draft_detail(request, pk):
    return draft_page(request, draft_for_page(pk))


@intake_decider_required
@require_POST
def draft_register(request, pk):
    draft = draft_for_page(pk)
    incoming = list(draft.messages.prefetch_related("attachments"))
    attachments = [a for message in incoming for a in message.attachments.all()]
    form = DraftRegisterForm(request.POST, request.FILES, draft=draft, messages=incoming, attachments=attachments,
                             sender=services.sender_status(draft))
    if not form.is_valid():
        if draft.status != Draft.Status.OPEN:  # decided meanwhile: say so rather than show stale errors
            messages.error(request, services.conflict_message(draft))
            return redirect("intake:draft", pk=draft.pk)
        return draft_page(request, draft, form=form)
    turn = request.POST.get("turn") == "1"
    try:
        campaign, created = services.draft_register(
            draft=draft, actor=request.user, fields=form.campaign_fields(), sectors=form.cleaned_data["target_sectors"],
            attachment_choices=form.attachment_choices(), uploads=form.new_attachments(),
            submission_key=form.cleaned_data["submission_key"], turn=turn,
            seen=request.POST.get("seen", "").split(),
            remember_sender=bool(form.cleaned_data.get("remember_sender")),
        )
    except services.DraftConflict as conflict:
        messages.error(request, conflict.message)
        return redirect("intake:draft", pk=draft.pk)
    except ValidationError as error:
        for message in error.messages:
            form.add_error(None, message)
        return draft_page(request, draft, form=form)
    if not created:
        messages.info(request, _("Esta solicitud ya se había registrado con el folio %(folio)s.") % {"folio": campaign.folio})
    elif turn:
        messages.success(request, _("Solicitud registrada con el folio %(folio)s y turnada a la Dirección. Se avisará a "
                                    "quien la envió por %(channel)s.") % {"folio": campaign.folio,
                                                                          "channel": draft.get_source_display()})
    else:
        messages.success(request, _("Solicitud registrada con el folio %(folio)s.") % {"folio": campaign.folio})
    return redirect("campaigns:detail", folio=campaign.folio)


@intake_decider_required
@require_POST
def draft_merge(request, pk):
    draft = draft_for_page(pk)
    form = MergeForm(request.POST, draft=draft)
    if not form.is_valid():
        for error in form.errors.get("drafts", []):
            messages.error(request, error)
        return redirect("intake:draft", pk=draft.pk)
    chosen = list(form.cleaned_data["drafts"])
    if run_action(request, draft, lambda: services.draft_merge(drafts=chosen, into=draft, actor=request.user)):
        messages.success(request, ngettext("Se unió %(n)d solicitud a esta, con sus mensajes y archivos.",
                                           "Se unieron %(n)d solicitudes a esta, con sus mensajes y archivos.",
                                           len(chosen)) % {"n": len(chosen)})
    return redirect("intake:draft", pk=draft.pk)


@intake_decider_required
@require_POST
def draft_discard(request, pk):
    draft = draft_for_page(pk)
    form = DiscardForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("reason", []):
            messages.error(request, error)
        return redirect("intake:draft", pk=draft.pk)
    reason = form.cleaned_data["reason"]
    seen = request.POST.get("seen", "").split()
    if run_action(request, draft, lambda: services.draft_discard(draft=draft, actor=request.user, reason=reason,
                                                                 seen=seen)):
        messages.success(request, _("Solicitud descartada; el motivo queda en el registro."))
        return redirect("intake:inbox")
    return redirect("intake:draft", pk=draft.pk)


@intake_decider_required
@require_POST
def draft_restore(request, pk):
    draft = draft_for_page(pk)
    if run_action(request, draft, lambda: services.draft_restore(draft=draft, actor=request.user)):
        messages.success(request, _("Listo: la solicitud volvió a «Por registrar»."))
    return redirect("intake:draft", pk=draft.pk)


@intake_decider_required
@require_POST
def draft_follow_up(request, pk):
    """"Agregar a la solicitud RP-…": the draft completes the request it follows up instead of starting one."""
    draft = draft_for_page(pk)
    incoming = list(draft.messages.prefetch_related("attachments"))
    attachments = [a for message in incoming for a in message.attachments.all()]
    form = FollowUpForm(request.POST, attachments=attachments)
    if draft.status != Draft.Status.OPEN or not draft.follows_up_id:
        messages.error(request, services.conflict_message(draft) if draft.status != Draft.Status.OPEN
                       else services.follow_up_refusal(draft))
        return redirect("intake:draft", pk=draft.pk)
    if not form.is_valid():
        return draft_page(request, draft, follow_up_form=form)
    try:
        campaign, entry = services.draft_follow_up(draft=draft, actor=request.user,
                                                   attachment_choices=form.attachment_choices(),
                                                   seen=request.POST.get("seen", "").split())
    except services.DraftConflict as conflict:
        messages.error(request, conflict.message)
        return redirect("intake:draft", pk=draft.pk)
    except ValidationError as error:
        for message in error.messages:
            form.add_error(None, message)
        return draft_page(request, draft, follow_up_form=form)
    added = len(entry.data["attachments"])
    messages.success(request, ngettext(
        "Se agregó a la solicitud %(folio)s, con %(n)d archivo; el texto quedó en su historial.",
        "Se agregó a la solicitud %(folio)s, con %(n)d archivos; el texto quedó en su historial.", added,
    ) % {"folio": campaign.folio, "n": added})
    return redirect("campaigns:detail", folio=campaign.folio)


@intake_decider_required
@require_POST
def acknowledgement_again(request, pk):
    """"Enviar el acuse de nuevo" after the acknowledgement was given up: one new attempt, however many clicks."""
    draft = draft_for_page(pk)
    if run_action(request, draft, lambda: services.acknowledgement_again(draft=draft, actor=request.user)):
        messages.success(request, _("El acuse se enviará de nuevo por %(channel)s.") % {
            "channel": draft.get_source_display()})
    return redirect("intake:draft", pk=draft.pk)


@intake_viewer_required
def attachment_download(request, pk):
    """Always a download under its cleaned name, never shown in the page: the file came from outside."""
    attachment = get_object_or_404(IncomingAttachment, pk=pk)
    content_type = attachment.content_type.split(";")[0].strip().lower()
    return FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=clean_filename(attachment.original_name),
        content_type=content_type if content_type in SAFE_TYPES else "application/octet-stream",
    )


@intake_viewer_required
def message_original(request, pk):
    """The e-mail exactly as it arrived (.eml), for a message that could not be read well."""
    message = get_object_or_404(IncomingMessage.objects.exclude(raw=""), pk=pk)
    return FileResponse(message.raw.open("rb"), as_attachment=True, filename=f"mensaje-{message.pk}.eml",
                        content_type="application/octet-stream")
