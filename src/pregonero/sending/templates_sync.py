"""The WhatsApp account's message templates, copied into ``WhatsAppTemplate`` so the proof form can offer them.

Meta approves templates, not us: the stored list is only ever replaced by what the account says, all at once, and
a failed fetch leaves the last good list in place.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .channels.base import SendError
from .channels.whatsapp import WhatsAppConfig, sync_templates
from .models import WhatsAppTemplate

log = logging.getLogger(__name__)

STATUS_LABELS = {
    "APPROVED": gettext_lazy("Aprobada"),
    "PENDING": gettext_lazy("En revisión"),
    "REJECTED": gettext_lazy("Rechazada"),
    "PAUSED": gettext_lazy("Pausada"),
    "DISABLED": gettext_lazy("Desactivada"),
    "IN_APPEAL": gettext_lazy("En apelación"),
    "PENDING_DELETION": gettext_lazy("Por eliminarse"),
    "DELETED": gettext_lazy("Eliminada"),
    "LIMIT_EXCEEDED": gettext_lazy("Límite excedido"),
    "ARCHIVED": gettext_lazy("Archivada"),
}
SYNCED_FIELDS = ("status", "category", "components", "provider_id")


class TemplateSyncError(Exception):
    """The account's list could not be read; the message is for the person who asked, in Spanish."""


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def component_of(template: WhatsAppTemplate, kind: str) -> dict:
    """The template's component of ``kind`` ("BODY", "BUTTONS"…) as the account gave it, or {}."""
    for component in template.components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return {}


def body_text(template: WhatsAppTemplate) -> str:
    """The text of the BODY component: what the guest reads, with WhatsApp's {{1}}… placeholders."""
    return str(component_of(template, "BODY").get("text", ""))


def fetch_account_templates() -> dict[tuple[str, str], dict]:
    """The account's templates keyed by (name, language); raises TemplateSyncError if they cannot be read."""
    try:
        found = sync_templates(WhatsAppConfig.from_settings())
    except ImproperlyConfigured:
        raise TemplateSyncError(_("No se pudo actualizar la lista de plantillas: WhatsApp no está configurado en "
                                  "este servidor. La lista guardada no cambió.")) from None
    except SendError as error:
        log.warning("template sync failed: %s", error)
        raise TemplateSyncError(_("No se pudo actualizar la lista de plantillas: %(reason)s La lista guardada no "
                                  "cambió.") % {"reason": error.reason}) from None
    return {(str(item["name"]), str(item["language"])): item for item in found
            if item.get("name") and item.get("language")}


def templates_sync() -> dict:
    """Replaces the stored templates with the account's. Returns counts: created, updated, removed, total."""
    account = fetch_account_templates()
    now = timezone.now()
    with transaction.atomic():
        stored = {(row.name, row.language): row for row in WhatsAppTemplate.objects.select_for_update()}
        new, changed = [], 0
        for key, item in account.items():
            values = {"status": str(item.get("status") or ""), "category": str(item.get("category") or ""),
                      "components": item.get("components") or [], "provider_id": str(item.get("id") or "")}
            row = stored.get(key)
            if row is None:
                new.append(WhatsAppTemplate(name=key[0], language=key[1], synced_at=now, **values))
                continue
            changed += any(getattr(row, name) != value for name, value in values.items())
            for name, value in values.items():
                setattr(row, name, value)
            row.synced_at = now
        gone = [row.pk for key, row in stored.items() if key not in account]
        WhatsAppTemplate.objects.filter(pk__in=gone).delete()
        # An upsert, so two syncs racing to add the same new template both succeed.
        WhatsAppTemplate.objects.bulk_create(new, update_conflicts=True, unique_fields=["name", "language"],
                                             update_fields=[*SYNCED_FIELDS, "synced_at"])
        kept = [row for key, row in stored.items() if key in account]
        WhatsAppTemplate.objects.bulk_update(kept, [*SYNCED_FIELDS, "synced_at"])
    counts = {"created": len(new), "updated": changed, "removed": len(gone), "total": len(account)}
    log.info("WhatsApp templates synced: %s", counts)
    return counts


def sync_summary(counts: dict) -> str:
    """One sentence for a person: what the sync changed."""
    return _("Plantillas actualizadas desde la cuenta de WhatsApp: %(total)d en total, %(created)d nuevas, "
             "%(updated)d con cambios y %(removed)d quitadas.") % counts


# The office's own templates as it registers them (devtools/emulator/templates.py): the two answers, then
# "Ver invitación", the guest's personal page. Used until the account's list is first synced.
OFFICE_PAGE_BUTTONS = {"invitacion_evento": 2, "recordatorio_evento": 2}


def page_button_index(name: str, language: str) -> int | None:
    """The index of the template's button that opens the guest's personal page (a URL button whose approved
    address ends in ``{{1}}``: each message sends its invitation token there), or None when it has none. The
    page holds what a template cannot: the event's details, the privacy notice and the opt-out."""
    template = WhatsAppTemplate.objects.filter(name=name, language=language).first()
    if template is None:
        return None if WhatsAppTemplate.objects.exists() else OFFICE_PAGE_BUTTONS.get(name)
    found = page_button_of(template)
    return found[0] if found else None


def page_button_of(template: WhatsAppTemplate) -> tuple[int, str] | None:
    """(index, approved address) of the template's first URL button ending in ``{{1}}``, or None."""
    for index, button in enumerate(component_of(template, "BUTTONS").get("buttons") or []):
        if (isinstance(button, dict) and str(button.get("type", "")).upper() == "URL"
                and "{{1}}" in str(button.get("url", ""))):
            return index, str(button["url"])
    return None


def proof_templates() -> tuple[bool, list[WhatsAppTemplate]]:
    """Whether the list was ever synced, and the templates a proof may name: those in the language invitations
    are sent in, whatever their status (the form shows them all and lets only approved ones be chosen)."""
    from .services import TEMPLATE_LANGUAGE  # sending.services imports campaigns, whose proof form imports us

    rows = list(WhatsAppTemplate.objects.all())
    return bool(rows), [row for row in rows if row.language == TEMPLATE_LANGUAGE]
