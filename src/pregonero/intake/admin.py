from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from pregonero.campaigns.admin import ReadOnlyAdmin
from pregonero.directory.normalize import normalize_phone

from .models import Draft, IncomingAttachment, IncomingMessage, KnownSender, MailboxCursor, Source


class KnownSenderForm(forms.ModelForm):
    class Meta:
        model = KnownSender
        fields = ["department", "source", "address", "name"]
        help_texts = {"address": _("Correo electrónico, o celular de WhatsApp (10 dígitos o +52…).")}

    def clean(self):
        """Stored as matching reads it: e-mail in lower case, numbers in E.164."""
        cleaned = super().clean()
        source, address = cleaned.get("source"), (cleaned.get("address") or "").strip()
        if source == Source.EMAIL:
            try:
                validate_email(address)
            except ValidationError:
                self.add_error("address", _("Escriba un correo electrónico válido."))
            cleaned["address"] = address.lower()
        elif source == Source.WHATSAPP:
            phone = normalize_phone(address)
            if not phone.e164:
                self.add_error("address", _("Escriba un número de celular válido (10 dígitos o +52…)."))
            cleaned["address"] = phone.e164 or address
        return cleaned


@admin.register(KnownSender)
class KnownSenderAdmin(admin.ModelAdmin):
    """Where the administrator records the e-mails and WhatsApp numbers each department writes from."""

    form = KnownSenderForm
    list_display = ["department", "source", "address", "name"]
    list_filter = ["source", "department"]
    search_fields = ["address", "name", "department__name"]


@admin.register(Draft)
class DraftAdmin(ReadOnlyAdmin):
    list_display = ["pk", "received_at", "source", "status", "department", "subject", "campaign"]
    list_filter = ["status", "source", "department"]
    search_fields = ["subject", "sender_name"]


class IncomingAttachmentInline(admin.TabularInline):
    model = IncomingAttachment
    fields = ["original_name", "kind", "content_type", "size"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(IncomingMessage)
class IncomingMessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "received_at", "source", "subject", "draft"]
    list_filter = ["source"]
    search_fields = ["subject"]
    exclude = ["raw"]  # the .eml is downloaded from the draft's page, never opened here
    inlines = [IncomingAttachmentInline]


@admin.register(MailboxCursor)
class MailboxCursorAdmin(ReadOnlyAdmin):
    list_display = ["mailbox", "last_uid", "uidvalidity", "polled_at", "last_error"]
