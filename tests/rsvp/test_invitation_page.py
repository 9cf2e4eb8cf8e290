"""The guest's personal invitation page: answering, changing one's mind, the deadline, cancellation, the door QR,
the calendar file, the opt-out, the confirmation e-mail, and what a stranger guessing links gets."""

import re
from html import unescape
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns.models import Attachment, Campaign, State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.directory.guestlists import guest_list_for
from pregonero.directory.models import Contact
from pregonero.rsvp.models import AnswerRecord, Invitation
from pregonero.rsvp.qr import checkin_code, page_qr_svg, qr_png
from pregonero.sending.models import Message
from pregonero.sending.services import send_start

EMAIL_GUEST = "correo0@example.com"


def sent_campaign(people, make_campaign, **fields):
    """A campaign whose send started (the real flow): 2 WhatsApp guests, 1 e-mail guest, 1 with both."""
    values = {"max_companions": 2, "dress_code": "Formal", "address": "Av. Tulum s/n, Centro", **fields}
    campaign = make_campaign(state=State.READY, **values)
    demo_ready_campaign(campaign=campaign, author=people.social_media, whatsapp=2, email_only=1, both=1,
                        opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)
    campaign.refresh_from_db()
    return campaign


def invitation_of(campaign, name) -> Invitation:
    return Invitation.objects.select_related("contact", "campaign").get(campaign=campaign, contact__name=name)


def page_url(invitation) -> str:
    return reverse("rsvp:invitation", args=[invitation.token])


def text_of(response) -> str:
    """The page as a person reads it: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Runs what waits for the commit (the confirmation task): the test's own transaction never commits."""
    return django_capture_on_commit_callbacks


@pytest.fixture
def campaign(people, make_campaign):
    return sent_campaign(people, make_campaign)


@pytest.fixture
def guest(campaign):
    return invitation_of(campaign, "Correo 0")


def test_the_page_shows_the_event_and_keeps_the_link_private(client, guest):
    response = client.get(page_url(guest))
    assert response.status_code == 200
    page = text_of(response)
    assert "Noche de Cultura en el Parque de las Palapas" in page
    assert "Ing. Correo 0" in page and "Formal" in page and "Av. Tulum s/n, Centro" in page
    assert "Confirmo asistencia" in page and "No podré asistir" in page
    assert "Número de acompañantes (máximo 2)" in page
    html = response.content.decode()
    assert "https://www.google.com/maps/search/?api=1&amp;query=Parque+de+las+Palapas+Av.+Tulum+s%2Fn%2C+Centro" in html
    assert reverse("rsvp:invitation_calendar", args=[guest.token]) in html
    assert reverse("rsvp:privacy") in html and reverse("rsvp:invitation_opt_out", args=[guest.token]) in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Robots-Tag"] == "noindex"


def test_the_date_and_time_are_cancuns(client, people, make_campaign):
    starts = timezone.make_aware(timezone.datetime(2030, 3, 14, 19, 30), timezone.get_fixed_timezone(-300))
    campaign = sent_campaign(people, make_campaign, starts_at=starts, rsvp_deadline=starts - timedelta(days=2))
    page = text_of(client.get(page_url(invitation_of(campaign, "Correo 0"))))
    assert "jueves 14 de marzo de 2030, 19:30 h" in page


