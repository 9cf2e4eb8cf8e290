"""The WhatsApp channel: payloads as the Cloud API expects them, errors classified so the engine does the right
thing (retry, fail the message, pause the campaign, or reconcile before retrying)."""

import asyncio
import errno
import json
import logging
import pickle

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
from django.core.exceptions import ImproperlyConfigured

from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer
from pregonero.sending.channels import CHANNELS, SendError
from pregonero.sending.channels.whatsapp import (WhatsAppClient, WhatsAppConfig, build_template_payload,
                                                  build_text_payload, classify, classify_error_code,
                                                  parse_rsvp_quick_reply, rsvp_quick_reply_payload, sync_templates)


def graph_error(code, **extra):
    return {"error": {"message": f"(#{code}) something", "type": "OAuthException", "code": code,
                      "fbtrace_id": "A4O5a8RAgePwbcGSu", **extra}}


# --- Payloads ---------------------------------------------------------------------------------------------------


def test_template_payload_has_the_shape_of_the_reference_example():
    payload = build_template_payload(
        to_e164="+5215512345678", template_name="event_invitation_v1", language="es_MX",
        header_image_link="https://cdn.example.com/events/42/banner.jpg",
        body_params=["Ana", "Gala Anual 2026", "15 de marzo, 19:00"],
        quick_reply_payloads=["RSVP_YES:8f3c2a", "RSVP_NO:8f3c2a"], callback_data="invitation:8f3c2a")

    assert payload == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "5215512345678", "type": "template",
        "biz_opaque_callback_data": "invitation:8f3c2a",
        "template": {
            "name": "event_invitation_v1", "language": {"code": "es_MX"},
            "components": [
                {"type": "header", "parameters": [
                    {"type": "image", "image": {"link": "https://cdn.example.com/events/42/banner.jpg"}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Ana"}, {"type": "text", "text": "Gala Anual 2026"},
                    {"type": "text", "text": "15 de marzo, 19:00"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "RSVP_YES:8f3c2a"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "1",
                 "parameters": [{"type": "payload", "payload": "RSVP_NO:8f3c2a"}]},
            ],
        },
    }


def test_template_header_can_be_an_uploaded_media_id():
    payload = build_template_payload(to_e164="+529981234567", template_name="invitacion_evento", language="es_MX",
                                     header_media_id="4490709327384033", callback_data="msg-1")

    assert payload["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "4490709327384033"}}]}]


@pytest.mark.parametrize("fields", [
    {"header_media_id": "1", "header_image_link": "https://x.example/a.jpg"}, {"to_e164": "998 123 4567 ext"},
    {"to_e164": "+52"}, {"callback_data": "x" * 513}, {"body_params": ["Ana", "  "]}])
def test_template_payload_refuses_what_whatsapp_would_reject(fields):
    arguments = {"to_e164": "+529981234567", "template_name": "t", "language": "es_MX", "callback_data": "m1",
                 **fields}
    with pytest.raises(ValueError):
        build_template_payload(**arguments)


def test_text_payload_has_the_shape_of_the_reference_example():
    payload = build_text_payload(to_e164="+5215512345678", body="¡Gracias! Tu lugar está confirmado.")

    assert payload == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5215512345678",
                       "type": "text", "text": {"preview_url": False, "body": "¡Gracias! Tu lugar está confirmado."}}
    assert build_text_payload(to_e164="+529981234567", body="Hola", callback_data="m7")[
        "biz_opaque_callback_data"] == "m7"
    with pytest.raises(ValueError):
        build_text_payload(to_e164="+529981234567", body="x" * 4097)


def test_rsvp_quick_reply_payload_round_trips_and_ignores_foreign_payloads():
    yes = rsvp_quick_reply_payload("Xy7-kQ_9", "yes")

    assert yes == "rsvp:Xy7-kQ_9:yes"
    assert parse_rsvp_quick_reply(yes) == ("Xy7-kQ_9", "yes")
    assert parse_rsvp_quick_reply(rsvp_quick_reply_payload("Xy7-kQ_9", "no")) == ("Xy7-kQ_9", "no")
    for foreign in ("Unsubscribe", "rsvp:abc:maybe", "rsvp::yes", "OPTOUT:abc", "rsvp:a:b:yes"):
        assert parse_rsvp_quick_reply(foreign) is None
    with pytest.raises(ValueError):
        rsvp_quick_reply_payload("a:b", "yes")


# --- Classification ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("codes", "kind"), [  # reference §3.3, every code it lists
    ([130429, 131056, 80007, 4, 80004, 131000, 131016, 1, 2, 131057], "transient"),
    ([131026, 131047, 131049, 131050, 131051, 131053, 132000, 132001, 132012, 100, 131008, 131009, 130472, 131030],
     "permanent"),
    ([190, 0, 10, 200, 299, 131048, 368, 131031, 131042, 131064, 132015, 132016], "account")])
