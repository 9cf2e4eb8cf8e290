"""The WhatsApp Cloud API emulator over real HTTP, with a webhook receiver of our own that verifies signatures."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from aiohttp import web

from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer

TOKEN, SECRET, VERIFY = "test-token", "test_app_secret", "verify-me"
PHONE_ID, WABA_ID = "106540352242922", "102290129340398"
ANA, LUIS = "+529981234567", "+529987654321"  # Mexican mobiles: wa_id gains the 521 (reference §5.9)
ANA_WA = "5219981234567"


class Receiver:
    """A tiny webhook endpoint on its own thread: checks X-Hub-Signature-256 on the raw bytes like Pregonero must."""

    def __init__(self):
        self.posts, self.bad_signatures, self.fail_next = [], 0, 0
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/webhooks/whatsapp/", self.post)
        app.router.add_get("/webhooks/whatsapp/", self.get)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", 0).start())
        self.url = "http://127.0.0.1:%d/webhooks/whatsapp/" % self.runner.addresses[0][1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    async def post(self, request):
        raw = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            self.bad_signatures += 1
            return web.Response(status=403)
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        raw.decode("ascii")  # ensure_ascii=True: non-ASCII arrives escaped
        self.posts.append((raw, json.loads(raw)))
        return web.Response(text="ok")

    async def get(self, request):
        query = request.query
        if query.get("hub.mode") == "subscribe" and query.get("hub.verify_token") == VERIFY:
            return web.Response(text=query["hub.challenge"])
        return web.Response(status=403)

    def values(self, field="messages"):
        return [change["value"] for _raw, body in list(self.posts) for entry in body["entry"]
                for change in entry["changes"] if change["field"] == field]

    def statuses(self, wamid=None):
        found = [s for value in self.values() for s in value.get("statuses", [])]
        return [s for s in found if wamid is None or s["id"] == wamid]

    def messages(self):
        return [m for value in self.values() for m in value.get("messages", [])]

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def wait_for(predicate, timeout=1.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def start(receiver):
    """Start an emulator with compressed time; keyword arguments override the config."""
    servers = []

    def start(**overrides):
        config = dict(token=TOKEN, app_secret=SECRET, verify_token=VERIFY, phone_number_id=PHONE_ID,
                      waba_id=WABA_ID, callback_url=receiver.url, sent_delay=0.01, delivered_delay=0.03,
                      read_delay=0.06, webhook_retry_delay=0.02, seed=7)
        server = EmulatorServer(EmulatorConfig(**{**config, **overrides}))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def call(server, method, path, body=None, token=TOKEN, timeout=5.0):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(server.base_url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def invitation(to=ANA, params=5, opaque="msg:1", name="invitacion_evento", lang="es_MX", sub_type="quick_reply",
               image=None, page="tok"):
    components = [
        {"type": "header", "parameters": [{"type": "image", "image": image or {"link": "https://x.test/b.jpg"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": f"v{i}"} for i in range(params)]},
    ] + [{"type": "button", "sub_type": sub_type, "index": str(i), "parameters": [{"type": "payload",
          "payload": f"rsvp:tok:{answer}"}]} for i, answer in enumerate(("yes", "no"))]
    if page is not None:  # the personal page's URL button: the seeded template's address ends in {{1}}
        components.append({"type": "button", "sub_type": "url", "index": "2",
                           "parameters": [{"type": "text", "text": page}]})
    return {"messaging_product": "whatsapp", "to": to, "type": "template", "biz_opaque_callback_data": opaque,
            "template": {"name": name, "language": {"code": lang}, "components": components}}


def text(to=ANA, body="¡Gracias! Su lugar está confirmado."):
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


def send(server, body, **kwargs):
    return call(server, "POST", f"/v23.0/{PHONE_ID}/messages", body, **kwargs)


def error_code(result):
    return result[0], result[1]["error"]["code"]


def test_template_send_accepted_logged_and_listed(start, receiver):
    server = start(statuses=False)
    status, body = send(server, invitation(sub_type="QUICK_REPLY"))  # either case of sub_type is accepted
    assert status == 200 and body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": ANA, "wa_id": ANA_WA}]
    (message,) = body["messages"]
    assert message["id"].startswith("wamid.") and message["message_status"] == "accepted"
    send(server, invitation(opaque="msg:1"))  # a double send of the same invitation
    assert server.duplicates() == {"msg:1": 2} and server.count_by_recipient() == {ANA_WA: 2}
    assert server.log[0].biz_opaque_callback_data == "msg:1" and server.log[0].wamid == message["id"]
    assert [b.get("url") for b in server.log[0].quick_replies] == [None, None, "https://invitaciones.example/i/tok"]
    status, listed = call(server, "GET", f"/_emulator/messages?to={ANA}")
    assert listed["count_by_recipient"] == {ANA_WA: 2}
    time.sleep(0.1)
    assert receiver.posts == []  # statuses=False: throughput benchmarks get no webhooks at all
    assert listed["data"][0]["request"]["biz_opaque_callback_data"] == "msg:1"


def test_bad_and_expired_tokens_give_401_with_code_190(start):
    server = start()
    status, body = send(server, invitation(), token="wrong")
    assert (status, body["error"]["code"], body["error"]["type"]) == (401, 190, "OAuthException")
    call(server, "POST", "/_emulator/token/expire")
    status, body = send(server, invitation())
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (401, 190, 463)


@pytest.mark.parametrize(("body", "code"), [
    (invitation(name="no_existe"), 132001),
    (invitation(lang="es"), 132001),  # es and es_MX are different templates
    (invitation(name="agradecimiento_evento"), 132001),  # PENDING is not sendable
    (invitation(params=4), 132000),
    (invitation(params=6), 132000),
    (invitation(page=None), 131008),  # the personal page's button ends in {{1}}: its suffix is required
    (invitation(page=" "), 132012),
    ({**invitation(), "messaging_product": "sms"}, 100),
    ({"messaging_product": "whatsapp", "to": ANA, "type": "template"}, 100),
    (b"{not json", 100),
])
def test_invalid_sends(start, body, code):
    assert error_code(send(start(), body)) == (400, code)


def test_customer_service_window(start, receiver):
    server = start(statuses=False)
    assert error_code(send(server, text())) == (400, 131047)
    status, result = call(server, "POST", "/_emulator/inbound/text", {"from": ANA, "body": "Hola, ¿a qué hora?"})
    assert status == 200
    assert send(server, text(to="5219981234567"))[0] == 200  # the window belongs to the wa_id, with or without 1
    wait_for(receiver.messages)
    assert receiver.messages()[0]["text"]["body"] == "Hola, ¿a qué hora?"
    server.advance_clock(25 * 3600)
    assert error_code(send(server, text())) == (400, 131047)


def test_throughput_pair_and_daily_limits(start):
    server = start(statuses=False, rate=1, burst=5, pair_limit=False)
    codes = [send(server, invitation(to=f"+52998100{i:04d}"))[0] for i in range(8)]
    assert codes[:5] == [200] * 5 and 400 in codes[5:]
    assert error_code(send(server, invitation(to="+529981009999"))) == (400, 130429)
    server = start(statuses=False, pair_burst=2)
    assert [send(server, invitation())[0] for _ in range(2)] == [200, 200]
    assert error_code(send(server, invitation())) == (400, 131056)
    assert send(server, invitation(to=LUIS))[0] == 200  # other recipients are unaffected
    server = start(statuses=False, daily_limit=2, pair_limit=False)
    assert send(server, invitation(to=ANA))[0] == send(server, invitation(to=LUIS))[0] == 200
    assert error_code(send(server, invitation(to="+529980000999"))) == (400, 131048)
    assert send(server, invitation(to=ANA))[0] == 200  # already reached today: costs nothing


def test_status_webhooks_are_signed_and_ordered(start, receiver):
    server = start()
    wamid = send(server, invitation(opaque="invitation:8f3c2a"))[1]["messages"][0]["id"]
    statuses = wait_for(lambda: len(receiver.statuses(wamid)) == 3 and receiver.statuses(wamid))
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert {s["biz_opaque_callback_data"] for s in statuses} == {"invitation:8f3c2a"}
    assert statuses[0]["recipient_id"] == ANA_WA and statuses[0]["pricing"]["category"] == "marketing"
    assert "pricing" not in statuses[2]  # on sent and on one of delivered/read, never both
    assert receiver.bad_signatures == 0 and server.wait_idle()


@pytest.mark.parametrize(("suffix", "expected"), [
    ("000001", [("failed", 131026)]),
    ("000003", [("failed", 131050)]),
    ("000005", [("sent", None), ("read", None)]),
    ("000006", [("sent", None), ("read", None), ("delivered", None)]),
    ("000007", [("sent", None), ("delivered", None), ("delivered", None), ("read", None)]),
])
def test_scripted_recipients(start, receiver, suffix, expected):
    server = start()
    wamid = send(server, invitation(to="+52998" + "1" + suffix))[1]["messages"][0]["id"]
    server.wait_idle()
    got = [(s["status"], s.get("errors", [{}])[0].get("code")) for s in receiver.statuses(wamid)]
    assert got == expected


def test_mexican_521_quirk_can_be_switched_off(start, receiver):
    server = start(mx_521_quirk=False)
    status, body = send(server, invitation(to=ANA))
    assert body["contacts"][0]["wa_id"] == "529981234567"
    server.wait_idle()
    assert receiver.statuses()[0]["recipient_id"] == "529981234567"


def test_quick_reply_tap_carries_payload_and_context(start, receiver):
    server = start(statuses=False)
    wamid = send(server, invitation())[1]["messages"][0]["id"]
    status, _ = call(server, "POST", "/_emulator/inbound/quick-reply", {"message_id": wamid, "index": 1})
    (tap,) = wait_for(receiver.messages)
    assert tap["type"] == "button" and tap["from"] == ANA_WA
    assert tap["button"] == {"payload": "rsvp:tok:no", "text": "No podré asistir"}
    assert tap["context"]["id"] == wamid
    assert receiver.values()[0]["contacts"][0]["wa_id"] == ANA_WA
    assert send(server, text())[0] == 200  # the tap opened the window
    assert call(server, "POST", "/_emulator/inbound/quick-reply", {"message_id": "wamid.x", "index": 0})[0] == 404


def test_interactive_button_tap(start, receiver):
    server = start(statuses=False)
    server.user_sends_text(ANA, "Hola")
    buttons = [{"type": "reply", "reply": {"id": f"rsvp:tok:{a}", "title": a}} for a in ("yes", "no")]
    body = {"messaging_product": "whatsapp", "to": ANA, "type": "interactive",
            "interactive": {"type": "button", "body": {"text": "¿Asistirá?"}, "action": {"buttons": buttons}}}
    wamid = send(server, body)[1]["messages"][0]["id"]
    call(server, "POST", "/_emulator/inbound/button-reply", {"message_id": wamid, "id": "rsvp:tok:no"})
    tap = wait_for(lambda: len(receiver.messages()) == 2 and receiver.messages()[1])
    assert tap["interactive"] == {"type": "button_reply", "button_reply": {"id": "rsvp:tok:no", "title": "no"}}


def test_stop_marketing_preference_then_131050(start, receiver):
    server = start()
    status, result = call(server, "POST", "/_emulator/inbound/preferences", {"from": ANA, "value": "stop"})
    (value,) = wait_for(lambda: receiver.values("user_preferences"))
    preference = value["user_preferences"][0]
    assert (preference["wa_id"], preference["value"], preference["category"]) == (ANA_WA, "stop", "marketing_messages")
    assert isinstance(preference["timestamp"], int)
    wamid = send(server, invitation())[1]["messages"][0]["id"]
    failed = wait_for(lambda: receiver.statuses(wamid))
    assert failed[0]["status"] == "failed" and failed[0]["errors"][0]["code"] == 131050


def test_template_status_change_webhook_and_effect(start, receiver):
    server = start(statuses=False)
    call(server, "POST", "/_emulator/templates/status",
         {"name": "invitacion_evento", "language": "es_MX", "event": "PAUSED", "reason": "LOW_QUALITY"})
    (value,) = wait_for(lambda: receiver.values("message_template_status_update"))
    assert value["event"] == "PAUSED" and isinstance(value["message_template_id"], int)
    assert "time" in receiver.posts[0][1]["entry"][0]
    assert error_code(send(server, invitation())) == (400, 132015)


def test_template_listing_paging_filters_and_lookup(start):
    server = start()
    path, names = f"/v23.0/{WABA_ID}/message_templates?limit=2&fields=name,status,language", []
    while path:
        status, page = call(server, "GET", path)
        assert status == 200 and len(page["data"]) <= 2
        names += [t["name"] for t in page["data"]]
        path = page["paging"].get("next", "").removeprefix(server.base_url)
    assert sorted(names) == ["acuse_solicitud", "agradecimiento_evento", "cancelacion_evento", "invitacion_evento",
                             "invitacion_evento_promo", "recordatorio_evento"]
    status, approved = call(server, "GET", f"/v23.0/{WABA_ID}/message_templates?status=APPROVED&name=invitacion")
    (template,) = approved["data"]
    assert [c["type"] for c in template["components"]] == ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    assert call(server, "GET", f"/v23.0/{template['id']}?fields=status")[1] == {"status": "APPROVED",
                                                                                 "id": template["id"]}
    assert error_code(call(server, "GET", "/v23.0/999")) == (400, 100)


def test_media_upload_and_use_in_header(start, receiver):
    server = start(read_probability=0)

    async def upload():
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", "image/jpeg")
        form.add_field("file", b"\xff\xd8 fake jpeg", filename="banner.jpg", content_type="image/jpeg")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            async with session.post(f"{server.base_url}/v23.0/{PHONE_ID}/media", data=form) as response:
                return response.status, await response.json()

    status, body = asyncio.run(upload())
    assert status == 200 and body["id"].isdigit()
    assert call(server, "GET", f"/v23.0/{body['id']}")[1]["mime_type"] == "image/jpeg"
    good = send(server, invitation(image={"id": body["id"]}))[1]["messages"][0]["id"]
    bad = send(server, invitation(to=LUIS, image={"id": "404"}))[1]["messages"][0]["id"]
    server.wait_idle()
    assert [s["status"] for s in receiver.statuses(good)] == ["sent", "delivered"]
    assert receiver.statuses(bad)[0]["errors"][0]["code"] == 131053


def fetch(url, token=TOKEN):
    """GET a media URL as a client would: (status, bytes)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_user_sends_an_image_downloadable_only_with_the_token(start, receiver):
    server = start()
    photo = b"\xff\xd8\xff\xe0 invitation pixels"
    status, sent = call(server, "POST", "/_emulator/inbound/media", {
        "from": ANA, "type": "image", "mime_type": "image/jpeg", "caption": "Invitación al concierto",
        "content": base64.b64encode(photo).decode(), "name": "Cultura"})
    assert status == 200
    (message,) = wait_for(receiver.messages)
    assert (message["from"], message["id"], message["type"]) == (ANA_WA, sent["id"], "image")
    assert message["image"] == {"id": sent["media_id"], "mime_type": "image/jpeg",
                                "sha256": hashlib.sha256(photo).hexdigest(), "caption": "Invitación al concierto"}
    assert receiver.values()[0]["contacts"] == [{"profile": {"name": "Cultura"}, "wa_id": ANA_WA}]

    status, media = call(server, "GET", f"/v23.0/{sent['media_id']}")
    assert status == 200 and (media["mime_type"], media["file_size"]) == ("image/jpeg", len(photo))
    assert fetch(media["url"]) == (200, photo)
    assert fetch(media["url"], token=None)[0] == 401 and fetch(media["url"], token="other")[0] == 401
    assert call(server, "GET", f"/v23.0/{sent['media_id']}", token="other")[0] == 401


