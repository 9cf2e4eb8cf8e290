"""ARCO requests (LGPDPPSO): access, rectification, cancellation and opposition, within the legal deadline.

The law gives the office 20 business days ("días hábiles") from receipt. Business days skip weekends, the
official rest days of Art. 74 of the Ley Federal del Trabajo, and whatever extra non-working days the city hall
publishes (settings.ARCO_NON_WORKING_DAYS: ISO dates such as Holy Thursday or 2 November).

One person may have several contact rows: a merge keeps the absorbed row, pointing to the kept one. Every
action here works on that whole family, so an access export shows everything held about the person and a
cancellation leaves nothing of them behind.
"""

import re
from datetime import date, timedelta
from functools import lru_cache

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy

from pregonero.campaigns.services import audit_log
from pregonero.rsvp.models import Invitation, new_token

from .exports import CONTACT_COLUMNS
from .models import ArcoRequest, Contact, ContactEvent, DuplicateCandidate, ImportIssue
from .normalize import name_key
from .services import changed_fields, contact_event, contact_opt_out, contact_update

LEGAL_BUSINESS_DAYS = 20
ERASED_NAME = "Contacto eliminado"  # stored data, not UI: the same in every language
ERASED_MARK = "[eliminado]"
RECTIFIABLE = {  # field -> how the answer to the person names it
    "honorific": gettext_lazy("tratamiento"), "name": gettext_lazy("nombre"), "position": gettext_lazy("cargo"),
    "organization": gettext_lazy("organización"), "mobile": gettext_lazy("celular"), "email": gettext_lazy("correo"),
}
# Blanked by a cancellation. Sectors stay: they are not about the person and keep the anonymous counts by sector.
ERASED_FIELDS = {
    "honorific": "", "position": "", "organization": "", "mobile": "", "office_phone": "", "office_extension": "",
    "email": "", "notes": "", "consent_basis": "", "consent_source": "", "consent_date": None, "name_key": "",
    "whatsapp_unavailable_at": None,
}
# What a history entry keeps after a cancellation: pointers and field names, never values.
SAFE_EVENT_KEYS = ("absorbed", "merged_into", "channels", "filled", "arco")
# Used until the sending app's Message declares PERSONAL_FIELDS itself.
MESSAGE_PERSONAL_FIELDS = ("address", "to", "recipient", "payload", "rendered", "body", "subject", "last_error")


class ArcoError(Exception):
    """The action cannot be carried out as asked; the message (Spanish) says why and changes nothing."""


# --------------------------------------------------------------------------- the legal deadline


def nth_monday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


@lru_cache(maxsize=64)
def official_holidays(year: int) -> frozenset[date]:
    """Art. 74 LFT: the rest days that are not business days for anyone."""
    days = {
        date(year, 1, 1), nth_monday(year, 2, 1), nth_monday(year, 3, 3), date(year, 5, 1), date(year, 9, 16),
        nth_monday(year, 11, 3), date(year, 12, 25),
    }
    # The day the federal executive changes hands: 1 October since 2024, 1 December before.
    if year >= 2024 and (year - 2024) % 6 == 0:
        days.add(date(year, 10, 1))
    elif year < 2024 and (2018 - year) % 6 == 0:
        days.add(date(year, 12, 1))
    return frozenset(days)


def extra_non_working_days() -> frozenset[date]:
    return frozenset(date.fromisoformat(str(day)) for day in getattr(settings, "ARCO_NON_WORKING_DAYS", ()))


def is_business_day(day: date, extra: frozenset[date] = frozenset()) -> bool:
    return day.weekday() < 5 and day not in official_holidays(day.year) and day not in extra


def legal_due_date(received_on: date, days: int = LEGAL_BUSINESS_DAYS) -> date:
    """The last day to answer: `days` business days after the day of receipt (which itself does not count)."""
    extra = extra_non_working_days()
    current, left = received_on, days
    while left:
        current += timedelta(days=1)
        if is_business_day(current, extra):
            left -= 1
    return current


def business_days_left(due_on: date, today: date | None = None) -> int:
    """0 on the due date itself, positive before it, negative (business days late) after it."""
    today = today or timezone.localdate()
    start, end, sign = (today, due_on, 1) if due_on >= today else (due_on, today, -1)
    extra = extra_non_working_days()
    count = sum(is_business_day(start + timedelta(days=n), extra) for n in range(1, (end - start).days + 1))
    return sign * count


# --------------------------------------------------------------------------- reads


