"""Before the real send: a test send to oneself, a start scheduled for later, and the daily WhatsApp tier warning."""

import hashlib
import hmac
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from pregonero.campaigns.models import AuditEntry, Notification, State
from pregonero.campaigns.services import campaign_transition
from pregonero.directory.models import Contact, GuestList
from pregonero.rsvp.models import AnswerRecord, Invitation
from pregonero.sending.models import Message, SendControl
from pregonero.settings import parse_daily_tier

from test_send_start import build_ready

CANCUN = ZoneInfo("America/Cancun")
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
MESSAGES_OF_A_SEND = 32  # build_ready: 20 WhatsApp, 6 e-mail, 2 both (2 messages each), 2 opted out (e-mail)


def page(response) -> str:
    return response.content.decode()


def detail(client, campaign) -> str:
    return page(client.get(reverse("campaigns:detail", args=[campaign.folio])))


# --------------------------------------------------------------------------- test send to oneself


def send_test(client, campaign, **data):
    return client.post(reverse("sending:test_send", args=[campaign.folio]), data, follow=True)


def test_social_media_receives_the_real_invitation_on_whatsapp_and_email(client, people, make_campaign, emulator,
                                                                          inbox):
    campaign = build_ready(people, make_campaign)
    client.force_login(people.social_media)
    assert 'id="test-send-button"' in detail(client, campaign)

    response = send_test(client, campaign, celular="998 555 0101", correo="on")

    assert "Prueba enviada por WhatsApp" in page(response) and "Prueba enviada por Correo" in page(response)
    [whatsapp] = emulator.messages()
    assert whatsapp.to == "529985550101"
    template = whatsapp.request["template"]
    assert template["name"] == "invitacion_evento"
    body = next(c for c in template["components"] if c["type"] == "body")["parameters"]
    assert [p["text"] for p in body][0::4] == ["Redes", "Parque de las Palapas"]
    answers = [c["parameters"][0]["payload"] for c in template["components"] if c.get("sub_type") == "quick_reply"]
    assert all(b.startswith("rsvp:prueba-") for b in answers) and len(answers) == 2
    # "Ver invitación" opens the test page too, as the test e-mail's link does
    [page_button] = [c["parameters"][0]["text"] for c in template["components"] if c.get("sub_type") == "url"]
    assert "Invitación de prueba" in client.get(f"/i/{page_button}").content.decode()
    [mail] = inbox.to(people.social_media.email)
    assert mail["Subject"] == "Invitación: Noche de Cultura en el Parque de las Palapas"
    text = mail.get_body(("plain",)).get_content()
    assert "/i/prueba-" in text
    # The link of the test e-mail opens a page that says it is a test (not a "not found" counted as a wrong link).
    link = text[text.index("/i/prueba-"):].split()[0]
    assert "Invitación de prueba" in client.get(link).content.decode()
    # Not part of the outbox, nobody invited, the campaign still waits for the real start.
    assert not Message.objects.exists() and not Invitation.objects.exists()
    campaign.refresh_from_db()
    assert campaign.state == State.READY
    entry = AuditEntry.objects.get(campaign=campaign, action="sending.test_send")
    assert entry.actor == people.social_media and entry.data["outcomes"] == {"whatsapp": "", "email": ""}
    assert "5550101" not in json.dumps(entry.data) + entry.comment  # the number is masked in the record
    # The number is offered again next time.
    assert 'value="998 555 0101"' in detail(client, campaign)


def test_a_tap_on_the_test_invitation_records_no_answer(client, people, make_campaign, emulator, settings,
                                                        django_capture_on_commit_callbacks):
    campaign = build_ready(people, make_campaign)
    client.force_login(people.social_media)
    send_test(client, campaign, celular="9985550101")
    [sent] = emulator.messages()

    tap = emulator.user_taps_quick_reply(sent.wamid, 0)
    settings.WHATSAPP_APP_SECRET = "secreto-de-prueba"
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "messages": [tap["message"]]}}]}]}).encode()
    signature = "sha256=" + hmac.new(b"secreto-de-prueba", body, hashlib.sha256).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/webhooks/whatsapp/", data=body, content_type="application/json",
                             HTTP_X_HUB_SIGNATURE_256=signature)

    assert answer.status_code == 200
    assert not AnswerRecord.objects.exists() and not Invitation.objects.exists()


