from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from pregonero.accounts.roles import Role
from pregonero.directory.permissions import can_see_directory
from pregonero.filestore import files_removed_on_failure
from pregonero.sending.templates_sync import TemplateSyncError, sync_summary, templates_sync

from . import services
from .flow import flow_svg
from .forms import AnswerForm, ChecklistForm, IntakeForm, ProofForm, RequestForm, TransitionForm
from .models import Campaign, Channel, Proof, State
from .preview import render_proof
from .selectors import campaign_for_page, campaigns_visible_to, checklist_rows, inbox_for
from .workflow import TRANSITIONS, transitions_from


def visible_campaign_or_404(request, folio) -> Campaign:
    try:
        return campaign_for_page(request.user, folio)
    except Campaign.DoesNotExist:
        raise Http404(_("No existe la solicitud %(folio)s o no tiene acceso a ella.") % {"folio": folio}) from None


@login_required
def inbox(request):
    campaigns = list(inbox_for(request.user))
    now = timezone.now()
    for campaign in campaigns:
        campaign.age = now - campaign.state_changed_at
    notes = request.user.notifications.filter(read_at__isnull=True).select_related("campaign", "audit_entry")[:20]
    context = {"campaigns": campaigns, "notes": notes}
    if request.user.has_role(Role.DATABASE):
        # Step 3: the Director's authorization asks Base de Datos for the guest list.
        from pregonero.directory.guestlists import guest_lists_waiting

        context["guest_lists_waiting"] = list(guest_lists_waiting())
    if request.user.has_role(Role.ASSISTANT):
        # Steps 1–2: requests that arrived by e-mail or WhatsApp wait for the assistant in Recibidas.
        from pregonero.intake.selectors import drafts_waiting

        context["intake_waiting"] = drafts_waiting()
    return render(request, "campaigns/inbox.html", context)


@login_required
def campaign_list(request):
    campaigns = campaigns_visible_to(request.user).order_by("-created_at")
    state = request.GET.get("estado", "")
    if state in State.values:
        campaigns = campaigns.filter(state=state)
    page = Paginator(campaigns, 25).get_page(request.GET.get("pagina"))
    return render(request, "campaigns/list.html", {"page": page, "states": State.choices, "state": state})


def request_form_class(user):
    if user.has_role(Role.ASSISTANT):
        return IntakeForm
    if user.has_role(Role.REQUESTER) and user.department_id:
        return RequestForm
    raise PermissionDenied(_("Solo una dirección solicitante o la asistente registran solicitudes."))


