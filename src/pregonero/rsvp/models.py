import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_token() -> str:
    """192 random bits, URL-safe: the guest's personal link carries nothing else."""
    return secrets.token_urlsafe(24)


class Invitation(models.Model):
    """One guest of one campaign: created when the guest list freezes at the start of sending."""

    class Answer(models.TextChoices):
        PENDING = "pending", _("Sin respuesta")
        ATTENDING = "attending", _("Asistirá")
        DECLINED = "declined", _("No asistirá")

    class Via(models.TextChoices):
        BUTTON = "button", _("Botón de WhatsApp")
        LINK = "link", _("Enlace personal")
        PHONE = "phone", _("Teléfono")
        LETTER = "letter", _("Oficio o carta")
        IN_PERSON = "in_person", _("En persona")

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="invitations")
    contact = models.ForeignKey("directory.Contact", on_delete=models.PROTECT, related_name="invitations")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    answer = models.CharField(_("respuesta"), max_length=10, choices=Answer.choices, default=Answer.PENDING)
    companions = models.PositiveSmallIntegerField(_("acompañantes"), default=0)
    answered_via = models.CharField(_("respondió por"), max_length=10, choices=Via.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_companions = models.PositiveSmallIntegerField(_("acompañantes que llegaron"), default=0)
    # Added at the door: a guest who came without being on the list.
    walk_in = models.BooleanField(_("llegó sin invitación"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # The door QR as the guest's page shows it and the code it stands for, kept when the confirmation goes out
    # (rsvp/qr.py): drawing it on each visit cost a confirmed guest's page more than the rest of it.
    qr_code = models.CharField(max_length=64, blank=True, default="", editable=False)
    qr_svg = models.TextField(blank=True, default="", editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"], name="one_invitation_per_guest")]
        verbose_name = _("invitación")
        verbose_name_plural = _("invitaciones")


class AnswerRecord(models.Model):
    """Every answer an invitation received, in order: the last one wins, the history stays."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="answers")
    answer = models.CharField(max_length=10, choices=Invitation.Answer.choices)
    companions = models.PositiveSmallIntegerField(default=0)
    via = models.CharField(max_length=10, choices=Invitation.Via.choices)
    at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(_("nota"), max_length=300, blank=True)  # staff entry: who called, the letter's number…
    # The guest is still to be told (rsvp/confirmations.py takes it off when it confirms or finds it superseded).
    confirm_due = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["id"], condition=models.Q(confirm_due=True), name="rsvp_answer_confirm_due")]


class CheckIn(models.Model):
    """One scan or search at the door. The nonce is made by the door page for each scan, so a scan queued while
    the venue was offline and sent twice when the network came back is stored once."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="check_ins")
    nonce = models.CharField(max_length=64, unique=True)
    at = models.DateTimeField(default=timezone.now)  # when the scan happened (the device's time, if it was offline)
    received_at = models.DateTimeField(default=timezone.now)
    companions = models.PositiveSmallIntegerField(default=0)
    first = models.BooleanField(default=True)  # False: the guest was already in (a second scan)
    recorded_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["at", "pk"]


class Throttle(models.Model):
    """A fixed-window counter shared by every web process (e.g. wrong invitation links per IP address)."""

    key = models.CharField(max_length=200, unique=True)
    window_start = models.DateTimeField(default=timezone.now)
    hits = models.PositiveIntegerField(default=0)
