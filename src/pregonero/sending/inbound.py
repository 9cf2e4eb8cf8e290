"""Applying a stored WhatsApp webhook: statuses, quick-reply taps, typed opt-outs and stop preferences.

Everything here is idempotent, because Meta retries and duplicates deliveries and does not keep their order:
a status only ever moves a message forward, an inbound message is applied once (by its id), an opt-out twice
is one opt-out.
"""

import functools
import json
import logging
import unicodedata
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from pregonero.directory.models import Contact
from pregonero.directory.services import contact_mark_whatsapp_unavailable, contact_opt_out
from pregonero.rsvp.models import Invitation
from pregonero.rsvp.services import AnswerRefused, invitation_answer

from .models import STATUS_RANK, InboundMessage, Message, WebhookEvent

log = logging.getLogger(__name__)
STOP_WORDS = {"baja", "stop", "alto", "cancelar", "no mas", "no mas mensajes", "unsubscribe", "darme de baja"}
ANSWERS = {"yes": Invitation.Answer.ATTENDING, "no": Invitation.Answer.DECLINED}
TIME_FIELD = {
    Message.State.SENT: "sent_at", Message.State.DELIVERED: "delivered_at", Message.State.READ: "read_at",
    Message.State.FAILED: "failed_at",
}


def mexican_e164(wa_id: str) -> str:
    """WhatsApp IDs of Mexican mobiles often carry an extra 1 (521 + 10 digits); our numbers do not."""
    digits = "".join(c for c in wa_id if c.isdigit())
    if digits.startswith("521") and len(digits) == 13:
        digits = "52" + digits[3:]
    return f"+{digits}"


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if c.isalnum() or c.isspace()).split())


def apply_event(event: WebhookEvent) -> None:
    data = json.loads(bytes(event.body))
    for entry in data.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") == "messages":
                for status in value.get("statuses") or []:
                    apply_status(status)
                names = {c.get("wa_id"): (c.get("profile") or {}).get("name", "") for c in value.get("contacts") or []}
                for message in value.get("messages") or []:
                    apply_inbound(message, names.get(message.get("from"), ""))
            elif change.get("field") == "user_preferences":
                for preference in value.get("user_preferences") or []:
                    if preference.get("value") == "stop":
                        opt_out_number(preference.get("wa_id", ""), source="WhatsApp: dejar de recibir marketing")


def apply_pending_events() -> int:
    """Applies every stored webhook not applied yet, oldest first, and returns how many. The application task runs
    it, and it runs when a received status must count now (before a message of unknown outcome may go out again)
    and for events whose task died with a killed worker (django-tasks-db leaves that task "running" for ever).
    Workers running it at once share the backlog; applying an event twice changes nothing."""
    applied, after = 0, 0
    while ids := list(WebhookEvent.objects.filter(processed_at__isnull=True, pk__gt=after).order_by("pk")
                      .values_list("pk", flat=True)[:EVENT_BATCH]):
        applied += apply_stored(ids)
        after = ids[-1]
    return applied


EVENT_BATCH = 200


def apply_stored(event_ids: list[int]) -> int:
    """Applies those of the stored webhooks that nobody applied or is applying now; returns how many it applied.
    A payload that cannot be applied is marked with its error, never retried in a loop (the raw event stays for
    a person to look at). Each status takes its message's lock in a statement or transaction of its own, as when
    one task applied one event: a transaction around several statuses held several messages' locks at once and
    deadlocked against another worker or a dispatcher recording its batch. The events' own bookkeeping (claim,
    read, mark, release) is one statement each per batch, not per event: it cost more than applying a status."""
    with claimed(event_ids) as mine:
        events = list(WebhookEvent.objects.filter(pk__in=mine, processed_at__isnull=True).order_by("pk"))
        failed = []
        for event in events:
            try:
                apply_event(event)
            except Exception as error:  # a malformed payload must not stop the others
                log.exception("webhook %s could not be applied", event.pk)
                event.error = repr(error)[:2000]
                failed.append(event)
        now = timezone.now()
        WebhookEvent.objects.filter(pk__in=[event.pk for event in events]).update(processed_at=now)
        for event in failed:
            WebhookEvent.objects.filter(pk=event.pk).update(error=event.error)
    return len(events)


@contextmanager
def claimed(event_ids: list[int]):
    """The events of ``event_ids`` this connection alone applies until the block ends: on PostgreSQL those whose
    session advisory lock it took (the event id is the key, in the single-key space no other lock of Pregonero
    uses), which go with the connection if the worker dies. SQLite has one writer at a time and one worker."""
    if connection.vendor != "postgresql":
        yield event_ids
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM unnest(%s::bigint[]) AS id WHERE pg_try_advisory_lock(id)", [event_ids])
        mine = [row[0] for row in cursor.fetchall()]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(id) FROM unnest(%s::bigint[]) AS id", [mine])


def apply_status(status: dict) -> None:
    new_state = status.get("status")
    if new_state not in TIME_FIELD:
        return
    callback = status.get("biz_opaque_callback_data", "")
    by_callback = bool(callback) and is_uuid(callback)
    if new_state == Message.State.FAILED:
        match = Q(provider_id=status.get("id") or "-")  # an empty id must not match every message not sent yet
        apply_failure(status, (match | Q(public_id=callback)) if by_callback else match)
        return
    # Sent, delivered and read (nearly every status) in one statement that moves the message only forward: its
    # row is locked by the UPDATE itself, so a concurrent status or the dispatcher's record waits its turn and
    # then finds the state already moved. Lock, read, compare and save took four round trips per status.
    now = Message._meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection)
    provider_id = str(status.get("id") or "")
    params = [new_state, False, now, now, provider_id, provider_id or "-"]  # "" must not match every unsent message
    if by_callback:
        params.append(Message._meta.get_field("public_id").get_db_prep_value(callback, connection))
    with connection.cursor() as cursor:
        cursor.execute(forward_statement(connection.vendor, new_state, by_callback),
                       params + FORWARD_FROM[new_state])
        moved = cursor.rowcount
    if not moved:
        log.debug("status not applied: unknown message, or not newer than its state")


