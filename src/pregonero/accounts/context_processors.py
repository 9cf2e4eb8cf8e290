from django.conf import settings

from .roles import Role, is_office_staff


def navigation(request):
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "user_roles": sorted(user.roles, key=lambda role: role.value) if signed_in else [],
        "unread_count": user.notifications.filter(read_at__isnull=True).count() if signed_in else 0,
        "can_register": signed_in and (user.has_role(Role.ASSISTANT) or (user.has_role(Role.REQUESTER) and user.department_id)),
        "whatsapp_emulator": settings.WHATSAPP_EMULATOR and signed_in,
        "mail_sink_enabled": settings.MAIL_SINK_ENABLED and signed_in and is_office_staff(user),
    }
