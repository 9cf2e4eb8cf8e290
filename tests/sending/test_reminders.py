"""Reminders to guests who have not answered: planned N days before the RSVP deadline or the event (a db task at
its time) or sent now; only to guests still pending. Real HTTP to the WhatsApp emulator, real SMTP to the inbox.

The sent campaign (see test_send_start): "Invitado 0-19" WhatsApp only, "Correo 0-5" e-mail only, "Ambos 0-1"
both, "Baja 0-1" opted out of WhatsApp (e-mail only). The event is in 30 days, the RSVP deadline in 25.
"""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from test_prestart import DB_TASKS, run_worker
from test_rounds import contact, guest_mail, send_all, whatsapp_to
from test_send_start import build_ready

from pregonero.campaigns.models import AuditEntry, Notification, State
from pregonero.campaigns.services import campaign_transition
from pregonero.directory.models import Contact
from pregonero.rsvp.models import Invitation
from pregonero.rsvp.services import invitation_answer
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.inbound import apply_inbound
from pregonero.sending.models import Message, Reminder
from pregonero.sending.services import send_start

EVERY_PENDING = ({(f"Invitado {n}", "whatsapp") for n in range(20)} | {(f"Correo {n}", "email") for n in range(6)}
                 | {(f"Ambos {n}", channel) for n in range(2) for channel in ("whatsapp", "email")})


@pytest.fixture
def sent(people, make_campaign, emulator, inbox, client, settings):
    """A campaign whose invitations all went out; social media logged in; tasks queued in the database."""
    settings.TASKS = DB_TASKS
    campaign = build_ready(people, make_campaign)
    send_start(campaign=campaign, actor=people.social_media)
    send_all(campaign)
    assert campaign.state == State.SENT
    client.force_login(people.social_media)
    return campaign


def page(response) -> str:
    return response.content.decode()


def post(client, campaign, name, **data):
    return client.post(reverse(f"sending:{name}", args=[campaign.folio]), data, follow=True)


def plan(client, campaign, days=2, anchor="deadline", chosen=()):
    data = {"dias": str(days), "antes_de": anchor}
    if chosen:
        data.update(destinatarios="elegidos", invitados=[invitation(name).pk for name in chosen])
    return post(client, campaign, "reminder_plan", **data)


def invitation(name) -> Invitation:
    return Invitation.objects.get(contact__name=name)


def reminded(campaign) -> set[tuple[str, str]]:
    rows = Message.objects.filter(campaign=campaign, kind=Message.Kind.REMINDER)
    return set(rows.values_list("invitation__contact__name", "channel"))


def reminder_tasks():
    return DBTaskResult.objects.filter(task_path__endswith="reminder_task")


def clock_reaches_the_reminder():
    reminder_tasks().update(run_after=timezone.now() - timedelta(seconds=1))


def answers_and_opt_outs(campaign, emulator):
    """One guest confirms with the button, one declines on the page, one writes BAJA, and one walks in at the door."""
    apply_inbound(emulator.user_taps_quick_reply(whatsapp_to(emulator, "Invitado 0")[0].wamid, 0)["message"])
    invitation_answer(invitation=invitation("Correo 0"), answer="declined", via="link", confirm=False)
    apply_inbound(emulator.user_sends_text(contact("Invitado 1").mobile, "BAJA")["message"])
    walk_in = Contact.objects.create(name="Llegó sin invitación", mobile="+529981117777", email="puerta@example.com")
    Invitation.objects.create(campaign=campaign, contact=walk_in, walk_in=True)
    assert invitation("Invitado 0").answer == "attending" and invitation("Correo 0").answer == "declined"


# --------------------------------------------------------------------------- who gets it