def test_provider_codes_are_classified_by_code_not_by_http_status(codes, kind):
    for code in codes:
        for status in (400, 401, 403, 429, 500, 503):
            error = classify(status, graph_error(code), None)
            assert (error.kind, error.code, error.http_status) == (kind, code, status)
            assert error.reason and error.retryable == (kind == "transient")


def test_reasons_are_spanish_sentences_a_person_understands():
    assert classify(400, graph_error(131026), None).reason == "El número no tiene WhatsApp o no puede recibir mensajes."
    assert "token" in classify(401, graph_error(190, error_subcode=463), None).reason
    assert "24 horas" in classify(400, graph_error(131047), None).reason


def test_throttling_codes_carry_a_retry_hint_and_the_header_overrides_it():
    assert classify(400, graph_error(130429), None).retry_after == 1
    assert classify(400, graph_error(131056), None).retry_after == 6
    assert classify(400, graph_error(131057), None).retry_after == 60
    assert classify(429, graph_error(130429), None, headers={"Retry-After": "12"}).retry_after == 12
    usage = '{"102290129340398": [{"type": "whatsapp", "call_count": 100, "estimated_time_to_regain_access": 3}]}'
    assert classify(400, graph_error(80007), None, headers={"x-business-use-case-usage": usage}).retry_after == 180
    # A permanent failure never suggests retrying, whatever the headers say.
    assert classify(400, graph_error(131026), None, headers={"Retry-After": "5"}).retry_after is None


@pytest.mark.parametrize(("status", "body", "kind"), [
    (500, graph_error(987654), "transient"), (400, graph_error(987654), "permanent"),
    (400, graph_error(987654, is_transient=True), "transient"),
    (None, graph_error(987654), "permanent"),  # from a failed status webhook: no HTTP status, but it did fail
    (503, None, "transient"), (502, {"unexpected": "html page"}, "transient"), (429, None, "transient"),
    (404, None, "permanent"),
    (504, None, "unknown"),  # a gateway gave up waiting: WhatsApp may have taken the message
    (200, {"messaging_product": "whatsapp"}, "unknown")])  # accepted, but no wamid to reconcile with
def test_unlisted_codes_and_bodiless_answers(status, body, kind):
    assert classify(status, body, None).kind == kind


REFUSED_KEY = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)


@pytest.mark.parametrize(("exc", "kind"), [
    (aiohttp.ClientConnectorError(REFUSED_KEY, ConnectionRefusedError(errno.ECONNREFUSED, "refused")), "transient"),
    (aiohttp.ConnectionTimeoutError("no connection in time"), "transient"), (ConnectionRefusedError(), "transient"),
    (TimeoutError(), "unknown"), (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "unknown"),
    (aiohttp.ServerDisconnectedError(), "unknown"),
    (aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"), "unknown"),
    (aiohttp.ClientPayloadError("Response payload is not completed"), "unknown")])
def test_connection_failures_say_whether_the_request_may_have_left(exc, kind):
    error = classify(None, None, exc)
    assert (error.kind, error.retryable) == (kind, kind == "transient")


def test_errors_pickle_and_never_carry_phone_numbers_or_the_token():
    error = classify(400, graph_error(131026, error_data={"details": "Recipient 5215512345678 unavailable"}), None)

    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.code, copy.reason) == (error.kind, error.code, error.reason)
    assert "5215512345678" not in error.detail and "***5678" in error.detail
    assert "EAAG-secret" not in repr(WhatsAppConfig(base_url="http://x", token="EAAG-secret", phone_number_id="1",
                                                    waba_id="2"))


