"""Test-only endpoints under /_emulator/: the message log, scenarios, faults, clock, simulated users and Meta.

Meta has nothing like these; they exist so tests, demos and people at a terminal (curl) can drive the emulator.
The emulator listens on loopback by default, which is the only protection they need.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from aiohttp import web

from . import inbound
from .app import DISPATCHER, STATE, authorize
from .config import check_behaviour

PREFIX = "/_emulator"


def json_error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_json(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text='{"error": "invalid JSON"}', content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error": "expected a JSON object"}', content_type="application/json")
    return data


def simulation(action: Callable[..., dict], *, fields: dict[str, str]):
    """A handler that maps JSON keys to `action`'s keyword arguments and turns SimulationError into JSON."""

    async def handler(request: web.Request) -> web.Response:
        data = await read_json(request)
        arguments = {argument: data[key] for key, argument in fields.items() if key in data}
        try:
            result = action(request.app[STATE], request.app[DISPATCHER], **arguments)
        except inbound.SimulationError as error:
            return json_error(str(error), error.status)
        except TypeError as error:
            return json_error(f"missing or wrong arguments: {error}")
        return web.json_response(result)

    return handler


async def messages(request: web.Request) -> web.Response:
    state = request.app[STATE]
    found = state.messages(request.query.get("to"))
    counts: dict[str, int] = {}
    for message in found:
        counts[message.wa_id] = counts.get(message.wa_id, 0) + 1
    return web.json_response({"data": [m.as_json() for m in found], "count": len(found),
                              "count_by_recipient": counts})


async def clear_messages(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.log.clear()
    state.by_wamid.clear()
    return web.json_response({"success": True})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"success": True})


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    dispatcher = request.app[DISPATCHER]
    return web.json_response({**state.stats, "pending_webhooks": dispatcher.pending,
                              "daily_unique_recipients": state.daily.used, "messages": len(state.log)})


async def webhook_attempts(request: web.Request) -> web.Response:
    return web.json_response({"data": list(request.app[DISPATCHER].attempts)})


async def update_config(request: web.Request) -> web.Response:
    try:
        config = request.app[STATE].apply_config(await read_json(request))
    except (TypeError, ValueError) as error:
        return json_error(str(error))
    return web.json_response({"success": True, "rate": config.rate, "statuses": config.statuses})


async def add_fault(request: web.Request) -> web.Response:
    data = await read_json(request)
    try:
        code, count = int(data["code"]), int(data.get("count", 1))
        status = int(data["status"]) if data.get("status") is not None else None
    except (KeyError, TypeError, ValueError):
        return json_error("'code' is required; 'count' and 'status' must be integers")
    request.app[STATE].add_fault(code, count, status)
    return web.json_response({"success": True})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return web.json_response({"success": True})


async def expire_token(request: web.Request) -> web.Response:
    request.app[STATE].token_expired = True
    return web.json_response({"success": True})


async def set_token(request: web.Request) -> web.Response:
    token = (await read_json(request)).get("token")
    if not isinstance(token, str) or not token:
        return json_error("'token' is required")
    state = request.app[STATE]
    state.token, state.token_expired = token, False
    return web.json_response({"success": True})


async def advance_clock(request: web.Request) -> web.Response:
    try:
        seconds = float((await read_json(request))["seconds"])
    except (KeyError, TypeError, ValueError):
        return json_error("'seconds' is required")
    request.app[STATE].clock.advance(seconds)
    return web.json_response({"success": True, "offset": request.app[STATE].clock.offset})


async def script_recipient(request: web.Request) -> web.Response:
    data = await read_json(request)
    try:
        request.app[STATE].script_recipient(str(data["number"]), check_behaviour(str(data.get("behaviour", "ok"))))
    except (KeyError, ValueError) as error:
        return json_error(str(error))
    return web.json_response({"success": True})


async def verify(request: web.Request) -> web.Response:
    return web.json_response(await request.app[DISPATCHER].verify())


