from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .lockout import login_unlock
from .models import Department, User
from .otp import second_factor_reset


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "short_name", "email", "is_requester"]
    search_fields = ["name", "short_name"]


@admin.register(User)
class PregoneroUserAdmin(UserAdmin):
    fieldsets = [*UserAdmin.fieldsets, (_("Dirección"), {"fields": ["department"]})]
    list_display = ["username", "first_name", "last_name", "department", "is_active", "has_second_factor"]
    list_filter = ["groups", "department", "is_active"]
    list_select_related = ["department", "second_factor"]
    actions = ["unlock_sign_in", "reset_second_factor"]

    @admin.display(boolean=True, description=_("segundo factor"))
    def has_second_factor(self, user):
        return hasattr(user, "second_factor")

    @admin.action(description=_("Desbloquear la entrada de los usuarios seleccionados"))
    def unlock_sign_in(self, request, queryset):
        lifted = sum(bool(login_unlock(actor=request.user, username=user.get_username())) for user in queryset)
        message = gettext("Entrada desbloqueada: %(count)d usuario(s) tenían bloqueo.") % {"count": lifted}
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description=_("Restablecer el segundo factor (darán de alta uno nuevo al entrar)"))
    def reset_second_factor(self, request, queryset):
        reset = sum(second_factor_reset(user=user, actor=request.user) for user in queryset)
        message = gettext("Segundo factor restablecido: %(count)d usuario(s).") % {"count": reset}
        self.message_user(request, message, messages.SUCCESS)


def admin_login(request, extra_context=None):
    """The administration signs in through Pregonero's own sign-in (lock-out, second factor), never around it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))
    if admin.site.has_permission(request):
        return redirect("admin:index")
    raise PermissionDenied(gettext("Su cuenta no tiene acceso a la administración."))


admin.site.login = admin_login
