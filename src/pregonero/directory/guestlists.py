"""A campaign's guest list: who it invites, how each channel reaches them, who is left out and why.

Guests are live contacts picked by the rules (an included sector or tag, the requester's uploaded list, added by
hand) and not dropped by them (an excluded sector or tag, removed by hand). The selection is one set-based SQL
query, so it stays fast on a million-contact directory. The list freezes into one Invitation per reachable
guest when sending starts; after that every write here refuses with a clear message.
"""

import functools
import operator
from dataclasses import dataclass
from datetime import timedelta
from itertools import batched

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy, ngettext

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import FINAL_STATES, Campaign, State
from pregonero.campaigns.notifications import notify
from pregonero.campaigns.services import audit_log

from .models import Contact, ContactEvent, GuestList, ImportBatch
from .permissions import can_edit_directory

SectorLink = Contact.sectors.through
TagLink = Contact.tags.through
INVITATION_BATCH = 2000
IMPORT_RESUBMIT_WINDOW = timedelta(minutes=2)

WHATSAPP_OK = ~Q(mobile="") & Q(whatsapp_opt_out=False, whatsapp_unavailable_at__isnull=True)
EMAIL_OK = ~Q(email="") & Q(email_opt_out=False)
REACHABLE = WHATSAPP_OK | EMAIL_OK
OPTED_OUT = Q(whatsapp_opt_out=True) | Q(email_opt_out=True)

# Why a candidate is not invited, most decisive first; and how far the others are reached.
REASONS = {
    "removed": gettext_lazy("Quitado de la lista a mano"),
    "excluded_sector": gettext_lazy("Pertenece a un sector excluido"),
    "excluded_tag": gettext_lazy("Tiene una etiqueta excluida"),
    "opted_out": gettext_lazy("Dio de baja: no desea recibir invitaciones por sus medios de contacto"),
    "no_whatsapp": gettext_lazy("Su celular no tiene WhatsApp y no tiene correo"),
    "no_address": gettext_lazy("Sin celular ni correo válidos"),
}
REACHED = ("both", "whatsapp_only", "email_after_opt_out", "email_only")
UNREACHABLE = ("opted_out", "no_whatsapp", "no_address")
BY_RULE = ("removed", "excluded_sector", "excluded_tag")


class GuestListError(Exception):
    """A write the list does not allow now; the message says why, in the office's words."""


class GuestListFrozen(GuestListError):
    """The list froze when sending started."""


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Rules:
    """A guest list's rules as SQL conditions on Contact: who is in, and who is dropped (and why)."""

    included: Q
    excluded_sector: Q | None
    excluded_tag: Q | None
    removed: Q | None

    @property
    def excluded(self) -> Q | None:
        parts = [q for q in (self.removed, self.excluded_sector, self.excluded_tag) if q is not None]
        return functools.reduce(operator.or_, parts) if parts else None


def _linked(link, field: str, ids: list[int]) -> Q | None:
    """Contacts linked to any of `ids` through an M2M table.

    An uncorrelated `pk IN (SELECT contact_id … WHERE sector_id IN …)` rather than a correlated EXISTS: SQLite
    then walks the link table's sector index and fetches contacts by primary key (0.3 s for 100,000 guests of a
    1,000,000-contact directory) instead of testing every live contact (0.8 s); PostgreSQL plans both as the
    same semi-join.
    """
    if not ids:
        return None
    return Q(pk__in=link.objects.filter(**{f"{field}__in": ids}).values("contact_id"))


def _itself_or_survivor(contacts: QuerySet) -> Q:
    """These contacts, or the contact each was merged into since: a merge must not lose a choice made by hand."""
    return Q(pk__in=contacts.values("pk")) | Q(pk__in=contacts.filter(merged_into__isnull=False).values("merged_into_id"))


def batch_contacts(batch_id: int) -> QuerySet:
    """The contacts an import created, plus those its rows matched (the importer logs an event for each)."""
    matched = ContactEvent.objects.filter(import_batch_id=batch_id).values("contact_id")
    return Contact.objects.filter(Q(import_batch_id=batch_id) | Q(pk__in=matched))


