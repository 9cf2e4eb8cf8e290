"""People acting at the same moment: folios never repeat or skip, and of two Directors exactly one wins."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns import services
from pregonero.campaigns.models import AuditEntry, Campaign, State

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(barrier, work):
    """Runs work on its own database connection once every thread is ready, so they truly collide."""

    def run(*args):
        try:
            barrier.wait(timeout=10)
            return work(*args)
        finally:
            connection.close()

    return run


def test_concurrent_requests_get_consecutive_folios(people):
    workers = 8
    barrier = threading.Barrier(workers)

    def create(index):
        campaign, _ = services.campaign_create(
            actor=people.requester, fields={"department": people.culture, "title": f"Evento {index}"},
            submission_key=uuid.uuid4(),
        )
        return campaign.folio

    with ThreadPoolExecutor(workers) as pool:
        folios = list(pool.map(in_thread(barrier, create), range(workers)))
    year = timezone.localdate().year
    assert sorted(folios) == [f"RP-{year}-{n:04d}" for n in range(1, workers + 1)]


def test_the_same_form_submitted_twice_at_once_registers_once(people):
    key = uuid.uuid4()
    barrier = threading.Barrier(2)

    def create(_):
        campaign, created = services.campaign_create(
            actor=people.requester, fields={"department": people.culture, "title": "Evento"}, submission_key=key
        )
        return campaign.folio, created

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(in_thread(barrier, create), range(2)))
    assert Campaign.objects.count() == 1
    assert sorted(created for _, created in results) == [False, True]
    assert {folio for folio, _ in results} == {Campaign.objects.get().folio}


def test_two_directors_at_once_one_wins_the_other_is_told(people, make_campaign):
    campaign = make_campaign(state=State.IN_REVIEW)
    barrier = threading.Barrier(2)

    def act(args):
        actor, name = args
        try:
            services.campaign_transition(campaign=campaign, actor=actor, name=name, comment="Decisión")
            return "won"
        except services.TransitionConflict as conflict:
            return str(conflict)

    jobs = [(people.director, "authorize"), (people.director2, "reject")]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(in_thread(barrier, act), jobs))
    assert outcomes.count("won") == 1
    [lost] = [o for o in outcomes if o != "won"]
    assert "alguien más actuó antes" in lost
    campaign.refresh_from_db()
    assert campaign.state in (State.AUTHORIZED, State.REJECTED)
    assert AuditEntry.objects.filter(campaign=campaign).exclude(action="campaign.create").count() == 1


def test_a_stale_page_gets_a_clear_message_not_an_error(client, people, make_campaign):
    campaign = make_campaign(state=State.IN_REVIEW)
    services.campaign_transition(campaign=campaign, actor=people.director2, name="authorize")
    client.force_login(people.director)
    response = client.post(
        reverse("campaigns:act", args=[campaign.folio, "reject"]),
        {"comment": "No procede", "expected_state": State.IN_REVIEW}, follow=True,
    )
    assert response.status_code == 200
    assert "ya está en «Autorizada»" in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).state == State.AUTHORIZED