def test_the_page_is_one_query(client, guest, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert client.get(page_url(guest)).status_code == 200


def test_with_persistent_connections_each_guest_still_sees_their_own_page_and_answer(client, campaign, guest,
                                                                                      monkeypatch, after_commit):
    """On PostgreSQL the lookups are prepared once per connection when connections persist (rsvp/lookup.py)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps its own statement cache; nothing is prepared by name")
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    others = list(Invitation.objects.filter(campaign=campaign).exclude(pk=guest.pk).select_related("contact"))
    for invitation in [guest, *others, guest]:
        page = text_of(client.get(page_url(invitation)))
        assert str(invitation.contact) in page
        assert all(str(other.contact) not in page for other in [guest, *others] if other != invitation)
    with after_commit(execute=True):
        client.post(page_url(others[0]), {"answer": "declined"})
    assert "Usted indicó que no podrá asistir." in text_of(client.get(page_url(others[0])))
    assert "Usted indicó que no podrá asistir." not in text_of(client.get(page_url(guest)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'pregonero%%' ORDER BY name")
        assert [name for (name,) in cursor.fetchall()] == ["pregonero_invitation_by_token",
                                                          "pregonero_invitation_locked_by_token"]


def test_confirming_with_a_companion_shows_the_choice_the_qr_and_sends_the_email(client, guest, inbox, after_commit):
    with after_commit(execute=True):
        response = client.post(page_url(guest), {"answer": "attending", "companions": "1"})
    assert response.status_code == 302
    page = client.get(response["Location"])
    text = text_of(page)
    assert "¡Gracias! Registramos su respuesta." in text
    assert "Usted confirmó su asistencia con 1 acompañante." in text
    assert "Su código de entrada" in text and "<svg" in page.content.decode()
    guest.refresh_from_db()
    assert (guest.answer, guest.companions, guest.answered_via) == ("attending", 1, "link")

    (mail,) = inbox.to(EMAIL_GUEST)  # the invitation itself still waits in the outbox: this is the confirmation
    assert mail["Subject"] == "Su respuesta: «Noche de Cultura en el Parque de las Palapas»"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Usted confirmó su asistencia con 1 acompañante." in body and f"/i/{guest.token}" in body
    html = mail.get_body(preferencelist=("html",)).get_content()
    (qr,) = [part for part in mail.walk() if part.get_content_type() == "image/png"]
    assert qr["Content-ID"] == "<qr-entrada@pregonero>" and 'src="cid:qr-entrada@pregonero"' in html
    assert qr.get_content() == qr_png(guest)  # the same code the door scans
    assert checkin_code(guest).startswith("PRG1-")


def test_the_confirmation_keeps_the_pages_qr_and_a_stale_one_is_never_shown(client, guest, after_commit, settings):
    with after_commit(execute=True):
        client.post(page_url(guest), {"answer": "attending", "companions": "0"})
    guest.refresh_from_db()
    assert guest.qr_code == checkin_code(guest) and guest.qr_svg.startswith("<svg")
    assert guest.qr_svg in client.get(page_url(guest)).content.decode()  # the kept picture, not a new drawing

    # A new SECRET_KEY signs every code anew: the kept picture no longer opens the door and must not be shown.
    kept = guest.qr_svg
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    html = client.get(page_url(guest)).content.decode()
    assert checkin_code(guest) != guest.qr_code
    assert kept not in html and page_qr_svg(guest) in html  # drawn for the code the door now accepts


def test_declining_shows_the_choice_without_a_qr(client, guest, inbox, after_commit):
    with after_commit(execute=True):
        page = client.post(page_url(guest), {"answer": "declined", "companions": "2"}, follow=True)
    text = text_of(page)
    assert "Usted indicó que no podrá asistir." in text and "Su código de entrada" not in text
    guest.refresh_from_db()
    assert (guest.answer, guest.companions) == ("declined", 0)
    (mail,) = inbox.to(EMAIL_GUEST)
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Usted indicó que no podrá asistir." in body
    assert "Si cambia de opinión, puede responder de nuevo hasta el" in body
    assert not [part for part in mail.walk() if part.get_content_type() == "image/png"]


def test_a_guest_can_change_their_mind_and_the_last_answer_wins(client, guest, inbox, after_commit):
    for answer in ("attending", "declined"):
        with after_commit(execute=True):
            client.post(page_url(guest), {"answer": answer, "companions": "2"})
    text = text_of(client.get(page_url(guest)))
    assert "Usted indicó que no podrá asistir." in text and "Confirmo asistencia" in text  # still open to change
    guest.refresh_from_db()
    assert guest.answer == "declined"
    history = AnswerRecord.objects.filter(invitation=guest)
    assert [(r.answer, r.companions, r.via) for r in history] == [("attending", 2, "link"), ("declined", 0, "link")]
    assert ["Usted confirmó su asistencia con 2 acompañantes." in mail.get_body(preferencelist=("plain",)).get_content()
            for mail in inbox.to(EMAIL_GUEST)] == [True, False]
    with after_commit(execute=True):
        client.post(page_url(guest), {"answer": "declined"})  # the same answer again: kept, not confirmed twice
    assert guest.answers.count() == 3 and len(inbox.to(EMAIL_GUEST)) == 2


def test_more_companions_than_allowed_are_refused_in_spanish(client, guest):
    for value in ("3", "-1", "dos"):
        response = client.post(page_url(guest), {"answer": "attending", "companions": value})
        assert response.status_code == 400
        assert "Puede registrar de 0 a 2 acompañantes." in text_of(response)
    guest.refresh_from_db()
    assert guest.answer == "pending" and not guest.answers.exists()


def test_a_personal_invitation_has_no_companions_field(client, people, make_campaign):
    campaign = sent_campaign(people, make_campaign, max_companions=0)
    guest = invitation_of(campaign, "Correo 0")
    assert 'name="companions"' not in client.get(page_url(guest)).content.decode()
    response = client.post(page_url(guest), {"answer": "attending", "companions": "1"})
    assert response.status_code == 400
    assert "Esta invitación es personal: no incluye acompañantes." in text_of(response)
    client.post(page_url(guest), {"answer": "attending"})
    guest.refresh_from_db()
    assert (guest.answer, guest.companions) == ("attending", 0)


def test_after_the_deadline_the_page_is_read_only(client, guest):
    client.post(page_url(guest), {"answer": "attending", "companions": "1"})
    Campaign.objects.filter(pk=guest.campaign_id).update(rsvp_deadline=timezone.now() - timedelta(minutes=1))
    response = client.get(page_url(guest))
    text = text_of(response)
    assert "Usted confirmó su asistencia con 1 acompañante." in text
    assert "La fecha límite para confirmar «Noche de Cultura en el Parque de las Palapas» ya pasó." in text
    assert 'id="answer-form"' not in response.content.decode()
    assert "Su código de entrada" in text  # the QR is still needed at the door
    refused = client.post(page_url(guest), {"answer": "declined"})
    assert refused.status_code == 400 and "ya pasó" in text_of(refused)
    guest.refresh_from_db()
    assert guest.answer == "attending"


def test_without_a_deadline_answers_close_when_the_event_starts(client, people, make_campaign):
    campaign = sent_campaign(people, make_campaign, rsvp_deadline=None)
    guest = invitation_of(campaign, "Correo 0")
    assert 'id="answer-form"' in client.get(page_url(guest)).content.decode()
    Campaign.objects.filter(pk=campaign.pk).update(starts_at=timezone.now() - timedelta(hours=1))
    response = client.get(page_url(guest))
    assert response.status_code == 200 and 'id="answer-form"' not in response.content.decode()


def test_a_cancelled_event_says_so_and_takes_no_answers(client, guest):
    client.post(page_url(guest), {"answer": "attending"})
    Campaign.objects.filter(pk=guest.campaign_id).update(state=State.CANCELLED)
    response = client.get(page_url(guest))
    text = text_of(response)
    assert "Este evento fue cancelado." in text
    assert 'id="answer-form"' not in response.content.decode() and "Su código de entrada" not in text
    assert "Agregar a mi calendario" not in text
    refused = client.post(page_url(guest), {"answer": "declined"})
    assert "fue cancelado; ya no recibe respuestas" in text_of(refused)
    guest.refresh_from_db()
    assert guest.answer == "attending"


def test_event_text_is_escaped(client, people, make_campaign):
    attack = '<script>alert("x")</script>'
    campaign = sent_campaign(people, make_campaign, title=f"Gala {attack}", venue=f"Salón {attack}",
                             dress_code=attack, message_text=f"{{nombre}}: {attack}")
    html = client.get(page_url(invitation_of(campaign, "Correo 0"))).content.decode()
    assert "<script>" not in html
    # Each text shows as typed: escaped in the HTML (quotes as &#34; or &quot;), never run.
    shown = unescape(html)
    for text in (f"Gala {attack}", f"Salón {attack}", f"<dd>{attack}</dd>", f": {attack}"):
        assert text in shown
    assert html.count("&lt;script&gt;") == 5  # title, heading, venue, dress code, message


def test_posts_need_the_csrf_token(guest):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(page_url(guest), {"answer": "attending"}).status_code == 403
    assert browser.post(reverse("rsvp:invitation_opt_out", args=[guest.token])).status_code == 403
    guest.refresh_from_db()
    assert guest.answer == "pending" and not guest.contact.email_opt_out
    page = browser.get(page_url(guest))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = browser.post(page_url(guest), {"answer": "attending", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    guest.refresh_from_db()
    assert guest.answer == "attending"


# --------------------------------------------------------------------------- wrong links


def expired_token(people, make_campaign) -> str:
    """A real invitation of an event that ended more than a month ago."""
    campaign = sent_campaign(people, make_campaign, title="Evento pasado")
    Campaign.objects.filter(pk=campaign.pk).update(starts_at=timezone.now() - timedelta(days=40), rsvp_deadline=None)
    return invitation_of(campaign, "Correo 0").token


def test_unknown_malformed_and_expired_links_get_the_same_404(client, people, make_campaign):
    expired = expired_token(people, make_campaign)
    unknown = "A" * len(expired)
    answers = [client.get(f"/i/{token}") for token in (unknown, expired, "x", "no%20es%20un%20token")]
    assert {response.status_code for response in answers} == {404}
    assert len({response.content for response in answers}) == 1
    assert "Invitación no encontrada" in text_of(answers[0])
    assert all(response["Referrer-Policy"] == "same-origin" for response in answers)
    for suffix in ("/evento.ics", "/imagen", "/baja"):
        assert client.get(f"/i/{expired}{suffix}").content == answers[0].content
    # An answer sent to such a link gets the same page and is recorded nowhere.
    posted = [client.post(f"/i/{token}", {"answer": "attending"}) for token in (unknown, expired)]
    assert [(response.status_code, response.content) for response in posted] == [(404, answers[0].content)] * 2
    assert not AnswerRecord.objects.exists()
    assert not Invitation.objects.exclude(answer=Invitation.Answer.PENDING).exists()


def test_wrong_links_are_throttled_per_ip_address(client, guest):
    for n in range(20):
        assert client.get(f"/i/{'B' * 31}{n % 10}", REMOTE_ADDR="203.0.113.7").status_code == 404
    blocked = client.get(f"/i/{'C' * 32}", REMOTE_ADDR="203.0.113.7")
    assert blocked.status_code == 429 and blocked["Retry-After"] == "600"
    assert "Demasiados intentos" in text_of(blocked)
    assert client.post(f"/i/{'D' * 32}", REMOTE_ADDR="203.0.113.7").status_code == 429
    assert client.get(f"/i/{'C' * 32}", REMOTE_ADDR="198.51.100.2").status_code == 404  # another address
    # A real guest sharing the blocked address (the venue's Wi-Fi) still gets their invitation.
    assert client.get(page_url(guest), REMOTE_ADDR="203.0.113.7").status_code == 200


# --------------------------------------------------------------------------- what hangs from the page


def test_the_calendar_file_is_rfc_5545(client, people, make_campaign):
    starts = timezone.make_aware(timezone.datetime(2030, 3, 14, 19, 30), timezone.get_fixed_timezone(-300))
    campaign = sent_campaign(people, make_campaign, starts_at=starts, rsvp_deadline=None,
                             title="Gala; cena, y baile \\ 2030 con un nombre muy largo que obliga a doblar la línea",
                             venue="Teatro 8 de Octubre", address="Av. Tulum 5, Cancún")
    guest = invitation_of(campaign, "Correo 0")
    response = client.get(reverse("rsvp:invitation_calendar", args=[guest.token]))
    assert response.status_code == 200 and response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, no-store"
    raw = response.content
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    physical = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in physical)
    lines = raw.decode().replace("\r\n ", "").split("\r\n")[:-1]  # unfolded
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    fields = dict(line.split(":", 1) for line in lines)
    assert fields["DTSTART"] == "20300315T003000Z" and fields["DTEND"] == "20300315T023000Z"
    assert fields["SUMMARY"] == r"Gala\; cena\, y baile \\ 2030 con un nombre muy largo que obliga a doblar la línea"
    assert fields["LOCATION"] == r"Teatro 8 de Octubre\, Av. Tulum 5\, Cancún"
    assert fields["UID"].startswith(campaign.folio + "@") and guest.token not in fields["UID"]
    assert fields["URL"].endswith(f"/i/{guest.token}") and fields["STATUS"] == "CONFIRMED"


def test_the_invitation_image_is_served_through_the_token(client, people, guest):
    generic = client.get(reverse("rsvp:invitation_image", args=[guest.token]))
    assert generic.status_code == 200 and generic["Content-Type"] == "image/jpeg"
    assert generic["Referrer-Policy"] == "same-origin"
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    Attachment.objects.create(campaign=guest.campaign, kind="image", file=ContentFile(png, name="x.png"),
                              original_name="invitacion.png", content_type="image/png", size=len(png),
                              uploaded_by=people.assistant)
    own = client.get(reverse("rsvp:invitation_image", args=[guest.token]))
    assert own["Content-Type"] == "image/png" and b"".join(own.streaming_content) == png


def test_the_privacy_notice_names_the_purpose_and_the_arco_contact(client, db, settings):
    settings.DEFAULT_FROM_EMAIL = "Relaciones Públicas <rp@cancun.example>"
    text = text_of(client.get(reverse("rsvp:privacy")))
    assert "Aviso de privacidad simplificado" in text and "Finalidad" in text and "ARCO" in text
    assert "rp@cancun.example" in text


def test_opting_out_takes_a_confirmation_and_the_next_send_skips_the_guest(client, people, make_campaign, guest):
    url = reverse("rsvp:invitation_opt_out", args=[guest.token])
    confirm = client.get(url)
    assert "Sí, no deseo recibir más invitaciones" in text_of(confirm)
    guest.contact.refresh_from_db()
    assert not guest.contact.email_opt_out  # nothing happens before the confirmation
    done = client.post(url)
    assert "no le enviaremos más invitaciones" in text_of(done)
    contact = Contact.objects.get(pk=guest.contact_id)
    assert contact.email_opt_out and contact.whatsapp_opt_out and contact.opted_out_at
    assert contact.events.filter(kind="opt_out").exists()
    assert "Usted pidió no recibir más invitaciones." in text_of(client.get(page_url(guest)))

    following = make_campaign(state=State.READY, title="Siguiente evento")
    demo_ready_campaign(campaign=following, author=people.social_media, whatsapp=0, email_only=0, both=0,
                        opted_out_whatsapp=0)
    other = Invitation.objects.filter(campaign=guest.campaign).exclude(contact=contact).first().contact
    guest_list_for(following).additions.add(contact, other)
    send_start(campaign=following, actor=people.social_media)
    assert Message.objects.filter(campaign=following, invitation__contact=other).exists()
    assert not Invitation.objects.filter(campaign=following, contact=contact).exists()
    assert not Message.objects.filter(campaign=following, address=EMAIL_GUEST).exists()
