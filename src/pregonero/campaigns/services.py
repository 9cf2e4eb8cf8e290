"""Every write to a campaign: creation, the transitions of the procedure, checklists and proofs.

A transition locks the campaign row, checks the actor's role and the state, moves the state with a
conditional update (so of two people acting at once exactly one wins), writes the audit entry and the
notifications, all in one transaction; e-mail goes out after commit.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.accounts.roles import Role
from pregonero.filestore import files_removed_on_failure, remove_on_failure

from .models import Attachment, AuditEntry, Campaign, FolioCounter, InfoRequest, Proof
from .notifications import notify
from .uploads import Accepted
from .workflow import TRANSITIONS, Transition, waiting_roles


class TransitionConflict(Exception):
    """The campaign moved before this action arrived (someone else acted first, or a double submit)."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        super().__init__(
            _("La solicitud %(folio)s ya está en «%(state)s»; alguien más actuó antes. Revise la información actual.")
            % {"folio": campaign.folio, "state": campaign.get_state_display()}
        )


def acts_as(user, role: Role, campaign: Campaign) -> bool:
    if not user.is_authenticated or not user.has_role(role):
        return False
    return role != Role.REQUESTER or (user.department_id is not None and user.department_id == campaign.department_id)


def may_apply(user, transition: Transition, campaign: Campaign) -> bool:
    return any(acts_as(user, role, campaign) for role in transition.roles)


def audit_log(*, campaign, actor, action, from_state="", to_state="", comment="", data=None) -> AuditEntry:
    """The one way entries are written: saving links the entry into the hash chain (campaigns/audit.py)."""
    return AuditEntry.objects.create(
        campaign=campaign, actor=actor, action=action, from_state=from_state, to_state=to_state,
        comment=comment, data=data or {},
    )


def campaign_transition(
    *,
    campaign: Campaign,
    actor,
    name: str,
    comment: str = "",
    expected_state: str | None = None,
    on_apply: Callable[[Campaign, AuditEntry], None] | None = None,
    data: dict | None = None,
) -> AuditEntry:
    transition = TRANSITIONS[name]
    comment = comment.strip()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().select_related("department").get(pk=campaign.pk)
        if not may_apply(actor, transition, locked):
            raise PermissionDenied(_("Su rol no permite «%(action)s».") % {"action": transition.label})
        if locked.state not in transition.sources or (expected_state and locked.state != expected_state):
            raise TransitionConflict(locked)
        if transition.comment_required and not comment:
            raise ValidationError(_("Escriba el motivo: es obligatorio para «%(action)s».") % {"action": transition.label})
        now = timezone.now()
        moved = Campaign.objects.filter(pk=locked.pk, state=locked.state).update(
            state=transition.target, state_changed_at=now
        )
        if moved != 1:
            raise TransitionConflict(locked)
        entry = audit_log(
            campaign=locked, actor=actor, action=f"campaign.{name}", from_state=locked.state,
            to_state=transition.target, comment=comment, data=data,
        )
        locked.state, locked.state_changed_at = transition.target, now
        if on_apply:
            on_apply(locked, entry)
        notify(entry=entry, roles=waiting_roles(transition.target) | set(transition.inform))
    campaign.state, campaign.state_changed_at = transition.target, now
    return entry


def next_folio(year: int) -> str:
    """Hands out the next folio of the year; the row stays locked until the creating transaction ends."""
    FolioCounter.objects.bulk_create([FolioCounter(year=year, last=0)], ignore_conflicts=True)
    FolioCounter.objects.filter(year=year).update(last=F("last") + 1)
    number = FolioCounter.objects.get(year=year).last
    return f"RP-{year}-{number:04d}"


def campaign_create(*, actor, fields: dict, sectors=(), attachments=(), submission_key) -> tuple[Campaign, bool]:
    """Registers a request; returns (campaign, created). A repeated submit returns the first request."""
    existing = Campaign.objects.filter(submission_key=submission_key).first()
    if existing:
        return existing, False
    try:
        with files_removed_on_failure(), transaction.atomic():
            campaign = Campaign.objects.create(
                folio=next_folio(timezone.localdate().year), created_by=actor, submission_key=submission_key, **fields
            )
            campaign.target_sectors.set(sectors)
            for attachment in attachments:
                attachment.store(campaign=campaign, actor=actor)
            entry = audit_log(
                campaign=campaign, actor=actor, action="campaign.create", to_state=campaign.state,
                data={"received_via": campaign.received_via},
            )
            notify(entry=entry, roles=waiting_roles(campaign.state))
    except IntegrityError:
        existing = Campaign.objects.filter(submission_key=submission_key).first()
        if existing is None:
            raise
        return existing, False
    return campaign, True


