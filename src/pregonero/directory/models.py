from django.db import models
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
    mobile = models.CharField(_("celular (E.164)"), max_length=20, blank=True, db_index=True)
    email = models.EmailField(_("correo"), blank=True, db_index=True)
    consent_basis = models.CharField(_("base del tratamiento"), max_length=20, choices=ConsentBasis.choices, blank=True)
    consent_source = models.CharField(_("origen del consentimiento"), max_length=200, blank=True)
    consent_date = models.DateField(_("fecha del consentimiento"), null=True, blank=True)
    whatsapp_opt_out = models.BooleanField(_("no desea WhatsApp"), default=False)
    email_opt_out = models.BooleanField(_("no desea correo"), default=False)
    provenance = models.CharField(_("procedencia"), max_length=200, blank=True)
    notes = models.TextField(_("notas"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("contacto")
        verbose_name_plural = _("contactos")

    def __str__(self):
        return " ".join(part for part in (self.honorific, self.name) if part)
