from django.contrib import admin

from .models import Contact, Sector


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["name", "position"]
    list_editable = ["position"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "position"]
    search_fields = ["name", "organization"]
    list_filter = ["sectors"]