def test_user_sends_a_document_and_downloads_can_fail(start, receiver):
    server = start()
    pdf = b"%PDF-1.7 oficio"
    sent = server.user_sends_document(LUIS, pdf, "application/pdf", "Oficio 123.pdf", caption="Oficio firmado")
    (message,) = wait_for(receiver.messages)
    assert message["type"] == "document" and message["document"] == {
        "id": sent["media_id"], "mime_type": "application/pdf", "sha256": hashlib.sha256(pdf).hexdigest(),
        "caption": "Oficio firmado", "filename": "Oficio 123.pdf"}
    url = call(server, "GET", f"/v23.0/{sent['media_id']}")[1]["url"]
    server.fail_media_downloads(2, status=503)
    assert [fetch(url)[0] for _ in range(3)] == [503, 503, 200]
    assert call(server, "POST", "/_emulator/media/faults", {"count": 1})[0] == 200
    assert fetch(url)[0] == 500 and fetch(url) == (200, pdf)
    assert server.stats["media_downloads"] == 2 and server.stats["media_download_failures"] == 3
    assert call(server, "POST", "/_emulator/inbound/media", {"from": ANA, "type": "location", "content": "eA==",
                                                             "mime_type": "x/y"})[0] == 400


def test_the_acknowledgement_template_is_approved_and_takes_the_folio(start):
    server = start(statuses=False)
    template = server.call(server.state.templates.find, "acuse_solicitud", "es_MX")
    assert (template.status, template.category, template.body_parameter_count) == ("APPROVED", "UTILITY", 1)
    body = {"messaging_product": "whatsapp", "to": ANA, "type": "template", "template": {
        "name": "acuse_solicitud", "language": {"code": "es_MX"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "RP-2026-0042"}]}]}}
    assert send(server, body)[0] == 200  # outside any 24 h window: a template is what gets through


