from django.contrib.auth.models import AbstractUser
from django.db import models
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
