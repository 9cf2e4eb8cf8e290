"""Check-in at the door: scans by code, second scans, replays of the same scan (also at once), companions, walk-ins,
and the door's JSON endpoints (CSRF, who may use them, codes of other events and forged codes)."""

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns.models import AuditEntry, State
from pregonero.directory.models import Contact, Sector
from pregonero.directory.services import contact_create
from pregonero.rsvp.checkin import CheckInRefused, check_in, walk_in
from pregonero.rsvp.models import AnswerRecord, CheckIn, Invitation
from pregonero.rsvp.qr import checkin_code

ATTENDING, DECLINED, PENDING = Invitation.Answer.ATTENDING, Invitation.Answer.DECLINED, Invitation.Answer.PENDING


@pytest.fixture
def event(make_campaign):
    return make_campaign(state=State.SENT, max_companions=2)


def guest(campaign, name="Ana Lucía Pérez Ruiz", *, answer=ATTENDING, companions=1, honorific="Lic.",
          organization="Cámara de Comercio"):
    sector, _ = Sector.objects.get_or_create(name="Empresarios")
    contact = contact_create(actor=None, values={"honorific": honorific, "name": name, "organization": organization},
                             sectors=[sector])
    return Invitation.objects.create(campaign=campaign, contact=contact, answer=answer, companions=companions)


def nonce() -> str:
    return str(uuid.uuid4())