def test_injected_errors(start):
    server = start(statuses=False)
    call(server, "POST", "/_emulator/faults", {"code": 131016, "count": 2, "status": 503})
    assert [error_code(send(server, invitation())) for _ in range(2)] == [(503, 131016)] * 2
    assert send(server, invitation())[0] == 200
    for code, status in ((368, 400), (131048, 400), (132015, 400), (100, 400), (131000, 500)):
        server.inject_fault(code)
        assert error_code(send(server, invitation(to=LUIS))) == (status, code)
    server.configure(transient_error_rate=1.0)
    assert error_code(send(server, invitation(to=LUIS)))[1] in (131000, 131016)


@pytest.mark.parametrize(("mode", "logged"), [("accepted", 1), ("rejected", 0)])
def test_timeouts_accepted_or_not(start, receiver, mode, logged):
    server = start(timeout_rate=1.0, timeout_hold=0.4, timeout_mode=mode)
    with pytest.raises(TimeoutError):
        send(server, invitation(), timeout=0.1)
    assert len(server.log) == logged
    if logged:  # the sender must reconcile from these statuses, keyed by our callback data
        assert wait_for(receiver.statuses)[0]["biz_opaque_callback_data"] == "msg:1"


def test_webhook_retries_batches_and_duplicates(start, receiver):
    receiver.fail_next = 2
    server = start(batch_probability=1.0, duplicate_probability=1.0, read_probability=0, webhook_concurrency=1)
    for to in (ANA, LUIS):
        send(server, invitation(to=to))
    assert server.wait_idle()
    assert any(len(value.get("statuses", [])) > 1 for value in receiver.values())  # batched
    raw_bodies = [raw for raw, _body in receiver.posts]
    assert len(raw_bodies) > len(set(raw_bodies))  # the same bytes delivered twice
    assert len({(s["id"], s["status"]) for s in receiver.statuses()}) == 4  # nothing lost despite the 500s
    attempts = call(server, "GET", "/_emulator/webhooks")[1]["data"]
    assert [a["status"] for a in attempts][:2] == [500, 500]


