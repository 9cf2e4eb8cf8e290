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
    created_at = models.DateTimeField(default=timezone.now)

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

    class Meta:
        ordering = ["at", "pk"]
