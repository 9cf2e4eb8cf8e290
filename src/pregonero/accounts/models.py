from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .roles import Role


class Department(models.Model):
    """A municipal department (dirección / dependencia) that asks for invitations to be sent."""

    name = models.CharField(_("nombre"), max_length=200, unique=True)
    short_name = models.CharField(_("siglas"), max_length=30, blank=True)
    email = models.EmailField(_("correo de la dirección"), blank=True)
    whatsapp = models.CharField(_("WhatsApp de la dirección"), max_length=20, blank=True)
    is_requester = models.BooleanField(_("puede solicitar difusiones"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("dirección")
        verbose_name_plural = _("direcciones")

    def __str__(self):
        return self.name


class User(AbstractUser):
    department = models.ForeignKey(
        Department, verbose_name=_("dirección"), null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

    class Meta:
        verbose_name = _("usuario")
        verbose_name_plural = _("usuarios")

    def __str__(self):
        return self.get_full_name() or self.username

    @property
    def roles(self) -> frozenset[Role]:
        """The roles this user acts in: those whose permission a group (or superuser status) grants."""
        return frozenset(role for role in Role if self.has_perm(role.permission))

    def has_role(self, role: Role) -> bool:
        return self.is_active and self.has_perm(role.permission)


class SecondFactor(models.Model):
    """A person's authenticator app (TOTP), asked for after the password from the roles in OTP_REQUIRED_ROLES.

    The row exists once the person has confirmed a first code; until then the new secret lives only in the
    sign-in session. ``secret`` is sealed with a key derived from SECRET_KEY (``accounts.otp``) and never shown
    again; ``last_step`` is the newest 30-second step accepted, so a code already used cannot be replayed.
    """

    user = models.OneToOneField(User, verbose_name=_("usuario"), on_delete=models.CASCADE, related_name="second_factor")
    secret = models.CharField(max_length=200, editable=False)
    last_step = models.BigIntegerField(default=0, editable=False)
    recovery_codes = models.JSONField(default=list, editable=False)  # SHA-256 of each unused recovery code
    confirmed_at = models.DateTimeField(_("dado de alta"), default=timezone.now)

    class Meta:
        verbose_name = _("segundo factor")
        verbose_name_plural = _("segundos factores")

    def __str__(self):
        return str(self.user)