def test_a_reminder_now_reaches_only_guests_still_pending_and_goes_out(client, sent, emulator, inbox):
    answers_and_opt_outs(sent, emulator)
    whatsapp_before, mail_before = len(emulator.messages()), len(guest_mail(inbox))

    response = post(client, sent, "reminder_now", destinatarios="todos")

    assert "Recordatorio enviado: 27 mensajes en la bandeja de salida." in page(response)
    # Never to the one who confirmed, declined, wrote BAJA, opted out of WhatsApp ("Baja") or walked in.
    assert reminded(sent) == EVERY_PENDING - {("Invitado 0", "whatsapp"), ("Invitado 1", "whatsapp"),
                                              ("Correo 0", "email")}
    sent.refresh_from_db()
    assert sent.state == State.SENDING  # back to sending (the "resend" transition) so the dispatcher sends it
    reminder = Reminder.objects.get(campaign=sent)
    assert (reminder.round, reminder.sent_count, reminder.days_before) == (2, 27, 0)

    send_all(sent)

    assert sent.state == State.SENT
    assert len(emulator.messages()) == whatsapp_before + 20 and len(guest_mail(inbox)) == mail_before + 7
    assert emulator.duplicates() == {}
    [whatsapp] = whatsapp_to(emulator, "Invitado 5")[1:]
    template = whatsapp.request["template"]
    assert (template["name"], template["language"]["code"]) == ("recordatorio_evento", "es_MX")
    body = next(c for c in template["components"] if c["type"] == "body")["parameters"]
    assert [p["text"] for p in body][0::4] == ["Lic. Invitado 5", "Parque de las Palapas"]
    # The invitation only (or nothing at all): no reminder.
    assert [len(whatsapp_to(emulator, name)) for name in ("Invitado 0", "Invitado 1", "Baja 0")] == [1, 1, 0]
    assert [len(inbox.to(a)) for a in ("correo0@example.com", "baja0@example.com", "puerta@example.com")] == [1, 1, 0]
    [first, again] = inbox.to("correo3@example.com")
    assert again["Subject"] == "Recordatorio: Noche de Cultura en el Parque de las Palapas"
    text = again.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Ing. Correo 3:\n\nLe recordamos que Noche de Cultura en el Parque de las Palapas es el ")
    assert f"/i/{invitation('Correo 3').token}" in text and "Aún no tenemos su respuesta" in text
    rounds = page(client.get(reverse("campaigns:detail", args=[sent.folio])))
    assert 'data-round="2" data-kind="reminder"' in rounds and 'data-status="sent"' in rounds


def test_the_guest_answers_from_the_reminder_button(client, sent, emulator):
    post(client, sent, "reminder_now", destinatarios="todos")
    send_all(sent)

    [reminder] = whatsapp_to(emulator, "Invitado 7")[1:]
    apply_inbound(emulator.user_taps_quick_reply(reminder.wamid, 1)["message"])  # "No podré asistir"

    assert invitation("Invitado 7").answer == "declined"


@pytest.mark.django_db(transaction=True)
def test_chosen_guests_get_it_only_if_still_pending_at_its_time(client, sent, emulator, inbox):
    response = plan(client, sent, days=3, chosen=["Invitado 3", "Invitado 4", "Correo 2", "Ambos 1"])
    assert "a 4 invitados elegidos" in page(response)
    # Answered meanwhile (by phone): no longer pending when the reminder goes.
    invitation_answer(invitation=invitation("Invitado 4"), answer="attending", via="phone", confirm=False)

    clock_reaches_the_reminder()
    run_worker()

    assert reminded(sent) == {("Invitado 3", "whatsapp"), ("Correo 2", "email"), ("Ambos 1", "whatsapp"),
                              ("Ambos 1", "email")}
    send_all(sent)
    assert sent.state == State.SENT
    assert len(whatsapp_to(emulator, "Invitado 3")) == 2 and len(whatsapp_to(emulator, "Invitado 4")) == 1
    assert len(whatsapp_to(emulator, "Invitado 5")) == 1 and len(inbox.to("correo2@example.com")) == 2


# --------------------------------------------------------------------------- planned reminders


