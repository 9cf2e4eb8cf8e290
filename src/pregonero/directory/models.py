import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Sector(models.Model):
    """A sector of society the office invites (Empresarios, ONGs, Gobierno…); an editable list."""

    name = models.CharField(_("nombre"), max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(_("orden"), default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("sector")
        verbose_name_plural = _("sectores")

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(_("nombre"), max_length=60, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("etiqueta")
        verbose_name_plural = _("etiquetas")

    def __str__(self):
        return self.name


class ContactQuerySet(models.QuerySet):
    def live(self):
        """Contacts in use: not merged into another one and not erased by an ARCO cancellation."""
        return self.filter(merged_into__isnull=True, erased_at__isnull=True)

    def whatsapp_reachable(self):
        return self.exclude(mobile="").filter(whatsapp_opt_out=False, whatsapp_unavailable_at__isnull=True)

    def email_reachable(self):
        return self.exclude(email="").filter(email_opt_out=False)


class Contact(models.Model):
    """One person of the "Directorio de Datos Personales" (record 7.4)."""

    class ConsentBasis(models.TextChoices):
        CONSENT = "consent", _("Consentimiento")
        PUBLIC_ROLE = "public_role", _("Cargo público / datos de contacto institucional")
        LEGAL_DUTY = "legal_duty", _("Atribución legal")

    honorific = models.CharField(_("tratamiento"), max_length=30, blank=True)
    name = models.CharField(_("nombre"), max_length=200)
    position = models.CharField(_("cargo"), max_length=200, blank=True)
    organization = models.CharField(_("organización"), max_length=200, blank=True)
    sectors = models.ManyToManyField(Sector, verbose_name=_("sectores"), blank=True, related_name="contacts")
    tags = models.ManyToManyField(Tag, verbose_name=_("etiquetas"), blank=True, related_name="contacts")
    # A mobile number in E.164: the only number WhatsApp is sent to.
    mobile = models.CharField(_("celular (E.164)"), max_length=20, blank=True, db_index=True)
    # Office lines (with an extension, or from an office-phone column) never get WhatsApp.
    office_phone = models.CharField(_("teléfono de oficina"), max_length=20, blank=True)
    office_extension = models.CharField(_("extensión"), max_length=10, blank=True)
    # Set when the provider answered "not on WhatsApp" (error 131026) for the mobile number.
    whatsapp_unavailable_at = models.DateTimeField(_("sin WhatsApp desde"), null=True, blank=True)
    email = models.EmailField(_("correo"), blank=True, db_index=True)
    consent_basis = models.CharField(_("base del tratamiento"), max_length=20, choices=ConsentBasis.choices, blank=True)
    consent_source = models.CharField(_("origen del consentimiento"), max_length=200, blank=True)
    consent_date = models.DateField(_("fecha del consentimiento"), null=True, blank=True)
    whatsapp_opt_out = models.BooleanField(_("no desea WhatsApp"), default=False)
    email_opt_out = models.BooleanField(_("no desea correo"), default=False)
    opted_out_at = models.DateTimeField(_("baja registrada el"), null=True, blank=True)
    provenance = models.CharField(_("procedencia"), max_length=200, blank=True)
    import_batch = models.ForeignKey(
        "ImportBatch", verbose_name=_("importación"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="created_contacts",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("capturado por"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )
    notes = models.TextField(_("notas"), blank=True)
    # Casefolded name and organization without accents or honorifics: the likely-duplicate key.
    name_key = models.CharField(max_length=420, blank=True, db_index=True)
    merged_into = models.ForeignKey(
        "self", verbose_name=_("fusionado en"), null=True, blank=True, on_delete=models.PROTECT, related_name="merged",
        db_index=False,  # rarely followed backwards; one index less to maintain on every imported row
    )
    erased_at = models.DateTimeField(_("datos eliminados el"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("contacto")
        verbose_name_plural = _("contactos")

    def __str__(self):
        return " ".join(part for part in (self.honorific, self.name) if part)

    @property
    def reachable_by_whatsapp(self) -> bool:
        return bool(self.mobile) and not self.whatsapp_opt_out and self.whatsapp_unavailable_at is None

    @property
    def reachable_by_email(self) -> bool:
        return bool(self.email) and not self.email_opt_out


class ContactEvent(models.Model):
    """The history of a contact: created, imported, edited, merged, opted out, ARCO actions."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Alta")
        IMPORTED = "imported", _("Importación")
        UPDATED = "updated", _("Edición")
        MERGED = "merged", _("Fusión")
        OPT_OUT = "opt_out", _("Baja")
        WHATSAPP_UNAVAILABLE = "whatsapp_unavailable", _("Número sin WhatsApp")
        ARCO = "arco", _("Derechos ARCO")
        ERASED = "erased", _("Datos eliminados")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    import_batch = models.ForeignKey("ImportBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]


class ImportBatch(models.Model):
    """One spreadsheet import: the file, the confirmed column mapping, progress and the result."""

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Por confirmar columnas")
        QUEUED = "queued", _("En cola")
        RUNNING = "running", _("Importando")
        DONE = "done", _("Terminada")
        FAILED = "failed", _("No se pudo leer")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    file = models.FileField(upload_to="importaciones/")
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    # Rows without a sector of their own get this one (e.g. a list of "Empresarios").
    default_sector = models.ForeignKey(Sector, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A requester's guest list for one campaign (its provenance names the campaign).
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    header = models.JSONField(default=list)
    header_row_number = models.PositiveIntegerField(default=1)
    mapping = models.JSONField(default=dict)  # column index (as str) -> field name
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.MAPPING)
    phase = models.CharField(max_length=40, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    doubtful = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        verbose_name = _("importación")
        verbose_name_plural = _("importaciones")

    def __str__(self):
        return self.original_name

    @property
    def provenance(self) -> str:
        return str(_("Importación %(name)s (%(date)s)")) % {
            "name": self.original_name, "date": timezone.localtime(self.uploaded_at).strftime("%Y-%m-%d"),
        }


class ImportIssue(models.Model):
    """A rejected or doubtful row of an import, with its row number in the file and the reason."""

    class Level(models.TextChoices):
        REJECTED = "rejected", _("Rechazada")
        DOUBTFUL = "doubtful", _("Dudosa")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="issues")
    row_number = models.PositiveIntegerField()
    level = models.CharField(max_length=10, choices=Level.choices)
    reason = models.TextField()
    values = models.JSONField(default=list)

    class Meta:
        ordering = ["row_number", "pk"]


class DuplicateCandidate(models.Model):
    """Two contacts that look like the same person (same name and organization): a person decides."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Por revisar")
        MERGED = "merged", _("Fusionados")
        DISMISSED = "dismissed", _("No son la misma persona")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["contact", "other"], name="duplicate_pair_once")]


class GuestList(models.Model):
    """A campaign's guest list: sectors and tags in and out, the requester's list, manual changes."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="guest_list")
    include_sectors = models.ManyToManyField(Sector, blank=True, related_name="+", verbose_name=_("sectores incluidos"))
    exclude_sectors = models.ManyToManyField(Sector, blank=True, related_name="+", verbose_name=_("sectores excluidos"))
    include_tags = models.ManyToManyField(Tag, blank=True, related_name="+", verbose_name=_("etiquetas incluidas"))
    exclude_tags = models.ManyToManyField(Tag, blank=True, related_name="+", verbose_name=_("etiquetas excluidas"))
    uploaded = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    additions = models.ManyToManyField(Contact, blank=True, related_name="+", verbose_name=_("agregados a mano"))
    removals = models.ManyToManyField(Contact, blank=True, related_name="+", verbose_name=_("quitados a mano"))
    confirmed_at = models.DateTimeField(_("lista confirmada el"), null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    frozen_at = models.DateTimeField(_("congelada el"), null=True, blank=True)
    shared_at = models.DateTimeField(_("compartida con la dirección el"), null=True, blank=True)

    class Meta:
        verbose_name = _("lista de invitados")
        verbose_name_plural = _("listas de invitados")

    def __str__(self):
        return str(self.campaign)


def business_days_after(start, days: int):
    """The date `days` business days (Monday–Friday) after start."""
    current, left = start, days
    while left:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


class ArcoRequest(models.Model):
    """A data subject's request: access, rectification, cancellation or opposition (LGPDPPSO)."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Acceso")
        RECTIFICATION = "rectification", _("Rectificación")
        CANCELLATION = "cancellation", _("Cancelación")
        OPPOSITION = "opposition", _("Oposición")

    class Status(models.TextChoices):
        OPEN = "open", _("En trámite")
        DONE = "done", _("Atendida")

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="arco_requests")
    kind = models.CharField(_("derecho"), max_length=15, choices=Kind.choices)
    received_on = models.DateField(_("fecha de recepción"), default=timezone.localdate)
    due_on = models.DateField(_("fecha límite legal"))
    description = models.TextField(_("descripción de la solicitud"), blank=True)
    status = models.CharField(_("estado"), max_length=5, choices=Status.choices, default=Status.OPEN)
    resolution = models.TextField(_("respuesta"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "pk"]
        verbose_name = _("solicitud ARCO")
        verbose_name_plural = _("solicitudes ARCO")

    def save(self, *args, **kwargs):
        if not self.due_on:
            from .arco import legal_due_date  # arco.py builds on these models

            self.due_on = legal_due_date(self.received_on)
        super().save(*args, **kwargs)



class PrivacyNotice(models.Model):
    """One published version of the office's privacy notice: the simplified one (linked from every message and
    public page) or the full one. A published version is never changed; an edit publishes the next version, and
    the public pages show the latest (directory/privacy.py)."""

    class Kind(models.TextChoices):
        SIMPLIFIED = "simplified", _("Simplificado")
        FULL = "full", _("Integral")

    kind = models.CharField(_("aviso"), max_length=10, choices=Kind.choices)
    version = models.PositiveIntegerField(_("versión"), editable=False)
    text = models.TextField(
        _("texto"),
        help_text=_("Texto sin formato: una línea en blanco separa los párrafos. {correo} se sustituye por el "
                    "correo para asuntos de privacidad y {meses} por el plazo de conservación de la configuración."),
    )
    published_at = models.DateTimeField(_("publicado el"), default=timezone.now, editable=False)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("publicado por"), null=True,
                                     blank=True, on_delete=models.SET_NULL, related_name="+", editable=False)

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="privacy_notice_version_once")]
        verbose_name = _("aviso de privacidad")
        verbose_name_plural = _("avisos de privacidad")

    def __str__(self):
        return f"{self.get_kind_display()} v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A published privacy notice is never changed: publish a new version")
        super().save(*args, **kwargs)
