from django.contrib import admin

from .models import AuditEntry, Campaign, ChecklistItem


class ReadOnlyAdmin(admin.ModelAdmin):
    """For IT to look, never to change: records that move only through the procedure (a campaign through its
    transitions, the audit log by appending, what arrived through the assistant's inbox)."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = ["label", "rule", "active", "position"]
    list_editable = ["active", "position"]


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    """Read-only for IT: a campaign moves only through its transitions, never by editing its state here."""

    list_display = ["folio", "title", "department", "state", "created_at"]
    list_filter = ["state", "department"]
    search_fields = ["folio", "title"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "campaign", "actor", "action", "from_state", "to_state"]
    list_filter = ["action"]
    readonly_fields = ["prev_hash", "entry_hash"]  # the chain: `pregonero audit verify` checks it