def test_config_from_settings_names_what_is_missing(settings):
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:8765"
    settings.WHATSAPP_TOKEN = ""
    with pytest.raises(ImproperlyConfigured, match="WHATSAPP_TOKEN"):
        WhatsAppConfig.from_settings()
    settings.WHATSAPP_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID, settings.WHATSAPP_WABA_ID = "t", "106540", "102290"
    settings.WHATSAPP_API_VERSION, settings.WHATSAPP_TIMEOUT = "v25.0", 3

    config = WhatsAppConfig.from_settings()

    assert (config.base_url, config.phone_number_id, config.timeout, config.api_version) == (
        "http://127.0.0.1:8765", "106540", 3, "v25.0")
    assert CHANNELS["whatsapp"] is WhatsAppClient


# --- Over real HTTP against the project's Cloud API emulator ----------------------------------------------------

TOKEN, PHONE_ID, WABA_ID = "emulator-test-token", "106540352242922", "102290129340398"
ANA, LUIS = "+529981234567", "+529987654321"
NOT_ON_WHATSAPP = "+529980000001"  # the emulator's scripted suffix: accepted, then a failed status with 131026


@pytest.fixture
def emulator():
    with EmulatorServer(EmulatorConfig(token=TOKEN, phone_number_id=PHONE_ID, waba_id=WABA_ID, callback_url=None,
                                       statuses=False, timeout_hold=0.5, seed=11)) as server:
        yield server


def client_config(server, **changes):
    return WhatsAppConfig(**{"base_url": server.base_url, "token": TOKEN, "phone_number_id": PHONE_ID,
                             "waba_id": WABA_ID, "api_version": "v23.0", **changes})


def with_client(config, work):
    """Run ``await work(client)`` in a fresh event loop, as a worker would, and close the client after."""
    async def main():
        async with WhatsAppClient(config) as client:
            return await work(client)

    return asyncio.run(main())


def send_error(config, payload) -> SendError:
    async def work(client):
        with pytest.raises(SendError) as raised:
            await client.send(payload)
        return raised.value

    return with_client(config, work)


def invitation(to=ANA, token="Xy7kQ9", callback_data="message:1", **fields):
    """The seeded ``invitacion_evento``: image header, five body parameters, two RSVP quick replies and the
    personal page's URL button."""
    return build_template_payload(**{
        "to_e164": to, "template_name": "invitacion_evento", "language": "es_MX", "callback_data": callback_data,
        "header_image_link": "https://pregonero.example/media/banner.jpg",
        "body_params": ["Lic. María Fernanda López", "Informe de Gobierno", "sábado 12 de diciembre de 2026",
                        "19:00", "Parque de las Palapas"],
        "quick_reply_payloads": [rsvp_quick_reply_payload(token, "yes"), rsvp_quick_reply_payload(token, "no")],
        "url_suffix": (2, token), **fields})


def test_template_send_is_accepted_with_a_wamid_and_taps_come_back_as_our_payload(emulator):
    payload = invitation()

    result = with_client(client_config(emulator), lambda client: client.send(payload))

    assert result.provider_id.startswith("wamid.") and result.provider_status == "accepted"
    assert result.recipient_id == "5219981234567"  # Mexico's extra 1 (reference §5.9): match webhooks by this
    (logged,) = emulator.messages()
    assert logged.wamid == result.provider_id and logged.request == payload
    tap = emulator.user_taps_quick_reply(result.provider_id, 0)
    assert parse_rsvp_quick_reply(tap["message"]["button"]["payload"]) == ("Xy7kQ9", "yes")


