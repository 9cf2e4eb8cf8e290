from django.contrib import admin

from .models import AuditEntry, Campaign, ChecklistItem


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ["label", "rule", "active", "position"]
    list_editable = ["active", "position"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """Read-only for IT: a campaign moves only through its transitions, never by editing its state here."""

    list_display = ["folio", "title", "department", "state", "created_at"]
    list_filter = ["state", "department"]
    search_fields = ["folio", "title"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "campaign", "actor", "action", "from_state", "to_state"]
    list_filter = ["action"]
    readonly_fields = ["prev_hash", "entry_hash"]  # the chain: `pregonero audit verify` checks it

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
