"""E-mail intake against a real IMAP server (Debian's dovecot on loopback, TLS with a private authority).

Messages are delivered with IMAP APPEND, as a mail server files them; the poller reads them the way the worker
does. Each test asserts what the assistant would see: the drafts, who sent them, their subject, text and files,
nothing twice, and the messages marked on the server so a restart never registers them again.
"""

import base64
import io
import shutil
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from openpyxl import Workbook
from PIL import Image

from pregonero.intake.emailparse import parse_email
from pregonero.intake.imap import mailbox_poll
from pregonero.intake.models import Draft, IncomingMessage, KnownSender, MailboxCursor, Source
from pregonero.intake.services import record_incoming
from pregonero.intake.tasks import mailbox_poll_schedule, poll_mailbox

from dovecot import DOVECOT, CuttingProxy, Dovecot, free_port, imap_missing

pytestmark = pytest.mark.django_db(transaction=True)  # messages are marked on the server after a real commit

CULTURE = "cultura@pregonero.example"
PROCESSED = {"$Pregonero", "\\Seen"}
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.get_fixed_timezone(-300))


@pytest.fixture(scope="session")
def dovecot_server():
    if not DOVECOT.exists():
        imap_missing(f"{DOVECOT} not found: apt-get install dovecot-imapd to run the IMAP tests")
    if not shutil.which("openssl"):
        imap_missing("openssl not found: it makes the test server's certificate")
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(dovecot_server, settings):
    dovecot_server.empty()
    dovecot_server.use(settings)
    return dovecot_server


# --------------------------------------------------------------------------- messages as departments send them


def mail(subject="Solicitud de difusión: Noche de Cultura", body="Buenos días, solicitamos la difusión del evento.",
         sender=f"María Pérez <{CULTURE}>", message_id="<solicitud-1@cultura.pregonero.example>", html=None,
         files=(), headers=None) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = "Relaciones Públicas <rp@pregonero.example>"
    message["Subject"] = subject
    message["Date"] = format_datetime(WHEN)
    if message_id:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    if body is not None:
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
    elif html:
        message.set_content(html, subtype="html")
    for name, content, mime in files:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def png(size=(120, 80), color="navy") -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, color).save(output, "PNG")
    return output.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def xlsx() -> bytes:
    book = Workbook()
    book.active.append(["Nombre", "Cargo", "Correo"])
    book.active.append(["Ana López", "Directora", "ana@ejemplo.mx"])
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def the_draft(subject_part: str) -> Draft:
    return Draft.objects.get(messages__subject__contains=subject_part)


def only_message(draft: Draft) -> IncomingMessage:
    [message] = draft.messages.all()
    return message


def raw_of(message: IncomingMessage) -> bytes:
    with message.raw.open("rb") as handle:
        return handle.read()


# --------------------------------------------------------------------------- what arrives


def test_a_plain_request_becomes_a_draft_of_its_department_and_is_marked_on_the_server(mailbox, people, caplog):
    raw = mail()
    uid = mailbox.append(raw)
    caplog.set_level("INFO", logger="pregonero.intake")

    result = mailbox_poll()

    assert (result.new, result.already, result.left, result.error) == (1, 0, 0, "")
    draft = Draft.objects.get()
    assert draft.source == Source.EMAIL and draft.status == Draft.Status.OPEN
    assert draft.department == people.culture
    assert (draft.sender_address, draft.sender_name) == (CULTURE, "María Pérez")
    assert draft.subject == "Solicitud de difusión: Noche de Cultura"
    message = only_message(draft)
    assert message.external_id == "solicitud-1@cultura.pregonero.example"
    assert message.body == "Buenos días, solicitamos la difusión del evento."
    assert message.sent_at == WHEN and message.problems == []
    assert raw_of(message) == raw
    assert mailbox.flags()[uid] >= PROCESSED
    assert CULTURE not in caplog.text and "c***@pregonero.example" in caplog.text
    cursor = MailboxCursor.objects.get()
    assert cursor.last_uid == uid and cursor.polled_at and cursor.last_error == ""


