"""The embedded local mail sink: SMTP in, SinkMessage stored, readable (safely) in the browser."""

import logging
import smtplib
import socket
from email.message import EmailMessage

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from pregonero.devtools.mailsink import start_sink
from pregonero.devtools.models import SinkMessage

SUBJECT = "Invitación: Informe de Gobierno"
EVIL_SCRIPT = "<script>alert('pwned')</script>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def invitation() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Relaciones Públicas <pregonero@localhost>"
    message["To"] = "ana@example.org, luis@example.org"
    message["Subject"] = SUBJECT
    message.set_content("Le invitamos al Informe de Gobierno.")
    message.add_alternative(f"<p>Le invitamos al <b>Informe de Gobierno</b>.</p>{EVIL_SCRIPT}", subtype="html")
    message.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="invitación.pdf")
    return message


@pytest.fixture
def staff_client(client, people):
    client.force_login(people.assistant)
    return client


def test_requesting_departments_cannot_read_the_sink(client, people):
    # The sink holds every outgoing e-mail, password resets of office staff included.
    client.force_login(people.requester)
    assert client.get(reverse("devtools:mail_list")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_sink_stores_message_sent_over_smtp(caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    controller = start_sink("127.0.0.1", port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(invitation(), to_addrs=["ana@example.org", "luis@example.org", "oculto@example.org"])
    finally:
        controller.stop()

    stored = SinkMessage.objects.get()
    assert stored.subject == SUBJECT
    assert stored.mail_from == "pregonero@localhost"
    assert stored.recipients == "ana@example.org, luis@example.org, oculto@example.org"
    assert b"invitaci" in bytes(stored.raw)  # the attachment travelled with the message
    assert f"Caught message {stored.pk}" in caplog.text
    assert "example.org" not in caplog.text  # addresses are personal data: never logged


@pytest.mark.django_db
def test_detail_shows_html_only_inside_sandboxed_iframe(staff_client):
    stored = SinkMessage.objects.create(
        mail_from="pregonero@localhost", recipients="ana@example.org", subject=SUBJECT, raw=invitation().as_bytes()
    )

    response = staff_client.get(reverse("devtools:mail_detail", args=[stored.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert SUBJECT in page
    assert "<iframe sandbox srcdoc=" in page
    assert "&lt;b&gt;Informe de Gobierno&lt;/b&gt;" in page  # the HTML is escaped into the attribute
    assert EVIL_SCRIPT not in page
    assert "Le invitamos al Informe de Gobierno." in page  # the text/plain part
    assert "invitación.pdf" in page


@pytest.mark.django_db
def test_list_shows_newest_first(staff_client):
    for subject in ("Primero", "Segundo"):
        SinkMessage.objects.create(mail_from="a@localhost", recipients="b@example.org", subject=subject, raw=b"")

    page = staff_client.get(reverse("devtools:mail_list")).content.decode()

    assert page.index("Segundo") < page.index("Primero")


@pytest.mark.django_db
def test_pages_need_login(client):
    response = client.get(reverse("devtools:mail_list"))

    assert response.status_code == 302


@pytest.mark.django_db
def test_pages_do_not_exist_when_smtp_server_configured(staff_client, settings):
    settings.MAIL_SINK_ENABLED = False

    assert staff_client.get(reverse("devtools:mail_list")).status_code == 404


def test_command_refuses_when_smtp_server_configured(settings):
    settings.MAIL_SINK_ENABLED = False

    with pytest.raises(CommandError, match="servidor SMTP"):
        call_command("mailsink")