def test_a_bad_number_is_refused_in_spanish_and_nothing_is_sent(client, people, make_campaign, emulator, inbox):
    campaign = build_ready(people, make_campaign)
    client.force_login(people.social_media)

    for bad in ("12345", "998 123 4567 ext 12", "no tengo"):
        assert "no es un número de celular válido" in page(send_test(client, campaign, celular=bad, correo="on"))
    assert "Escriba su celular o marque su correo" in page(send_test(client, campaign))

    assert emulator.messages() == [] and inbox.to(people.social_media.email) == []
    assert not AuditEntry.objects.filter(action="sending.test_send").exists()


def test_the_providers_refusal_is_shown_with_its_reason(client, people, make_campaign, emulator, inbox):
    campaign = build_ready(people, make_campaign)
    client.force_login(people.social_media)
    emulator.expire_token()

    response = send_test(client, campaign, celular="998 555 0101", correo="on")

    assert "La prueba por WhatsApp no salió: El token de acceso de WhatsApp expiró o no es válido." in page(response)
    assert "Prueba enviada por Correo" in page(response) and len(inbox.to(people.social_media.email)) == 1
    entry = AuditEntry.objects.get(action="sending.test_send")
    assert entry.data["outcomes"]["whatsapp"].startswith("El token de acceso")


def test_only_social_media_and_only_when_ready(client, people, make_campaign, emulator):
    campaign = build_ready(people, make_campaign)
    for outsider in (people.requester, people.director):
        client.force_login(outsider)
        assert 'id="test-send-button"' not in detail(client, campaign)
        for name in ("sending:test_send", "sending:schedule", "sending:schedule_cancel"):
            response = client.post(reverse(name, args=[campaign.folio]), {"celular": "9985550101"})
            assert response.status_code == 403, name
    draft = make_campaign(state=State.PROOF_REVIEW)
    client.force_login(people.social_media)
    assert "lista para envío" in page(send_test(client, draft, celular="9985550101"))
    assert emulator.messages() == []


# --------------------------------------------------------------------------- scheduled start


def schedule(client, campaign, when: datetime | str, **extra):
    value = when if isinstance(when, str) else timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")
    return client.post(reverse("sending:schedule", args=[campaign.folio]), {"programar_para": value, **extra},
                       follow=True)


def scheduled_tasks():
    return DBTaskResult.objects.filter(task_path__endswith="scheduled_send_start")


def clock_reaches_the_scheduled_time():
    """What the passing of time does for the worker: the deferred tasks become due."""
    scheduled_tasks().update(run_after=timezone.now() - timedelta(seconds=1))


def run_worker():
    call_command("worker", "--batch", "--interval", "0", verbosity=0)