def person_contacts(contact: Contact) -> list[Contact]:
    """The contact the person lives on now (first) and every row merged into it, at any depth."""
    root, seen = contact, {contact.pk}
    while root.merged_into_id and root.merged_into_id not in seen:
        seen.add(root.merged_into_id)
        root = Contact.objects.get(pk=root.merged_into_id)
    family, frontier = [root], [root.pk]
    while frontier:
        children = list(Contact.objects.filter(merged_into__in=frontier).exclude(pk__in=[c.pk for c in family]))
        family += children
        frontier = [child.pk for child in children]
    return family


def message_model():
    """The sending app's outbox, once it exists: exports and erasures include it without further changes."""
    try:
        return apps.get_model("sending", "Message")
    except LookupError:
        return None


def messages_of(model, contact_ids):
    names = {field.name for field in model._meta.get_fields()}
    link = "invitation__contact__in" if "invitation" in names else "contact__in"
    return model.objects.filter(**{link: contact_ids}).order_by("pk")


def local(moment):
    return timezone.localtime(moment) if moment else None


def contact_record(contact: Contact) -> dict:
    record = {str(column.header): column.value(contact) for column in CONTACT_COLUMNS}
    record.update({
        _("Notas"): contact.notes, _("Sin WhatsApp desde"): local(contact.whatsapp_unavailable_at),
        _("Baja registrada el"): local(contact.opted_out_at), _("Alta en el directorio"): local(contact.created_at),
        _("Fusionado en (ID)"): contact.merged_into_id, _("Datos eliminados el"): local(contact.erased_at),
    })
    return record


def invitation_record(invitation: Invitation) -> dict:
    campaign = invitation.campaign
    return {
        _("Solicitud de difusión"): campaign.folio, _("Evento"): campaign.title,
        _("Fecha del evento"): local(campaign.starts_at), _("Invitado el"): local(invitation.created_at),
        _("Respuesta"): invitation.get_answer_display(), _("Acompañantes"): invitation.companions,
        _("Respondió por"): invitation.get_answered_via_display(), _("Respondió el"): local(invitation.answered_at),
        _("Registró su entrada el"): local(invitation.checked_in_at),
    }


def arco_record(arco: ArcoRequest) -> dict:
    return {
        _("Número"): arco.pk, _("Derecho"): arco.get_kind_display(), _("Recibida el"): arco.received_on,
        _("Fecha límite"): arco.due_on, _("Estado"): arco.get_status_display(), _("Descripción"): arco.description,
        _("Respuesta"): arco.resolution,
    }


def plain_record(instance) -> dict:
    return {field.name: field.value_from_object(instance) for field in instance._meta.concrete_fields}


def person_export(arco_request: ArcoRequest) -> dict:
    """Everything held about the person: contact rows, history, invitations, messages and ARCO requests."""
    family = person_contacts(arco_request.contact)
    ids = [contact.pk for contact in family]
    model = message_model()
    contacts = Contact.objects.filter(pk__in=ids).prefetch_related("sectors", "tags").order_by("pk")
    invitations = Invitation.objects.filter(contact_id__in=ids).select_related("campaign").order_by("created_at", "pk")
    return {
        _("Titular"): str(family[0]), _("Solicitud ARCO"): arco_request.pk, _("Generado el"): timezone.localtime(),
        _("Contacto"): [contact_record(contact) for contact in contacts],
        _("Historial"): [
            {_("ID de contacto"): event.contact_id, _("Fecha"): local(event.at),
             _("Movimiento"): event.get_kind_display(), _("Detalle"): event.data}
            for event in ContactEvent.objects.filter(contact_id__in=ids).order_by("at", "pk")
        ],
        _("Invitaciones"): [invitation_record(invitation) for invitation in invitations],
        _("Mensajes"): [plain_record(message) for message in messages_of(model, ids)] if model else [],
        _("Solicitudes ARCO"): [arco_record(arco) for arco in ArcoRequest.objects.filter(contact_id__in=ids)],
    }


# --------------------------------------------------------------------------- writes


def _locked(arco_request: ArcoRequest, kind: str | None = None) -> ArcoRequest:
    locked = ArcoRequest.objects.select_for_update(of=("self",)).select_related("contact", "resolved_by").get(pk=arco_request.pk)
    if kind and locked.kind != kind:
        raise ArcoError(_("Esta acción no corresponde a una solicitud de %(kind)s.") % {
            "kind": locked.get_kind_display().lower()})
    if locked.status == ArcoRequest.Status.DONE:
        when = timezone.localtime(locked.resolved_at).strftime("%d/%m/%Y %H:%M") if locked.resolved_at else "—"
        raise ArcoError(_("Esta solicitud ya fue atendida el %(date)s; no se hizo ningún cambio.") % {"date": when})
    return locked