@login_required
def campaign_new(request):
    form_class = request_form_class(request.user)
    form = form_class(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        fields = form.campaign_fields()
        if form_class is RequestForm:
            fields.update(department=request.user.department, received_via=Channel.PORTAL)
        campaign, created = services.campaign_create(
            actor=request.user, fields=fields, sectors=form.cleaned_data["target_sectors"],
            attachments=form.new_attachments(), submission_key=form.cleaned_data["submission_key"],
        )
        if created:
            messages.success(request, _("Solicitud registrada con el folio %(folio)s.") % {"folio": campaign.folio})
        else:
            messages.info(request, _("Esta solicitud ya se había registrado con el folio %(folio)s.") % {"folio": campaign.folio})
        return redirect("campaigns:detail", folio=campaign.folio)
    return render(request, "campaigns/new.html", {"form": form, "intake": form_class is IntakeForm})


def available_actions(user, campaign):
    return [t for t in transitions_from(campaign.state) if t.trigger == "button" and services.may_apply(user, t, campaign)]


@login_required
def campaign_detail(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    context = {
        "campaign": campaign,
        "actions": available_actions(request.user, campaign),
        "timeline": campaign.audit_entries.select_related("actor"),
        "proofs": campaign.proofs.order_by("-version"),
        "info_requests": campaign.info_requests.select_related("requested_by", "answered_by"),
        "flow": flow_svg(campaign.state),
        "transition_form": TransitionForm(initial={"expected_state": campaign.state}),
        "final_entry": None if campaign.is_open else campaign.audit_entries.order_by("-at", "-pk").first(),
    }
    checklist_allowed = services.may_apply(request.user, TRANSITIONS["mark_complete"], campaign)
    if checklist_allowed and campaign.state == State.AUTHORIZED:
        rows = checklist_rows(campaign)
        context["checklist"] = ChecklistForm(rows=rows, initial={"expected_state": campaign.state})
    context["can_answer"] = services.may_apply(request.user, TRANSITIONS["provide_info"], campaign) and (
        campaign.state == State.INFO_REQUESTED
    )
    context["can_edit_proof"] = campaign.state == State.PROOF_DRAFT and services.acts_as(
        request.user, Role.SOCIAL_MEDIA, campaign
    )
    from pregonero.sending.views import panel_context

    context.update(panel_context(request, campaign))
    context["guest_list_link"] = can_see_directory(request.user)
    context["shared_list_link"] = services.acts_as(request.user, Role.REQUESTER, campaign) and shared_with_requester(
        campaign
    )
    request.user.notifications.filter(campaign=campaign, read_at__isnull=True).update(read_at=timezone.now())
    return render(request, "campaigns/detail.html", context)


def shared_with_requester(campaign) -> bool:
    from pregonero.directory.models import GuestList

    return GuestList.objects.filter(campaign=campaign, shared_at__isnull=False).exists()


def run_action(request, campaign, action):
    """Applies a person's action; a lost race or bad input becomes a message, never an error page."""
    try:
        action()
    except services.TransitionConflict as conflict:
        messages.error(request, str(conflict))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        return True
    return False


@login_required
@require_POST
def campaign_act(request, folio, name):
    campaign = visible_campaign_or_404(request, folio)
    transition = TRANSITIONS.get(name)
    if transition is None or transition.trigger == "engine":
        raise Http404
    if not services.may_apply(request.user, transition, campaign):
        raise PermissionDenied(_("Su rol no permite «%(action)s».") % {"action": transition.label})
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("El formulario llegó incompleto; vuelva a intentarlo."))
        return redirect("campaigns:detail", folio=folio)
    comment, expected = form.cleaned_data["comment"], form.cleaned_data["expected_state"]
    if name in ("approve_proof", "return_proof"):
        def action():
            services.proof_decide(
                campaign=campaign, actor=request.user, approve=name == "approve_proof", comment=comment,
                expected_state=expected,
            )
    elif name == "submit_proof":
        def action():
            services.proof_submit(campaign=campaign, actor=request.user, expected_state=expected)
    elif name == "cancel":
        from pregonero.sending.rounds import campaign_cancel  # stops the send; may warn the guests

        def action():
            campaign_cancel(campaign=campaign, actor=request.user, comment=comment, expected_state=expected,
                            notify_guests=request.POST.get("notify_guests") == "on")
    else:
        def action():
            services.campaign_transition(
                campaign=campaign, actor=request.user, name=name, comment=comment, expected_state=expected
            )
    if run_action(request, campaign, action):
        messages.success(request, _("Listo: %(action)s.") % {"action": transition.label})
    return redirect("campaigns:detail", folio=folio)


@login_required
@require_POST
def campaign_checklist(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if not services.may_apply(request.user, TRANSITIONS["mark_complete"], campaign):
        raise PermissionDenied
    form = ChecklistForm(request.POST, rows=checklist_rows(campaign))
    if not form.is_valid():
        messages.error(request, _("El formulario llegó incompleto; vuelva a intentarlo."))
        return redirect("campaigns:detail", folio=folio)
    missing, comment = form.missing(), form.cleaned_data["comment"]
    expected = form.cleaned_data["expected_state"]
    if request.POST.get("verdict") == "complete":
        if missing:
            messages.error(request, _("No puede marcarse completa: falta %(missing)s.") % {"missing": "; ".join(missing)})
            return redirect("campaigns:detail", folio=folio)

        def action():
            services.campaign_transition(
                campaign=campaign, actor=request.user, name="mark_complete", comment=comment, expected_state=expected
            )
    else:
        def action():
            services.campaign_request_info(
                campaign=campaign, actor=request.user, missing=missing, comment=comment, expected_state=expected
            )
    if run_action(request, campaign, action):
        messages.success(request, _("Listo: la solicitud está en «%(state)s».") % {"state": campaign.get_state_display()})
    return redirect("campaigns:detail", folio=folio)


@login_required
def campaign_answer(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if not services.may_apply(request.user, TRANSITIONS["provide_info"], campaign):
        raise PermissionDenied
    form = AnswerForm(
        request.POST or None, request.FILES or None, instance=campaign, initial={"expected_state": campaign.state}
    )
    if request.method == "POST" and form.is_valid():
        def save_changes(locked):
            form.instance = locked
            for name, value in form.campaign_fields().items():
                setattr(locked, name, value)
            locked.save()
            locked.target_sectors.set(form.cleaned_data["target_sectors"])
            for attachment in form.new_attachments():
                attachment.store(campaign=locked, actor=request.user)

        def action():
            with files_removed_on_failure():
                services.campaign_provide_info(
                    campaign=campaign, actor=request.user, answer=form.cleaned_data["answer"],
                    save_changes=save_changes, expected_state=form.cleaned_data["expected_state"],
                )

        if run_action(request, campaign, action):
            messages.success(request, _("Información enviada a Redes Sociales y Difusión."))
        return redirect("campaigns:detail", folio=folio)
    pending = campaign.info_requests.filter(answered_at__isnull=True).last()
    return render(request, "campaigns/answer.html", {"campaign": campaign, "form": form, "pending": pending})


def proof_defaults(campaign) -> dict:
    latest = campaign.proofs.order_by("-version").first()
    if latest:
        return {name: getattr(latest, name) for name in services.PROOF_FIELDS}
    return {
        "whatsapp_template": "invitacion_evento",
        "whatsapp_body": campaign.message_text,
        "email_subject": _("Invitación: {evento}"),
        "email_body": campaign.message_text,
    }


@login_required
def proof_edit(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if not services.acts_as(request.user, Role.SOCIAL_MEDIA, campaign):
        raise PermissionDenied
    if campaign.state != State.PROOF_DRAFT:
        messages.error(request, _("La prueba solo se edita mientras la solicitud está en «Prueba en elaboración»."))
        return redirect("campaigns:detail", folio=folio)
    form = ProofForm(request.POST or None, initial=proof_defaults(campaign))
    if request.method == "POST" and form.is_valid():
        proof = None

        def action():
            nonlocal proof
            proof = services.proof_save(campaign=campaign, actor=request.user, values=form.cleaned_data)
            if request.POST.get("submit"):
                services.proof_submit(campaign=campaign, actor=request.user, expected_state=State.PROOF_DRAFT)

        if run_action(request, campaign, action):
            if request.POST.get("submit"):
                messages.success(request, _("Prueba v%(n)s enviada a visto bueno.") % {"n": proof.version})
                return redirect("campaigns:detail", folio=folio)
            messages.success(request, _("Prueba v%(n)s guardada.") % {"n": proof.version})
            return redirect("campaigns:proof_edit", folio=folio)
    draft = Proof(campaign=campaign, **(form.cleaned_data if form.is_bound and form.is_valid() else proof_defaults(campaign)))
    latest = campaign.proofs.order_by("-version").first()
    context = {"campaign": campaign, "form": form, "preview": render_proof(campaign, draft), "latest": latest}
    return render(request, "campaigns/proof_edit.html", context)


@login_required
@require_POST
def proof_templates_sync(request, folio):
    """The proof page's "Actualizar plantillas": refreshes the account's WhatsApp templates, then back."""
    campaign = visible_campaign_or_404(request, folio)
    if not services.acts_as(request.user, Role.SOCIAL_MEDIA, campaign):
        raise PermissionDenied
    try:
        messages.success(request, sync_summary(templates_sync()))
    except TemplateSyncError as error:
        messages.error(request, str(error))
    return redirect("campaigns:proof_edit", folio=folio)


@login_required
def proof_detail(request, folio, version):
    campaign = visible_campaign_or_404(request, folio)
    proof = get_object_or_404(campaign.proofs.select_related("created_by", "decided_by"), version=version)
    actions = []
    if proof.status == Proof.Status.SUBMITTED:
        actions = [t for t in available_actions(request.user, campaign) if t.name in ("approve_proof", "return_proof")]
    context = {
        "campaign": campaign, "proof": proof, "preview": render_proof(campaign, proof), "actions": actions,
        "transition_form": TransitionForm(initial={"expected_state": campaign.state}),
        "versions": campaign.proofs.order_by("version"),
    }
    return render(request, "campaigns/proof_detail.html", context)


@login_required
def attachment_download(request, folio, pk):
    campaign = visible_campaign_or_404(request, folio)
    attachment = get_object_or_404(campaign.attachments, pk=pk)
    inline = attachment.content_type.startswith("image/") or attachment.content_type == "application/pdf"
    return FileResponse(
        attachment.file.open("rb"), as_attachment=not inline, filename=attachment.original_name,
        content_type=attachment.content_type,
    )


@login_required
def notifications(request):
    notes = request.user.notifications.select_related("campaign", "audit_entry", "audit_entry__actor")
    page = Paginator(notes, 30).get_page(request.GET.get("pagina"))
    return render(request, "campaigns/notifications.html", {"page": page})


@login_required
def procedure(request):
    return render(request, "campaigns/procedure.html", {"flow": flow_svg(None)})

