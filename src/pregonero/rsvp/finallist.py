"""The final guest list (step 9 of the procedure): live counts, the table sorted by sector and organization, its
exports (.xlsx, .csv, the printed list for the door) and sending it to the requesting department.

Everything is read from the invitations as they are now, so the list builds itself while answers arrive. Rows are
dicts from one `values()` query streamed in chunks: 10,000 guests never sit in memory as model instances.
Like the guest list shared at step 7, the list carries no phone numbers or e-mail addresses.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Lower
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _, ngettext

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import AuditEntry, Campaign, State
from pregonero.campaigns.services import acts_as, audit_log
from pregonero.directory.exports import Column, write_csv, write_xlsx
from pregonero.directory.guestlist_sharing import XLSX_TYPE, share_addresses
from pregonero.directory.models import Contact, Sector
from pregonero.sending.models import Message

from .models import Invitation

log = logging.getLogger(__name__)

SEND_ACTION = "finallist.send"
RESEND_WINDOW = timedelta(minutes=2)  # a second click inside this window finds the first send
REACHED_STATES = (Message.State.SENT, Message.State.DELIVERED, Message.State.READ)
LIST_STATES = (State.SENDING, State.SENT, State.CLOSED, State.CANCELLED)  # the states in which invitations exist
SENDABLE_STATES = (State.SENT, State.CLOSED)
CHUNK = 2000
ROW_FIELDS = ("pk", "answer", "companions", "answered_via", "answered_at", "checked_in_at", "checked_in_companions",
              "walk_in")


class FinalListError(Exception):
    """The action cannot be done now; the message says why in the office's words."""


@dataclass(frozen=True)
class Filters:
    sector: Sector | None = None
    organization: str = ""
    answer: str = ""

    @property
    def active(self) -> bool:
        return bool(self.sector or self.organization or self.answer)


def reached():
    """True when at least one message to the guest left on some channel (sent, delivered or read)."""
    return Exists(Message.objects.filter(invitation=OuterRef("pk"), state__in=REACHED_STATES))


def primary_sector(field: str = "name"):
    """The guest's first sector in the office's sector order: the one the list groups them under."""
    sectors = Sector.objects.filter(contacts=OuterRef("contact_id")).order_by("position", "name")
    return Subquery(sectors.values(field)[:1])


def final_list_queryset(campaign: Campaign, filters: Filters = Filters()):
    invitations = Invitation.objects.filter(campaign=campaign)
    if filters.sector is not None:
        in_sector = Contact.sectors.through.objects.filter(contact_id=OuterRef("contact_id"), sector=filters.sector)
        invitations = invitations.filter(Exists(in_sector))
    if filters.organization.strip():
        invitations = invitations.filter(contact__organization__icontains=filters.organization.strip())
    if filters.answer:
        invitations = invitations.filter(answer=filters.answer)
    return invitations


def final_list_counts(invitations) -> dict:
    """Live counts in one query. Walk-ins (added at the door) were not invited: they count only as arrivals."""
    invited = Q(walk_in=False)
    attending = invited & Q(answer=Invitation.Answer.ATTENDING)
    arrived = Q(checked_in_at__isnull=False)
    counts = invitations.annotate(was_reached=reached()).aggregate(
        invited=Count("pk", filter=invited),
        reached=Count("pk", filter=invited & Q(was_reached=True)),
        attending=Count("pk", filter=attending),
        companions=Coalesce(Sum("companions", filter=attending), 0),
        declined=Count("pk", filter=invited & Q(answer=Invitation.Answer.DECLINED)),
        pending=Count("pk", filter=invited & Q(answer=Invitation.Answer.PENDING)),
        arrived=Count("pk", filter=arrived),
        arrived_companions=Coalesce(Sum("checked_in_companions", filter=arrived), 0),
        walk_ins=Count("pk", filter=Q(walk_in=True)),
    )
    counts["expected"] = counts["attending"] + counts["companions"]
    counts["not_reached"] = counts["invited"] - counts["reached"]
    return counts


def final_list_rows(invitations, filters: Filters = Filters()):
    """The rows as dicts, sorted by sector (the office's order), organization (blank last) and name."""
    no_organization = Case(When(contact__organization="", then=Value(1)), default=Value(0), output_field=IntegerField())
    order = ["no_organization", Lower("contact__organization"), Lower("contact__name"), "pk"]
    if filters.sector is not None:  # filtered by a sector: that is the sector each row is listed under
        invitations = invitations.annotate(sector=Value(filters.sector.name))
    else:
        invitations = invitations.annotate(sector=primary_sector("name"), sector_position=primary_sector("position"))
        order = [F("sector_position").asc(nulls_last=True), F("sector").asc(nulls_last=True), *order]
    return invitations.annotate(reached=reached(), no_organization=no_organization).order_by(*order).values(
        *ROW_FIELDS, "sector", "reached", honorific=F("contact__honorific"), name=F("contact__name"),
        position=F("contact__position"), organization=F("contact__organization"),
    )


def local_minute(value):
    """A stored time as the office reads it (local, to the minute, no time zone: Excel has none)."""
    return timezone.localtime(value).replace(tzinfo=None, second=0, microsecond=0) if value else None


