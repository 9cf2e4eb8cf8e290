"""The office's roles (DESIGN §1) as Django groups, each with the permissions its steps need."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    REQUESTER = "requester", _("Dirección interesada (solicitante)")
    ASSISTANT = "assistant", _("Asistente")
    DIRECTOR = "director", _("Dirección de Relaciones Públicas")
    SOCIAL_MEDIA = "social_media", _("Jefatura de Redes Sociales y Difusión")
    DATABASE = "database", _("Jefatura de Base de Datos")

    @property
    def group_name(self) -> str:
        return str(self.value)

    @property
    def permission(self) -> str:
        return f"campaigns.act_as_{self.value}"


# Each group carries its role permission (the transition table asks for it) plus the model permissions
# its work needs in the admin-free UI.
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.REQUESTER: ["campaigns.act_as_requester", "campaigns.add_campaign", "campaigns.view_campaign"],
    Role.ASSISTANT: ["campaigns.act_as_assistant", "campaigns.add_campaign", "campaigns.view_campaign"],
    Role.DIRECTOR: ["campaigns.act_as_director", "campaigns.view_campaign"],
    Role.SOCIAL_MEDIA: ["campaigns.act_as_social_media", "campaigns.view_campaign", "campaigns.add_proof"],
    Role.DATABASE: ["campaigns.act_as_database", "campaigns.view_campaign", "directory.view_contact"],
}


def sync_role_groups(**kwargs):
    """Create the role groups and give them exactly their permissions (runs after every migrate)."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role.group_name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is not None:
                wanted.append(permission)
        group.permissions.set(wanted)


OFFICE_ROLES = (Role.ASSISTANT, Role.DIRECTOR, Role.SOCIAL_MEDIA, Role.DATABASE)


def is_office_staff(user) -> bool:
    """Staff of the Public Relations office itself (not a requesting department)."""
    return user.is_authenticated and any(user.has_role(role) for role in OFFICE_ROLES)
