"""Hostile input (issue 6): zip bombs, XML entities, polyglots, pixel bombs and path tricks in file names are
refused in Spanish at every upload form with nothing stored; every export keeps a formula inert; the WhatsApp
client talks to the configured API host only.

The hostile files are built here, by hand where zipfile would refuse to write them (lying sizes, repeated names).
"""

import asyncio
import csv
import io
import logging
import random
import re
import struct
import uuid
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook, load_workbook
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pregonero.campaigns.models import Attachment, Campaign
from pregonero.directory import services
from pregonero.directory.arco import arco_create
from pregonero.directory.guestlists import guest_list_confirm, guest_list_for
from pregonero.directory.models import ImportBatch, ImportIssue, Sector
from pregonero.rsvp.finallist import final_list_send
from pregonero.rsvp.models import Invitation
from pregonero.sending.channels import SendError
from pregonero.sending.channels.whatsapp import WhatsAppClient, WhatsAppConfig

pytestmark = pytest.mark.django_db

MB, GB = 1024 * 1024, 1024 * 1024 * 1024
SRC = Path(__file__).resolve().parents[2] / "src" / "pregonero"


# --------------------------------------------------------------------------- building hostile files


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def member(name: str, data: bytes) -> tuple[str, bytes, int, int]:
    """(name, raw deflate stream, CRC-32, size as the zip will declare it)."""
    return name, deflated(data), zlib.crc32(data), len(data)


def zip_of(members) -> bytes:
    """A zip written field by field, so it can say whatever a hostile file says (sizes, repeated names)."""
    body, directory = bytearray(), bytearray()
    for name, raw, crc, size in members:
        encoded, offset = name.encode(), len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), size, len(encoded), 0)
        body += encoded + raw
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(raw), size,
                                 len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return bytes(body + directory + end)


def workbook_bytes(rows=(("Nombre", "Celular", "Correo"), ("Ana Canul", "9981234567", "ana@hotel.example"))) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(list(row))
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def xlsx(*, replace: dict | None = None, extra=()) -> bytes:
    """A real workbook, rebuilt with some parts replaced (name -> member tuple) and extra members added."""
    with zipfile.ZipFile(io.BytesIO(workbook_bytes())) as source:
        members = [(replace or {}).get(name) or member(name, source.read(name)) for name in source.namelist()]
    return zip_of([*members, *extra])


SHEET = "xl/worksheets/sheet1.xml"


def zeros_deflated(megabytes: int) -> bytes:
    """A deflate stream of ``megabytes`` MiB of zeros, made without compressing them: 1 GiB in about 1 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MB)) + compressor.flush(zlib.Z_FULL_FLUSH)  # independent, so repeatable
    return block * megabytes + b"\x03\x00"  # an empty final block ends the stream


def zip_bomb(*, declared: int) -> bytes:
    """A workbook whose sheet inflates to 1 GiB; ``declared`` is the size its headers admit to."""
    return xlsx(replace={SHEET: (SHEET, zeros_deflated(1024), 0, declared)})


def xxe_workbook() -> bytes:
    with zipfile.ZipFile(io.BytesIO(workbook_bytes())) as source:
        sheet = source.read(SHEET).replace(b"Ana Canul", b"&xxe;")
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return xlsx(replace={SHEET: member(SHEET, doctype + sheet.split(b"?>", 1)[-1])})


def png_bytes(size=(40, 30), **save) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (18, 64, 107)).save(output, "PNG", **save)
    return output.getvalue()


def png_text(key: str, value: str) -> PngInfo:
    info = PngInfo()
    info.add_text(key, value)
    return info


def png_header(width: int, height: int) -> bytes:
    """Only the start of a PNG: enough to claim its size, which is all a pixel bomb needs."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)))


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "CámaraDelCelular"  # maker
    exif[0x8825] = {1: "N", 2: (21.0, 9.0, 36.0), 3: "W", 4: (86.0, 50.0, 51.0)}  # GPS: Cancún city hall
    output = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(output, "JPEG", exif=exif, comment=b"nota privada")
    return output.getvalue()


