"""Requests that arrive by e-mail or WhatsApp (manual steps 1–2), kept as drafts for the assistant.

Every message that reaches the office's mailbox or number from a department is stored as it came
(`IncomingMessage`, with its files) before anything else happens, and is attached to a `Draft`: the request the
assistant checks, completes and turns to the Director. Several messages about one event end on one draft
(merge); a draft that is not a request is discarded with a reason, never deleted. Mail that is not a request at
all (auto-replies, newsletters) is kept aside on a draft of its own so nothing is lost.
"""

import re
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pregonero.accounts.models import Department


class Source(models.TextChoices):
    EMAIL = "email", _("Correo electrónico")
    WHATSAPP = "whatsapp", _("WhatsApp")


# "RE:", "Rv:", "FW:", "Fwd:", "ENC:" (Outlook in Spanish), repeated: what mail clients put before a subject.
REPLY_PREFIXES = re.compile(r"^(\s*(re|rv|fw|fwd|enc|reenv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def plain_subject(subject: str) -> str:
    """The subject without the reply and forward prefixes mail clients add."""
    return REPLY_PREFIXES.sub("", subject or "").strip()


class KnownSender(models.Model):
    """An address a department writes from (besides the department's own e-mail/WhatsApp and its users' e-mail):
    a messenger's e-mail, a secretary's WhatsApp. Matching a sender to a department reads these."""

    department = models.ForeignKey(
        Department, verbose_name=_("dirección"), on_delete=models.CASCADE, related_name="known_senders"
    )
    source = models.CharField(_("canal"), max_length=10, choices=Source.choices)
    # E-mail in lower case, or a mobile number in E.164 (+52…).
    address = models.CharField(_("correo o número"), max_length=254)
    name = models.CharField(_("nombre"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("remitente conocido")
        verbose_name_plural = _("remitentes conocidos")
        constraints = [models.UniqueConstraint(fields=["source", "address"], name="intake_known_sender_unique")]

    def __str__(self):
        return f"{self.department}: {self.name or self.get_source_display()}"


class AckFailure(models.TextChoices):
    """Why the acknowledgement of a registered draft was given up (shown as "Acuse no enviado: …")."""

    REFUSED = "refused", _("el servidor de correo lo rechazó (la dirección no existe o no recibe correo)")
    UNREACHABLE = "unreachable", _("no se pudo conectar con el servidor de correo tras varios intentos")
    NO_ADDRESS = "no_address", _("el remitente no tiene una dirección a la cual responder")
    WHATSAPP_REFUSED = "wa_refused", _("WhatsApp rechazó el mensaje")
    WHATSAPP_UNAVAILABLE = "wa_unavailable", _("WhatsApp no respondió tras varios intentos")
    WHATSAPP_UNKNOWN = "wa_unknown", _("WhatsApp no confirmó si lo entregó")


class Draft(models.Model):
    """A request as it arrived, waiting for the assistant (UI: "Solicitud por registrar")."""

    class Status(models.TextChoices):
        OPEN = "open", _("Por registrar")
        ASIDE = "aside", _("Apartado (no parece una solicitud)")
        REGISTERED = "registered", _("Registrada")
        MERGED = "merged", _("Unida a otra")
        DISCARDED = "discarded", _("Descartada")

    source = models.CharField(_("llegó por"), max_length=10, choices=Source.choices)
    status = models.CharField(_("estado"), max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    department = models.ForeignKey(
        Department, verbose_name=_("dirección"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="intake_drafts",
    )
    # Where the acknowledgement goes: the first message's sender (e-mail address or E.164 number).
    sender_address = models.CharField(_("remitente"), max_length=254)
    sender_name = models.CharField(_("nombre del remitente"), max_length=200, blank=True)
    subject = models.CharField(_("asunto"), max_length=300, blank=True)
    received_at = models.DateTimeField(_("recibida el"), default=timezone.now)
    aside_reason = models.CharField(_("por qué se apartó"), max_length=200, blank=True)

    # What happened to it, and who decided.
    campaign = models.OneToOneField(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="intake_draft"
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_drafts"
    )
    # A registered request this one answers (a reply in its e-mail thread) or cites by its folio: the assistant
    # decides whether it completes that request or is a new one.
    follows_up = models.ForeignKey(
        "campaigns.Campaign", verbose_name=_("sobre la solicitud"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="intake_follow_ups",
    )
    discard_reason = models.TextField(_("motivo del descarte"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acuse enviado el"), null=True, blank=True)
    # Set when the acknowledgement was given up for good (no retry left); cleared when it is sent or tried again.
    acknowledgement_failed_at = models.DateTimeField(_("acuse no enviado el"), null=True, blank=True)
    acknowledgement_failure = models.CharField(_("por qué no se envió el acuse"), max_length=20, blank=True,
                                               choices=AckFailure.choices)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("solicitud por registrar")
        verbose_name_plural = _("solicitudes por registrar")

    def __str__(self):
        return self.subject or str(_("(sin asunto)"))


def incoming_path(instance, filename):
    # Our own name on disk; the sender's file name is only kept in original_name (see campaigns.uploads).
    suffix = filename.rsplit(".", 1)[-1].lower()[:10] if "." in filename else "bin"
    return f"entrantes/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{suffix}"


class IncomingMessage(models.Model):
    """One e-mail or WhatsApp message as it arrived, stored once: `external_id` is the e-mail's Message-ID (or
    a digest of its bytes when it has none) or the WhatsApp message id, so seeing it again changes nothing."""

    draft = models.ForeignKey(Draft, on_delete=models.PROTECT, related_name="messages")
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=300)
    sender_address = models.CharField(_("remitente"), max_length=254)
    sender_name = models.CharField(_("nombre del remitente"), max_length=200, blank=True)
    subject = models.CharField(_("asunto"), max_length=300, blank=True)
    body = models.TextField(_("texto"), blank=True)
    sent_at = models.DateTimeField(_("enviado el"), null=True, blank=True)
    received_at = models.DateTimeField(_("recibido el"), default=timezone.now)
    # The e-mail exactly as fetched (.eml), so a message we could not read well is never lost.
    raw = models.FileField(upload_to=incoming_path, blank=True)
    # What could not be read (bad charset, a refused attachment…), shown to the assistant.
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["received_at", "pk"]
        verbose_name = _("mensaje recibido")
        verbose_name_plural = _("mensajes recibidos")
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="intake_message_once"),
        ]

    def __str__(self):
        return self.subject or self.external_id


class IncomingAttachment(models.Model):
    message = models.ForeignKey(IncomingMessage, on_delete=models.CASCADE, related_name="attachments")
    # campaigns.models.AttachmentKind value when recognised (scan, image, guest_list); blank for other files.
    kind = models.CharField(_("tipo"), max_length=20, blank=True)
    file = models.FileField(_("archivo"), upload_to=incoming_path)
    original_name = models.CharField(_("nombre original"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["pk"]
        verbose_name = _("archivo recibido")
        verbose_name_plural = _("archivos recibidos")

    def __str__(self):
        return self.original_name


class MailboxCursor(models.Model):
    """How far the IMAP poller has read a mailbox: UIDs above `last_uid` under the same UIDVALIDITY are new."""

    mailbox = models.CharField(max_length=200, unique=True)
    uidvalidity = models.BigIntegerField(default=0)
    last_uid = models.BigIntegerField(default=0)
    polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("buzón leído")
        verbose_name_plural = _("buzones leídos")

    def __str__(self):
        return self.mailbox