def test_free_text_only_goes_inside_the_window_the_guest_opened(emulator):
    config = client_config(emulator)
    thanks = build_text_payload(to_e164=LUIS, body="¡Gracias! Su lugar está confirmado.")

    outside = send_error(config, thanks)
    emulator.user_sends_text(LUIS, "Confirmo")
    inside = with_client(config, lambda client: client.send(thanks))

    assert (outside.kind, outside.code) == ("permanent", 131047)
    assert inside.provider_id.startswith("wamid.") and inside.provider_status == ""


@pytest.mark.parametrize("expire", [False, True])
def test_a_bad_or_expired_token_stops_the_account(emulator, expire):
    if expire:
        emulator.expire_token()
    config = client_config(emulator) if expire else client_config(emulator, token="not-the-token")

    error = send_error(config, invitation())

    assert (error.kind, error.code, error.http_status) == ("account", 190, 401)
    assert emulator.messages() == []


def test_a_refused_connection_is_transient_because_nothing_was_sent(emulator):
    config = client_config(emulator)
    emulator.stop()  # nothing listens on its port any more

    assert send_error(config, invitation()).kind == "transient"


def test_logs_name_neither_the_number_nor_the_token(emulator, caplog):
    caplog.set_level(logging.DEBUG, logger="pregonero.sending.channels.whatsapp")

    send_error(client_config(emulator, token="EAAG-secret-token"), invitation())
    emulator.inject_fault(131026)
    send_error(client_config(emulator), invitation())
    with_client(client_config(emulator), lambda client: client.send(invitation()))

    assert caplog.text.count("***4567") == 3
    assert "9981234567" not in caplog.text and "EAAG-secret-token" not in caplog.text


def test_a_payload_sent_as_its_stored_text_is_accepted_and_logged_masked(emulator, caplog):
    """The dispatcher posts the outbox's JSON text as it is: the API accepts it as the same message, and the log
    masks the number it names."""
    caplog.set_level(logging.DEBUG, logger="pregonero.sending.channels.whatsapp")
    text = json.dumps(invitation())

    result = with_client(client_config(emulator), lambda client: client.send(text))

    [logged] = emulator.messages()
    assert logged.wamid == result.provider_id and logged.request == json.loads(text)
    assert "***4567" in caplog.text and "9981234567" not in caplog.text


@pytest.mark.parametrize(("code", "status", "kind"), [
    (131000, None, "transient"), (131016, 503, "transient"), (368, None, "account"), (131048, None, "account"),
    (132015, None, "account"), (100, None, "permanent")])
def test_injected_provider_errors_are_classified(emulator, code, status, kind):
    emulator.inject_fault(code, status=status)

    error = send_error(client_config(emulator), invitation())

    assert (error.kind, error.code) == (kind, code)
    assert emulator.messages() == []


def test_not_on_whatsapp_is_accepted_and_reported_later_by_status_webhook(emulator):
    """131026 mostly arrives asynchronously (reference §3.3): the send succeeds and the engine learns the failure
    from the ``failed`` status webhook, matched by wamid and our callback data, and classifies it with the same
    table (``classify_error_code``)."""
    received = []

    async def scenario(config):
        async def webhook(request):
            received.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/webhooks/whatsapp/", webhook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        emulator.configure(callback_url=f"http://127.0.0.1:{port}/webhooks/whatsapp/", statuses=True,
                           sent_delay=0.01)
        try:
            async with WhatsAppClient(config) as client:
                result = await client.send(invitation(to=NOT_ON_WHATSAPP, callback_data="message:26"))
            async with asyncio.timeout(2):
                while not received:
                    await asyncio.sleep(0.01)
        finally:
            await runner.cleanup()
        return result

    result = asyncio.run(scenario(client_config(emulator)))

    (status,) = [s for body in received for entry in body["entry"] for change in entry["changes"]
                 for s in change["value"].get("statuses", [])]
    assert (status["id"], status["status"], status["biz_opaque_callback_data"]) == (
        result.provider_id, "failed", "message:26")
    error = classify_error_code(status["errors"][0]["code"])
    assert (error.kind, error.reason) == ("permanent", "El número no tiene WhatsApp o no puede recibir mensajes.")