@pytest.mark.django_db(transaction=True)
def test_a_planned_reminder_fires_at_its_time_once_through_the_worker(client, people, sent, emulator):
    response = plan(client, sent, days=2, anchor="deadline")

    deadline_day = timezone.localtime(sent.rsvp_deadline).date()
    day = deadline_day - timedelta(days=2)
    when = datetime(day.year, day.month, day.day, 10, 0, tzinfo=timezone.get_default_timezone())
    assert "Recordatorio programado para el" in page(response)
    assert "a todos los invitados sin respuesta" in page(response)
    reminder = Reminder.objects.get(campaign=sent)
    assert (reminder.scheduled_for, reminder.anchor, reminder.days_before) == (when, "deadline", 2)
    assert reminder.created_by == people.social_media and reminder.round is None
    [task] = reminder_tasks()
    assert task.run_after == when
    assert 'data-status="planned"' in page(response) and 'id="reminder-cancel-' in page(response)

    run_worker()  # before its time: nothing
    assert not reminded(sent) and Reminder.objects.get().round is None

    clock_reaches_the_reminder()
    run_worker()
    sent.refresh_from_db()
    assert sent.state == State.SENDING and reminded(sent) == EVERY_PENDING
    reminder.refresh_from_db()
    assert (reminder.round, reminder.sent_count) == (2, 30)
    entry = AuditEntry.objects.get(campaign=sent, action="campaign.resend")
    assert entry.actor == people.social_media and entry.data["reminder"] == reminder.pk

    send_all(sent)
    assert sent.state == State.SENT and len(whatsapp_to(emulator, "Invitado 9")) == 2

    # Run again (a worker that died after the task committed, say): the plan was written, nothing more.
    reminder_tasks().update(status="READY")
    run_worker()
    assert [t.return_value for t in reminder_tasks()] == ["already written"]
    assert Message.objects.filter(kind=Message.Kind.REMINDER).count() == 30
    assert emulator.duplicates() == {}


@pytest.mark.django_db(transaction=True)
def test_a_reminder_due_while_the_invitations_still_go_out_waits_for_the_send_to_end(client, people, make_campaign,
                                                                                     emulator, inbox, settings):
    settings.TASKS = DB_TASKS
    campaign = build_ready(people, make_campaign)
    send_start(campaign=campaign, actor=people.social_media)
    assert Dispatcher("t", batch_size=10).run_once() == 10  # the send is under way
    client.force_login(people.social_media)
    refused = post(client, campaign, "reminder_now", destinatarios="todos")
    assert "El envío sigue en curso: envíe el recordatorio cuando termine" in page(refused)
    assert 'id="reminder-now"' not in page(refused)
    plan(client, campaign, days=2)

    clock_reaches_the_reminder()
    run_worker()

    assert [t.return_value for t in reminder_tasks() if t.status == "SUCCESSFUL"] == ["waiting for the send to end"]
    assert not reminded(campaign) and Reminder.objects.get().round is None
    send_all(campaign)
    assert campaign.state == State.SENT

    clock_reaches_the_reminder()
    run_worker()
    assert sorted(t.return_value for t in reminder_tasks()) == ["waiting for the send to end", "written: 30 messages"]
    assert reminded(campaign) == EVERY_PENDING
    send_all(campaign)
    assert campaign.state == State.SENT and len(whatsapp_to(emulator, "Invitado 12")) == 2


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_plan_does_nothing(client, sent, emulator):
    plan(client, sent, days=6, anchor="event")
    reminder = Reminder.objects.get()

    response = client.post(reverse("sending:reminder_cancel", args=[sent.folio, reminder.pk]), follow=True)
    assert "Recordatorio cancelado" in page(response) and 'data-status="cancelled"' in page(response)
    clock_reaches_the_reminder()
    run_worker()

    assert [t.return_value for t in reminder_tasks()] == ["called off"]
    assert not reminded(sent)
    sent.refresh_from_db()
    assert sent.state == State.SENT
    assert AuditEntry.objects.filter(campaign=sent, action="sending.reminder_cancelled").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_plan_that_can_no_longer_go_is_told_to_social_media(client, people, sent):
    plan(client, sent, days=2)
    campaign_transition(campaign=sent, actor=people.database, name="close")  # the final list was closed

    clock_reaches_the_reminder()
    run_worker()

    assert [t.return_value for t in reminder_tasks()] == ["refused"] and not reminded(sent)
    entry = AuditEntry.objects.get(campaign=sent, action="sending.reminder_failed")
    assert "no se envió" in entry.comment and "Cerrada" in entry.comment
    assert Notification.objects.filter(recipient=people.social_media, audit_entry=entry).exists()
    assert Reminder.objects.get().round == 0