def _finish(arco: ArcoRequest, actor, resolution: str) -> None:
    arco.status, arco.resolution = ArcoRequest.Status.DONE, resolution.strip()
    arco.resolved_by, arco.resolved_at = actor, timezone.now()
    arco.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])


@transaction.atomic
def arco_create(*, actor, contact: Contact, kind: str, received_on: date, description: str = "") -> ArcoRequest:
    """Registers a request with its legal due date; the same form sent twice gives back the first request."""
    if received_on > timezone.localdate():
        raise ArcoError(_("La fecha de recepción no puede ser futura."))
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    description = description.strip()
    same = ArcoRequest.objects.filter(contact=locked, kind=kind, received_on=received_on, description=description,
                                      created_by=actor, status=ArcoRequest.Status.OPEN).first()
    if same is not None:
        return same
    arco = ArcoRequest.objects.create(contact=locked, kind=kind, received_on=received_on, description=description,
                                      due_on=legal_due_date(received_on), created_by=actor)
    audit_log(campaign=None, actor=actor, action="directory.arco.create",
              data={"arco": arco.pk, "kind": kind, "contact": locked.pk})
    return arco


@transaction.atomic
def arco_resolve(*, arco_request: ArcoRequest, actor, resolution: str) -> ArcoRequest:
    """Closes a request with the answer given to the person (also for requests that did not proceed)."""
    if not resolution.strip():
        raise ArcoError(_("Escriba la respuesta que se dio al titular."))
    arco = _locked(arco_request)
    _finish(arco, actor, resolution)
    audit_log(campaign=None, actor=actor, action="directory.arco.resolve", data={"arco": arco.pk})
    return arco


def arco_export_logged(*, arco_request: ArcoRequest, actor, fmt: str) -> None:
    """Who downloaded a person's data, and when: an access export is itself a use of personal data."""
    audit_log(campaign=None, actor=actor, action="directory.arco.export", data={"arco": arco_request.pk, "format": fmt})


@transaction.atomic
def arco_rectify(*, request: ArcoRequest, actor, values: dict, resolution: str = "") -> ArcoRequest:
    """Applies the corrected values (already normalised) with old and new values in the contact's history."""
    arco = _locked(request, ArcoRequest.Kind.RECTIFICATION)
    contact = person_contacts(arco.contact)[0]
    if contact.erased_at:
        raise ArcoError(_("Los datos de este contacto fueron eliminados; no hay nada que rectificar."))
    values = {name: values[name] for name in RECTIFIABLE if name in values}
    changes = changed_fields(contact, values)
    if not changes:
        raise ArcoError(_("Ningún dato cambió. Si la solicitud no procede, márquela como atendida con la respuesta."))
    if "mobile" in changes:
        values["whatsapp_unavailable_at"] = None  # that mark was about the old number
    contact_update(contact=contact, actor=actor, values=values, kind=ContactEvent.Kind.ARCO)
    labels = [str(RECTIFIABLE[name]) for name in changes]
    _finish(arco, actor, resolution.strip() or _("Se rectificaron: %(fields)s.") % {"fields": ", ".join(labels)})
    audit_log(campaign=None, actor=actor, action="directory.arco.rectify",
              data={"arco": arco.pk, "fields": sorted(changes)})
    return arco


@transaction.atomic
def arco_oppose(*, arco_request: ArcoRequest, actor, resolution: str = "") -> ArcoRequest:
    """Opposition: no more WhatsApp and no more e-mail, on every later send (re-imports never undo it)."""
    arco = _locked(arco_request, ArcoRequest.Kind.OPPOSITION)
    contact = person_contacts(arco.contact)[0]
    contact_opt_out(contact=contact, actor=actor, whatsapp=True, email=True,
                    source=_("Solicitud ARCO n.º %(n)d (oposición)") % {"n": arco.pk})
    _finish(arco, actor, resolution.strip() or _("Se dio de baja al titular de todos los envíos (WhatsApp y correo)."))
    audit_log(campaign=None, actor=actor, action="directory.arco.oppose", data={"arco": arco.pk})
    return arco


# --------------------------------------------------------------------------- cancellation


def identifier_patterns(contacts) -> list[re.Pattern]:
    """Regexes for the person's name, e-mails and numbers as people write them in free text and spreadsheets."""
    patterns = set()
    for contact in contacts:
        for text in (contact.name, contact.email):
            if len(text.strip()) >= 5 and text != ERASED_NAME:
                patterns.add(re.escape(text.strip()))
        for number in (contact.mobile, contact.office_phone):
            digits = re.sub(r"\D", "", number)[-10:]
            if len(digits) >= 7:  # "998 123 4567", "(998) 123-45-67", "+52 998…" all match
                patterns.add(r"[\s().-]*".join(digits))
    return [re.compile(pattern, re.IGNORECASE) for pattern in sorted(patterns, key=len, reverse=True)]