def test_exceeding_the_throughput_gives_transient_130429_with_a_retry_hint(emulator):
    emulator.configure(rate=5, burst=5)
    payloads = [invitation(to=f"+52998310{i:04d}", callback_data=f"message:{i}") for i in range(20)]

    outcomes = with_client(client_config(emulator), lambda client: asyncio.gather(
        *(client.send(p) for p in payloads), return_exceptions=True))

    throttled = [o for o in outcomes if isinstance(o, SendError)]
    assert len(emulator.messages()) == 20 - len(throttled) >= 5 and throttled
    assert {(e.kind, e.code, e.retry_after) for e in throttled} == {("transient", 130429, 1)}


@pytest.mark.parametrize("mode", ["accepted", "rejected"])
def test_a_timeout_is_an_unknown_outcome_whether_or_not_the_message_went_out(emulator, mode):
    emulator.configure(timeout_rate=1.0, timeout_mode=mode)

    error = send_error(client_config(emulator, timeout=0.2), invitation())

    assert error.kind == "unknown" and not error.retryable
    # Only the provider knows: in "accepted" mode the message exists and a blind retry would duplicate it.
    assert len(emulator.messages()) == (1 if mode == "accepted" else 0)


def test_templates_are_listed_across_pages(emulator):
    listed = with_client(client_config(emulator), lambda client: client.list_templates(page_size=1))
    synced = sync_templates(client_config(emulator))  # the synchronous helper for views and tasks

    assert sorted(t["name"] for t in listed) == [
        "acuse_solicitud", "agradecimiento_evento", "cancelacion_evento", "invitacion_evento",
        "invitacion_evento_promo", "recordatorio_evento"]
    invitation_template = next(t for t in listed if t["name"] == "invitacion_evento")
    assert (invitation_template["language"], invitation_template["status"], invitation_template["category"]) == (
        "es_MX", "APPROVED", "MARKETING")
    assert [c["type"] for c in invitation_template["components"]] == ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    assert invitation_template["id"] and synced == listed


def test_uploaded_media_gets_an_id_usable_as_the_header(emulator, tmp_path):
    banner = tmp_path / "banner.png"
    banner.write_bytes(b"\x89PNG\r\n\x1a\n fake png")

    async def work(client):
        from_path = await client.upload_media(banner, "image/png")
        from_bytes = await client.upload_media(b"\xff\xd8 fake jpeg", "image/jpeg", filename="b.jpg")
        result = await client.send(invitation(header_image_link=None, header_media_id=from_path))
        return from_path, from_bytes, result

    from_path, from_bytes, result = with_client(client_config(emulator), work)

    assert from_path.isdigit() and from_bytes.isdigit() and from_path != from_bytes
    assert emulator.call(lambda: emulator.state.media[from_path].filename) == "banner.png"
    assert result.provider_id.startswith("wamid.")


def test_two_hundred_concurrent_sends_through_one_client_are_all_accepted_once(emulator):
    emulator.configure(rate=10_000, burst=10_000)
    payloads = [invitation(to=f"+52998320{i:04d}", callback_data=f"message:{i}") for i in range(200)]

    results = with_client(client_config(emulator), lambda client: asyncio.gather(*(client.send(p) for p in payloads)))

    assert len({r.provider_id for r in results}) == 200
    assert len({m.wamid for m in emulator.messages()}) == 200
    assert len(emulator.count_by_callback_data()) == 200 and emulator.duplicates() == {}
