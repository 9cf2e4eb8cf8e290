"""The procedure P-PRE-SP-RP-RS-01 as one transition table (DESIGN §2).

Everything that moves a campaign reads this table: the service that applies a transition, the buttons a
person sees, each role's inbox, the notices, and the flow diagram (record DF-PRE-SP-RP-01).
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from pregonero.accounts.roles import Role

from .models import FINAL_STATES, State

OPEN_STATES = tuple(state for state in State if state not in FINAL_STATES)


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[State, ...]
    target: State
    roles: tuple[Role, ...]  # empty: only the system moves it (the sending engine)
    label: Promise  # the button, and the verb in the timeline
    comment_required: bool = False
    # Who is told besides the roles the target state waits on (the "next role").
    inform: tuple[Role, ...] = ()
    # How a person triggers it: "button" on the campaign page, a dedicated "form", or "engine" (the sending
    # engine moves it; it has no button).
    trigger: str = "button"
    style: str = "primary"


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition(
            "turn", (State.RECEIVED,), State.IN_REVIEW, (Role.ASSISTANT,), _("Turnar a la Dirección"),
        ),
        Transition(
            "authorize", (State.IN_REVIEW,), State.AUTHORIZED, (Role.DIRECTOR,), _("Autorizar"),
            # Step 3: authorizing also asks Base de Datos for the guest list.
            inform=(Role.DATABASE, Role.REQUESTER),
        ),
        Transition(
            "reject", (State.IN_REVIEW,), State.REJECTED, (Role.DIRECTOR,), _("Rechazar"),
            comment_required=True, inform=(Role.REQUESTER, Role.ASSISTANT), style="danger",
        ),
        Transition(
            "mark_complete", (State.AUTHORIZED,), State.PROOF_DRAFT, (Role.SOCIAL_MEDIA,),
            _("Información completa"), trigger="form",
        ),
        Transition(
            "request_info", (State.AUTHORIZED,), State.INFO_REQUESTED, (Role.SOCIAL_MEDIA,),
            _("Solicitar información faltante"), comment_required=False, trigger="form", style="warning",
        ),
        Transition(
            "provide_info", (State.INFO_REQUESTED,), State.AUTHORIZED, (Role.REQUESTER,),
            _("Enviar información"), trigger="form",
        ),
        Transition(
            "submit_proof", (State.PROOF_DRAFT,), State.PROOF_REVIEW, (Role.SOCIAL_MEDIA,),
            _("Enviar prueba a visto bueno"), trigger="form",
        ),
        Transition(
            "approve_proof", (State.PROOF_REVIEW,), State.READY, (Role.DIRECTOR,), _("Dar visto bueno"),
            inform=(Role.DATABASE,),
        ),
        Transition(
            "return_proof", (State.PROOF_REVIEW,), State.PROOF_DRAFT, (Role.DIRECTOR,),
            _("Devolver con cambios"), comment_required=True, style="warning",
        ),
        Transition(
            "start_send", (State.READY,), State.SENDING, (Role.SOCIAL_MEDIA,), _("Iniciar envío masivo"),
            trigger="engine",
        ),
        Transition(
            "finish_send", (State.SENDING,), State.SENT, (), _("Envío completado"),
            inform=(Role.REQUESTER, Role.SOCIAL_MEDIA), trigger="engine",
        ),
        Transition(
            "resend", (State.SENT,), State.SENDING, (Role.SOCIAL_MEDIA,), _("Reenviar"), trigger="engine",
        ),
        Transition(
            "close", (State.SENT,), State.CLOSED, (Role.DATABASE,), _("Cerrar lista final"),
            inform=(Role.REQUESTER, Role.DIRECTOR),
        ),
        Transition(
            "cancel", OPEN_STATES, State.CANCELLED, (Role.REQUESTER, Role.DIRECTOR), _("Cancelar solicitud"),
            comment_required=True, style="danger",
            inform=(Role.REQUESTER, Role.ASSISTANT, Role.DIRECTOR, Role.SOCIAL_MEDIA, Role.DATABASE),
        ),
    )
}


def transitions_from(state: str) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if state in t.sources]


def waiting_roles(state: str) -> frozenset[Role]:
    """The roles a campaign in this state waits on: whoever moves it forward (cancelling does not count)."""
    return frozenset(role for t in transitions_from(state) if t.name != "cancel" for role in t.roles)


# Audit actions that are not transitions, as the timeline and the notices name them.
OTHER_ACTIONS = {
    "campaign.create": _("Registró la solicitud"),
    "intake.register": _("La registró desde lo recibido por correo o WhatsApp"),
    "intake.follow_up": _("Agregó un mensaje de seguimiento recibido por correo o WhatsApp"),
    "intake.remember_sender": _("Recordó al remitente como contacto de la dirección"),
    "intake.acknowledge_again": _("Pidió enviar el acuse de nuevo"),
    "proof.save": _("Guardó la prueba"),
    "guestlist.change": _("Cambió la lista de invitados"),
    "guestlist.confirm": _("Confirmó la lista de invitados"),
    "guestlist.freeze": _("Congeló la lista al iniciar el envío"),
    "guestlist.share": _("Compartió la lista con la dirección"),
    "sending.paused": _("Pausó el envío"),
    "sending.resumed": _("Reanudó el envío"),
    "sending.test_send": _("Envió una prueba de la invitación"),
    "sending.scheduled": _("Programó el envío"),
    "sending.schedule_cancelled": _("Canceló el envío programado"),
    "sending.schedule_failed": _("El envío programado no pudo iniciar"),
    "sending.reminder_planned": _("Programó un recordatorio"),
    "sending.reminder_cancelled": _("Canceló un recordatorio"),
    "sending.reminder_sent": _("Recordatorio a quienes no han respondido"),
    "sending.reminder_failed": _("Un recordatorio programado no se envió"),
    "finallist.send": _("Envió la lista final a la dirección"),
}
