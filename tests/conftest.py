"""Shared fixtures: a real SMTP server, the office's people by role, and requests in any state."""

import email
import socket
import threading
from dataclasses import dataclass, field
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth.models import Group

from pregonero.accounts.models import Department
from pregonero.accounts.roles import Role


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Inbox:
    """What the test SMTP server received, parsed."""

    messages: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list:
        with self.lock:
            return [message for rcpts, message in self.messages if address in rcpts]


@pytest.fixture(scope="session")
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture(autouse=True)
def real_smtp_and_fast_tests(settings, smtp_server):
    """Mail goes over real SMTP to the in-process server; tasks run at once; hashing is cheap."""
    controller, inbox = smtp_server
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 10},
        }
    }
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SENDING_QUIET_HOURS = ""  # sends must not depend on the hour CI runs at; quiet-hours tests set it
    with inbox.lock:
        inbox.messages.clear()
    return inbox


@pytest.fixture
def inbox(real_smtp_and_fast_tests):
    return real_smtp_and_fast_tests


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@dataclass
class People:
    culture: Department
    tourism: Department
    requester: object
    other_requester: object
    assistant: object
    director: object
    director2: object
    social_media: object
    database: object

    def by_role(self, role: Role):
        return {
            Role.REQUESTER: self.requester,
            Role.ASSISTANT: self.assistant,
            Role.DIRECTOR: self.director,
            Role.SOCIAL_MEDIA: self.social_media,
            Role.DATABASE: self.database,
        }[role]


def make_user(django_user_model, username, role, department):
    user = django_user_model.objects.create_user(
        username=username, password="clave-de-prueba-1", email=f"{username}@pregonero.example",
        first_name=username.capitalize(), department=department,
    )
    user.groups.add(Group.objects.get(name=role.group_name))
    return user


@pytest.fixture
def people(db, django_user_model) -> People:
    culture = Department.objects.create(name="Dirección de Cultura", short_name="CULT", email="cultura@pregonero.example")
    tourism = Department.objects.create(name="Dirección de Turismo", short_name="TUR")
    office = Department.objects.create(name="Dirección de Relaciones Públicas", short_name="RP", is_requester=False)
    return People(
        culture=culture,
        tourism=tourism,
        requester=make_user(django_user_model, "cultura", Role.REQUESTER, culture),
        other_requester=make_user(django_user_model, "turismo", Role.REQUESTER, tourism),
        assistant=make_user(django_user_model, "asistente", Role.ASSISTANT, office),
        director=make_user(django_user_model, "directora", Role.DIRECTOR, office),
        director2=make_user(django_user_model, "directora2", Role.DIRECTOR, office),
        social_media=make_user(django_user_model, "redes", Role.SOCIAL_MEDIA, office),
        database=make_user(django_user_model, "basedatos", Role.DATABASE, office),
    )


@pytest.fixture
def make_campaign(people):
    """A request registered by Cultura, put straight into the wanted state (tests of later steps)."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from pregonero.campaigns.models import Campaign
    from pregonero.campaigns.services import campaign_create

    def make(state="received", actor=None, **fields):
        now = timezone.now()
        values = {
            "department": people.culture,
            "title": "Noche de Cultura en el Parque de las Palapas",
            "starts_at": now + timedelta(days=30),
            "venue": "Parque de las Palapas",
            "rsvp_deadline": now + timedelta(days=25),
            "message_text": "{tratamiento} {nombre}: le invitamos a {evento} el {fecha} a las {hora} en {lugar}.",
            **fields,
        }
        campaign, _created = campaign_create(actor=actor or people.requester, fields=values, submission_key=uuid.uuid4())
        if state != "received":
            Campaign.objects.filter(pk=campaign.pk).update(state=state)
            campaign.refresh_from_db()
        return campaign

    return make


@pytest.fixture
def emulator(settings):
    """The project's WhatsApp Cloud API emulator on a free port, with Pregonero's client pointed at it.
    Status webhooks are off: tests that need a status apply it themselves (sending.inbound.apply_status)."""
    from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer

    token, phone_id, waba_id = "test-token", "106540352242922", "102290129340398"
    config = EmulatorConfig(token=token, phone_number_id=phone_id, waba_id=waba_id, callback_url=None,
                            statuses=False, timeout_hold=2.0, seed=7)
    with EmulatorServer(config) as server:
        settings.WHATSAPP_API_BASE_URL = server.base_url
        settings.WHATSAPP_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID, settings.WHATSAPP_WABA_ID = token, phone_id, waba_id
        yield server
