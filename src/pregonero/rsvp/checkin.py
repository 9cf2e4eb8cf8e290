"""Check-in at the door: a scanned code or a name found by search, and guests who arrive without an invitation.

Every scan carries a nonce made by the door page. The nonce is unique in the database, so a scan the page queued
while the venue was offline and sent again when the network came back is stored once: a replay returns the stored
result. The first check-in of a guest sets the invitation's arrival time and companions; later scans are kept
(first=False) and answer "ya había ingresado".
"""

import re
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from pregonero.campaigns.models import State
from pregonero.campaigns.services import audit_log
from pregonero.directory.models import Contact
from pregonero.directory.normalize import clean_name, split_honorific
from pregonero.directory.selectors import contact_search
from pregonero.directory.services import contact_create

from .models import CheckIn, Invitation
from .services import AnswerRefused, invitation_answer

NONCE_RE = re.compile(r"[A-Za-z0-9-]{8,64}")
CLOSED_DOORS = {
    State.CANCELLED: gettext_lazy("El evento «%(title)s» fue cancelado: no se registran ingresos."),
    State.REJECTED: gettext_lazy("La solicitud «%(title)s» fue rechazada: no se registran ingresos."),
}


class CheckInRefused(Exception):
    """The scan cannot be taken (not a guest of this event, cancelled event, bad input); the message says why."""


class Status:
    WELCOME = "welcome"
    ALREADY_IN = "already_in"
    DECLINED = "declined"
    NOT_CONFIRMED = "not_confirmed"