@functools.cache
def forward_statement(vendor: str, new_state: str, by_callback: bool) -> str:
    """The UPDATE of ``apply_status``, written out: the ORM composing the same statement for every status took
    two thirds of applying one (bench/send_throughput.py, step d). The message is the one whose provider id (or,
    when the status carries it, our callback id) matches, taken as one row first: not ``ORDER BY id``, which made
    PostgreSQL walk the primary key through the whole outbox (15 ms at 20,000 messages) instead of its indexes.
    ``vendor`` is only part of the cache key: the quoting is the backend's."""
    table = connection.ops.quote_name(Message._meta.db_table)
    match = "provider_id = %s" + (" OR public_id = %s" if by_callback else "")
    states = ", ".join(["%s"] * len(FORWARD_FROM[new_state]))
    # Only the table's name from the model's metadata and a column name from TIME_FIELD; every value a parameter.
    moment = TIME_FIELD[new_state]
    return (f"UPDATE {table} SET state = %s, outcome_unknown = %s, updated_at = %s, {moment} = %s, "  # nosec B608
            "provider_id = CASE WHEN provider_id = '' THEN %s ELSE provider_id END "
            f"WHERE id = (SELECT id FROM {table} WHERE {match} LIMIT 1) AND state IN ({states})")


def apply_failure(status: dict, match: Q) -> None:
    """A failed status: the reason is recorded, and an undeliverable number is marked on the contact."""
    with transaction.atomic():
        message = next(iter(Message.objects.select_for_update(of=("self",)).filter(match)[:1]), None)
        if message is None:
            log.info("status for an unknown message ignored")
            return
        if not moves_forward(message.state, Message.State.FAILED):
            return
        message.state, message.outcome_unknown = Message.State.FAILED, False
        message.provider_id = message.provider_id or status.get("id", "")
        message.failed_at = timezone.now()
        fields = ["state", "outcome_unknown", "provider_id", "failed_at", "updated_at"]
        fields += record_failure(message, status.get("errors") or [{}])
        message.save(update_fields=fields)


def moves_forward(current: str, new: str) -> bool:
    if current == Message.State.SKIPPED:
        return False
    if new == Message.State.FAILED:
        return current in (Message.State.QUEUED, Message.State.SENDING, Message.State.SENT)
    return STATUS_RANK[new] > STATUS_RANK.get(current, 0) or current == Message.State.FAILED


# The states each status may move a message from (``moves_forward``), for the one-statement update above.
FORWARD_FROM = {new: [state for state in Message.State.values if moves_forward(state, new)]
                for new in (Message.State.SENT, Message.State.DELIVERED, Message.State.READ)}


def record_failure(message: Message, errors: list[dict]) -> list[str]:
    from .channels.whatsapp import classify_error_code

    code = errors[0].get("code")
    code = int(code) if str(code).isdigit() else 0
    message.error_code, message.error_reason = str(code), str(classify_error_code(code).reason)[:300]
    if code == 131026:
        contact_mark_whatsapp_unavailable(mobile=message.address)
    return ["error_code", "error_reason"]


def is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def apply_inbound(message: dict, sender_name: str = "") -> None:
    from pregonero.intake.whatsapp import intake_inbound

    provider_id = message.get("id", "")
    if not provider_id:
        return
    kind = message.get("type", "")
    with transaction.atomic():
        _record, created = InboundMessage.objects.get_or_create(
            provider_id=provider_id, defaults={"wa_id": message.get("from", ""), "kind": kind}
        )
        if not created:
            return  # a duplicate delivery of a message already applied
        if intake_inbound(message, sender_name):
            return  # a department's text, photo or file: on its draft request (intake), not an RSVP
        if kind == "button":
            apply_tap((message.get("button") or {}).get("payload", ""), message.get("from", ""))
        elif kind == "text" and fold((message.get("text") or {}).get("body", "")) in STOP_WORDS:
            opt_out_number(message.get("from", ""), source="WhatsApp: mensaje de baja")


def apply_tap(payload: str, wa_id: str) -> None:
    from .channels.whatsapp import parse_rsvp_quick_reply

    parsed = parse_rsvp_quick_reply(payload)
    if parsed is None:
        log.info("quick reply with an unknown payload ignored")
        return
    token, answer = parsed
    invitation = Invitation.objects.select_related("contact").filter(token=token).first()
    if invitation is None or invitation.contact.mobile != mexican_e164(wa_id):
        log.warning("quick reply for an invitation that is not this sender's ignored")
        return
    try:
        invitation_answer(invitation=invitation, answer=ANSWERS[answer], via=Invitation.Via.BUTTON)
    except AnswerRefused as refusal:
        from pregonero.rsvp.confirmations import answer_refusal_reply

        log.info("quick reply after the deadline or for a closed campaign refused; the guest is told why")
        answer_refusal_reply(invitation=invitation, refusal=str(refusal))


def opt_out_number(wa_id: str, *, source: str) -> int:
    contacts = list(Contact.objects.live().filter(mobile=mexican_e164(wa_id)))
    for contact in contacts:
        contact_opt_out(contact=contact, whatsapp=True, email=False, source=source)
    return len(contacts)