def guest_rules(guest_list: GuestList) -> Rules:
    def ids(manager):
        return list(manager.values_list("pk", flat=True))

    through = {"additions": GuestList.additions.through, "removals": GuestList.removals.through}
    hand = {
        name: Contact.objects.filter(pk__in=table.objects.filter(guestlist_id=guest_list.pk).values("contact_id"))
        for name, table in through.items()
    }
    parts = [
        _linked(SectorLink, "sector_id", ids(guest_list.include_sectors)),
        _linked(TagLink, "tag_id", ids(guest_list.include_tags)),
        _itself_or_survivor(batch_contacts(guest_list.uploaded_id)) if guest_list.uploaded_id else None,
        _itself_or_survivor(hand["additions"]) if hand["additions"].exists() else None,
    ]
    parts = [q for q in parts if q is not None]
    return Rules(
        included=functools.reduce(operator.or_, parts) if parts else Q(pk__in=[]),
        excluded_sector=_linked(SectorLink, "sector_id", ids(guest_list.exclude_sectors)),
        excluded_tag=_linked(TagLink, "tag_id", ids(guest_list.exclude_tags)),
        removed=_itself_or_survivor(hand["removals"]) if hand["removals"].exists() else None,
    )


def candidate_queryset(guest_list: GuestList, rules: Rules | None = None) -> QuerySet:
    """Live contacts the inclusion rules pick, before exclusions."""
    rules = rules or guest_rules(guest_list)
    return Contact.objects.live().filter(rules.included)


def guest_queryset(guest_list: GuestList) -> QuerySet:
    """The guests: picked by the rules and not dropped by them (reachable or not)."""
    rules = guest_rules(guest_list)
    guests = candidate_queryset(guest_list, rules)
    return guests.exclude(rules.excluded) if rules.excluded is not None else guests


def invited_queryset(guest_list: GuestList) -> QuerySet:
    """The guests at least one channel reaches: those who get an invitation."""
    return guest_queryset(guest_list).filter(REACHABLE)


def _status(rules: Rules) -> Case:
    """Each candidate's one status: why it is left out, or how it is reached."""
    by_rule = [(rules.removed, "removed"), (rules.excluded_sector, "excluded_sector"), (rules.excluded_tag, "excluded_tag")]
    whens = [When(condition, then=Value(code)) for condition, code in by_rule if condition is not None]
    whens += [
        When(WHATSAPP_OK & EMAIL_OK, then=Value("both")),
        When(WHATSAPP_OK, then=Value("whatsapp_only")),
        When(EMAIL_OK & Q(whatsapp_opt_out=True), then=Value("email_after_opt_out")),
        When(EMAIL_OK, then=Value("email_only")),
        When(OPTED_OUT, then=Value("opted_out")),
        When(~Q(mobile=""), then=Value("no_whatsapp")),
    ]
    return Case(*whens, default=Value("no_address"), output_field=CharField())


def with_status(guest_list: GuestList) -> QuerySet:
    rules = guest_rules(guest_list)
    return candidate_queryset(guest_list, rules).annotate(guest_status=_status(rules))


def guest_summary(guest_list: GuestList) -> dict:
    """How many guests, how each channel reaches them, and how many are left out for each reason (one query)."""
    rows = with_status(guest_list).order_by().values_list("guest_status").annotate(n=Count("pk"))
    counts = dict.fromkeys((*REACHED, *UNREACHABLE, *BY_RULE), 0) | dict(rows)
    counts.update(
        guests=sum(counts[c] for c in (*REACHED, *UNREACHABLE)),
        invited=sum(counts[c] for c in REACHED),
        whatsapp=counts["both"] + counts["whatsapp_only"],
        email=counts["both"] + counts["email_after_opt_out"] + counts["email_only"],
        email_only_total=counts["email_after_opt_out"] + counts["email_only"],
        unreachable=sum(counts[c] for c in UNREACHABLE),
        dropped=sum(counts[c] for c in BY_RULE),
    )
    counts["left_out"] = counts["unreachable"] + counts["dropped"]
    return counts


def left_out_queryset(guest_list: GuestList) -> QuerySet:
    """The people the rules picked who will not be invited; each with `guest_status` (a REASONS key)."""
    return with_status(guest_list).filter(guest_status__in=[*BY_RULE, *UNREACHABLE]).order_by("guest_status", "name", "pk")


# --------------------------------------------------------------------------- reads for pages and the inbox