def scrub(text: str, patterns) -> str:
    for pattern in patterns:
        text = pattern.sub(ERASED_MARK, text)
    return text


def folded_names(contacts) -> set[str]:
    keys = {name_key(contact.name).split("|")[0] for contact in contacts if contact.name != ERASED_NAME}
    return {key for key in keys if " " in key}  # a lone first name would match strangers


def scrub_import_issues(contacts, patterns) -> None:
    """Rejected and doubtful rows keep their row number and reason, never the person's cells."""
    names, changed = folded_names(contacts), []
    for issue in ImportIssue.objects.only("pk", "values", "reason").iterator(chunk_size=2000):
        # One folded string per row: accents, case, honorifics and punctuation do not hide the name.
        row = " \x1f ".join(str(cell) for cell in issue.values)
        folded = name_key(row).split("|")[0]
        if any(pattern.search(row) for pattern in patterns) or any(key in folded for key in names):
            issue.values, issue.reason = [], scrub(issue.reason, patterns)
            changed.append(issue)
    ImportIssue.objects.bulk_update(changed, ["values", "reason"], batch_size=500)


def scrub_history(contact_ids) -> None:
    events = list(ContactEvent.objects.filter(contact_id__in=contact_ids))
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        kept = {key: data[key] for key in SAFE_EVENT_KEYS if key in data}
        if isinstance(data.get("changes"), dict):
            kept["changes"] = sorted(data["changes"])  # which fields changed, not from what to what
        event.data = kept
    ContactEvent.objects.bulk_update(events, ["data"], batch_size=500)


def erase_messages(contact_ids) -> None:
    model = message_model()
    if model is None:
        return
    wanted = getattr(model, "PERSONAL_FIELDS", MESSAGE_PERSONAL_FIELDS)
    fields = [field for field in model._meta.concrete_fields if field.name in wanted]
    if fields:
        messages_of(model, contact_ids).update(**{field.name: field.get_default() for field in fields})


def erase_rows(contacts, now) -> None:
    for contact in contacts:
        for name, value in ERASED_FIELDS.items():
            setattr(contact, name, value)
        contact.name, contact.erased_at = ERASED_NAME, now
        contact.whatsapp_opt_out = contact.email_opt_out = True
        contact.opted_out_at = contact.opted_out_at or now
        contact.save()
        contact.tags.clear()  # tags are free labels people write about the person


@transaction.atomic
def contact_erase(*, contact: Contact, actor, arco_request: ArcoRequest | None) -> Contact:
    """Cancellation: every personal field blanked, the history emptied of values, the person opted out of
    everything. Invitations stay (pointing to the anonymous row) so campaigns keep their answer counts."""
    family = person_contacts(contact)
    ids = [member.pk for member in family]
    family = list(Contact.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    root = next(member for member in family if member.pk == ids[0])
    if root.erased_at:
        raise ArcoError(_("Los datos de este contacto ya fueron eliminados el %(date)s.") % {
            "date": timezone.localtime(root.erased_at).strftime("%d/%m/%Y %H:%M")})
    arco = _locked(arco_request, ArcoRequest.Kind.CANCELLATION) if arco_request else None
    patterns, now = identifier_patterns(family), timezone.now()
    erase_rows(family, now)
    scrub_history(ids)
    scrub_import_issues(family, patterns)
    erase_messages(ids)
    for request in ArcoRequest.objects.filter(contact_id__in=ids):
        request.description = scrub(request.description, patterns)
        request.resolution = scrub(request.resolution, patterns)
        request.save(update_fields=["description", "resolution"])
    DuplicateCandidate.objects.filter(Q(contact_id__in=ids) | Q(other_id__in=ids),
                                      status=DuplicateCandidate.Status.PENDING).update(
        status=DuplicateCandidate.Status.DISMISSED, resolved_by=actor, resolved_at=now)
    for invitation in Invitation.objects.filter(contact_id__in=ids):
        invitation.token = new_token()  # the old personal link named the person in chats and mailboxes
        invitation.save(update_fields=["token"])
    for member in family:
        contact_event(contact=member, kind=ContactEvent.Kind.ERASED, actor=actor, arco=arco.pk if arco else None)
    if arco:
        _finish(arco, actor, _("Se eliminaron los datos personales del titular; solo quedan cifras anónimas "
                               "(respuestas a invitaciones y sectores) para estadística."))
    audit_log(campaign=None, actor=actor, action="directory.arco.erase", data={"arco": arco.pk if arco else None})
    return root