@pytest.fixture
def ready(client, people, make_campaign, settings):
    """A ready campaign, social media logged in, tasks queued in the database (the immediate backend cannot defer)."""
    settings.TASKS = DB_TASKS
    client.force_login(people.social_media)
    return build_ready(people, make_campaign)


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_send_starts_at_its_time_and_not_before(client, people, ready):
    campaign = ready
    day = timezone.localdate() + timedelta(days=2)

    response = schedule(client, campaign, f"{day:%Y-%m-%d}T10:30")

    assert "Envío programado para" in page(response)
    control = SendControl.objects.get(campaign=campaign)
    # The form's time is Cancún's (UTC-5 all year), whatever the server's clock zone.
    assert control.scheduled_for == datetime(day.year, day.month, day.day, 10, 30, tzinfo=CANCUN)
    assert control.scheduled_by == people.social_media
    panel = detail(client, campaign)
    assert 'id="send-scheduled"' in panel and "Cancelar programación" in panel and 'id="schedule-send"' not in panel
    [task] = scheduled_tasks()
    assert task.run_after == control.scheduled_for

    run_worker()
    campaign.refresh_from_db()
    assert campaign.state == State.READY and not Message.objects.exists()

    clock_reaches_the_scheduled_time()
    run_worker()
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING
    assert Message.objects.filter(campaign=campaign).count() == MESSAGES_OF_A_SEND
    start = AuditEntry.objects.get(campaign=campaign, action="campaign.start_send")
    assert start.actor == people.social_media
    assert SendControl.objects.get(campaign=campaign).scheduled_for is None


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_leaves_one_scheduled_task(client, ready):
    campaign = ready
    when = timezone.now() + timedelta(hours=3)

    schedule(client, campaign, when)
    again = schedule(client, campaign, when)

    assert "El envío ya está programado para" in page(again)
    assert scheduled_tasks().count() == 1
    assert AuditEntry.objects.filter(action="sending.scheduled").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_or_changed_schedule_never_fires_twice(client, ready):
    campaign = ready
    schedule(client, campaign, timezone.now() + timedelta(hours=3))

    cancelled = client.post(reverse("sending:schedule_cancel", args=[campaign.folio]), follow=True)
    assert "Programación cancelada" in page(cancelled) and 'id="send-scheduled"' not in page(cancelled)
    clock_reaches_the_scheduled_time()
    run_worker()
    campaign.refresh_from_db()
    assert campaign.state == State.READY and not Message.objects.exists()
    assert [t.return_value for t in scheduled_tasks()] == ["called off"]

    # Scheduled again for another time: the old task stays quiet and the new one starts the send, once.
    schedule(client, campaign, timezone.now() + timedelta(hours=5))
    clock_reaches_the_scheduled_time()
    scheduled_tasks().filter(status="SUCCESSFUL").update(status="READY")  # even if the old one ran again
    run_worker()
    campaign.refresh_from_db()
    assert campaign.state == State.SENDING
    assert sorted(t.return_value for t in scheduled_tasks()) == ["called off", "started: 32 messages"]
    assert AuditEntry.objects.filter(campaign=campaign, action="campaign.start_send").count() == 1
    assert Message.objects.filter(campaign=campaign).count() == MESSAGES_OF_A_SEND


@pytest.mark.django_db(transaction=True)
def test_a_campaign_no_longer_ready_is_not_started(client, people, ready):
    campaign = ready
    schedule(client, campaign, timezone.now() + timedelta(hours=3))
    campaign_transition(campaign=campaign, actor=people.requester, name="cancel", comment="Se pospone el evento.")

    clock_reaches_the_scheduled_time()
    run_worker()

    campaign.refresh_from_db()
    assert campaign.state == State.CANCELLED and not Message.objects.exists()
    assert [t.return_value for t in scheduled_tasks()] == ["not ready"]


@pytest.mark.django_db(transaction=True)
def test_a_refusal_at_the_scheduled_time_is_told_to_social_media(client, people, ready):
    campaign = ready
    schedule(client, campaign, timezone.now() + timedelta(hours=3))
    GuestList.objects.filter(campaign=campaign).update(confirmed_at=None)  # the database team reopened the list

    clock_reaches_the_scheduled_time()
    run_worker()

    campaign.refresh_from_db()
    assert campaign.state == State.READY and not Message.objects.exists()
    entry = AuditEntry.objects.get(campaign=campaign, action="sending.schedule_failed")
    assert "no pudo iniciar" in entry.comment and "no está confirmada" in entry.comment
    assert Notification.objects.filter(recipient=people.social_media, audit_entry=entry).exists()


@pytest.mark.parametrize("when, error", [
    (lambda now: now - timedelta(minutes=5), "ya pasó"),
    (lambda now: now + timedelta(days=91), "hasta 90 días adelante"),
    ("mañana a las diez", "Escriba una fecha y hora válidas"),
    ("", "Elija la fecha y la hora del envío"),
])
def test_a_bad_time_is_refused_in_spanish(client, ready, when, error):
    campaign = ready

    response = schedule(client, campaign, when(timezone.now()) if callable(when) else when)

    assert error in page(response)
    assert not scheduled_tasks().exists() and not SendControl.objects.filter(scheduled_for__isnull=False).exists()