WAITING_STATES = (State.AUTHORIZED, State.INFO_REQUESTED, State.PROOF_DRAFT, State.PROOF_REVIEW, State.READY)


def guest_lists_waiting() -> QuerySet:
    """Campaigns the Director authorized whose guest list the database team has not confirmed yet."""
    unconfirmed = Q(guest_list__isnull=True) | Q(guest_list__confirmed_at__isnull=True)
    campaigns = Campaign.objects.filter(unconfirmed, state__in=WAITING_STATES).select_related("department")
    return campaigns.order_by("state_changed_at", "pk")


def guest_list_ready(campaign: Campaign) -> bool:
    """Whether sending may start as far as the guest list goes: confirmed by the database team."""
    return GuestList.objects.filter(campaign=campaign, confirmed_at__isnull=False).exists()


def usable_imports(campaign: Campaign) -> QuerySet:
    """This campaign's imports (the requester's list): finished ones can become the guest list's upload."""
    return ImportBatch.objects.filter(campaign=campaign).order_by("-uploaded_at", "-pk")


# --------------------------------------------------------------------------- writes


def guest_list_for(campaign: Campaign) -> GuestList:
    """The campaign's guest list; a new one starts from the sectors the requester chose."""
    guest_list, created = GuestList.objects.get_or_create(campaign=campaign)
    if created:
        guest_list.include_sectors.set(campaign.target_sectors.all())
    return guest_list


def frozen_message(guest_list: GuestList) -> str:
    when = timezone.localtime(guest_list.frozen_at).strftime("%d/%m/%Y %H:%M")
    return _("La lista se congeló al iniciar el envío (%(when)s): ya no se puede modificar.") % {"when": when}


def _check_open(guest_list: GuestList) -> None:
    if guest_list.frozen_at:
        raise GuestListFrozen(frozen_message(guest_list))
    campaign = guest_list.campaign
    if campaign.state in FINAL_STATES:
        raise GuestListError(_("La solicitud %(folio)s está «%(state)s»: su lista ya no se modifica.") % {
            "folio": campaign.folio, "state": campaign.get_state_display()})


def _locked(guest_list: GuestList) -> GuestList:
    """The row, locked for this transaction, after checking that it may still change."""
    locked = GuestList.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=guest_list.pk)
    _check_open(locked)
    return locked


def _changed(locked: GuestList, *, actor, comment: str, data: dict) -> bool:
    """Records a change; a confirmed list stops being confirmed. Returns whether it was."""
    was_confirmed = locked.confirmed_at is not None
    if was_confirmed:
        locked.confirmed_at, locked.confirmed_by = None, None
        locked.save(update_fields=["confirmed_at", "confirmed_by"])
        comment += " " + _("La lista dejó de estar confirmada.")
    audit_log(campaign=locked.campaign, actor=actor, action="guestlist.change", comment=comment,
              data={**data, "unconfirmed": was_confirmed})
    return was_confirmed


def guest_list_set_rules(*, guest_list: GuestList, actor, include_sectors, exclude_sectors, include_tags,
                         exclude_tags) -> bool:
    """Replaces the sector and tag rules; returns whether a confirmation was undone."""
    wanted = {"include_sectors": include_sectors, "exclude_sectors": exclude_sectors,
              "include_tags": include_tags, "exclude_tags": exclude_tags}
    with transaction.atomic():
        locked = _locked(guest_list)
        before = {name: set(getattr(locked, name).values_list("pk", flat=True)) for name in wanted}
        after = {name: {item.pk for item in items} for name, items in wanted.items()}
        if before == after:
            return False  # a second submit of the same form changes nothing
        for name, items in wanted.items():
            getattr(locked, name).set(items)
        names = {name: sorted(item.name for item in items) for name, items in wanted.items()}
        return _changed(locked, actor=actor, comment=_("Cambió los sectores y etiquetas de la lista."), data=names)


def _hand_change(*, guest_list, actor, contact: Contact, add: bool) -> bool:
    with transaction.atomic():
        locked = _locked(guest_list)
        source, target = (locked.removals, locked.additions) if add else (locked.additions, locked.removals)
        if target.filter(pk=contact.pk).exists() and not source.filter(pk=contact.pk).exists():
            return False  # already done (a double click)
        source.remove(contact)
        target.add(contact)
        comment = _("Agregó a mano un contacto (n.º %(pk)s).") if add else _("Quitó a mano un contacto (n.º %(pk)s).")
        return _changed(locked, actor=actor, comment=comment % {"pk": contact.pk},
                        data={"added" if add else "removed": contact.pk})


