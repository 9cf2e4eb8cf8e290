import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pregonero.accounts.models import Department


class State(models.TextChoices):
    RECEIVED = "received", _("Recibida")
    IN_REVIEW = "in_review", _("En revisión de la Dirección")
    AUTHORIZED = "authorized", _("Autorizada")
    INFO_REQUESTED = "info_requested", _("Información solicitada")
    PROOF_DRAFT = "proof_draft", _("Prueba en elaboración")
    PROOF_REVIEW = "proof_review", _("Prueba en revisión")
    READY = "ready", _("Lista para envío")
    SENDING = "sending", _("Enviando")
    SENT = "sent", _("Enviada")
    CLOSED = "closed", _("Cerrada")
    REJECTED = "rejected", _("Rechazada")
    CANCELLED = "cancelled", _("Cancelada")


FINAL_STATES = frozenset({State.CLOSED, State.REJECTED, State.CANCELLED})


class Channel(models.TextChoices):
    PORTAL = "portal", _("Portal (formulario de la dirección)")
    OFICIO = "oficio", _("Oficio")
    EMAIL = "email", _("Correo electrónico")
    WHATSAPP = "whatsapp", _("WhatsApp")


class FolioCounter(models.Model):
    """Last folio number handed out per year; locked while a request is created so folios never skip."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)


class Campaign(models.Model):
    """A "Solicitud de difusión": one request, from arrival to the closed final list."""

    folio = models.CharField(_("folio"), max_length=20, unique=True, editable=False)
    department = models.ForeignKey(
        Department, verbose_name=_("dirección solicitante"), on_delete=models.PROTECT, related_name="campaigns"
    )
    state = models.CharField(_("estado"), max_length=20, choices=State.choices, default=State.RECEIVED, db_index=True)
    state_changed_at = models.DateTimeField(_("en este estado desde"), default=timezone.now)

    received_via = models.CharField(_("recibida por"), max_length=10, choices=Channel.choices, default=Channel.PORTAL)
    oficio_number = models.CharField(_("número de oficio"), max_length=60, blank=True)
    received_on = models.DateField(_("fecha de recepción"), default=timezone.localdate)

    title = models.CharField(_("nombre del evento"), max_length=200)
    starts_at = models.DateTimeField(_("fecha y hora del evento"), null=True, blank=True)
    venue = models.CharField(_("lugar"), max_length=200, blank=True)
    address = models.CharField(_("dirección del lugar"), max_length=300, blank=True)
    dress_code = models.CharField(_("código de vestimenta"), max_length=100, blank=True)
    rsvp_deadline = models.DateTimeField(_("fecha límite para confirmar"), null=True, blank=True)
    max_companions = models.PositiveSmallIntegerField(
        _("acompañantes por invitado"), default=0,
        help_text=_("Cuántas personas puede traer cada invitado; 0 si la invitación es personal."))
    message_text = models.TextField(_("texto de la invitación"), blank=True)
    target_sectors = models.ManyToManyField(
        "directory.Sector", verbose_name=_("sectores a invitar"), blank=True, related_name="campaigns"
    )
    notes = models.TextField(_("observaciones"), blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registrada por"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("registrada el"), auto_now_add=True)
    # The form's one-time key: a second submit of the same form finds the first request instead of a twin.
    submission_key = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("solicitud de difusión")
        verbose_name_plural = _("solicitudes de difusión")
        permissions = [
            ("act_as_requester", _("Actuar como dirección solicitante")),
            ("act_as_assistant", _("Actuar como asistente")),
            ("act_as_director", _("Actuar como Dirección de Relaciones Públicas")),
            ("act_as_social_media", _("Actuar como Redes Sociales y Difusión")),
            ("act_as_database", _("Actuar como Base de Datos")),
        ]

    def __str__(self):
        return f"{self.folio} · {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state not in FINAL_STATES

    def attachments_of(self, kind: str):
        return [a for a in self.attachments.all() if a.kind == kind]

    @property
    def invitation_image(self):
        images = self.attachments_of(AttachmentKind.INVITATION_IMAGE)
        return images[-1] if images else None

    @property
    def guest_list_file(self):
        lists = self.attachments_of(AttachmentKind.GUEST_LIST)
        return lists[-1] if lists else None


class AttachmentKind(models.TextChoices):
    SCAN = "scan", _("Oficio o documento escaneado")
    INVITATION_IMAGE = "image", _("Imagen de la invitación")
    GUEST_LIST = "guest_list", _("Lista de invitados")


def attachment_path(instance, filename):
    # The stored name is ours; the person's file name is kept in original_name and never touches the path.
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"solicitudes/{instance.campaign.folio}/{uuid.uuid4().hex}.{suffix}"


class Attachment(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(_("tipo"), max_length=20, choices=AttachmentKind.choices)
    file = models.FileField(_("archivo"), upload_to=attachment_path)
    original_name = models.CharField(_("nombre original"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]
        verbose_name = _("anexo")
        verbose_name_plural = _("anexos")

    def __str__(self):
        return self.original_name


class ChecklistItem(models.Model):
    """One line of the office's completeness check; the office edits the list in the admin."""

    class Rule(models.TextChoices):
        MANUAL = "manual", _("Revisión manual")
        TITLE = "title", _("Nombre del evento")
        STARTS_AT = "starts_at", _("Fecha y hora")
        VENUE = "venue", _("Lugar")
        IMAGE = "image", _("Imagen de la invitación")
        MESSAGE = "message", _("Texto de la invitación")
        GUESTS = "guests", _("Lista de invitados o sectores")
        RSVP_DEADLINE = "rsvp_deadline", _("Fecha límite para confirmar")
        DRESS_CODE = "dress_code", _("Código de vestimenta")

    label = models.CharField(_("requisito"), max_length=200)
    rule = models.CharField(_("cómo se verifica"), max_length=20, choices=Rule.choices, default=Rule.MANUAL)
    active = models.BooleanField(_("activo"), default=True)
    position = models.PositiveSmallIntegerField(_("orden"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("requisito de la revisión")
        verbose_name_plural = _("requisitos de la revisión")

    def __str__(self):
        return self.label


class InfoRequest(models.Model):
    """Social media's "incomplete" verdict: what is missing, and the requester's answer."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="info_requests")
    missing = models.JSONField(_("falta"), default=list)
    comment = models.TextField(_("comentario"), blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    answer = models.TextField(_("respuesta"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "pk"]


class Proof(models.Model):
    """Version n of the invitation prototype (record 7.3); every version stays viewable."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Borrador")
        SUBMITTED = "submitted", _("En revisión")
        APPROVED = "approved", _("Visto bueno")
        RETURNED = "returned", _("Devuelta con cambios")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="proofs")
    version = models.PositiveIntegerField(_("versión"))
    status = models.CharField(_("estado"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    whatsapp_template = models.CharField(_("plantilla de WhatsApp"), max_length=100, default="invitacion_evento")
    whatsapp_body = models.TextField(_("texto del mensaje de WhatsApp"))
    email_subject = models.CharField(_("asunto del correo"), max_length=200)
    email_body = models.TextField(_("texto del correo"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(_("comentarios de la Dirección"), blank=True)

    class Meta:
        ordering = ["campaign", "version"]
        constraints = [models.UniqueConstraint(fields=["campaign", "version"], name="proof_version_once")]
        verbose_name = _("prueba")
        verbose_name_plural = _("pruebas")

    def __str__(self):
        return f"{self.campaign.folio} v{self.version}"


class AuditEntry(models.Model):
    """Append-only record of every step: who, when, from which state to which, and why.

    Tamper-evident: each entry stores the sha256 of its content and of the entry before it (campaigns/audit.py),
    so an edited, removed or inserted entry breaks the chain; ``pregonero audit verify`` finds where. On
    PostgreSQL a trigger refuses UPDATE and DELETE on the table (a later migration that must rewrite rows has to
    disable it first).
    """

    campaign = models.ForeignKey(Campaign, null=True, on_delete=models.PROTECT, related_name="audit_entries")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=60)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    comment = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Unique: two entries can never follow the same one, so the chain cannot fork.
    prev_hash = models.CharField(_("huella de la entrada anterior"), max_length=64, unique=True, editable=False)
    entry_hash = models.CharField(_("huella"), max_length=64, editable=False)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("entrada del registro")
        verbose_name_plural = _("registro de auditoría")

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("AuditEntry is append-only")
        from .audit import chain_insert  # audit.py builds on these models

        chain_insert(self, lambda: super(AuditEntry, self).save(*args, **kwargs))

    def delete(self, *args, **kwargs):
        raise ValueError("AuditEntry is append-only")


class AuditChainHead(models.Model):
    """The audit chain's last link (one row, pk 1). Appends lock it, so they queue instead of forking the chain;
    verify compares it with the last entry, so entries removed from the end are noticed too."""

    entry_id = models.BigIntegerField(null=True)
    entry_hash = models.CharField(max_length=64)


class Notification(models.Model):
    """An in-app inbox line for one person; the same notice goes out by e-mail after commit."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="notifications")
    audit_entry = models.ForeignKey(AuditEntry, on_delete=models.PROTECT, related_name="notifications")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