def campaign_request_info(*, campaign, actor, missing: list[str], comment: str, expected_state=None) -> AuditEntry:
    if not missing and not comment.strip():
        raise ValidationError(_("Indique qué falta: marque los requisitos pendientes o escriba un comentario."))

    def record(locked, entry):
        InfoRequest.objects.create(campaign=locked, missing=missing, comment=comment.strip(), requested_by=actor)

    return campaign_transition(
        campaign=campaign, actor=actor, name="request_info", comment=comment, expected_state=expected_state,
        on_apply=record, data={"missing": missing},
    )


def campaign_provide_info(*, campaign, actor, answer: str, save_changes: Callable, expected_state=None):
    """The requester's answer: their edits and files are saved in the same transaction as the transition."""
    if not answer.strip():
        raise ValidationError(_("Escriba una respuesta para Redes Sociales y Difusión."))

    def record(locked, entry):
        save_changes(locked)
        InfoRequest.objects.filter(campaign=locked, answered_at__isnull=True).update(
            answer=answer.strip(), answered_by=actor, answered_at=entry.at
        )

    return campaign_transition(
        campaign=campaign, actor=actor, name="provide_info", comment=answer, expected_state=expected_state,
        on_apply=record,
    )


@dataclass(frozen=True)
class NewAttachment:
    """An upload that passed validation, stored only inside the transaction that registers it (in a
    ``files_removed_on_failure`` block)."""

    kind: str
    upload: UploadedFile
    accepted: Accepted

    def store(self, *, campaign, actor) -> Attachment:
        attachment = Attachment.objects.create(
            campaign=campaign, kind=self.kind, file=self.upload, original_name=self.upload.name[-255:],
            content_type=self.accepted.content_type, size=self.upload.size, uploaded_by=actor,
        )
        remove_on_failure(attachment.file)
        return attachment


PROOF_FIELDS = ("whatsapp_template", "whatsapp_body", "email_subject", "email_body")


def proof_save(*, campaign, actor, values: dict) -> Proof:
    """Saves the draft proof; after a returned version, the next save starts version n+1."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not acts_as(actor, Role.SOCIAL_MEDIA, locked):
            raise PermissionDenied(_("Solo Redes Sociales y Difusión elabora las pruebas."))
        if locked.state != "proof_draft":
            raise TransitionConflict(locked)
        latest = locked.proofs.order_by("-version").first()
        if latest is None or latest.status != Proof.Status.DRAFT:
            latest = Proof(campaign=locked, version=(latest.version + 1 if latest else 1), created_by=actor)
        for name in PROOF_FIELDS:
            setattr(latest, name, values[name])
        latest.save()
        audit_log(campaign=locked, actor=actor, action="proof.save", data={"version": latest.version})
    return latest


def proof_submit(*, campaign, actor, expected_state=None) -> AuditEntry:
    draft = campaign.proofs.filter(status=Proof.Status.DRAFT).order_by("-version").first()
    if draft is None:
        raise ValidationError(_("Guarde primero la prueba antes de enviarla a visto bueno."))

    def mark(locked, entry):
        if Proof.objects.filter(pk=draft.pk, status=Proof.Status.DRAFT).update(
            status=Proof.Status.SUBMITTED, submitted_at=entry.at
        ) != 1:
            raise TransitionConflict(locked)

    return campaign_transition(
        campaign=campaign, actor=actor, name="submit_proof", expected_state=expected_state, on_apply=mark,
        data={"version": draft.version},
    )


def proof_decide(*, campaign, actor, approve: bool, comment: str = "", expected_state=None) -> AuditEntry:
    def decide(locked, entry):
        proof = locked.proofs.filter(status=Proof.Status.SUBMITTED).order_by("-version").first()
        if proof is None:
            raise TransitionConflict(locked)
        proof.status = Proof.Status.APPROVED if approve else Proof.Status.RETURNED
        proof.decided_by, proof.decided_at, proof.review_comment = actor, entry.at, comment.strip()
        proof.save(update_fields=["status", "decided_by", "decided_at", "review_comment"])

    return campaign_transition(
        campaign=campaign, actor=actor, name="approve_proof" if approve else "return_proof", comment=comment,
        expected_state=expected_state, on_apply=decide,
    )