def guest_list_add(*, guest_list: GuestList, actor, contact: Contact) -> bool:
    if not Contact.objects.live().filter(pk=contact.pk).exists():
        raise GuestListError(_("Ese contacto ya no está en uso (fusionado o eliminado): no se puede invitar."))
    return _hand_change(guest_list=guest_list, actor=actor, contact=contact, add=True)


LATE_STATES = (State.SENDING, State.SENT)


def guest_list_add_late(*, guest_list: GuestList, actor, contact: Contact) -> bool:
    """A guest added after the list froze (the send started or ended): the Invitation is created now and Redes
    Sociales sends it with "Reenviar a los invitados nuevos". Returns False when the guest was already invited."""
    from pregonero.rsvp.models import Invitation

    if not can_edit_directory(actor):
        raise PermissionDenied(_("Solo la Jefatura de Base de Datos modifica la lista de invitados."))
    with transaction.atomic():
        locked = GuestList.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=guest_list.pk)
        campaign = locked.campaign
        if not locked.frozen_at or campaign.state not in LATE_STATES:
            raise GuestListError(_("Solo se agregan invitados tardíos a una solicitud cuyo envío ya inició."))
        person = Contact.objects.live().filter(pk=contact.pk).first()
        if person is None:
            raise GuestListError(_("Ese contacto ya no está en uso (fusionado o eliminado): no se puede invitar."))
        if not Contact.objects.filter(REACHABLE, pk=person.pk).exists():
            raise GuestListError(_("%(name)s dio de baja sus medios de contacto o no tiene celular ni correo válidos: "
                                   "no se le puede invitar.") % {"name": person})
        if Invitation.objects.filter(campaign=campaign, contact=person).exists():
            return False  # already invited (a double click)
        locked.removals.remove(person)
        locked.additions.add(person)
        insert_invitations(campaign, [person.pk])
        entry = audit_log(campaign=campaign, actor=actor, action="guestlist.change", data={"added_late": person.pk},
                          comment=_("Agregó a un invitado después de iniciar el envío (contacto n.º %(pk)s); recibirá "
                                    "la invitación con «Reenviar a los invitados nuevos».") % {"pk": person.pk})
        notify(entry=entry, roles={Role.SOCIAL_MEDIA})  # they send it
    return True


def guest_list_remove(*, guest_list: GuestList, actor, contact: Contact) -> bool:
    return _hand_change(guest_list=guest_list, actor=actor, contact=contact, add=False)


def guest_list_use_import(*, guest_list: GuestList, actor, batch: ImportBatch | None) -> bool:
    """Makes a finished import of this campaign the requester's list (None: stop using one)."""
    if batch is not None and (batch.campaign_id != guest_list.campaign_id or batch.status != ImportBatch.Status.DONE):
        raise GuestListError(_("Solo se puede usar una importación terminada de esta misma solicitud."))
    with transaction.atomic():
        locked = _locked(guest_list)
        if locked.uploaded_id == (batch.pk if batch else None):
            return False
        locked.uploaded = batch
        locked.save(update_fields=["uploaded"])
        comment = (_("Usa la lista importada «%(name)s».") % {"name": batch.original_name} if batch
                   else _("Dejó de usar la lista importada."))
        return _changed(locked, actor=actor, comment=comment, data={"uploaded": batch.pk if batch else None})


def guest_list_import_file(*, guest_list: GuestList, actor) -> ImportBatch:
    """Starts importing the requester's attached list; the database team then confirms its columns."""
    from .importer import import_prepare

    campaign = guest_list.campaign
    attachment = campaign.guest_list_file
    if attachment is None:
        raise GuestListError(_("La solicitud no trae una lista de invitados adjunta."))
    _check_open(GuestList.objects.select_related("campaign").get(pk=guest_list.pk))
    recent = usable_imports(campaign).filter(status=ImportBatch.Status.MAPPING,
                                             uploaded_at__gte=timezone.now() - IMPORT_RESUBMIT_WINDOW).first()
    if recent is not None:
        return recent  # a double click finds the import the first click started
    # The batch's name becomes the new contacts' provenance: it names the request and the department.
    filename = f"{campaign.folio} {campaign.department.name} - {attachment.original_name}".replace("/", "-")
    with attachment.file.open("rb") as source:
        return import_prepare(file=source, filename=filename, actor=actor, campaign=campaign)


