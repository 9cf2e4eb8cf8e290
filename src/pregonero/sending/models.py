import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Message(models.Model):
    """The outbox: one row per (invitation, channel, round), written before anything is sent.

    Its state is the truth about that message. `public_id` travels with it (WhatsApp's
    `biz_opaque_callback_data`, the e-mail's Message-ID), so a status can always be matched back, even for a
    message whose send timed out.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("En cola")
        SENDING = "sending", _("Enviándose")
        SENT = "sent", _("Enviado")
        DELIVERED = "delivered", _("Entregado")
        READ = "read", _("Leído")
        FAILED = "failed", _("Falló")
        SKIPPED = "skipped", _("No se envió")

    class Channel(models.TextChoices):
        WHATSAPP = "whatsapp", _("WhatsApp")
        EMAIL = "email", _("Correo")

    class Kind(models.TextChoices):
        INVITATION = "invitation", _("Invitación")
        REMINDER = "reminder", _("Recordatorio")
        CANCELLATION = "cancellation", _("Aviso de cancelación")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Indexed below: (campaign, state) serves the campaign's own lookups too, and one_message_per_round begins
    # with the invitation. Every index is written again by each of a message's state changes.
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="messages",
                                 db_index=False)
    invitation = models.ForeignKey("rsvp.Invitation", on_delete=models.CASCADE, related_name="messages",
                                   db_index=False)
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices)
    round = models.PositiveSmallIntegerField(_("ronda"), default=1)
    # What this round says: the invitation (round 1 and resends), a reminder, or the notice that it was cancelled.
    kind = models.CharField(_("tipo"), max_length=12, choices=Kind.choices, default=Kind.INVITATION)
    address = models.CharField(_("destino"), max_length=320)  # snapshot: the number or e-mail used
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(_("estado"), max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The last request's outcome is unknown (timeout, worker died): wait for a status webhook before any retry.
    outcome_unknown = models.BooleanField(default=False)
    provider_id = models.CharField(max_length=128, blank=True)  # indexed below (no LIKE index: never searched)
    error_code = models.CharField(max_length=20, blank=True)
    error_reason = models.CharField(_("motivo"), max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Only the people's own data: what a retention purge or an ARCO erasure blanks.
    PERSONAL_FIELDS = ("address", "payload")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invitation", "channel", "round"], name="one_message_per_round"),
        ]
        indexes = [
            # The claim's order: due messages read in index order, so the claim stops at its batch instead of
            # sorting every queued message (a third of the engine's database time: bench/send_throughput.py).
            # Partial, as the next one: a message leaves it when claimed, and neither its claim nor its outcome
            # writes an entry here (on PostgreSQL each of a message's changes writes every index it stays in).
            models.Index(fields=["next_attempt_at", "id"], condition=Q(state="queued"), name="message_due"),
            # Stale leases (release_stale): only the messages in flight.
            models.Index(fields=["lease_expires_at"], condition=Q(state="sending"), name="message_in_flight"),
            # "Is anything of this campaign still open?" after every batch, and the progress counts per state.
            models.Index(fields=["campaign", "state"], name="message_campaign_state"),
            models.Index(fields=["provider_id"], name="message_provider_id"),
        ]
        verbose_name = _("mensaje")
        verbose_name_plural = _("mensajes")


# A send or a round that writes at least this many messages refreshes the outbox's statistics (outbox_written).
ANALYZE_AFTER = 1000


def outbox_written(count: int) -> None:
    """Called after a send or a round wrote ``count`` messages: on PostgreSQL, once its transaction commits, the
    outbox's statistics are refreshed, so the planner knows how many are queued. The claim reads the queued
    messages in index order and stops at its batch; believing few were queued, PostgreSQL read and sorted all of
    them for every batch until autovacuum looked again (bench/send_throughput.py)."""
    if count >= ANALYZE_AFTER and connection.vendor == "postgresql":
        transaction.on_commit(analyze_outbox)


def analyze_outbox() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(Message._meta.db_table)}")


# Statuses only move forward: sent < delivered < read. A failure ends a message that was not yet delivered,
# but a later delivered or read (statuses arrive out of order) still wins over it.
STATUS_RANK = {
    Message.State.QUEUED: 0, Message.State.SENDING: 1, Message.State.SENT: 2, Message.State.FAILED: 2,
    Message.State.DELIVERED: 3, Message.State.READ: 4,
}


class WebhookEvent(models.Model):
    """A provider's webhook exactly as it arrived (after its signature was checked), before it is applied."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    body = models.BinaryField()
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["received_at", "pk"]


