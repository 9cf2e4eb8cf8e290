"""Drafts made the way the channels make them: through `record_incoming`, the one door for e-mail and WhatsApp."""

import itertools
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pregonero.intake.services import Incoming, IncomingFile, record_incoming

SERIAL = itertools.count(1)


def eml(message_id: str, sender: str, subject: str, body: str) -> bytes:
    return (f"Message-ID: <{message_id}>\r\nFrom: {sender}\r\nTo: difusion@pregonero.example\r\n"
            f"Subject: {subject}\r\n\r\n{body}\r\n").encode()


@pytest.fixture
def receive_email(db):
    """An e-mail reaching the office's mailbox; returns the stored IncomingMessage (its draft is `.draft`)."""

    def receive(*, sender="cultura@pregonero.example", name="Lucía Pech", subject="Solicitud de difusión",
                body="Buenas tardes, solicitamos la difusión del evento.", files=(), minutes_ago=0, **extra):
        message_id = f"{uuid.uuid4().hex}@correo.pregonero.example"  # stored as the mail parser does: no <>
        sent_at = timezone.now() - timedelta(minutes=minutes_ago)
        message, created = record_incoming(Incoming(
            source="email", external_id=message_id, sender_address=sender, sender_name=name, subject=subject,
            body=body, sent_at=sent_at, raw=eml(message_id, sender, subject, body),
            files=[IncomingFile(*file) for file in files], **extra,
        ))
        assert created
        if minutes_ago:  # as if it had arrived then: the inbox orders by arrival
            type(message.draft).objects.filter(pk=message.draft_id).update(received_at=sent_at)
            message.draft.refresh_from_db()
        return message

    return receive


@pytest.fixture
def receive_whatsapp(db):
    def receive(*, sender="+529981112233", name="Secretaria de Turismo", body="Hola, mandamos la invitación.",
                files=(), **extra):
        message, created = record_incoming(Incoming(
            source="whatsapp", external_id=f"wamid.{next(SERIAL)}{uuid.uuid4().hex[:8]}", sender_address=sender,
            sender_name=name, body=body, sent_at=timezone.now(), files=[IncomingFile(*file) for file in files],
            **extra,
        ))
        assert created
        return message

    return receive