def guest_list_confirm(*, guest_list: GuestList, actor) -> bool:
    """The database team's "the list is ready"; returns False when it already was (a double click)."""
    with transaction.atomic():
        locked = _locked(guest_list)
        if locked.confirmed_at:
            return False
        summary = guest_summary(locked)
        if not summary["invited"]:
            raise GuestListError(_("La lista no tiene a nadie a quien enviar la invitación: no se puede confirmar."))
        locked.confirmed_at, locked.confirmed_by = timezone.now(), actor
        locked.save(update_fields=["confirmed_at", "confirmed_by"])
        invited = summary["invited"]
        entry = audit_log(
            campaign=locked.campaign, actor=actor, action="guestlist.confirm",
            comment=ngettext("Lista confirmada: %(n)d invitado.", "Lista confirmada: %(n)d invitados.", invited)
            % {"n": invited},
            data={key: summary[key] for key in ("invited", "whatsapp", "email", "unreachable", "dropped")},
        )
        # Redes Sociales y Difusión sends: it needs to know the list is ready.
        notify(entry=entry, roles={Role.SOCIAL_MEDIA})
    return True


def insert_invitations(campaign: Campaign, contact_ids: list[int]) -> None:
    """One Invitation per contact, skipping those that exist (ON CONFLICT DO NOTHING, SQLite and PostgreSQL).

    Plain executemany rather than bulk_create: the ORM's per-field preparation took 14 s for 93,000 rows where
    this takes 1.5 s. The other columns take what a new Invitation would save (defaults, auto_now_add), so a
    field added to the model later is filled as bulk_create would fill it.
    """
    from pregonero.rsvp.models import Invitation, new_token

    template = Invitation(campaign=campaign)
    fields = [f for f in Invitation._meta.concrete_fields if not f.primary_key]
    fixed = {f.attname: f.get_db_prep_save(f.pre_save(template, True), connection) for f in fields}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    sql = (f"INSERT INTO {quote(Invitation._meta.db_table)} ({columns}) "  # names from the model  # nosec B608
           f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING")
    with connection.cursor() as cursor:
        for chunk in batched(contact_ids, INVITATION_BATCH):
            rows = []
            for contact_id in chunk:
                values = {**fixed, "campaign_id": campaign.pk, "contact_id": contact_id, "token": new_token()}
                rows.append([values[f.attname] for f in fields])
            cursor.executemany(sql, rows)


def guest_list_freeze(*, campaign: Campaign, actor=None) -> int:
    """Freezes the list when sending starts: one Invitation per reachable guest. Returns how many it created;
    a second call creates nothing."""
    from pregonero.rsvp.models import Invitation

    guest_list = guest_list_for(campaign)
    with transaction.atomic():
        # The conditional update is the claim: of two concurrent calls, one freezes and the other finds it done.
        now = timezone.now()
        if not GuestList.objects.filter(pk=guest_list.pk, frozen_at__isnull=True).update(frozen_at=now):
            return 0
        guest_list.refresh_from_db()
        if guest_list.confirmed_at is None:
            raise GuestListError(_("La lista de invitados de %(folio)s no está confirmada por Base de Datos.")
                                 % {"folio": campaign.folio})
        summary = guest_summary(guest_list)
        before = Invitation.objects.filter(campaign=campaign).count()
        ids = list(invited_queryset(guest_list).order_by("pk").values_list("pk", flat=True))
        insert_invitations(campaign, ids)
        created = Invitation.objects.filter(campaign=campaign).count() - before
        audit_log(campaign=campaign, actor=actor, action="guestlist.freeze",
                  comment=ngettext("Lista congelada al iniciar el envío: %(n)d invitación.",
                                   "Lista congelada al iniciar el envío: %(n)d invitaciones.", created) % {"n": created},
                  data={"created": created, "invited": len(ids),
                        **{key: summary[key] for key in ("unreachable", "dropped", "whatsapp", "email")}})
    return created