def test_a_double_submit_makes_one_plan_and_a_double_send_one_round(client, sent):
    plan(client, sent, days=2)
    again = plan(client, sent, days=2)

    assert "Ese recordatorio ya está programado para el" in page(again)
    assert Reminder.objects.count() == 1 and reminder_tasks().count() == 1
    assert AuditEntry.objects.filter(action="sending.reminder_planned").count() == 1

    post(client, sent, "reminder_now", destinatarios="todos")
    twice = post(client, sent, "reminder_now", destinatarios="todos")
    assert "El envío sigue en curso" in page(twice)  # the first reminder is going out
    send_all(sent)
    later = post(client, sent, "reminder_now", destinatarios="todos")
    assert "Estos invitados ya recibieron un recordatorio a las" in page(later)
    assert Message.objects.filter(kind=Message.Kind.REMINDER).count() == 30
    assert not Message.objects.filter(round=3).exists()


@pytest.mark.parametrize("data, error", [
    ({"dias": "30", "antes_de": "deadline"}, "que ya pasó"),  # the deadline is 25 days away
    ({"dias": "0", "antes_de": "event"}, "Elija de 1 a 30 días antes"),
    ({"dias": "31", "antes_de": "event"}, "Elija de 1 a 30 días antes"),
    ({"dias": "dos", "antes_de": "event"}, "Escriba cuántos días antes"),
    ({"dias": "2", "antes_de": "event"}, "después de la fecha límite para confirmar"),  # answers closed by then
    ({"dias": "2", "antes_de": ""}, "Elija si el recordatorio es antes de la fecha límite"),
    ({"dias": "2", "antes_de": "deadline", "destinatarios": "elegidos"}, "Marque a los invitados"),
])
def test_bad_input_is_refused_in_spanish(client, sent, data, error):
    response = post(client, sent, "reminder_plan", **data)

    assert error in page(response)
    assert not Reminder.objects.exists() and not reminder_tasks().exists()


def test_missing_dates_and_a_campaign_not_sent_are_refused(client, people, make_campaign, sent):
    sent.__class__.objects.filter(pk=sent.pk).update(rsvp_deadline=None)
    assert "no tiene fecha límite para confirmar" in page(plan(client, sent, anchor="deadline"))
    assert "Recordatorio programado" in page(plan(client, sent, days=3, anchor="event"))  # no deadline: fine

    ready = build_ready(people, make_campaign)
    for name in ("reminder_plan", "reminder_now"):
        response = post(client, ready, name, dias="2", antes_de="event", destinatarios="todos")
        assert "los recordatorios son para un envío en curso o terminado" in page(response)
    assert not Reminder.objects.filter(campaign=ready).exists()


def test_only_social_media_plans_cancels_or_sends_reminders(client, people, sent):
    plan(client, sent, days=2)
    reminder = Reminder.objects.get()
    for outsider in (people.requester, people.director, people.database):
        client.force_login(outsider)
        detail = page(client.get(reverse("campaigns:detail", args=[sent.folio])))
        assert 'id="reminder-list"' in detail and 'id="reminder-form"' not in detail
        for name, args in (("reminder_plan", [sent.folio]), ("reminder_now", [sent.folio]),
                           ("reminder_cancel", [sent.folio, reminder.pk])):
            response = client.post(reverse(f"sending:{name}", args=args), {"dias": "2", "antes_de": "deadline"})
            assert response.status_code == 403, (outsider, name)
    assert Reminder.objects.count() == 1 and Reminder.objects.get().cancelled_at is None
    assert not Message.objects.filter(kind=Message.Kind.REMINDER).exists()


def test_the_panel_offers_the_pending_guests_to_choose(client, sent, emulator):
    answers_and_opt_outs(sent, emulator)

    detail = page(client.get(reverse("campaigns:detail", args=[sent.folio])))

    assert 'id="reminder-form"' in detail and "Enviar recordatorio ahora" in detail
    assert "A todos los invitados sin respuesta (hoy, 25)" in detail
    checklist = detail.split('id="reminder-guests"')[1].split("</ul>")[0]
    assert f'value="{invitation("Invitado 2").pk}"' in checklist
    for gone in ("Invitado 0", "Invitado 1", "Correo 0", "Baja 0", "Llegó sin invitación"):
        assert f'value="{invitation(gone).pk}"' not in checklist
