from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Contact, PrivacyNotice, Sector
from .privacy import current_notice, privacy_notice_publish


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["name", "position"]
    list_editable = ["position"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "position"]
    search_fields = ["name", "organization"]
    list_filter = ["sectors"]


@admin.register(PrivacyNotice)
class PrivacyNoticeAdmin(admin.ModelAdmin):
    """Saving publishes a new version (the public pages show the latest); the versions before stay as they were."""

    list_display = ["kind", "version", "published_at", "published_by", "is_current"]
    list_filter = ["kind"]
    fields = ["kind", "text", "version", "published_at", "published_by"]
    readonly_fields = ["version", "published_at", "published_by"]

    @admin.display(boolean=True, description=_("vigente"))
    def is_current(self, notice):
        current = current_notice(notice.kind)
        return current is not None and current.pk == notice.pk

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "kind"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        published = privacy_notice_publish(kind=obj.kind, text=obj.text, actor=request.user)
        # The admin goes on with this object (history, messages, redirect): make it the version just published.
        obj.pk, obj.version, obj.text = published.pk, published.version, published.text
        obj.published_at, obj.published_by = published.published_at, published.published_by
        obj._state.adding = False