def test_html_only_mail_reads_as_text_without_scripts_or_styles(mailbox, people):
    html = ("<html><head><title>Boletín</title><style>p {color: red}</style></head><body>"
            "<p>Solicitamos la difusión del <b>Festival del Caribe</b>:</p><ul><li>Fecha: 15 de marzo</li>"
            "<li>Lugar: Malecón Tajamar</li></ul><script>alert('x')</script>"
            "<p>Registro en <a href=\"https://cultura.example/registro\">este enlace</a>.</p></body></html>")
    mailbox.append(mail(subject="Festival del Caribe", body=None, html=html))

    mailbox_poll()

    body = only_message(the_draft("Festival")).body
    assert body == ("Solicitamos la difusión del Festival del Caribe:\n\n• Fecha: 15 de marzo\n• Lugar: Malecón "
                    "Tajamar\n\nRegistro en este enlace (https://cultura.example/registro).")
    assert "alert" not in body and "color" not in body and "Boletín" not in body


def test_plain_text_is_preferred_to_its_html_twin(mailbox, people):
    mailbox.append(mail(body="Texto plano de la solicitud.", html="<p>Texto <i>HTML</i> de la solicitud.</p>"))
    mailbox_poll()
    assert only_message(Draft.objects.get()).body == "Texto plano de la solicitud."


