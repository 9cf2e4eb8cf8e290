"""The Graph API side of the emulator: send, templates, media, object lookup (reference §2, §6, §7)."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from . import payloads
from .errors import GraphError, error_response, trace_id
from .state import EmulatorState, LoggedMessage, Media, mask
from .templates import DEFAULT_FIELDS, encode_cursor, page
from .validation import SendRequest, validate_send
from .webhooks import Dispatcher

logger = logging.getLogger("pregonero.devtools.emulator")

STATE = web.AppKey("state", EmulatorState)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
VERSION = r"{ver:v\d+\.\d+}"
MEDIA_TYPES = {"image/jpeg", "image/png", "image/webp", "application/pdf", "video/mp4", "audio/ogg", "text/plain"}
MAX_UPLOAD = 16 * 1024 * 1024


@web.middleware
async def graph_errors(request: web.Request, handler):
    """Any GraphError becomes the Graph API's error body; every answer carries Meta's tracing headers."""
    try:
        response = await handler(request)
    except GraphError as error:
        return error_response(error, request.match_info.get("ver"))
    if request.match_info.get("ver"):
        response.headers.setdefault("x-fb-trace-id", trace_id())
        response.headers.setdefault("facebook-api-version", request.match_info["ver"])
    return response


def authorize(request: web.Request) -> EmulatorState:
    state = request.app[STATE]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.strip() != state.token:
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token", subcode=467,
                         message="Invalid OAuth access token - Cannot parse access token")
    if state.token_expired:
        raise GraphError(190, "Error validating access token: Session has expired.", subcode=463,
                         message="Error validating access token: Session has expired.")
    return state


def unknown_object(object_id: str) -> GraphError:
    return GraphError(100, f"Unsupported request - method type: get. Object with ID '{object_id}' does not exist, "
                           "cannot be loaded due to missing permissions, or does not support this operation.",
                      subcode=33)


def check_phone(state: EmulatorState, request: web.Request) -> None:
    if request.match_info["phone_id"] != state.config.phone_number_id:
        raise unknown_object(request.match_info["phone_id"])


async def send_message(request: web.Request) -> web.Response:
    state = authorize(request)
    check_phone(state, request)
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GraphError(100, "The request body is not valid JSON.") from None
    send = validate_send(body, state.templates)
    slow = await apply_faults(state, send)
    wa_id = state.wa_id_for(send.to)
    window_fail = check_limits(state, send, wa_id)
    message = accept(state, request.app[DISPATCHER], send, request.match_info["ver"], window_fail)
    response = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": send.to, "wa_id": message.wa_id}],
        "messages": [{"id": message.wamid, **({"message_status": "accepted"} if send.template else {})}],
    }
    if slow:
        # Accepted-then-slow: the message exists and its statuses flow, but the client gives up before this
        # answer arrives; exactly the unknown outcome a sender must reconcile from webhooks.
        await asyncio.sleep(state.config.timeout_hold)
    return web.json_response(response)


async def apply_faults(state: EmulatorState, send: SendRequest) -> bool:
    """Scripted and random faults; returns True when the send must be accepted and then answered late."""
    fault = state.take_fault()
    if fault is not None:
        state.stats["injected_errors"] += 1
        raise GraphError(fault.code, status=fault.status)
    config = state.config
    if state.roll(config.transient_error_rate):
        state.stats["injected_errors"] += 1
        raise GraphError(state.rng.choice((131000, 131016)))
    if state.roll(config.timeout_rate):
        state.stats["injected_timeouts"] += 1
        if config.timeout_mode == "accepted":
            return True
        await asyncio.sleep(config.timeout_hold)
        raise GraphError(131000, "The request timed out before the message was accepted.")
    return False


def check_limits(state: EmulatorState, send: SendRequest, wa_id: str) -> int | None:
    """Throughput, pair rate, messaging limit and the 24 h window; returns 131047 for an async window failure."""
    config = state.config
    if not state.bucket.try_take():
        state.stats["throttled"] += 1
        raise GraphError(130429)
    if config.pair_limit and not state.pairs.try_take(wa_id):
        state.stats["pair_limited"] += 1
        raise GraphError(131056)
    in_window = state.window_open(wa_id)
    if send.template and not in_window and not state.daily.allows(wa_id):
        state.stats["daily_limited"] += 1
        raise GraphError(config.daily_limit_code, f"The messaging limit of {config.daily_limit} unique users in "
                                                  "24 hours has been reached.")
    if send.template or in_window:
        return None
    if config.window_error_mode == "sync":
        raise GraphError(131047)
    return 131047


def accept(state: EmulatorState, dispatcher: Dispatcher, send: SendRequest, api_version: str,
           window_fail: int | None) -> LoggedMessage:
    wa_id = state.wa_id_for(send.to)
    template = send.template
    message = LoggedMessage(
        wamid=state.new_wamid(), to=send.to, wa_id=wa_id, type=send.type, request=send.body,
        timestamp=state.clock.wall(), api_version=api_version,
        category=template.category.lower() if template else None,
        quick_replies=send.quick_replies, interactive_buttons=send.interactive_buttons,
    )
    state.record(message)
    if template and not state.window_open(wa_id):
        state.daily.record(wa_id)
    logger.debug("Accepted %s message %s to %s", send.type, message.wamid, mask(send.to))
    if state.config.statuses:
        behaviour = state.behaviour_for(send.to)
        if message.category == "marketing" and wa_id in state.opted_out:
            behaviour = "opted_out"
        elif message.category == "marketing" and state.config.block_us_marketing and wa_id.startswith("1"):
            behaviour = "marketing_limit"  # marketing templates are not delivered to US numbers (reference §4)
        fail_code = window_fail
        if send.header_media_id and send.header_media_id not in state.media:
            fail_code = 131053
        plan = payloads.status_plan(message, behaviour, state.config, state.roll(state.config.read_probability),
                                    fail_code)
        dispatcher.schedule_statuses(message, plan)
    return message


async def list_templates(request: web.Request) -> web.Response:
    state = authorize(request)
    if request.match_info["waba_id"] != state.config.waba_id:
        raise unknown_object(request.match_info["waba_id"])
    query = request.query
    try:
        limit = int(query.get("limit", "25"))
        if not 1 <= limit <= 1000:
            raise ValueError
        found = state.templates.matching(query.get("name"), query.get("status"), query.get("language"))
        chunk, start, has_previous, has_next = page(found, limit=limit, after=query.get("after"),
                                                    before=query.get("before"))
    except ValueError:
        raise GraphError(100, "Invalid limit or cursor.") from None
    fields = tuple(f.strip() for f in query["fields"].split(",") if f.strip()) if "fields" in query else DEFAULT_FIELDS
    result: dict = {"data": [t.as_json(fields) for t in chunk]}
    if chunk:
        before, after = encode_cursor(start), encode_cursor(start + len(chunk) - 1)
        result["paging"] = {"cursors": {"before": before, "after": after}}
        base = {k: v for k, v in query.items() if k not in ("after", "before")}
        if has_next:
            result["paging"]["next"] = str(request.url.with_query({**base, "after": after}))
        if has_previous:
            result["paging"]["previous"] = str(request.url.with_query({**base, "before": before}))
    return web.json_response(result)


async def get_object(request: web.Request) -> web.Response:
    state = authorize(request)
    object_id = request.match_info["object_id"]
    fields = tuple(f for f in request.query.get("fields", "").split(",") if f)
    if template := state.templates.get(object_id):
        return web.json_response(template.as_json(fields or DEFAULT_FIELDS))
    if media := state.media.get(object_id):
        return web.json_response(media.as_json(str(request.url.with_path(f"/_emulator/media/{object_id}")
                                                   .with_query(None))))
    if object_id == state.config.phone_number_id:
        return web.json_response({
            "id": object_id, "display_phone_number": state.config.display_phone_number,
            "verified_name": "Relaciones Públicas", "quality_rating": "GREEN", "throughput": {"level": "STANDARD"},
            "whatsapp_business_manager_messaging_limit": f"TIER_{state.config.daily_limit or 'UNLIMITED'}",
        })
    raise unknown_object(object_id)


async def upload_media(request: web.Request) -> web.Response:
    state = authorize(request)
    check_phone(state, request)
    try:
        form = await request.post()
    except ValueError:
        raise GraphError(100, "The request must be multipart/form-data.") from None
    upload = form.get("file")
    if form.get("messaging_product") != "whatsapp":
        raise GraphError(100, "The parameter messaging_product is required and must be 'whatsapp'.")
    if not isinstance(upload, web.FileField):
        raise GraphError(100, "The parameter file is required.")
    mime_type = str(form.get("type") or upload.content_type).split(";")[0].strip()
    if mime_type not in MEDIA_TYPES:
        raise GraphError(100, f"Param file must be a file with one of the following types: {sorted(MEDIA_TYPES)}")
    content = upload.file.read()
    if mime_type.startswith("image/") and len(content) > 5 * 1024 * 1024:
        raise GraphError(131053, "Images must be at most 5 MB.")
    media = Media(id=state.new_numeric_id(), content=content, mime_type=mime_type, filename=upload.filename)
    state.media[media.id] = media
    return web.json_response({"id": media.id})


def build_app(state: EmulatorState, dispatcher: Dispatcher) -> web.Application:
    from . import control  # the test-only routes; registered first so the Graph patterns never shadow them

    app = web.Application(middlewares=[graph_errors], client_max_size=MAX_UPLOAD)
    app[STATE] = state
    app[DISPATCHER] = dispatcher
    control.register(app.router)
    app.router.add_post(f"/{VERSION}/{{phone_id}}/messages", send_message)
    app.router.add_post(f"/{VERSION}/{{phone_id}}/media", upload_media)
    app.router.add_get(f"/{VERSION}/{{waba_id}}/message_templates", list_templates)
    app.router.add_get(f"/{VERSION}/{{object_id}}", get_object)
    return app
