"""The duplicate review queue: pairs side by side, merge either way or dismiss, history on both sides, and
double or simultaneous clicks that change nothing twice."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from pregonero.directory import services
from pregonero.directory.models import Contact, ContactEvent, DuplicateCandidate


def add(actor, name, **values) -> Contact:
    return services.contact_create(actor=actor, values={"name": name, **values})


@pytest.fixture
def pair(people):
    newer = add(people.database, "José Luis Pérez", position="Director", organization="CANACO Cancún",
                mobile="+529981234567")
    older = add(people.database, "Lic. José Luis Pérez", organization="CANACO Cancún", email="jose@canaco.example")
    return DuplicateCandidate.objects.create(contact=newer, other=older, reason="Mismo nombre y organización (a.xlsx)")


def resolve(client, candidate, action):
    return client.post(reverse("directory:duplicate_resolve", args=[candidate.pk]), {"action": action}, follow=True)


@pytest.mark.django_db
def test_the_queue_shows_each_pair_side_by_side(client, people, pair):
    client.force_login(people.database)
    html = client.get(reverse("directory:duplicates")).content.decode()
    for text in ("Mismo nombre y organización (a.xlsx)", "Director", "+529981234567", "jose@canaco.example",
                 "Fusionar (conservar A)", "Fusionar (conservar B)", "No son la misma persona"):
        assert text in html, text


@pytest.mark.django_db
def test_the_director_may_look_but_not_decide(client, people, pair):
    client.force_login(people.director)
    html = client.get(reverse("directory:duplicates")).content.decode()
    assert "+529981234567" in html and "Fusionar (conservar A)" not in html
    assert resolve(client, pair, "keep_contact").status_code == 403
    client.force_login(people.social_media)
    assert client.get(reverse("directory:duplicates")).status_code == 403
    assert resolve(client, pair, "keep_contact").status_code == 403
    pair.refresh_from_db()
    assert pair.status == DuplicateCandidate.Status.PENDING and not Contact.objects.exclude(merged_into=None).exists()


@pytest.mark.django_db
def test_merge_keeping_a_leaves_history_on_both_contacts(client, people, pair):
    client.force_login(people.database)
    response = resolve(client, pair, "keep_contact")
    assert "Se fusionó «Lic. José Luis Pérez» en «José Luis Pérez»." in response.content.decode()
    assert "No hay posibles duplicados por revisar." in response.content.decode()
    kept, absorbed = Contact.objects.get(pk=pair.contact_id), Contact.objects.get(pk=pair.other_id)
    assert absorbed.merged_into == kept
    assert kept.email == "jose@canaco.example"  # a blank filled from the absorbed contact
    pair.refresh_from_db()
    assert (pair.status, pair.resolved_by) == (DuplicateCandidate.Status.MERGED, people.database)

    absorbed_page = client.get(reverse("directory:contact", args=[absorbed.pk])).content.decode()
    kept_url = reverse("directory:contact", args=[kept.pk])
    assert "fusionado en" in absorbed_page.lower() and f'href="{kept_url}"' in absorbed_page
    assert "Revisión de duplicados" in absorbed_page and "Editar" not in absorbed_page
    kept_page = client.get(kept_url).content.decode()
    assert "Absorbió a" in kept_page and f'href="{reverse("directory:contact", args=[absorbed.pk])}"' in kept_page
    listed = client.get(reverse("directory:contacts")).context["page"].object_list
    assert [c.pk for c in listed] == [kept.pk]


@pytest.mark.django_db
def test_merge_keeping_b(client, people, pair):
    client.force_login(people.database)
    resolve(client, pair, "keep_other")
    kept = Contact.objects.get(pk=pair.other_id)
    assert Contact.objects.get(pk=pair.contact_id).merged_into == kept
    assert (kept.position, kept.mobile) == ("Director", "+529981234567")


@pytest.mark.django_db
def test_not_the_same_person(client, people, pair):
    client.force_login(people.database)
    response = resolve(client, pair, "dismiss")
    assert "Marcados como personas distintas." in response.content.decode()
    pair.refresh_from_db()
    assert pair.status == DuplicateCandidate.Status.DISMISSED
    assert Contact.objects.live().count() == 2


@pytest.mark.django_db
def test_a_double_submit_or_a_resolved_pair_gets_a_message_not_an_error(client, people, pair):
    client.force_login(people.database)
    resolve(client, pair, "keep_contact")
    again = resolve(client, pair, "keep_other")
    assert again.status_code == 200
    assert "Este par ya se había resuelto («Fusionados», basedatos)" in again.content.decode()
    assert ContactEvent.objects.filter(kind=ContactEvent.Kind.MERGED).count() == 2
    assert Contact.objects.get(pk=pair.other_id).merged_into_id == pair.contact_id
    gone = client.post(reverse("directory:duplicate_resolve", args=[999999]), {"action": "dismiss"}, follow=True)
    assert "Ese par ya no existe." in gone.content.decode()
    odd = resolve(client, pair, "borrar-todo")
    assert "Acción desconocida." in odd.content.decode()


@pytest.mark.django_db
def test_a_pair_whose_contact_was_merged_elsewhere_is_not_offered(client, people, pair):
    third = add(people.database, "José L. Pérez")
    services.contact_merge(keep=third, absorb=Contact.objects.get(pk=pair.contact_id), actor=people.database)
    DuplicateCandidate.objects.filter(pk=pair.pk).update(status=DuplicateCandidate.Status.PENDING)
    client.force_login(people.database)
    assert "No hay posibles duplicados por revisar." in client.get(reverse("directory:duplicates")).content.decode()
    response = resolve(client, pair, "keep_other")
    assert "ya se fusionó o se eliminó" in response.content.decode()
    assert Contact.objects.get(pk=pair.other_id).merged_into is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actions", [("keep_contact", "keep_contact"), ("keep_contact", "keep_other")])
def test_two_clicks_at_the_same_moment_merge_once(people, pair, actions):
    barrier = threading.Barrier(2)

    def click(action):
        try:
            client = Client()
            client.force_login(people.database)
            barrier.wait(timeout=10)
            return client.post(reverse("directory:duplicate_resolve", args=[pair.pk]), {"action": action}).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(click, actions))
    assert codes == [302, 302]
    assert ContactEvent.objects.filter(kind=ContactEvent.Kind.MERGED).count() == 2  # one merge: kept + absorbed
    assert Contact.objects.live().count() == 1
    absorbed = Contact.objects.exclude(merged_into=None).get()
    assert absorbed.merged_into.merged_into is None  # never merged both ways