HOSTILE_WORKBOOKS = {
    "zip-bomb": (lambda: zip_bomb(declared=GB), "se descomprime en más de"),
    "zip-bomb-lying-header": (lambda: zip_bomb(declared=1024), "se descomprime en más de"),
    "xxe": (xxe_workbook, "declaraciones XML (DOCTYPE)"),
    "nested-zip": (lambda: xlsx(extra=[member("xl/embeddings/otro.zip", zip_of([member("a.xml", b"<a/>")]))]),
                   "comprimidos dentro"),
    "repeated-member": (lambda: xlsx(extra=[member(SHEET, b"<worksheet/>")]), "archivos repetidos"),
}


# --------------------------------------------------------------------------- the upload forms


def stored_files() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def request_form(**overrides) -> dict:
    now = timezone.localtime()
    return {
        "submission_key": str(uuid.uuid4()), "title": "Festival de la Cultura Maya", "venue": "Teatro de la Ciudad",
        "address": "Av. Tulum, SM 2", "message_text": "{tratamiento} {nombre}, le invitamos a {evento}.",
        "starts_at": (now + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"),
        "rsvp_deadline": (now + timedelta(days=15)).strftime("%Y-%m-%dT%H:%M"), **overrides,
    }


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def post_request(client, people, files: dict):
    client.force_login(people.requester)
    return client.post(reverse("campaigns:new"), {**request_form(), **files})


def post_import(client, people, name: str, content: bytes):
    client.force_login(people.database)
    return client.post(reverse("directory:import_new"), {"file": upload(name, content)})


def assert_refused(response, message: str) -> None:
    """What the person sees: the form again with the reason, and nothing kept anywhere."""
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Campaign.objects.exists() and not Attachment.objects.exists() and not ImportBatch.objects.exists()
    assert stored_files() == []


@pytest.mark.parametrize("case", list(HOSTILE_WORKBOOKS))
def test_a_hostile_workbook_is_refused_at_the_contact_import(client, people, case):
    build, message = HOSTILE_WORKBOOKS[case]
    assert_refused(post_import(client, people, "directorio.xlsx", build()), message)


@pytest.mark.parametrize("case", list(HOSTILE_WORKBOOKS))
def test_a_hostile_workbook_is_refused_as_a_requests_guest_list(client, people, case):
    build, message = HOSTILE_WORKBOOKS[case]
    assert_refused(post_request(client, people, {"guest_list": upload("invitados.xlsx", build())}), message)


def test_the_zip_bomb_is_small_and_its_headers_are_what_the_checks_face():
    honest, lying = zip_bomb(declared=GB), zip_bomb(declared=1024)
    assert len(honest) < 2 * MB
    with zipfile.ZipFile(io.BytesIO(lying)) as archive:
        assert archive.getinfo(SHEET).file_size == 1024  # only inflating it shows the gigabyte


def test_an_ordinary_workbook_still_goes_through_both_forms(client, people):
    response = post_import(client, people, "directorio.xlsx", xlsx())
    assert response.status_code == 302 and ImportBatch.objects.count() == 1
    response = post_request(client, people, {"guest_list": upload("invitados.xlsx", workbook_bytes())})
    assert response.status_code == 302 and Campaign.objects.get().guest_list_file is not None


def test_a_png_with_a_zip_appended_is_stored_as_the_png_alone(client, people):
    polyglot = png_bytes() + xlsx()
    assert zipfile.is_zipfile(io.BytesIO(polyglot))
    response = post_request(client, people, {"invitation_image": upload("invitacion.png", polyglot)})
    assert response.status_code == 302
    attachment = Campaign.objects.get().invitation_image
    stored = Path(attachment.file.path).read_bytes()
    assert not zipfile.is_zipfile(io.BytesIO(stored)) and b"PK\x03\x04" not in stored
    assert Image.open(io.BytesIO(stored)).size == (40, 30) and attachment.size == len(stored)


@pytest.mark.parametrize(("post", "message"), [
    (lambda client, people, content: post_import(client, people, "directorio.xlsx", content),
     "no es una hoja de cálculo válida"),
    (lambda client, people, content: post_request(client, people, {"guest_list": upload("invitados.xlsx", content)}),
     "no corresponde a un archivo .xlsx válido"),
], ids=["import", "guest-list"])
def test_the_same_polyglot_named_xlsx_is_refused(client, people, post, message):
    assert_refused(post(client, people, png_bytes() + xlsx()), message)


def test_an_image_loses_its_gps_position_and_anything_hidden_in_it(client, people):
    assert Image.open(io.BytesIO(jpeg_with_gps())).getexif().get_ifd(0x8825)  # the upload does carry a position
    hidden = png_bytes(pnginfo=png_text("Comment", "<html><script>alert(1)</script></html>"))
    response = post_request(client, people, {"invitation_image": upload("foto.jpg", jpeg_with_gps())})
    assert response.status_code == 302
    stored = Path(Campaign.objects.get().invitation_image.file.path).read_bytes()
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and not image.getexif() and "comment" not in image.info
    assert b"nota privada" not in stored and "CámaraDelCelular".encode() not in stored

    response = post_request(client, people, {"invitation_image": upload("aviso.png", hidden)})
    assert response.status_code == 302
    stored = Path(Campaign.objects.order_by("pk").last().invitation_image.file.path).read_bytes()
    assert b"<script>" not in stored and Image.open(io.BytesIO(stored)).format == "PNG"


@pytest.mark.parametrize("size", [(30000, 30000), (10000, 10000), (9000, 5000)],
                         ids=["900-megapixels", "100-megapixels", "45-megapixels"])
def test_a_pixel_bomb_is_refused_by_its_size(client, people, size):
    response = post_request(client, people, {"invitation_image": upload("invitacion.png", png_header(*size))})
    assert_refused(response, "La imagen es demasiado grande (más de 40 megapíxeles)")


def test_an_image_over_the_byte_limit_is_refused(client, people, settings):
    settings.UPLOAD_MAX_BYTES = 20_000
    noise = io.BytesIO()
    Image.frombytes("RGB", (100, 100), random.Random(6).randbytes(30_000)).save(noise, "PNG")  # noise: no deflate
    assert len(noise.getvalue()) > 20_000
    response = post_request(client, people, {"invitation_image": upload("invitacion.png", noise.getvalue())})
    assert_refused(response, "el máximo es")


def post_oficio(client, people, scan: bytes):
    """The assistant registers an oficio with its scan (PDF, JPG or PNG)."""
    client.force_login(people.assistant)
    data = request_form(department=people.tourism.pk, received_via="oficio", oficio_number="DT/0457/2026",
                        received_on=timezone.localdate().isoformat())
    return client.post(reverse("campaigns:new"), {**data, "scan": upload("oficio.pdf", scan)})


@pytest.mark.parametrize("content", [
    b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n" + zip_of([member("payload.jar", b"class")]),
    b"%PDF-1.4\n<html><script>alert(document.cookie)</script></html>\n%%EOF",
], ids=["pdf-zip", "pdf-html"])
def test_a_pdf_that_is_also_something_else_is_refused(client, people, content):
    assert_refused(post_oficio(client, people, content), "trae otro archivo escondido dentro")


def test_a_pdf_must_start_with_its_signature(client, people):
    late = b"<html>" + b" " * 100 + b"%PDF-1.4\n%%EOF"
    assert_refused(post_oficio(client, people, late), "no corresponde a un archivo .pdf válido")
    assert post_oficio(client, people, b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF").status_code == 302


def multipart(fields: dict, field: str, header_filename: str, content: bytes) -> tuple[bytes, str]:
    """A form body written by hand: the test client would clean the file name before sending it."""
    boundary = "----HostileBoundary7MA4YWxk"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; {header_filename}\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


TRICKY_NAMES = {
    "parent-dirs": 'filename="../../../../etc/passwd.png"',
    "windows": 'filename="..\\..\\Windows\\System32\\evil.png"',
    "absolute": 'filename="/var/lib/pregonero/media/x.png"',
    "encoded-slashes-and-nul": "filename*=UTF-8''..%2F..%2Fetc%2Fcron.d%2Fjob%00.png",
    "encoded-newline": "filename*=UTF-8''lista%0D%0AContent-Type%3A%20text%2Fhtml.png",
    "right-to-left": "filename*=UTF-8''factura%E2%80%AEgnp.png",
    "long": f'filename="{"a" * 400}.png"',
    "very-long": f'filename="{"a" * 1000}.png"',  # past Django's header limit: a plain 400
}


@pytest.mark.parametrize("case", list(TRICKY_NAMES))
def test_a_tricky_file_name_never_names_anything_on_disk(client, people, case):
    client.force_login(people.requester)
    body, content_type = multipart(request_form(), "invitation_image", TRICKY_NAMES[case], png_bytes())
    response = client.post(reverse("campaigns:new"), body, content_type=content_type)
    assert response.status_code in (302, 400)
    media = Path(settings.MEDIA_ROOT)
    for path in stored_files():  # whatever was kept sits in a folder of ours, under a name of ours
        assert re.fullmatch(r"solicitudes/RP-\d{4}-\d{4}/[0-9a-f]{32}\.png", path.relative_to(media).as_posix())
    assert not (media.parent / "etc").exists()
    for attachment in Attachment.objects.all():
        name = attachment.original_name
        assert "/" not in name and "\\" not in name and len(name) <= 255 and name.endswith(".png")
        assert not any(ord(char) < 32 or char in "\u202e\x7f" for char in name)
        download = client.get(reverse("campaigns:attachment", args=[attachment.campaign.folio, attachment.pk]))
        assert download.status_code == 200  # the name goes back in a header without breaking it


@pytest.mark.parametrize("case", ["parent-dirs", "encoded-slashes-and-nul", "long"])
def test_a_tricky_import_file_name_is_only_a_label(client, people, case):
    client.force_login(people.database)
    header = TRICKY_NAMES[case].replace(".png", ".csv")
    body, content_type = multipart({}, "file", header, b"Nombre,Correo\nAna Canul,ana@hotel.example\n")
    response = client.post(reverse("directory:import_new"), body, content_type=content_type)
    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert re.fullmatch(r"importaciones/[0-9a-f]{32}\.csv", batch.file.name)
    assert "/" not in batch.original_name and "\x00" not in batch.original_name and len(batch.original_name) <= 255


# --------------------------------------------------------------------------- every export keeps formulas inert


EVIL = "=cmd|' /C calc'!A0"
FORMULA_START = tuple("=+-@\t\r")


def xlsx_rows(content: bytes) -> list[list]:
    """Every row of every sheet; a formula cell would come back with data_type "f"."""
    book = load_workbook(io.BytesIO(content))
    rows = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row), [cell.value for cell in row]
            rows.append([cell.value for cell in row])
    return rows


def csv_rows(content: bytes) -> list[list]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def body_of(response) -> bytes:
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def evil_everywhere(people, make_campaign):
    """A contact named like a formula, on a confirmed and shared guest list, invited to a sent request, with an
    ARCO request and an import that reported the same text."""
    business = Sector.objects.get(name="Empresarios")
    contact = services.contact_create(
        actor=people.database, sectors=[business],
        values={"name": EVIL, "organization": "+SUM(A1)", "position": "@cmd", "honorific": "-1+1",
                "mobile": "+529981000002", "email": "cmd@evil.example"})
    campaign = make_campaign("authorized")
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([business])
    guest_list_confirm(guest_list=guest_list, actor=people.database)
    Campaign.objects.filter(pk=campaign.pk).update(state="sent")
    Invitation.objects.create(campaign=campaign, contact=contact, answer=Invitation.Answer.ATTENDING)
    arco = arco_create(actor=people.database, contact=contact, kind="access", received_on=timezone.localdate())
    batch = ImportBatch.objects.create(original_name="lista.csv", uploaded_by=people.database,
                                       header=["Nombre", EVIL], status=ImportBatch.Status.DONE)
    ImportIssue.objects.create(batch=batch, row_number=2, level="rejected", reason=EVIL, values=[EVIL, "@x"])
    return {"campaign": campaign, "arco": arco, "batch": batch}


def test_every_export_keeps_a_formula_as_text(client, people, inbox, evil_everywhere,
                                               django_capture_on_commit_callbacks):
    campaign, folio = evil_everywhere["campaign"], evil_everywhere["campaign"].folio
    exports = {}
    client.force_login(people.database)
    for fmt in ("xlsx", "csv"):
        directory = body_of(client.get(reverse("directory:export"), {"formato": fmt}))
        final = body_of(client.get(reverse("finallist:download", args=[folio, fmt])))
        exports[f"directory.{fmt}"] = xlsx_rows(directory) if fmt == "xlsx" else csv_rows(directory)
        exports[f"final-list.{fmt}"] = xlsx_rows(final) if fmt == "xlsx" else csv_rows(final)
    exports["import-report.xlsx"] = xlsx_rows(body_of(client.get(
        reverse("directory:import_report", args=[evil_everywhere["batch"].public_id]))))
    exports["arco.xlsx"] = xlsx_rows(body_of(client.get(
        reverse("directory:arco_export", args=[evil_everywhere["arco"].pk]), {"formato": "xlsx"})))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("directory:guest_list_share", args=[folio]))
    final_list_send(campaign=campaign, actor=people.database)
    for message in inbox.to(campaign.department.email):
        for attachment in message.iter_attachments():
            exports[f"e-mailed {attachment.get_filename()}"] = xlsx_rows(attachment.get_content())
    client.force_login(people.requester)
    exports["shared-guest-list.xlsx"] = xlsx_rows(body_of(client.get(
        reverse("directory:guest_list_shared_file", args=[folio]))))

    assert {f"e-mailed invitados-{folio}.xlsx", f"e-mailed lista-final-{folio}.xlsx"} <= set(exports)
    for label, rows in exports.items():
        cells = [str(cell) for row in rows for cell in row if cell not in (None, "")]
        assert "'" + EVIL in cells, label
        dangerous = [cell for cell in cells if cell.startswith(FORMULA_START) and not _is_phone(cell)]
        assert dangerous == [], label