class InboundMessage(models.Model):
    """One inbound WhatsApp message (a tap, a text), kept once: a duplicate webhook finds it and does nothing."""

    provider_id = models.CharField(max_length=128, unique=True)
    wa_id = models.CharField(max_length=32)
    kind = models.CharField(max_length=20)
    received_at = models.DateTimeField(default=timezone.now)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")


class SendControl(models.Model):
    """A campaign's sending switch: while paused, the dispatcher claims none of its messages."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="send_control")
    paused_at = models.DateTimeField(_("pausado el"), null=True, blank=True)
    reason = models.CharField(_("motivo de la pausa"), max_length=300, blank=True)
    # Sends also during quiet hours (an urgent change of plans), as chosen when the send started.
    ignore_quiet_hours = models.BooleanField(_("enviar también en horario de descanso"), default=False)
    # A start scheduled for later (a django.tasks task does it); cleared when it starts or is called off.
    scheduled_for = models.DateTimeField(_("envío programado para"), null=True, blank=True)
    scheduled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # The invitation image uploaded once to WhatsApp (media id, used in every template header of the send).
    header_media_id = models.CharField(max_length=128, blank=True)
    header_media_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("control de envío")
        verbose_name_plural = _("controles de envío")


class SenderLimit(models.Model):
    """One sender's shared pace (a WhatsApp phone number id, an SMTP server), used by every worker at once.

    ``next_slot`` is the epoch second of the next free sending slot; a worker books a run of slots under a row
    lock and sends each message at its slot, so all workers together never go faster than ``rate``.
    """

    key = models.CharField(_("remitente"), max_length=200, unique=True)
    rate = models.FloatField(_("mensajes por segundo"), null=True, blank=True,
                             validators=[MinValueValidator(0.1), MaxValueValidator(1000)],
                             help_text=_("Vacío: el valor de la configuración del servidor."))
    next_slot = models.FloatField(default=0.0)

    class Meta:
        verbose_name = _("límite de velocidad del remitente")
        verbose_name_plural = _("límites de velocidad de los remitentes")

    def __str__(self):
        return self.key


class WhatsAppTemplate(models.Model):
    """A message template of the WhatsApp Business account, as last synced, with its approval status."""

    name = models.CharField(_("nombre"), max_length=512)
    language = models.CharField(_("idioma"), max_length=15)
    status = models.CharField(_("estado"), max_length=30)
    category = models.CharField(_("categoría"), max_length=30, blank=True)
    components = models.JSONField(default=list, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)
    synced_at = models.DateTimeField(_("sincronizada el"), default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "language"], name="one_template_per_language")]
        ordering = ["name", "language"]
        verbose_name = _("plantilla de WhatsApp")
        verbose_name_plural = _("plantillas de WhatsApp")

    def __str__(self):
        return f"{self.name} ({self.language})"

    @property
    def approved(self) -> bool:
        return self.status == "APPROVED"


class Reminder(models.Model):
    """A reminder to pending guests, planned for a number of days before the RSVP deadline or the event.

    A django.tasks task writes its round of messages at ``scheduled_for`` (only if the plan still stands); the
    round number is kept here once written, so a second run writes nothing.
    """

    class Anchor(models.TextChoices):
        DEADLINE = "deadline", _("la fecha límite para confirmar")
        EVENT = "event", _("el evento")

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="reminders")
    anchor = models.CharField(_("antes de"), max_length=10, choices=Anchor.choices, default=Anchor.DEADLINE)
    days_before = models.PositiveSmallIntegerField(_("días antes"), default=2)
    scheduled_for = models.DateTimeField(_("programado para"))
    # Empty: every pending guest at that moment; otherwise only these invitations (if still pending).
    invitation_ids = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    round = models.PositiveSmallIntegerField(null=True, blank=True)  # the message round it wrote
    sent_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["scheduled_for", "pk"]
        verbose_name = _("recordatorio")
        verbose_name_plural = _("recordatorios")
