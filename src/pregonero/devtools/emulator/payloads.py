"""Webhook payloads (reference §5): envelope, statuses, inbound messages, preferences, template status; signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from .config import EmulatorConfig
from .errors import webhook_error
from .state import LoggedMessage
from .templates import Template

# Failures that only marketing templates suffer (reference §3.3 and §5.6).
MARKETING_FAILURES = {"marketing_limit": 131049, "opted_out": 131050, "experiment": 130472}


def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value for these exact bytes."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict) -> bytes:
    # ensure_ascii=True as Meta escapes non-ASCII; receivers must verify the bytes, never re-serialised JSON.
    return json.dumps(payload, ensure_ascii=True).encode()


def envelope(config: EmulatorConfig, changes: list[dict], timestamp: float | None = None) -> dict:
    entry: dict = {"id": config.waba_id, "changes": changes}
    if timestamp is not None:
        entry["time"] = int(timestamp)
    return {"object": "whatsapp_business_account", "entry": [entry]}


def messages_change(config: EmulatorConfig, **lists) -> dict:
    """A `messages` field change; `lists` holds any of statuses, messages, contacts."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": config.display_phone_number, "phone_number_id": config.phone_number_id},
    }
    value.update({key: items for key, items in lists.items() if items})
    return {"field": "messages", "value": value}


def merge(changes: list[dict]) -> list[dict]:
    """Batching: all `messages` changes become one value with concatenated lists; other fields stay separate."""
    merged: dict | None = None
    others = []
    for change in changes:
        if change["field"] != "messages":
            others.append(change)
            continue
        if merged is None:
            merged = {"field": "messages", "value": {k: (list(v) if isinstance(v, list) else v)
                                                     for k, v in change["value"].items()}}
            continue
        for key in ("contacts", "messages", "statuses"):
            if key in change["value"]:
                merged["value"].setdefault(key, []).extend(change["value"][key])
    return ([merged] if merged else []) + others


def pricing(message: LoggedMessage) -> dict:
    if message.category:
        return {"billable": True, "pricing_model": "PMP", "type": "regular", "category": message.category}
    return {"billable": False, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"}


def status(message: LoggedMessage, name: str, timestamp: float, *, with_pricing: bool = False,
           error_code: int | None = None) -> dict:
    item = {"id": message.wamid, "status": name, "timestamp": str(int(timestamp)), "recipient_id": message.wa_id}
    if message.biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = message.biz_opaque_callback_data
    if with_pricing:
        item["pricing"] = pricing(message)
        # `conversation` disappeared from v24.0 webhooks on (reference §5.5); older versions still carry it.
        if version_number(message.api_version) < 24:
            item["conversation"] = {
                "id": secrets.token_hex(16), "expiration_timestamp": str(int(timestamp) + 24 * 3600),
                "origin": {"type": message.category or "service"},
            }
    if error_code is not None:
        item["errors"] = [webhook_error(error_code)]
    return item


def version_number(api_version: str) -> float:
    try:
        return float(api_version.lstrip("v"))
    except ValueError:
        return 99.0


def status_plan(message: LoggedMessage, behaviour: str, config: EmulatorConfig, read: bool,
                fail_code: int | None = None) -> list[tuple[float, str, int | None]]:
    """The statuses one accepted message will produce: (delay after acceptance, status, error code)."""
    sent, delivered, late = config.sent_delay, config.delivered_delay, config.read_delay
    if fail_code is not None:
        return [(sent, "failed", fail_code)]
    if behaviour == "not_on_whatsapp":
        return [(sent, "failed", 131026)]
    if message.category == "marketing" and behaviour in MARKETING_FAILURES:
        return [(sent, "failed", MARKETING_FAILURES[behaviour])]
    if behaviour == "read_without_delivered":
        return [(sent, "sent", None), (delivered, "read", None)]
    if behaviour == "out_of_order":
        # "delivered may arrive after read" (reference §5.2): the receiver must never move a message backwards.
        return [(sent, "sent", None), (delivered, "read", None), (late, "delivered", None)]
    plan = [(sent, "sent", None), (delivered, "delivered", None)]
    if behaviour == "duplicate_deliveries":
        plan.append((delivered + (late - delivered) / 2, "delivered", None))
    if read and behaviour != "unread":
        plan.append((late, "read", None))
    return plan


def inbound_message(wa_id: str, wamid: str, timestamp: float, kind: str, content: dict,
                    context: dict | None = None) -> dict:
    message = {"from": wa_id, "id": wamid, "timestamp": str(int(timestamp)), "type": kind, kind: content}
    if context:
        message["context"] = context
    return message


def contact(wa_id: str, name: str | None) -> dict:
    return {"profile": {"name": name or "Invitado"}, "wa_id": wa_id}


def user_preferences_change(config: EmulatorConfig, wa_id: str, value: str, timestamp: float) -> dict:
    detail = {"stop": "User requested to stop marketing messages",
              "resume": "User requested to resume marketing messages"}[value]
    return {
        "field": "user_preferences",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": config.display_phone_number,
                         "phone_number_id": config.phone_number_id},
            "contacts": [{"wa_id": wa_id}],
            "user_preferences": [{"wa_id": wa_id, "detail": detail, "category": "marketing_messages",
                                  "value": value, "timestamp": int(timestamp)}],  # an integer here (§5.3)
        },
    }


def template_status_change(template: Template, event: str, reason: str | None,
                           rejection_info: dict | None = None) -> dict:
    value = {
        "event": event,
        "message_template_id": int(template.id),  # a number in this webhook (§5.7)
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": reason or "NONE",
        "message_template_category": template.category,
    }
    if rejection_info:
        value["rejection_info"] = rejection_info
    return {"field": "message_template_status_update", "value": value}
