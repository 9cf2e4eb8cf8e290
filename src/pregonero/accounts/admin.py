from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from .models import Department, User


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "short_name", "email", "is_requester"]
    search_fields = ["name", "short_name"]


@admin.register(User)
class PregoneroUserAdmin(UserAdmin):
    fieldsets = [*UserAdmin.fieldsets, (_("Dirección"), {"fields": ["department"]})]
    list_display = ["username", "first_name", "last_name", "department", "is_active"]
    list_filter = ["groups", "department", "is_active"]