def test_webhook_verification_on_demand(start):
    assert call(start(), "POST", "/_emulator/verify")[1]["verified"] is True
    assert call(start(verify_token="other"), "POST", "/_emulator/verify")[1]["verified"] is False


def test_phone_numbers_are_masked_in_logs(start, receiver, caplog):
    caplog.set_level("DEBUG", logger="pregonero.devtools.emulator")
    server = start()
    send(server, invitation())
    server.user_sends_text(ANA, "Hola")
    server.wait_idle()
    assert "***4567" in caplog.text and "9981234567" not in caplog.text


def test_cli_prints_spanish_line_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PREGONERO_DATA_DIR": os.environ.get("PREGONERO_DATA_DIR", str(tmp_path))}
    process = subprocess.Popen([sys.executable, "-m", "pregonero", "whatsapp-emulator", "--port", "0",
                                "--no-callback"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("Emulador de WhatsApp Cloud API escuchando en http://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()


def test_every_accepted_message_is_appended_to_the_jsonl_log(start, tmp_path):
    log = tmp_path / "emulator.jsonl"
    server = start(statuses=False, log_path=str(log))
    send(server, invitation(opaque="msg:1"))
    send(server, invitation(opaque="msg:2", name="no_existe"))  # refused: not logged
    send(server, invitation(opaque="msg:3"))
    server.reset()  # a reset clears the emulator's memory, never the file
    send(server, invitation(opaque="msg:4"))
    server.stop()
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [line["biz_opaque_callback_data"] for line in lines] == ["msg:1", "msg:3", "msg:4"]
    assert lines[0]["id"].startswith("wamid.") and lines[0]["request"]["template"]["name"] == "invitacion_evento"
    assert lines[0]["links"] == ["https://invitaciones.example/i/tok"]  # «Ver invitación», as the guest opens it


def test_the_seeded_page_button_points_at_the_site_it_was_given():
    """Under `make run` the emulator is told Pregonero's SITE_URL: the «Ver invitación» button it resolves is a
    link that opens the guest's page on that server."""
    from pregonero.devtools.emulator.state import EmulatorState

    state = EmulatorState(EmulatorConfig(site_url="http://127.0.0.1:8000/"))
    for name in ("invitacion_evento", "recordatorio_evento"):
        buttons = state.templates.find(name, "es_MX").buttons
        assert buttons[2]["url"] == "http://127.0.0.1:8000/i/{{1}}"
    assert EmulatorState(EmulatorConfig()).templates.find("invitacion_evento", "es_MX").buttons[2]["url"] == (
        "https://invitaciones.example/i/{{1}}")