def test_a_campaign_without_a_confirmed_list_cannot_be_scheduled(client, people, make_campaign, settings):
    settings.TASKS = DB_TASKS
    campaign = make_campaign(state=State.READY)
    client.force_login(people.social_media)

    response = schedule(client, campaign, timezone.now() + timedelta(hours=3))

    assert "no está confirmada por Base de Datos" in page(response) and not scheduled_tasks().exists()


# --------------------------------------------------------------------------- daily tier


def earlier_whatsapp_sends(people, make_campaign, numbers, *, hours_ago):
    """WhatsApp messages of another campaign, sent to these numbers that many hours ago."""
    other = make_campaign(state=State.SENT)
    contacts = Contact.objects.bulk_create(Contact(name=f"Antes {n}", mobile=m) for n, m in enumerate(numbers))
    sent_at = timezone.now() - timedelta(hours=hours_ago)
    for contact in contacts:
        invitation = Invitation.objects.create(campaign=other, contact=contact)
        Message.objects.create(campaign=other, invitation=invitation, channel="whatsapp", address=contact.mobile,
                               state=Message.State.DELIVERED, sent_at=sent_at)


def test_the_panel_warns_when_the_send_would_pass_the_daily_tier(client, people, make_campaign, settings):
    settings.WHATSAPP_DAILY_TIER = 250
    campaign = build_ready(people, make_campaign, whatsapp=240)  # 242 WhatsApp numbers with the 2 "both"
    client.force_login(people.social_media)
    assert 'id="tier-warning"' not in detail(client, campaign)

    # Yesterday's numbers no longer count; today's do, once each, and one of them is also in this send.
    earlier_whatsapp_sends(people, make_campaign, [f"+5299870{n:05d}" for n in range(30)], hours_ago=25)
    earlier_whatsapp_sends(people, make_campaign, [f"+5299860{n:05d}" for n in range(10)] + ["+529981000000"],
                           hours_ago=2)

    panel = detail(client, campaign)
    assert 'id="tier-warning"' in panel
    warning = panel.split('id="tier-warning">')[1].split("</p>")[0]
    for fact in ("límite diario de WhatsApp", "250 personas distintas en 24 horas", "Sumaría 252",
                 "números de este envío: 242", "ya contactados en las últimas 24 horas: 11", "unos 2 mensajes",
                 "fallarán", "se pausará", "El límite sube"):
        assert fact in warning, fact

    settings.WHATSAPP_DAILY_TIER = None  # "unlimited"
    assert 'id="tier-warning"' not in detail(client, campaign)


def test_the_schedule_confirmation_repeats_the_tier_warning(client, people, make_campaign, settings):
    settings.TASKS, settings.WHATSAPP_DAILY_TIER = DB_TASKS, 250
    campaign = build_ready(people, make_campaign, whatsapp=260)
    client.force_login(people.social_media)

    response = schedule(client, campaign, timezone.now() + timedelta(hours=3))

    assert "Envío programado para" in page(response)
    confirmation = page(response).split('id="tier-warning"')[0]  # among the messages, above the panel
    assert "Este envío llega a 262 números, así que unos 12 mensajes de WhatsApp fallarán" in confirmation


@pytest.mark.parametrize("text, tier", [("250", 250), (" 2000 ", 2000), ("10000", 10000), ("100000", 100000),
                                        ("unlimited", None), ("Unlimited", None)])
def test_the_daily_tier_setting_takes_meta_s_tiers(text, tier):
    assert parse_daily_tier(text) == tier


@pytest.mark.parametrize("text", ["300", "2,000", "ilimitado", "", "-250", "1e5"])
def test_a_bad_daily_tier_stops_the_server_with_a_clear_message(text):
    with pytest.raises(ImproperlyConfigured, match="WHATSAPP_DAILY_TIER must be one of 250, 2000, 10000, 100000"):
        parse_daily_tier(text)


def test_the_server_does_not_start_with_a_bad_daily_tier(tmp_path):
    env = {**os.environ, "WHATSAPP_DAILY_TIER": "5000", "PREGONERO_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", "import pregonero.settings"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "WHATSAPP_DAILY_TIER must be one of" in result.stderr