def _is_phone(cell: str) -> bool:
    return re.fullmatch(r"\+[1-9]\d{6,14}", cell) is not None  # typed text in .xlsx, see directory/exports.py


def test_spreadsheets_are_written_only_where_cells_go_through_neutralise():
    """Exports go through directory.exports (write_xlsx, write_csv); a new place that builds its own workbook or
    CSV writer shows up here, to be checked and added to the test above."""
    writers = {path.relative_to(SRC).as_posix() for path in SRC.rglob("*.py")
               if re.search(r"\bWorkbook\(|csv\.writer\(|csv\.DictWriter\(", path.read_text(encoding="utf-8"))}
    assert writers == {
        "directory/exports.py",  # write_xlsx / write_csv: used by the directory, final list and shared list
        "directory/imports_views.py",  # the import report: every cell through neutralise
        "directory/arco_views.py",  # the ARCO export: every value through xlsx_cell
    }


# --------------------------------------------------------------------------- outbound HTTP


TOKEN = "token-que-no-debe-salir"


async def recording_server(handler) -> tuple[web.AppRunner, str, list]:
    seen = []

    async def record(request):
        seen.append((request.method, request.path_qs, request.headers.get("Authorization")))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}", seen


def test_the_whatsapp_client_calls_the_configured_host_only(caplog):
    async def scenario():
        async def elsewhere_answers(request):
            return web.json_response({"data": [], "messages": [{"id": "wamid.robado"}]})

        other, other_url, other_seen = await recording_server(elsewhere_answers)

        async def provider_answers(request):
            if request.path.endswith("/messages"):  # a provider (or a proxy) that redirects the send elsewhere
                raise web.HTTPTemporaryRedirect(f"{other_url}/v23.0/1/messages")
            return web.json_response({  # a template page whose "next" link points at another host
                "data": [{"id": "1", "name": "invitacion_evento", "language": "es_MX", "status": "APPROVED"}],
                "paging": {"cursors": {"after": "QVFI"}, "next": f"{other_url}/steal?access_token=x"},
            } if "after" not in request.query else {"data": []})

        provider, provider_url, provider_seen = await recording_server(provider_answers)
        config = WhatsAppConfig(base_url=provider_url, token=TOKEN, phone_number_id="1", waba_id="2")
        outcomes = []
        try:
            async with WhatsAppClient(config) as client:
                outcomes.append(await client.list_templates())
                for call in (client.send({"to": "529981234567", "type": "text"}),
                             client._request("GET", f"{other_url}/v23.0/media/9", label="media download")):
                    try:
                        await call
                    except SendError as error:
                        outcomes.append(error)
        finally:
            await other.cleanup()
            await provider.cleanup()
        return outcomes, provider_seen, other_seen

    with caplog.at_level(logging.WARNING, logger="pregonero.sending.channels.whatsapp"):
        (templates, redirected, foreign), provider_seen, other_seen = asyncio.run(scenario())

    assert other_seen == []  # neither the redirect, the paging link nor a foreign URL reached the other host
    assert [path.split("?")[0] for _method, path, _auth in provider_seen] == [
        "/v23.0/2/message_templates", "/v23.0/2/message_templates", "/v23.0/1/messages"]
    assert [t["name"] for t in templates] == ["invitacion_evento"]
    assert redirected.http_status == 307 and redirected.kind == "permanent"
    assert foreign.kind == "account" and "dirección distinta de la API de WhatsApp" in foreign.reason
    assert "127.0.0.1" in caplog.text and TOKEN not in caplog.text and "9981234567" not in caplog.text
