"""What users and Meta do on their side (reference §5.4, §5.6, §5.7), turned into signed webhooks.

Shared by the test-only HTTP endpoints (control.py) and the Python API (server.py). Functions run on the
emulator's event loop and raise SimulationError for requests that make no sense (unknown message, bad index).
"""

from __future__ import annotations

import logging

from . import payloads
from .state import EmulatorState, Media, mask
from .webhooks import Dispatcher

logger = logging.getLogger("pregonero.devtools.emulator")

# Inbound media types and what their objects may carry besides id, mime_type and sha256 (reference §5.4).
MEDIA_KINDS = {"image": {"caption"}, "document": {"caption", "filename"}, "video": {"caption"}, "audio": set(),
               "sticker": set()}
TEMPLATE_EVENTS = {"APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED", "FLAGGED", "REINSTATED", "IN_APPEAL",
                   "PENDING_DELETION", "DELETED", "LIMIT_EXCEEDED", "ARCHIVED", "UNARCHIVED", "LOCKED"}


class SimulationError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _post_message(state: EmulatorState, dispatcher: Dispatcher, wa_id: str, kind: str, content: dict,
                  context_id: str | None = None, name: str | None = None) -> dict:
    """Any inbound message opens or renews the user's 24 h window, then reaches the callback."""
    state.open_window(wa_id)
    wamid = state.new_wamid()
    context = {"from": state.config.display_phone_number, "id": context_id} if context_id else None
    message = payloads.inbound_message(wa_id, wamid, state.clock.wall(), kind, content, context)
    change = payloads.messages_change(state.config, contacts=[payloads.contact(wa_id, name)], messages=[message])
    posted = dispatcher.emit(lambda: change)
    state.stats["inbound"] += 1
    logger.info("Simulated inbound %s from %s", kind, mask(wa_id))
    return {"id": wamid, "wa_id": wa_id, "posted": posted, "message": message}


def user_sends_text(state: EmulatorState, dispatcher: Dispatcher, number: str, body: str,
                    name: str | None = None, context_id: str | None = None) -> dict:
    if not number or not isinstance(body, str) or not body:
        raise SimulationError("'from' and 'body' are required")
    return _post_message(state, dispatcher, state.wa_id_for(number), "text", {"body": body}, context_id, name)


def user_sends_media(state: EmulatorState, dispatcher: Dispatcher, number: str, kind: str, content: bytes,
                     mime_type: str, filename: str | None = None, caption: str | None = None,
                     name: str | None = None, context_id: str | None = None) -> dict:
    """The user sends a photo or a file: it is kept as emulator media (downloadable like the real API's, with the
    bearer token: GET /{ver}/{media-id} gives its url) and the message names it by id, as Meta's does."""
    if kind not in MEDIA_KINDS:
        raise SimulationError(f"'type' must be one of {sorted(MEDIA_KINDS)}")
    if not number or not isinstance(content, bytes) or not content or not mime_type:
        raise SimulationError("'from', a non-empty 'content' and 'mime_type' are required")
    media = Media(id=state.new_numeric_id(), content=content, mime_type=mime_type, filename=filename or "")
    state.media[media.id] = media
    item = {"id": media.id, "mime_type": mime_type, "sha256": media.sha256}
    if caption and "caption" in MEDIA_KINDS[kind]:
        item["caption"] = caption
    if filename and "filename" in MEDIA_KINDS[kind]:
        item["filename"] = filename
    result = _post_message(state, dispatcher, state.wa_id_for(number), kind, item, context_id, name)
    return {**result, "media_id": media.id}


def _sent_message(state: EmulatorState, message_id: str):
    message = state.by_wamid.get(message_id)
    if message is None:
        raise SimulationError(f"no message was sent with id {message_id!r}", status=404)
    return message


def user_taps_quick_reply(state: EmulatorState, dispatcher: Dispatcher, message_id: str, index: int,
                          name: str | None = None, with_context: bool = True) -> dict:
    """The user taps template button `index`: a `type: button` message carrying the payload set at send time."""
    message = _sent_message(state, message_id)
    buttons = message.quick_replies
    if not isinstance(index, int) or not 0 <= index < len(buttons) or buttons[index]["type"] != "QUICK_REPLY":
        raise SimulationError(f"message {message_id!r} has no quick reply button {index!r}")
    button = buttons[index]
    content = {"payload": button["payload"], "text": button["text"]}
    # pywa has a real fixture without context; with_context=False reproduces it.
    return _post_message(state, dispatcher, message.wa_id, "button", content,
                         message_id if with_context else None, name)


def user_taps_button(state: EmulatorState, dispatcher: Dispatcher, message_id: str, index: int | None = None,
                     button_id: str | None = None, name: str | None = None) -> dict:
    """The user taps an interactive reply button, chosen by position or by id."""
    message = _sent_message(state, message_id)
    buttons = message.interactive_buttons
    if button_id is not None:
        chosen = next((b for b in buttons if b["id"] == button_id), None)
    else:
        chosen = buttons[index] if isinstance(index, int) and 0 <= index < len(buttons) else None
    if chosen is None:
        raise SimulationError(f"message {message_id!r} has no such reply button")
    content = {"type": "button_reply", "button_reply": {"id": chosen["id"], "title": chosen["title"]}}
    return _post_message(state, dispatcher, message.wa_id, "interactive", content, message_id, name)


def user_sets_marketing_preference(state: EmulatorState, dispatcher: Dispatcher, number: str,
                                   value: str = "stop") -> dict:
    """WhatsApp's built-in Stop / Resume: a `user_preferences` webhook; later marketing sends fail with 131050."""
    if not number or value not in ("stop", "resume"):
        raise SimulationError("'from' is required and 'value' must be 'stop' or 'resume'")
    wa_id = state.wa_id_for(number)
    if value == "stop":
        state.opted_out.add(wa_id)
    else:
        state.opted_out.discard(wa_id)
    change = payloads.user_preferences_change(state.config, wa_id, value, state.clock.wall())
    posted = dispatcher.emit(lambda: change)
    logger.info("Simulated marketing %s from %s", value, mask(wa_id))
    return {"wa_id": wa_id, "value": value, "posted": posted}


def template_status_changes(state: EmulatorState, dispatcher: Dispatcher, name: str, language: str, event: str,
                            reason: str | None = None, rejection_info: dict | None = None) -> dict:
    """Meta reviews, pauses or disables a template: the store changes and the status webhook is posted."""
    event = str(event or "").upper()
    if event not in TEMPLATE_EVENTS:
        raise SimulationError(f"unknown template event {event!r}")
    template = state.templates.find(name, language)
    if template is None:
        raise SimulationError(f"no template {name!r} in {language!r}", status=404)
    # FLAGGED is a warning that leaves the template sendable; REINSTATED undoes a pause.
    template.status = {"REINSTATED": "APPROVED", "FLAGGED": template.status}.get(event, event)
    if event == "REJECTED":
        template.extra["rejected_reason"] = reason or "INVALID_FORMAT"
    change = payloads.template_status_change(template, event, reason, rejection_info)
    posted = dispatcher.emit(lambda: change)
    return {"id": template.id, "status": template.status, "posted": posted}
