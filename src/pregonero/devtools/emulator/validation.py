"""Validation of `POST /{ver}/{phone_id}/messages` bodies (reference §2), raising the Graph error the API would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import GraphError
from .state import digits
from .templates import PLACEHOLDER, Template, TemplateStore

FREE_FORM_TYPES = {"text", "interactive", "image", "document"}
SUPPORTED_TYPES = FREE_FORM_TYPES | {"template"}
BODY_PARAMETER_TYPES = {"text", "currency", "date_time"}
MEDIA_HEADER_FORMATS = {"IMAGE", "VIDEO", "DOCUMENT", "GIF"}


@dataclass
class SendRequest:
    """A send that passed validation: what the emulator needs to accept it and to simulate replies later."""

    to: str
    type: str
    body: dict
    template: Template | None = None
    quick_replies: list[dict] = field(default_factory=list)
    interactive_buttons: list[dict] = field(default_factory=list)
    header_media_id: str | None = None


def invalid(details: str) -> GraphError:
    return GraphError(100, details)


def require_dict(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(f"The parameter {name} is required and must be an object.")
    return value


def validate_send(body: Any, templates: TemplateStore) -> SendRequest:
    body = require_dict(body, "body")
    if body.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    if body.get("recipient_type", "individual") != "individual":
        raise invalid("Only recipient_type 'individual' is supported by the emulator.")
    to = body.get("to")
    if not isinstance(to, str | int) or not 8 <= len(digits(str(to))) <= 15:
        raise invalid("The parameter to is required and must be a phone number in international format.")
    kind = body.get("type", "text")  # the API defaults `type` to text
    if kind not in SUPPORTED_TYPES:
        raise invalid(f"Unsupported message type {kind!r}.")
    payload = require_dict(body.get(kind), kind)
    opaque = body.get("biz_opaque_callback_data")
    if opaque is not None and (not isinstance(opaque, str) or len(opaque) > 512):
        raise invalid("biz_opaque_callback_data must be a string of at most 512 characters.")
    if "context" in body and not isinstance(require_dict(body["context"], "context").get("message_id"), str):
        raise invalid("context.message_id must be a string.")
    request = SendRequest(to=str(to), type=kind, body=body)
    if kind == "template":
        validate_template(payload, templates, request)
    elif kind == "text":
        validate_text(payload)
    elif kind == "interactive":
        request.interactive_buttons = validate_interactive(payload)
    elif not (payload.get("link") or payload.get("id")):
        raise invalid(f"{kind} needs a link or an id.")
    return request


def validate_text(text: dict) -> None:
    body = text.get("body")
    if not isinstance(body, str) or not body.strip():
        raise invalid("The parameter text.body is required.")
    if len(body) > 4096:
        raise invalid("text.body is longer than 4096 characters.")


def validate_interactive(interactive: dict) -> list[dict]:
    body_text = require_dict(interactive.get("body"), "interactive.body").get("text")
    if not isinstance(body_text, str) or not body_text or len(body_text) > 1024:
        raise invalid("interactive.body.text is required (at most 1024 characters).")
    if interactive.get("type") != "button":
        require_dict(interactive.get("action"), "interactive.action")
        return []
    buttons = require_dict(interactive.get("action"), "interactive.action").get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise invalid("interactive.action.buttons must hold 1 to 3 buttons.")
    replies = []
    for button in buttons:
        reply = require_dict(require_dict(button, "button").get("reply"), "button.reply")
        button_id, title = reply.get("id"), reply.get("title")
        if not isinstance(button_id, str) or not button_id or len(button_id) > 256:
            raise invalid("A reply button id is required (at most 256 characters).")
        if not isinstance(title, str) or not title or len(title) > 20:
            raise invalid("A reply button title is required (at most 20 characters).")
        replies.append({"id": button_id, "title": title})
    if len({r["id"] for r in replies}) != len(replies):
        raise invalid("Reply button ids must be unique.")
    return replies


def find_template(payload: dict, templates: TemplateStore) -> Template:
    name = payload.get("name")
    language = payload.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not name or not isinstance(code, str) or not code:
        raise invalid("template.name and template.language.code are required.")
    template = templates.find(name, code)
    if template is None:
        raise GraphError(132001, f"template name ({name}) does not exist in {code}")
    if template.status == "PAUSED":
        raise GraphError(132015)
    if template.status == "DISABLED":
        raise GraphError(132016)
    if template.status != "APPROVED":
        raise GraphError(132001, f"template name ({name}) in {code} is {template.status}, not APPROVED")
    return template


def validate_template(payload: dict, templates: TemplateStore, request: SendRequest) -> None:
    template = find_template(payload, templates)
    components = payload.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise invalid("template.components must be a list of objects.")
    by_type: dict[str, list[dict]] = {}
    for component in components:
        by_type.setdefault(str(component.get("type", "")).lower(), []).append(component)
    body_parameters = [p for c in by_type.get("body", []) for p in c.get("parameters", [])]
    if len(body_parameters) != template.body_parameter_count:
        raise GraphError(132000, f"body: number of localizable_params ({len(body_parameters)}) does not match the "
                                 f"expected number of params ({template.body_parameter_count})")
    for parameter in body_parameters:
        kind = parameter.get("type") if isinstance(parameter, dict) else None
        if kind not in BODY_PARAMETER_TYPES or (kind == "text" and not isinstance(parameter.get("text"), str)):
            raise GraphError(132012, "body: parameters must be text, currency or date_time objects")
    request.template = template
    request.header_media_id = validate_header(template, by_type.get("header", []))
    request.quick_replies = validate_buttons(template, by_type.get("button", []))


def validate_header(template: Template, headers: list[dict]) -> str | None:
    parameters = [p for c in headers for p in c.get("parameters", [])]
    if len(parameters) != template.header_parameter_count:
        raise GraphError(132000, f"header: number of params ({len(parameters)}) does not match the expected "
                                 f"number of params ({template.header_parameter_count})")
    if template.header_format not in MEDIA_HEADER_FORMATS or not parameters:
        return None
    kind = template.header_format.lower()
    if kind == "gif":
        kind = "video"
    parameter = parameters[0] if isinstance(parameters[0], dict) else {}
    media = parameter.get(kind)
    if parameter.get("type") != kind or not isinstance(media, dict) or not (media.get("link") or media.get("id")):
        raise GraphError(132012, f"header: expected a {kind} parameter with a link or an id")
    return media.get("id")


def validate_buttons(template: Template, components: list[dict]) -> list[dict]:
    """Every template button by index, with the payload the send set (else its label, reference §2a).

    Taps use only the QUICK_REPLY ones, but keeping all of them keeps the indexes equal to the template's.
    """
    defined = template.buttons
    replies = [{"text": b.get("text", ""), "payload": b.get("text", ""), "type": b.get("type", "").upper()}
               for b in defined]
    for component in components:
        sub_type = str(component.get("sub_type", "")).lower()  # Meta and pywa disagree on the case
        try:
            index = int(component.get("index"))
        except (TypeError, ValueError):
            raise invalid("button.index is required (a number, as a string or an integer).") from None
        if not 0 <= index < len(defined):
            raise GraphError(132012, f"button: index {index} is not defined in the template")
        expected = defined[index].get("type", "").lower()
        if sub_type != expected:
            raise GraphError(132012, f"button: index {index} is a {expected}, not a {sub_type}")
        parameters = component.get("parameters") or []
        first = parameters[0] if parameters and isinstance(parameters[0], dict) else {}
        if sub_type == "quick_reply":
            if first.get("type") != "payload" or not isinstance(first.get("payload"), str):
                raise GraphError(132012, "button: a quick_reply parameter must be {type: payload, payload: str}")
            replies[index]["payload"] = first["payload"]
        elif sub_type == "url" and dynamic_url(defined[index]):
            if first.get("type") != "text" or not isinstance(first.get("text"), str) or not first["text"].strip():
                raise GraphError(132012, "button: a url parameter must be {type: text, text: str}")
            replies[index]["url"] = PLACEHOLDER.sub(lambda _m: first["text"], defined[index]["url"], count=1)
    for index, button in enumerate(defined):
        if dynamic_url(button) and "url" not in replies[index]:
            raise GraphError(131008, f"Required parameter is missing: button {index} (url) needs its URL suffix")
    return replies


def dynamic_url(button: dict) -> bool:
    """A URL button whose address ends in {{1}}: each send must give the suffix (reference §2a)."""
    return str(button.get("type", "")).upper() == "URL" and bool(PLACEHOLDER.search(str(button.get("url", ""))))