def clock(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def companions_text(count: int) -> str:
    return ngettext("+ %(n)d acompañante", "+ %(n)d acompañantes", count) % {"n": count}


@dataclass(frozen=True)
class CheckInResult:
    invitation: Invitation
    check_in: CheckIn
    replayed: bool = False  # the same nonce arrived before: nothing new was stored
    companions_asked: int | None = None  # set when more companions arrived than the event allows

    @property
    def first(self) -> bool:
        return self.check_in.first

    @property
    def status(self) -> str:
        if not self.check_in.first:
            return Status.ALREADY_IN
        return {Invitation.Answer.DECLINED: Status.DECLINED,
                Invitation.Answer.PENDING: Status.NOT_CONFIRMED}.get(self.invitation.answer, Status.WELCOME)

    @property
    def level(self) -> str:
        """The door page's colour: "ok" (green) lets the guest in, "warning" (amber) asks the door to look."""
        return "ok" if self.status == Status.WELCOME and self.companions_asked is None else "warning"

    @property
    def name(self) -> str:
        return str(self.invitation.contact)

    @property
    def headline(self) -> str:
        if self.status == Status.ALREADY_IN:
            return _("Ya había ingresado a las %(time)s") % {"time": clock(self.invitation.checked_in_at)}
        return _("Bienvenido/a, %(name)s") % {"name": self.name}

    @property
    def details(self) -> list[str]:
        lines = []
        if self.status == Status.ALREADY_IN:
            lines.append(self.name)
            if came_with := self.invitation.checked_in_companions:
                lines.append(ngettext("Entró con %(n)d acompañante.", "Entró con %(n)d acompañantes.", came_with)
                             % {"n": came_with})
        elif self.check_in.companions:
            lines.append(companions_text(self.check_in.companions))
        if self.status == Status.DECLINED:
            lines.append(_("Había respondido que no asistiría. Su ingreso quedó registrado."))
        elif self.status == Status.NOT_CONFIRMED:
            lines.append(_("No confirmó su asistencia. Su ingreso quedó registrado."))
        if self.companions_asked is not None:
            lines.append(too_many_companions(self.invitation.campaign.max_companions, self.companions_asked))
        return lines


def too_many_companions(allowed: int, asked: int) -> str:
    if allowed == 0:
        return ngettext("La invitación es personal: no se admiten acompañantes (llegó %(asked)d).",
                        "La invitación es personal: no se admiten acompañantes (llegaron %(asked)d).",
                        asked) % {"asked": asked}
    return ngettext("Solo se admite %(allowed)d acompañante por invitado (llegaron %(asked)d); se registró %(allowed)d.",
                    "Solo se admiten %(allowed)d acompañantes por invitado (llegaron %(asked)d); se registraron "
                    "%(allowed)d.", allowed) % {"allowed": allowed, "asked": asked}


def valid_nonce(nonce) -> str:
    nonce = str(nonce or "").strip()
    if not NONCE_RE.fullmatch(nonce):
        raise CheckInRefused(_("El escaneo llegó sin una clave válida; vuelva a escanear el código."))
    return nonce


def valid_companions(companions, *, default: int) -> int:
    if companions is None or companions == "":
        return default
    try:
        count = int(companions)
    except (TypeError, ValueError):
        count = -1
    if count < 0 or count > 99:
        raise CheckInRefused(_("El número de acompañantes debe ser un número entero entre 0 y 99."))
    return count


def refuse_closed(campaign) -> None:
    if campaign.state in CLOSED_DOORS:
        raise CheckInRefused(CLOSED_DOORS[campaign.state] % {"title": campaign.title})


def stored_result(nonce: str, invitation: Invitation) -> CheckInResult | None:
    stored = CheckIn.objects.filter(nonce=nonce).first()
    if stored is None:
        return None
    if stored.invitation_id != invitation.pk:
        raise CheckInRefused(_("Este escaneo ya se había registrado para otro invitado; vuelva a escanear."))
    current = Invitation.objects.select_related("campaign", "contact").get(pk=stored.invitation_id)
    return CheckInResult(invitation=current, check_in=stored, replayed=True)


def check_in(*, invitation: Invitation, nonce: str, at=None, companions=0, actor) -> CheckInResult:
    """Records one scan. companions=None takes the companions the guest confirmed. A scan's time (at) comes from
    the door's phone, so a scan queued offline keeps when it happened; a time in the future is taken as now."""
    nonce = valid_nonce(nonce)
    replay = stored_result(nonce, invitation)
    if replay is not None:
        return replay
    now = timezone.now()
    at = min(at or now, now)
    with transaction.atomic():
        locked = (Invitation.objects.select_for_update(of=("self",)).select_related("campaign", "contact")
                  .get(pk=invitation.pk))
        refuse_closed(locked.campaign)
        asked = valid_companions(companions, default=locked.companions)
        allowed = locked.campaign.max_companions
        arrived = min(asked, allowed)
        first = locked.checked_in_at is None
        try:
            with transaction.atomic():  # a savepoint: a concurrent replay of this nonce loses here, not later
                row = CheckIn.objects.create(invitation=locked, nonce=nonce, at=at, received_at=now,
                                             companions=arrived, first=first, recorded_by=actor)
        except IntegrityError:
            replay = stored_result(nonce, invitation)
            if replay is None:
                raise
            return replay
        if first:
            locked.checked_in_at, locked.checked_in_companions = at, arrived
            locked.save(update_fields=["checked_in_at", "checked_in_companions"])
    return CheckInResult(invitation=locked, check_in=row, companions_asked=asked if asked > allowed else None)


class _Replayed(Exception):
    """A walk-in whose nonce is stored already: nothing new is written."""


def walk_in(*, campaign, name, organization="", companions=0, actor, nonce=None, at=None) -> CheckInResult:
    """Adds a guest at the door: a contact with the name and organization typed, an invitation marked walk-in and
    answered "attending" in person, and the check-in. With a nonce, a replay returns the first result and adds
    nobody twice."""
    honorific, clean = split_honorific(clean_name(name))
    organization = " ".join(str(organization or "").split())
    if not clean:
        raise CheckInRefused(_("Escriba el nombre de la persona que llegó."))
    if len(clean) > 200 or len(organization) > 200:
        raise CheckInRefused(_("El nombre y la organización admiten hasta 200 caracteres cada uno."))
    nonce = valid_nonce(nonce) if nonce else None
    asked = valid_companions(companions, default=0)
    refuse_closed(campaign)
    try:
        with transaction.atomic():
            if nonce and CheckIn.objects.filter(nonce=nonce).exists():
                raise _Replayed
            invitation = walk_in_invitation(campaign=campaign, actor=actor, values={
                "honorific": honorific[:30], "name": clean, "organization": organization})
            invitation = invitation_answer(invitation=invitation, answer=Invitation.Answer.ATTENDING,
                                           via=Invitation.Via.IN_PERSON, companions=min(asked, campaign.max_companions),
                                           actor=actor)
            result = check_in(invitation=invitation, nonce=nonce or str(uuid.uuid4()), at=at, companions=asked,
                              actor=actor)
            audit_log(campaign=campaign, actor=actor, action="door.walk_in",
                      # The log is append-only: a contact number, never a name an erasure could not reach.
                      comment=_("Registró en la puerta a una persona sin invitación (contacto n.º %(pk)s).")
                      % {"pk": invitation.contact_id},
                      data={"invitation": invitation.pk, "contact": invitation.contact_id,
                            "companions": result.check_in.companions})
            return result
    except AnswerRefused as refused:
        raise CheckInRefused(str(refused)) from None
    except (_Replayed, CheckInRefused):
        # Everything above was rolled back. The nonce is stored when this walk-in was sent before, or when a
        # concurrent copy of it won the unique constraint: answer with that one.
        stored = CheckIn.objects.filter(nonce=nonce).select_related("invitation").first() if nonce else None
        if stored is None:
            raise
        return stored_result(nonce, stored.invitation)


def walk_in_invitation(*, campaign, actor, values: dict) -> Invitation:
    contact = contact_create(actor=actor, values=values,
                             provenance=_("Llegó sin invitación a %(folio)s") % {"folio": campaign.folio})
    return Invitation.objects.create(campaign=campaign, contact=contact, walk_in=True)


# --------------------------------------------------------------------------- reads for the door page

SEARCH_LIMIT = 20


def door_counts(campaign) -> dict:
    """Guests in and expected (confirmed), and the same counted as people with their companions."""
    attending, arrived = Q(answer=Invitation.Answer.ATTENDING), Q(checked_in_at__isnull=False)
    return campaign.invitations.aggregate(
        checked_in=Count("pk", filter=arrived),
        expected=Count("pk", filter=attending),
        people_in=Coalesce(Sum(F("checked_in_companions") + 1, filter=arrived), 0),
        people_expected=Coalesce(Sum(F("companions") + 1, filter=attending), 0),
    )


def door_search(campaign, query: str):
    """This event's guests whose name, organization or position has every word typed (accents ignored)."""
    contacts = contact_search(Contact.objects.filter(invitations__campaign=campaign), query)
    return (campaign.invitations.filter(contact__in=contacts).select_related("contact")
            .prefetch_related("contact__sectors").order_by("contact__name", "pk")[:SEARCH_LIMIT])