def test_attachments_arrive_as_files_of_their_kind(mailbox, people):
    image, sheet = png(), xlsx()
    mailbox.append(mail(files=[
        ("Invitación final.png", image, "image/png"),
        ("../../oficio CULT-123.pdf", PDF, "application/pdf"),
        ("invitados.xlsx", sheet, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("programa.docx", b"PK\x03\x04 not really a document", "application/octet-stream"),
        ("aviso.html", b"<script>alert(1)</script>", "text/html"),
        ("invitacion", png(color="gold"), "application/octet-stream"),  # no extension: the content says JPEG/PNG
    ]))

    mailbox_poll()

    message = only_message(Draft.objects.get())
    files = {a.original_name: a for a in message.attachments.all()}
    assert {name: (a.kind, a.content_type) for name, a in files.items()} == {
        "Invitación final.png": ("image", "image/png"),
        "oficio CULT-123.pdf": ("scan", "application/pdf"),
        "invitados.xlsx": ("guest_list", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "programa.docx": ("", "application/octet-stream"),
        "aviso.html": ("", "application/octet-stream"),  # never served as a page
        "invitacion.png": ("image", "image/png"),
    }
    with files["oficio CULT-123.pdf"].file.open("rb") as handle:
        assert handle.read() == PDF
    with files["invitados.xlsx"].file.open("rb") as handle:
        assert handle.read() == sheet
    with files["Invitación final.png"].file.open("rb") as handle, Image.open(handle) as stored:
        assert stored.size == (120, 80) and stored.getpixel((5, 5)) == (0, 0, 128)
    assert all(a.size == a.file.size for a in files.values())
    assert message.problems == [] and message.body.startswith("Buenos días")


def test_an_attachment_over_the_limit_stays_only_in_the_original(mailbox, people, settings):
    settings.INTAKE_MAX_ATTACHMENT_BYTES = 40_000
    big = PDF + b"%" + b"x" * 60_000 + b"\n"
    raw = mail(files=[("oficio.pdf", PDF, "application/pdf"), ("anexo grande.pdf", big, "application/pdf")])
    mailbox.append(raw)

    mailbox_poll()

    message = only_message(Draft.objects.get())
    assert [a.original_name for a in message.attachments.all()] == ["oficio.pdf"]
    [problem] = message.problems
    assert "«anexo grande.pdf» pesa" in problem and "correo original" in problem
    assert raw_of(message) == raw and message.attachments.get().kind == "scan"


def test_a_message_far_too_big_is_registered_by_its_headers(mailbox, people, settings):
    settings.INTAKE_MAX_ATTACHMENT_BYTES = 10_000  # messages over five times this are not downloaded whole
    uid = mailbox.append(mail(subject="Video del evento", files=[("video.mp4", b"\x00" * 80_000, "video/mp4")]))

    mailbox_poll()

    message = only_message(the_draft("Video del evento"))
    assert message.sender_address == CULTURE and message.body == ""
    assert any("demasiado grande" in problem for problem in message.problems)
    assert mailbox.flags()[uid] >= PROCESSED


def test_mail_in_other_charsets_keeps_its_accents(mailbox, people):
    latin1 = (b"From: =?iso-8859-1?q?Jos=E9_Mart=EDnez?= <turismo@pregonero.example>\r\n"
              b"Subject: =?iso-8859-1?q?Invitaci=F3n_a_la_Feria_del_Ma=EDz?=\r\n"
              b"Message-ID: <latin1@turismo>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
              b"Se\xf1ores: \x93la feria\x94 ser\xe1 en el \xe1rea de la Plaza \x80 gratis.\r\n")
    windows = (b"From: Turismo <turismo@pregonero.example>\r\nSubject: Cena de gala\r\n"
               b"Message-ID: <cp1252@turismo>\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n"
               b"\r\nM=FAsica en vivo =96 etiqueta rigurosa.\r\n")
    bogus = (b"From: Turismo <turismo@pregonero.example>\r\nSubject: Charset raro\r\n"
             b"Message-ID: <bogus@turismo>\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=x-desconocido-42\r\n\r\nReuni\xf3n de coordinaci\xf3n.\r\n")
    raw_utf8_header = (b"From: Ana Pe\xc3\xb1a <turismo@pregonero.example>\r\nSubject: A\xc3\xb1o nuevo\r\n"
                       b"Message-ID: <utf8hdr@turismo>\r\n\r\nSin declarar nada.\r\n")
    for raw in (latin1, windows, bogus, raw_utf8_header):
        mailbox.append(raw)

    assert mailbox_poll().new == 4

    first = only_message(the_draft("Feria"))
    assert first.subject == "Invitación a la Feria del Maíz" and first.sender_name == "José Martínez"
    assert first.body == "Señores: “la feria” será en el área de la Plaza € gratis."
    assert first.problems == [] and first.draft.department == people.tourism  # a user of Turismo writes
    second = only_message(the_draft("Cena de gala"))
    assert second.body == "Música en vivo – etiqueta rigurosa." and second.problems == []
    third = only_message(the_draft("Charset raro"))
    assert third.body == "Reunión de coordinación."
    assert third.problems == ["Parte del texto venía en una codificación desconocida («x-desconocido-42»); se leyó "
                              "como Windows-1252 y algunas letras podrían verse mal."]
    fourth = only_message(the_draft("Año nuevo"))
    assert (fourth.sender_name, fourth.body) == ("Ana Peña", "Sin declarar nada.")


def test_malformed_mail_is_registered_with_its_problem_and_its_original(mailbox, people):
    broken_boundary = (b"From: Cultura <cultura@pregonero.example>\r\nSubject: Sin frontera\r\n"
                       b"Message-ID: <roto-1@cultura>\r\nMIME-Version: 1.0\r\n"
                       b"Content-Type: multipart/mixed; boundary=\"abc\"\r\n\r\n--otra\r\nContent-Type: text/plain\r\n"
                       b"\r\nTexto del evento.\r\n--otra--\r\n")
    bad_base64 = (b"From: Cultura <cultura@pregonero.example>\r\nSubject: Base64 roto\r\n"
                  b"Message-ID: <roto-2@cultura>\r\nMIME-Version: 1.0\r\n"
                  b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  b"\r\nVer anexo.\r\n--b1\r\nContent-Type: application/pdf; name=\"oficio.pdf\"\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK!!!@@@###\r\n--b1--\r\n")
    # A NUL byte decoded from base64 (dovecot turns raw NULs into 0x80): PostgreSQL would refuse it in a text column.
    no_sender = (b"Subject: Nadie firma\r\nMessage-ID: <roto-3@cultura>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                 + base64.b64encode("Texto con un nulo \x00 dentro.".encode()) + b"\r\n")
    garbage = b"\xff\xfe\x01garbage without any header\r\n\r\n\x02\x03\r\n"
    for raw in (broken_boundary, bad_base64, no_sender, garbage):
        mailbox.append(raw)

    result = mailbox_poll()

    assert (result.new, result.left, result.error) == (4, 0, "")
    first = only_message(the_draft("Sin frontera"))
    assert "Texto del evento." in first.body and first.problems and raw_of(first) == broken_boundary
    second = only_message(the_draft("Base64 roto"))
    assert second.body == "Ver anexo." and any("formato" in p for p in second.problems)
    third = only_message(the_draft("Nadie firma"))
    assert third.sender_address == "" and third.body == "Texto con un nulo  dentro."
    assert "El correo no dice de qué dirección viene" in third.problems[0]
    fourth = IncomingMessage.objects.get(external_id__startswith="sha256:")
    assert raw_of(fourth) == garbage and fourth.problems
    assert all(flags >= PROCESSED for flags in mailbox.flags().values())


def test_auto_replies_newsletters_and_bounces_are_kept_aside_not_dropped(mailbox, people):
    mailbox.append(mail(subject="Respuesta automática: Solicitud de difusión", message_id="<a1@x>"))
    mailbox.append(mail(subject="Gracias por su mensaje", message_id="<a2@x>",
                        headers={"Auto-Submitted": "auto-replied"}))
    mailbox.append(mail(subject="Boletín semanal de Cultura", message_id="<a3@x>",
                        headers={"List-Unsubscribe": "<mailto:baja@boletin.example>", "Precedence": "bulk"}))
    mailbox.append(mail(subject="Out of Office: Solicitud", message_id="<a4@x>", sender="Ana <ana@ejemplo.mx>"))
    bounce = EmailMessage(policy=policy.SMTP)
    bounce["From"] = "Mail Delivery System <MAILER-DAEMON@pregonero.example>"
    bounce["Subject"] = "Entrega fallida"
    bounce["Message-ID"] = "<a5@x>"
    bounce.set_content("No se pudo entregar.")
    bounce.make_mixed()
    bounce.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; boundary="r"')
    mailbox.append(bounce.as_bytes())
    mailbox.append(mail(subject="Solicitud real", message_id="<a6@x>", headers={"Auto-Submitted": "no"}))

    result = mailbox_poll()

    assert (result.new, result.aside) == (6, 5)
    aside = Draft.objects.filter(status=Draft.Status.ASIDE)
    assert aside.count() == 5 and all(d.aside_reason for d in aside)
    assert the_draft("Boletín").aside_reason.startswith("Correo masivo")
    assert the_draft("Entrega fallida").aside_reason.startswith("Aviso del servidor de correo")
    assert the_draft("Solicitud real").status == Draft.Status.OPEN
    assert all(flags >= PROCESSED for flags in mailbox.flags().values())


def test_the_same_message_is_registered_once_however_often_it_is_seen(mailbox, people):
    raw = mail()
    first, second = mailbox.append(raw), mailbox.append(raw)  # delivered twice (a server retry, a forward rule)
    mailbox.append(mail(body="Otra copia con el mismo Message-ID."))
    skipped = mailbox.append(mail(subject="Ya registrado antes", message_id="<viejo@x>"), flags="$Pregonero")
    no_id = mail(subject="Sin Message-ID", message_id=None)
    mailbox.append(no_id)
    mailbox.append(no_id)

    result = mailbox_poll()
    again = mailbox_poll()

    assert (result.new, result.already) == (2, 3) and (again.new, again.already) == (0, 0)
    assert Draft.objects.count() == 2 and IncomingMessage.objects.count() == 2
    assert only_message(the_draft("Noche de Cultura")).body == "Buenos días, solicitamos la difusión del evento."
    assert only_message(the_draft("Sin Message-ID")).external_id.startswith("sha256:")
    assert not Draft.objects.filter(subject__contains="Ya registrado").exists()
    flags = mailbox.flags()
    assert flags[first] >= PROCESSED and flags[second] >= PROCESSED
    assert flags[skipped] == {"$Pregonero"}  # left as it was


def test_a_reply_joins_the_draft_of_the_message_it_answers(mailbox, people):
    mailbox.append(mail())
    mailbox_poll()
    mailbox.append(mail(subject="RE: Solicitud de difusión: Noche de Cultura", body="Adjunto el oficio firmado.",
                        message_id="<respuesta-1@cultura>",
                        headers={"In-Reply-To": "<solicitud-1@cultura.pregonero.example>"},
                        files=[("oficio.pdf", PDF, "application/pdf")]))
    mailbox.append(mail(subject="RE: RE: Solicitud", body="Y la lista de invitados.", message_id="<respuesta-2@c>",
                        headers={"References": "<solicitud-1@cultura.pregonero.example> <respuesta-1@cultura>"}))

    assert mailbox_poll().new == 2

    draft = Draft.objects.get()
    assert [m.body for m in draft.messages.all()] == [
        "Buenos días, solicitamos la difusión del evento.", "Adjunto el oficio firmado.", "Y la lista de invitados."]
    assert draft.subject == "Solicitud de difusión: Noche de Cultura"
    assert draft.messages.all()[1].attachments.get().kind == "scan"


def test_departments_are_recognised_by_the_sender(mailbox, people):
    KnownSender.objects.create(department=people.tourism, source=Source.EMAIL, address="mensajero@gmail.example")
    mailbox.append(mail(subject="Uno", message_id="<d1@x>", sender="CULTURA <Cultura@Pregonero.Example>"))
    mailbox.append(mail(subject="Dos", message_id="<d2@x>", sender="Turismo <turismo@pregonero.example>"))
    mailbox.append(mail(subject="Tres", message_id="<d3@x>", sender="Pedro <mensajero@gmail.example>"))
    mailbox.append(mail(subject="Cuatro", message_id="<d4@x>", sender="Desconocida <nadie@otro.example>"))

    mailbox_poll()

    assert {d.subject: d.department for d in Draft.objects.all()} == {
        "Uno": people.culture, "Dos": people.tourism, "Tres": people.tourism, "Cuatro": None}
    assert the_draft("Uno").sender_address == CULTURE


# --------------------------------------------------------------------------- failures along the way


def test_a_connection_dropped_mid_fetch_loses_nothing_and_duplicates_nothing(mailbox, people, settings):
    attachment = PDF + b"%" + bytes(range(256)) * 1200 + b"\n"  # ~300 KB: the cut falls inside this message
    small = mailbox.append(mail(subject="Primero", message_id="<c1@x>"))
    large = mailbox.append(mail(subject="Segundo", message_id="<c2@x>",
                                files=[("oficio.pdf", attachment, "application/pdf")]))
    last = mailbox.append(mail(subject="Tercero", message_id="<c3@x>"))
    proxy = CuttingProxy(mailbox.port, cut_after=120_000)
    mailbox.use(settings, port=proxy.port)
    try:
        cut = mailbox_poll()

        assert proxy.cuts == 1 and "Se cortó la conexión" in cut.error
        assert list(Draft.objects.values_list("subject", flat=True)) == ["Primero"]
        flags = mailbox.flags()
        assert flags[small] >= PROCESSED and not flags[large] & PROCESSED and not flags[last] & PROCESSED
        cursor = MailboxCursor.objects.get()
        assert cursor.last_uid == small and "Se cortó la conexión" in cursor.last_error

        resumed = mailbox_poll()
    finally:
        proxy.close()

    assert (resumed.new, resumed.already, resumed.error) == (2, 0, "")
    assert sorted(Draft.objects.values_list("subject", flat=True)) == ["Primero", "Segundo", "Tercero"]
    assert IncomingMessage.objects.count() == 3
    stored = only_message(the_draft("Segundo")).attachments.get()
    with stored.file.open("rb") as handle:
        assert handle.read() == attachment
    assert all(f >= PROCESSED for f in mailbox.flags().values())
    assert MailboxCursor.objects.get().last_error == "" and MailboxCursor.objects.get().last_uid == last


def test_a_message_stored_just_before_a_crash_is_only_marked_at_the_next_poll(mailbox, people):
    raw = mail()
    uid = mailbox.append(raw)
    record_incoming(parse_email(raw))  # the worker died between the commit and marking it on the server

    result = mailbox_poll()

    assert (result.new, result.already) == (0, 1)
    assert Draft.objects.count() == 1 and mailbox.flags()[uid] >= PROCESSED


def test_messages_that_cannot_be_stored_wait_on_the_server_for_the_next_poll(mailbox, people, settings, tmp_path,
                                                                             caplog):
    first, second = mailbox.append(mail(subject="Uno", message_id="<s1@x>")), mailbox.append(
        mail(subject="Dos", message_id="<s2@x>"))
    blocked = tmp_path / "archivos"
    blocked.write_text("a file where the media folder should be: nothing can be saved")
    settings.MEDIA_ROOT = blocked

    result = mailbox_poll()

    assert (result.new, result.left) == (0, 2) and not Draft.objects.exists()
    assert not mailbox.flags()[first] & PROCESSED and not mailbox.flags()[second] & PROCESSED
    assert MailboxCursor.objects.get().last_uid == 0
    assert "left for the next poll" in caplog.text and CULTURE not in caplog.text

    settings.MEDIA_ROOT = tmp_path / "media"
    result = mailbox_poll()

    assert (result.new, result.left) == (2, 0)
    assert sorted(Draft.objects.values_list("subject", flat=True)) == ["Dos", "Uno"]
    assert MailboxCursor.objects.get().last_uid == second


def test_a_message_whose_files_cannot_be_stored_is_registered_with_its_original(mailbox, people, monkeypatch,
                                                                              settings, tmp_path):
    from pregonero.intake.models import IncomingAttachment

    settings.MEDIA_ROOT = tmp_path

    def disk_full(self, *args, **kwargs):  # fault injection: the only way to make a file save fail alone
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(IncomingAttachment, "save", disk_full)
    raw = mail(files=[("oficio.pdf", PDF, "application/pdf")])
    uid = mailbox.append(raw)

    result = mailbox_poll()

    assert (result.new, result.left) == (1, 0)
    message = only_message(Draft.objects.get())
    assert message.subject == "Solicitud de difusión: Noche de Cultura" and message.sender_address == CULTURE
    assert not message.attachments.exists() and raw_of(message) == raw
    assert message.problems == ["No se pudo guardar el texto ni los archivos de este correo (OSError); el original "
                                "completo está en el archivo .eml."]
    assert mailbox.flags()[uid] >= PROCESSED
    # The first attempt's files went with its rolled-back rows: only the stored original is on disk.
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()] == [message.raw.name]


def test_a_recreated_mailbox_is_read_again_without_doubles(mailbox, people, settings):
    folder = "Solicitudes A&APE-o"  # "Solicitudes Año" in IMAP's modified UTF-7
    client = mailbox.client(mailbox=None)
    client.create(f'"{folder}"')
    mailbox.use(settings, mailbox="Solicitudes Año")
    mailbox.append(mail(subject="Antes", message_id="<r1@x>"), mailbox=folder)
    assert mailbox_poll().new == 1
    first_validity = MailboxCursor.objects.get().uidvalidity
    client.delete(f'"{folder}"')  # the mailbox is rebuilt (a migration, a restore): new UIDVALIDITY, flags lost
    client.create(f'"{folder}"')
    client.logout()
    mailbox.append(mail(subject="Antes", message_id="<r1@x>"), mailbox=folder)
    mailbox.append(mail(subject="Después", message_id="<r2@x>"), mailbox=folder)

    result = mailbox_poll()

    assert MailboxCursor.objects.get().uidvalidity != first_validity
    assert (result.new, result.already) == (1, 1)
    assert sorted(Draft.objects.values_list("subject", flat=True)) == ["Antes", "Después"]
    assert all(flags >= PROCESSED for flags in mailbox.flags(folder).values())


def test_starttls_is_used_before_the_password(mailbox, people, settings):
    mailbox.use(settings, security="starttls")
    mailbox.append(mail())
    assert mailbox_poll().new == 1


@pytest.mark.parametrize("change, message", [
    ({"password": "equivocada"}, "rechazó el usuario o la contraseña"),
    ({"ca_file": ""}, "No se pudo comprobar el certificado del servidor de correo"),
    ({"port": "closed"}, "No se pudo conectar con el servidor de correo"),
    ({"mailbox": "No existe"}, "El buzón «No existe» no existe"),
])
def test_connection_problems_are_explained_in_spanish_and_nothing_is_lost(mailbox, people, settings, change,
                                                                           message):
    if change.get("port") == "closed":
        change = {"port": free_port()}  # nothing listens there
    uid = mailbox.append(mail())
    mailbox.use(settings, **change)

    with pytest.raises(CommandError, match=message):
        call_command("fetch-mail", stdout=io.StringIO())

    assert not Draft.objects.exists() and not mailbox.flags()[uid] & PROCESSED
    assert message in MailboxCursor.objects.get().last_error
    mailbox.use(settings)
    assert mailbox_poll().new == 1


# --------------------------------------------------------------------------- the command and the worker


def test_fetch_mail_reads_once_and_says_what_came(mailbox, people):
    mailbox.append(mail())
    mailbox.append(mail(subject="Fuera de la oficina", message_id="<ooo@x>"))
    out = io.StringIO()

    call_command("fetch-mail", stdout=out)
    call_command("fetch-mail", stdout=(second := io.StringIO()))

    assert out.getvalue().strip() == "2 correos nuevos registrados (1 apartado: no parece solicitud)."
    assert second.getvalue().strip() == "0 correos nuevos registrados."


def test_fetch_mail_without_a_mailbox_says_what_is_missing(settings):
    settings.INTAKE_IMAP_HOST = ""
    with pytest.raises(CommandError, match="falta INTAKE_IMAP_HOST"):
        call_command("fetch-mail")


def poll_tasks():
    return DBTaskResult.objects.filter(task_path=poll_mailbox.module_path)


def test_the_worker_polls_the_mailbox_and_keeps_one_poll_waiting(mailbox, people, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    settings.INTAKE_IMAP_POLL_SECONDS = 60
    mailbox.append(mail())

    call_command("worker", "--batch", "--interval", "0", verbosity=0)

    assert only_message(Draft.objects.get()).body.startswith("Buenos días")
    done, waiting = poll_tasks().order_by("enqueued_at")
    assert done.status == "SUCCESSFUL" and done.return_value["new"] == 1
    assert waiting.status == "READY"
    assert timedelta(seconds=50) < waiting.run_after - timezone.now() <= timedelta(seconds=60)
    # A second worker starting, or the next poll finishing, leaves a single poll waiting.
    assert mailbox_poll_schedule() is False
    call_command("worker", "--batch", "--interval", "0", verbosity=0)
    assert poll_tasks().filter(status="READY").count() == 1


def test_without_a_mailbox_the_worker_schedules_no_poll(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    settings.INTAKE_IMAP_HOST = ""
    call_command("worker", "--batch", "--interval", "0", verbosity=0)
    assert not poll_tasks().exists()