def final_columns() -> tuple[Column, ...]:
    """The export's columns, translated once per file."""
    yes, no = _("Sí"), _("No")
    answers, vias = dict(Invitation.Answer.choices), dict(Invitation.Via.choices)
    answers = {key: str(label) for key, label in answers.items()}
    vias = {key: str(label) for key, label in vias.items()}

    def people(row) -> int:
        return 1 + row["companions"] if row["answer"] == Invitation.Answer.ATTENDING else 0

    return (
        Column(_("Sector"), lambda row: row["sector"] or ""),
        Column(_("Organización"), lambda row: row["organization"]),
        Column(_("Tratamiento"), lambda row: row["honorific"]),
        Column(_("Nombre"), lambda row: row["name"]),
        Column(_("Cargo"), lambda row: row["position"]),
        Column(_("Respuesta"), lambda row: answers.get(row["answer"], row["answer"])),
        Column(_("Acompañantes"), lambda row: row["companions"]),
        Column(_("Personas esperadas"), people),
        Column(_("Respondió por"), lambda row: vias.get(row["answered_via"], "")),
        Column(_("Fecha de respuesta"), lambda row: local_minute(row["answered_at"])),
        Column(_("Recibió la invitación"), lambda row: yes if row["reached"] else no),
        Column(_("Llegó"), lambda row: local_minute(row["checked_in_at"])),
        Column(_("Acompañantes que llegaron"), lambda row: row["checked_in_companions"] if row["checked_in_at"] else None),
        Column(_("Llegó sin invitación"), lambda row: yes if row["walk_in"] else ""),
    )


FORMATS = ("xlsx", "csv")
CONTENT_TYPES = {"xlsx": XLSX_TYPE, "csv": "text/csv; charset=utf-8"}


def final_list_export(campaign: Campaign, fmt: str, filters: Filters = Filters()):
    """Writes the list to a temporary file; returns (file at position 0, row count)."""
    rows = final_list_rows(final_list_queryset(campaign, filters), filters).iterator(chunk_size=CHUNK)
    if fmt == "xlsx":
        return write_xlsx(rows, final_columns(), title=_("Lista final %(folio)s") % {"folio": campaign.folio})
    return write_csv(rows, final_columns())


def final_list_filename(campaign: Campaign, fmt: str) -> str:
    return f"lista-final-{campaign.folio}.{fmt}"


def final_list_may_send(user, campaign: Campaign) -> bool:
    return acts_as(user, Role.DATABASE, campaign)


def last_sends(campaign: Campaign):
    return campaign.audit_entries.filter(action=SEND_ACTION).select_related("actor").order_by("-at", "-pk")


def _send_email(*, campaign: Campaign, addresses: list[str], content: bytes, counts: dict) -> None:
    context = {
        "campaign": campaign, "counts": counts,
        "url": settings.SITE_URL + reverse("finallist:page", args=[campaign.folio]),
    }
    subject = render_to_string("rsvp/final_email_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=render_to_string("rsvp/final_email.txt", context), to=addresses,
    )
    message.attach_alternative(render_to_string("rsvp/final_email.html", context), "text/html")
    message.attach(final_list_filename(campaign, "xlsx"), content, XLSX_TYPE)
    message.send()


def final_list_send(*, campaign: Campaign, actor) -> AuditEntry:
    """E-mails the whole list (.xlsx) to the requesting department and its requesters; returns the audit entry.

    The campaign row stays locked from the check to the audit entry, so a double click or two colleagues at once
    send one e-mail: the second finds the first entry and is told so. A failed e-mail records nothing.
    """
    if not final_list_may_send(actor, campaign):
        raise PermissionDenied(_("Solo la Jefatura de Base de Datos envía la lista final a la dirección."))
    addresses = share_addresses(campaign)
    if not addresses:
        raise FinalListError(_("La dirección solicitante no tiene un correo registrado: no hay a quién enviarla."))
    try:
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            locked = Campaign.objects.select_for_update().select_related("department").get(pk=campaign.pk)
            if locked.state not in SENDABLE_STATES:
                raise FinalListError(_("La lista final se envía cuando el envío masivo ha terminado."))
            if locked.audit_entries.filter(action=SEND_ACTION, at__gte=timezone.now() - RESEND_WINDOW).exists():
                raise FinalListError(_("La lista final se acaba de enviar a la dirección; si hace falta, vuelva a "
                                       "enviarla en unos minutos."))
            counts = final_list_counts(final_list_queryset(locked))
            output, rows = final_list_export(locked, "xlsx")
            with output:
                content = output.read()
            entry = audit_log(
                campaign=locked, actor=actor, action=SEND_ACTION,
                comment=ngettext("Envió a %(department)s la lista final: %(n)d invitado, %(attending)d asistirán.",
                                 "Envió a %(department)s la lista final: %(n)d invitados, %(attending)d asistirán.",
                                 counts["invited"])
                % {"department": locked.department.name, "n": counts["invited"], "attending": counts["attending"]},
                data={"rows": rows, "emailed": len(addresses), "counts": counts},
            )
            _send_email(campaign=locked, addresses=addresses, content=content, counts=counts)
    except OSError as error:  # SMTP and network failures: the transaction rolled back, nothing was recorded
        log.warning("final list %s not sent: %s", campaign.folio, type(error).__name__)
        raise FinalListError(_("No se pudo enviar el correo a la dirección; no se registró el envío. "
                               "Intente de nuevo en unos minutos.")) from error
    return entry