async def media_content(request: web.Request) -> web.Response:
    """The file behind the `url` that GET /{ver}/{media-id} hands out. Like Meta's media URLs it needs the same
    bearer token as the Graph API, so a client that leaks the URL alone leaks nothing."""
    state = authorize(request)
    media = state.media.get(request.match_info["media_id"])
    if media is None:
        return json_error("no such media", 404)
    if (status := state.take_media_fault()) is not None:
        state.stats["media_download_failures"] += 1
        return json_error("media temporarily unavailable", status)
    state.stats["media_downloads"] += 1
    return web.Response(body=media.content, content_type=media.mime_type)


async def fail_media_downloads(request: web.Request) -> web.Response:
    data = await read_json(request)
    try:
        count, status = int(data.get("count", 1)), int(data.get("status", 500))
    except (TypeError, ValueError):
        return json_error("'count' and 'status' must be integers")
    request.app[STATE].fail_media_downloads(count, status)
    return web.json_response({"success": True})


async def inbound_media(request: web.Request) -> web.Response:
    """A user sends a photo or a file; the bytes travel base64-encoded in `content`."""
    data = await read_json(request)
    try:
        content = base64.b64decode(str(data.get("content", "")), validate=True)
    except (binascii.Error, ValueError):
        return json_error("'content' must be base64")
    fields = {"from": "number", "type": "kind", "mime_type": "mime_type", "filename": "filename",
              "caption": "caption", "name": "name", "context_id": "context_id"}
    arguments = {argument: data[key] for key, argument in fields.items() if key in data}
    try:
        result = inbound.user_sends_media(request.app[STATE], request.app[DISPATCHER], content=content, **arguments)
    except inbound.SimulationError as error:
        return json_error(str(error), error.status)
    except TypeError as error:
        return json_error(f"missing or wrong arguments: {error}")
    return web.json_response(result)


def register(router: web.UrlDispatcher) -> None:
    router.add_get(f"{PREFIX}/messages", messages)
    router.add_delete(f"{PREFIX}/messages", clear_messages)
    router.add_post(f"{PREFIX}/reset", reset)
    router.add_get(f"{PREFIX}/stats", stats)
    router.add_get(f"{PREFIX}/webhooks", webhook_attempts)
    router.add_post(f"{PREFIX}/config", update_config)
    router.add_post(f"{PREFIX}/faults", add_fault)
    router.add_delete(f"{PREFIX}/faults", clear_faults)
    router.add_post(f"{PREFIX}/token/expire", expire_token)
    router.add_post(f"{PREFIX}/token", set_token)
    router.add_post(f"{PREFIX}/clock/advance", advance_clock)
    router.add_post(f"{PREFIX}/recipients", script_recipient)
    router.add_post(f"{PREFIX}/verify", verify)
    router.add_get(f"{PREFIX}/media/{{media_id}}", media_content)
    router.add_post(f"{PREFIX}/media/faults", fail_media_downloads)
    router.add_post(f"{PREFIX}/inbound/media", inbound_media)
    router.add_post(f"{PREFIX}/inbound/text", simulation(
        inbound.user_sends_text, fields={"from": "number", "body": "body", "name": "name", "context_id": "context_id"}))
    router.add_post(f"{PREFIX}/inbound/quick-reply", simulation(
        inbound.user_taps_quick_reply,
        fields={"message_id": "message_id", "index": "index", "name": "name", "context": "with_context"}))
    router.add_post(f"{PREFIX}/inbound/button-reply", simulation(
        inbound.user_taps_button, fields={"message_id": "message_id", "index": "index", "id": "button_id"}))
    router.add_post(f"{PREFIX}/inbound/preferences", simulation(
        inbound.user_sets_marketing_preference, fields={"from": "number", "value": "value"}))
    router.add_post(f"{PREFIX}/templates/status", simulation(
        inbound.template_status_changes,
        fields={"name": "name", "language": "language", "event": "event", "reason": "reason",
                "rejection_info": "rejection_info"}))
