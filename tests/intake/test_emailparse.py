"""Reading one e-mail (no server needed): the odd corners the IMAP tests do not reach, and "never raises"."""

import base64
import io
import random
import zipfile
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from pregonero.intake.emailparse import parse_email

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def simple(headers: str = "", body: bytes = b"Texto.\r\n", subject: str = "Solicitud") -> bytes:
    return (f"From: Cultura <cultura@pregonero.example>\r\nSubject: {subject}\r\nMessage-ID: <m@x>\r\n{headers}"
            "\r\n").encode() + body


def with_files(*files, forwarded: bool = False) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = "cultura@pregonero.example"
    message["Subject"] = "Con anexos"
    message.set_content("Ver anexos.")
    for name, content, mime in files:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    if forwarded:
        inner = EmailMessage()
        inner["From"] = "alguien@ejemplo.mx"
        inner["Subject"] = "Invitación original"
        inner.set_content("El texto reenviado.")
        message.add_attachment(inner)
    return message.as_bytes()


def test_a_forwarded_mail_is_kept_as_an_eml_file():
    incoming = parse_email(with_files(forwarded=True))
    [forwarded] = incoming.files
    assert forwarded.name.endswith(".eml") and forwarded.kind == "" and forwarded.content_type == "message/rfc822"
    assert b"El texto reenviado." in forwarded.content and incoming.body == "Ver anexos."


def test_a_pdf_hiding_a_zip_is_not_kept_apart():
    hidden = io.BytesIO()
    with zipfile.ZipFile(hidden, "w") as archive:
        archive.writestr("payload.txt", "x")
    incoming = parse_email(with_files(("oficio.pdf", PDF + hidden.getvalue(), "application/pdf"),
                                      ("bueno.pdf", PDF, "application/pdf")))
    assert [f.name for f in incoming.files] == ["bueno.pdf"]
    assert "«oficio.pdf» trae otro archivo escondido" in incoming.problems[0]
    assert "Por seguridad no se guardó aparte" in incoming.problems[0]


def test_encoded_file_names_are_decoded_and_cleaned():
    raw = (b"From: cultura@pregonero.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHola\r\n"
           b"--b\r\nContent-Type: application/pdf; name=\"=?utf-8?B?T2ZpY2lvIG7CuiAxMi5wZGY=?=\"\r\n"
           b"Content-Disposition: attachment; filename=\"=?utf-8?B?T2ZpY2lvIG7CuiAxMi5wZGY=?=\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(PDF) + b"\r\n--b--\r\n")
    [item] = parse_email(raw).files
    assert (item.name, item.kind, item.content) == ("Oficio nº 12.pdf", "scan", PDF)


def test_long_message_ids_become_digests_that_replies_still_match():
    long_id = "x" * 400 + "@pregonero.example"
    first = parse_email(simple(body=b"Uno.\r\n").replace(b"<m@x>", f"<{long_id}>".encode()))
    reply = parse_email(simple(f"In-Reply-To: <{long_id}>\r\nReferences: <a@x> <{long_id}>\r\n")
                        .replace(b"<m@x>", b"<r@x>"))
    assert first.external_id.startswith("mid-sha256:") and len(first.external_id) < 300
    assert reply.replies_to == (first.external_id, "a@x")


@pytest.mark.parametrize("charset", ["zlib", "unicode_escape", "base64", "utf-99", '"'])
def test_a_charset_that_is_no_text_encoding_is_treated_as_unknown(charset):
    incoming = parse_email(simple(f"Content-Type: text/plain; charset={charset}\r\n", b"Se\xf1or\\u0041.\r\n"))
    assert incoming.body == "Señor\\u0041."
    assert "codificación desconocida" in incoming.problems[0]


def test_bad_encoded_words_and_dates_do_not_stop_the_message():
    incoming = parse_email(simple("Date: 31 Feb 2026 99:99 +9999\r\n", subject="=?utf-8?B?####?= Evento"))
    assert "Evento" in incoming.subject and incoming.sent_at is None
    naive = parse_email(simple("Date: Mon, 2 Mar 2026 10:00:00 -0000\r\n"))
    assert naive.sent_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_deeply_nested_parts_are_cut_with_a_note():
    raw = b"From: cultura@pregonero.example\r\nSubject: Mamushkas\r\nMIME-Version: 1.0\r\n"
    for depth in range(40):
        raw += f"Content-Type: multipart/mixed; boundary=b{depth}\r\n\r\n--b{depth}\r\n".encode()
    raw += b"Content-Type: text/plain\r\n\r\nAl fondo.\r\n"
    incoming = parse_email(raw)
    assert any("anidadas" in problem for problem in incoming.problems)


@pytest.mark.parametrize("subject, aside", [
    ("Respuesta automática: Solicitud de difusión", True),
    ("Automatic reply: Invitation", True),
    ("Fuera de la oficina: Festival", True),
    ("Out of Office: request", True),
    ("AutoReply: hola", True),
    ("Undeliverable: Solicitud", True),
    ("Solicitud: Festival de vacaciones de verano", False),
    ("RE: Fuera de la oficina no, aquí el oficio", False),
])
def test_out_of_office_subjects(subject, aside):
    assert bool(parse_email(simple(subject=subject)).aside_reason) is aside


@pytest.mark.parametrize("header, aside", [
    ("X-Spam-Flag: YES", True),
    ("X-Spam-Status: Yes, score=9.1 required=5.0", True),
    ("X-MS-Exchange-Organization-SCL: 6", True),
    ("X-Spam-Flag: NO", False),
    ("X-Spam-Status: No, score=0.3 required=5.0", False),
    ("X-MS-Exchange-Organization-SCL: 1", False),
    ("X-MS-Exchange-Organization-SCL: -1", False),  # a trusted sender
])
def test_mail_the_server_marked_as_spam_is_kept_aside(header, aside):
    reason = parse_email(simple(header + "\r\n")).aside_reason
    assert bool(reason) is aside and (not aside or "no deseado" in reason)


def test_html_with_an_unclosed_head_and_entities():
    raw = simple("Content-Type: text/html; charset=utf-8\r\n",
                 "<head><style>x{}</style><body>Caf&eacute;&nbsp;&amp; m&aacute;s<br>Adi&oacute;s".encode())
    assert parse_email(raw).body == "Café & más\nAdiós"


def test_nothing_raises_on_truncated_or_scrambled_mail():
    good = with_files(("a.pdf", PDF, "application/pdf"), ("b.png", b"\x89PNG\r\n\x1a\nbroken", "image/png"))
    rng = random.Random(7)
    samples = [good[:cut] for cut in range(0, len(good), 37)]
    for _ in range(150):
        scrambled = bytearray(good)
        for _ in range(20):
            scrambled[rng.randrange(len(scrambled))] = rng.randrange(256)
        samples.append(bytes(scrambled))
    samples += [bytes(rng.randrange(256) for _ in range(300)) for _ in range(50)]
    for raw in samples:
        incoming = parse_email(raw)
        assert incoming.raw == raw and incoming.external_id
        assert "\x00" not in incoming.body + incoming.subject + incoming.sender_name