def local_clock(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


# --------------------------------------------------------------------------- the service


def test_the_first_scan_lets_the_guest_in_with_the_companions_they_confirmed(event, people):
    ana = guest(event)
    result = check_in(invitation=ana, nonce=nonce(), companions=None, actor=people.social_media)
    assert (result.level, result.status, result.first) == ("ok", "welcome", True)
    assert result.headline == "Bienvenido/a, Lic. Ana Lucía Pérez Ruiz"
    assert result.details == ["+ 1 acompañante"]
    ana.refresh_from_db()
    assert ana.checked_in_at is not None and ana.checked_in_companions == 1
    assert CheckIn.objects.get().recorded_by == people.social_media


def test_a_second_scan_says_when_the_guest_came_in_and_changes_nothing(event, people):
    ana = guest(event)
    first = check_in(invitation=ana, nonce=nonce(), companions=2, actor=people.social_media)
    again = check_in(invitation=ana, nonce=nonce(), companions=0, actor=people.database)
    ana.refresh_from_db()
    assert again.first is False and again.level == "warning" and again.status == "already_in"
    assert again.headline == f"Ya había ingresado a las {local_clock(first.check_in.at)}"
    assert again.details == ["Lic. Ana Lucía Pérez Ruiz", "Entró con 2 acompañantes."]
    assert ana.checked_in_at == first.check_in.at and ana.checked_in_companions == 2
    assert list(CheckIn.objects.values_list("first", flat=True)) == [True, False]


def test_the_same_scan_sent_twice_is_stored_once_and_answers_the_same(event, people):
    ana = guest(event)
    scan = nonce()
    first = check_in(invitation=ana, nonce=scan, companions=1, actor=people.social_media)
    replay = check_in(invitation=ana, nonce=scan, companions=1, actor=people.social_media)
    assert CheckIn.objects.count() == 1
    assert replay.replayed and replay.check_in.pk == first.check_in.pk
    assert (replay.headline, replay.details, replay.level) == (first.headline, first.details, first.level)


def test_a_scan_nonce_cannot_be_reused_for_another_guest(event, people):
    scan = nonce()
    check_in(invitation=guest(event), nonce=scan, actor=people.social_media)
    with pytest.raises(CheckInRefused, match="otro invitado"):
        check_in(invitation=guest(event, "Bruno Díaz"), nonce=scan, actor=people.social_media)
    assert CheckIn.objects.count() == 1


def test_more_companions_than_the_event_allows_are_capped_with_a_clear_message(event, people, make_campaign):
    result = check_in(invitation=guest(event), nonce=nonce(), companions=5, actor=people.social_media)
    assert result.level == "warning" and result.check_in.companions == 2
    assert result.details == ["+ 2 acompañantes",
                              "Solo se admiten 2 acompañantes por invitado (llegaron 5); se registraron 2."]
    personal = make_campaign(state=State.SENT, max_companions=0, title="Informe de gobierno")
    result = check_in(invitation=guest(personal), nonce=nonce(), companions=1, actor=people.social_media)
    assert result.check_in.companions == 0
    assert result.details == ["La invitación es personal: no se admiten acompañantes (llegó 1)."]


def test_a_guest_who_declined_or_never_answered_is_let_in_with_a_warning(event, people):
    declined = check_in(invitation=guest(event, answer=DECLINED, companions=0), nonce=nonce(), actor=people.director)
    pending = check_in(invitation=guest(event, "Bruno Díaz", answer=PENDING, companions=0), nonce=nonce(),
                       actor=people.director)
    assert (declined.level, declined.status) == ("warning", "declined")
    assert "Había respondido que no asistiría. Su ingreso quedó registrado." in declined.details
    assert (pending.level, pending.status) == ("warning", "not_confirmed")
    assert "No confirmó su asistencia. Su ingreso quedó registrado." in pending.details
    assert Invitation.objects.filter(checked_in_at__isnull=False).count() == 2


def test_a_cancelled_event_takes_no_check_ins(make_campaign, people):
    cancelled = make_campaign(state=State.CANCELLED, max_companions=2)
    with pytest.raises(CheckInRefused, match="fue cancelado"):
        check_in(invitation=guest(cancelled), nonce=nonce(), actor=people.social_media)
    with pytest.raises(CheckInRefused, match="fue cancelado"):
        walk_in(campaign=cancelled, name="Carla Gómez", actor=people.social_media, nonce=nonce())
    assert not CheckIn.objects.exists() and not Invitation.objects.filter(walk_in=True).exists()


def test_a_scan_made_offline_keeps_its_time_and_a_future_time_is_taken_as_now(event, people):
    earlier = timezone.now() - timedelta(minutes=20)
    ana = guest(event)
    check_in(invitation=ana, nonce=nonce(), at=earlier, actor=people.social_media)
    ana.refresh_from_db()
    assert ana.checked_in_at == earlier
    future = check_in(invitation=guest(event, "Bruno Díaz"), nonce=nonce(), at=timezone.now() + timedelta(hours=3),
                      actor=people.social_media)
    assert future.check_in.at <= timezone.now()


def test_a_walk_in_becomes_a_contact_an_attending_invitation_and_a_check_in(event, people):
    scan = nonce()
    result = walk_in(campaign=event, name="ING. ROBERTO  SALAS", organization="Colegio de Ingenieros", companions=1,
                     actor=people.database, nonce=scan)
    invitation = result.invitation
    assert result.level == "ok" and result.headline == "Bienvenido/a, Ing. Roberto Salas"
    assert (invitation.contact.honorific, invitation.contact.name) == ("Ing.", "Roberto Salas")
    assert invitation.contact.organization == "Colegio de Ingenieros" and invitation.contact.created_by == people.database
    assert invitation.walk_in and invitation.answer == ATTENDING and invitation.answered_via == "in_person"
    assert invitation.checked_in_at is not None and invitation.checked_in_companions == 1
    record = AnswerRecord.objects.get(invitation=invitation)
    assert (record.via, record.recorded_by, record.companions) == ("in_person", people.database, 1)
    entry = AuditEntry.objects.get(action="door.walk_in")
    # The append-only log names the contact by number: an ARCO erasure could not remove a name from it.
    assert entry.actor == people.database and f"contacto n.º {invitation.contact_id}" in entry.comment
    assert "Roberto" not in entry.comment
    again = walk_in(campaign=event, name="Roberto Salas", organization="", companions=1, actor=people.database,
                    nonce=scan)
    assert again.replayed and again.invitation.pk == invitation.pk
    assert Contact.objects.filter(name="Roberto Salas").count() == 1 and CheckIn.objects.count() == 1


def test_a_walk_in_needs_a_name(event, people):
    with pytest.raises(CheckInRefused, match="Escriba el nombre"):
        walk_in(campaign=event, name="   ", actor=people.database, nonce=nonce())
    assert not Invitation.objects.exists()


# --------------------------------------------------------------------------- at the same moment


def in_thread(barrier, work):
    def run(*args):
        try:
            barrier.wait(timeout=10)
            return work(*args)
        finally:
            connection.close()

    return run


@pytest.mark.django_db(transaction=True)
def test_the_same_scan_arriving_many_times_at_once_is_stored_once(event, people):
    ana, scan, workers = guest(event), nonce(), 6
    barrier = threading.Barrier(workers)

    def send(_):
        return check_in(invitation=ana, nonce=scan, companions=1, actor=people.social_media).check_in.pk

    with ThreadPoolExecutor(workers) as pool:
        stored = list(pool.map(in_thread(barrier, send), range(workers)))
    assert CheckIn.objects.count() == 1 and set(stored) == {CheckIn.objects.get().pk}
    ana.refresh_from_db()
    assert ana.checked_in_companions == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_walk_in_sent_twice_at_once_adds_one_person(event, people):
    scan, barrier = nonce(), threading.Barrier(2)

    def send(_):
        return walk_in(campaign=event, name="Carla Gómez", companions=0, actor=people.database, nonce=scan).invitation.pk

    with ThreadPoolExecutor(2) as pool:
        invitations = list(pool.map(in_thread(barrier, send), range(2)))
    assert len(set(invitations)) == 1
    assert Invitation.objects.filter(walk_in=True).count() == 1 and CheckIn.objects.count() == 1
    assert Contact.objects.filter(name="Carla Gómez").count() == 1


# --------------------------------------------------------------------------- the door page and its JSON


def logged_in(user, *, csrf=False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def post_json(client, url, payload, **headers):
    return client.post(url, json.dumps(payload), content_type="application/json", **headers)


def csrf_token_of(client, folio) -> str:
    page = client.get(reverse("door:page", args=[folio]))
    assert page.status_code == 200
    return str(page.context["csrf_token"])


def test_the_door_page_shows_the_counts_to_office_staff(event, people):
    guest(event, companions=2)
    guest(event, "Bruno Díaz", answer=DECLINED, companions=0)
    check_in(invitation=guest(event, "Carla Gómez", companions=0), nonce=nonce(), actor=people.director)
    for user in (people.social_media, people.database, people.director):
        page = logged_in(user).get(reverse("door:page", args=[event.folio]))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'id="door-count-guests">1 / 2<' in html and 'id="door-count-people">1 / 4<' in html
        assert "vendor/jsQR.js" in html and "Escanear con la cámara" in html


def test_requesters_and_the_assistant_cannot_use_the_door(event, people):
    ana = guest(event)
    for user in (people.requester, people.assistant):
        client = logged_in(user)
        assert client.get(reverse("door:page", args=[event.folio])).status_code == 403
        answer = post_json(client, reverse("door:scan", args=[event.folio]), {"code": checkin_code(ana), "nonce": nonce()})
        assert answer.status_code == 403 and answer.json()["level"] == "error"
        assert client.get(reverse("door:search", args=[event.folio]), {"q": "Ana"}).status_code == 403
    anonymous = post_json(Client(), reverse("door:scan", args=[event.folio]), {"code": checkin_code(ana), "nonce": nonce()})
    assert anonymous.status_code == 401 and anonymous.json()["login"] is True
    assert not CheckIn.objects.exists()


def test_the_scan_endpoint_enforces_csrf_and_checks_in_with_the_page_token(event, people):
    ana = guest(event)
    client = logged_in(people.social_media, csrf=True)
    url = reverse("door:scan", args=[event.folio])
    payload = {"code": checkin_code(ana), "nonce": nonce(), "at": timezone.now().isoformat(), "companions": None}
    assert post_json(client, url, payload).status_code == 403
    assert not CheckIn.objects.exists()
    answer = post_json(client, url, payload, HTTP_X_CSRFTOKEN=csrf_token_of(client, event.folio))
    body = answer.json()
    assert answer.status_code == 200 and body["level"] == "ok"
    assert body["headline"] == "Bienvenido/a, Lic. Ana Lucía Pérez Ruiz" and body["details"] == ["+ 1 acompañante"]
    assert body["counts"] == {"checked_in": 1, "expected": 1, "people_in": 2, "people_expected": 2}
    again = post_json(client, url, payload, HTTP_X_CSRFTOKEN=csrf_token_of(client, event.folio)).json()
    assert again["replayed"] is True and CheckIn.objects.count() == 1


def test_a_code_of_another_event_or_a_forged_code_is_refused(event, people, make_campaign):
    other = make_campaign(state=State.SENT, title="Feria del Libro")
    stranger = guest(other, "Diego Luna")
    client = logged_in(people.social_media)
    url = reverse("door:scan", args=[event.folio])
    answer = post_json(client, url, {"code": checkin_code(stranger), "nonce": nonce()})
    assert answer.status_code == 422
    assert answer.json() == {"level": "error", "headline": "No está en la lista de este evento",
                             "details": ["La invitación de Lic. Diego Luna es para «Feria del Libro»."]}
    ana = guest(event)
    forged = checkin_code(ana)[:-4] + "0000"
    for code in (forged, f"PRG1-{ana.pk}", "https://example.com/", ""):
        answer = post_json(client, url, {"code": code, "nonce": nonce()})
        assert answer.status_code == 422 and answer.json()["headline"] == "Código no reconocido"
    assert not CheckIn.objects.exists()


def test_bad_input_gets_a_clear_refusal_and_stores_nothing(event, people):
    ana = guest(event)
    client = logged_in(people.social_media)
    url = reverse("door:scan", args=[event.folio])
    broken = client.post(url, "{not json", content_type="application/json")
    assert broken.status_code == 400 and "incompleto" in broken.json()["headline"]
    no_nonce = post_json(client, url, {"code": checkin_code(ana)})
    assert no_nonce.status_code == 422 and "clave válida" in no_nonce.json()["headline"]
    bad_companions = post_json(client, url, {"code": checkin_code(ana), "nonce": nonce(), "companions": "muchos"})
    assert bad_companions.status_code == 422 and "acompañantes" in bad_companions.json()["headline"]
    assert not CheckIn.objects.exists()


def test_the_walk_in_endpoint_adds_and_checks_in(event, people):
    client = logged_in(people.database)
    answer = post_json(client, reverse("door:walk_in", args=[event.folio]),
                       {"name": "Elena Ríos", "organization": "Radio Municipal", "companions": 0, "nonce": nonce()})
    assert answer.status_code == 200 and answer.json()["headline"] == "Bienvenido/a, Elena Ríos"
    assert Invitation.objects.get(walk_in=True).contact.organization == "Radio Municipal"
    empty = post_json(client, reverse("door:walk_in", args=[event.folio]), {"name": "", "nonce": nonce()})
    assert empty.status_code == 422 and empty.json()["headline"] == "Escriba el nombre de la persona que llegó."


def test_search_by_name_needs_two_letters_and_shows_sector_organization_and_answer(event, people, make_campaign):
    ana = guest(event, companions=1)
    guest(event, "Bruno Díaz", answer=DECLINED, companions=0, organization="ONG Mar Limpio")
    guest(make_campaign(state=State.SENT, title="Otro evento"), "Ana Elena Solís")  # not on this event's list
    client = logged_in(people.social_media)
    url = reverse("door:search", args=[event.folio])
    short = client.get(url, {"q": "a"}).json()
    assert short["results"] == [] and short["message"] == "Escriba al menos 2 letras del nombre."
    rows = client.get(url, {"q": "ana lucia"}).json()["results"]  # no accent typed
    assert rows == [{"code": checkin_code(ana), "name": "Lic. Ana Lucía Pérez Ruiz", "organization": "Cámara de Comercio",
                     "sectors": "Empresarios", "answer": "Asistirá + 1 acompañante", "answer_code": "attending",
                     "checked_in": ""}]
    check_in(invitation=ana, nonce=nonce(), actor=people.social_media)
    ana.refresh_from_db()
    assert client.get(url, {"q": "Pérez"}).json()["results"][0]["checked_in"] == (
        f"Ingresó a las {local_clock(ana.checked_in_at)}")
    assert client.get(url, {"q": "mar limpio"}).json()["results"][0]["answer"] == "No asistirá"
    nobody = client.get(url, {"q": "Zacarías"}).json()
    assert nobody == {"results": [], "message": "Nadie con ese nombre en la lista de este evento."}


def test_the_campaign_page_links_the_door_for_office_staff_only(event, people):
    door = reverse("door:page", args=[event.folio])
    for user in (people.social_media, people.database, people.director):
        assert door in logged_in(user).get(reverse("campaigns:detail", args=[event.folio])).content.decode()
    assert door not in logged_in(people.requester).get(reverse("campaigns:detail", args=[event.folio])).content.decode()
