"""Guest lists: who a campaign invites, how each channel reaches them, who is left out and why, confirmation,
the requester's uploaded list, the freeze when sending starts, and who may do what."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns.models import Attachment, AttachmentKind, AuditEntry, Notification
from pregonero.directory import services
from pregonero.directory.guestlists import (
    GuestListError, GuestListFrozen, guest_list_add, guest_list_confirm, guest_list_for, guest_list_freeze,
    guest_list_remove, guest_list_set_rules, guest_lists_waiting, guest_queryset, guest_summary,
)
from pregonero.directory.models import Contact, ImportBatch, Sector, Tag
from pregonero.rsvp.models import Invitation


def sector(name):
    # get_or_create: a transactional test's database may have been flushed of the seeded sectors.
    return Sector.objects.get_or_create(name=name)[0]


def person(name, *, sectors=(), tags=(), mobile="", email="", **fields):
    contact = Contact.objects.create(name=name, mobile=mobile, email=email, **fields)
    contact.sectors.set([sector(s) for s in sectors])
    contact.tags.set([Tag.objects.get_or_create(name=t)[0] for t in tags])
    return contact


def names(guest_list):
    return set(guest_queryset(guest_list).values_list("name", flat=True))


@pytest.fixture
def campaign(make_campaign):
    return make_campaign("authorized")


def test_a_new_list_starts_from_the_sectors_the_requester_chose(make_campaign):
    campaign = make_campaign("authorized")
    campaign.target_sectors.set([sector("Empresarios"), sector("Academia")])
    guest_list = guest_list_for(campaign)
    assert {s.name for s in guest_list.include_sectors.all()} == {"Empresarios", "Academia"}
    assert guest_list_for(campaign) == guest_list  # one list per campaign


def test_sectors_and_tags_include_and_exclude(people, campaign):
    person("Empresaria", sectors=["Empresarios"], mobile="+529981000001")
    person("Empresario y académico", sectors=["Empresarios", "Academia"], mobile="+529981000002")
    person("Empresario VIP", sectors=["Empresarios"], tags=["VIP"], mobile="+529981000003")
    person("Periodista de prensa", sectors=["Medios"], tags=["Prensa"], email="prensa@medios.example")
    person("Periodista", sectors=["Medios"], email="otro@medios.example")
    guest_list = guest_list_for(campaign)
    guest_list_set_rules(guest_list=guest_list, actor=people.database,
                         include_sectors=[sector("Empresarios")], exclude_sectors=[sector("Academia")],
                         include_tags=[Tag.objects.get(name="Prensa")], exclude_tags=[Tag.objects.get(name="VIP")])
    assert names(guest_list) == {"Empresaria", "Periodista de prensa"}
    summary = guest_summary(guest_list)
    assert (summary["guests"], summary["dropped"], summary["excluded_sector"], summary["excluded_tag"]) == (2, 2, 1, 1)


def test_manual_additions_and_removals(people, campaign):
    inside = person("Dentro", sectors=["Empresarios"], mobile="+529981000001")
    outside = person("Fuera", sectors=["Medios"], mobile="+529981000002")
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([sector("Empresarios")])
    guest_list_add(guest_list=guest_list, actor=people.database, contact=outside)
    guest_list_remove(guest_list=guest_list, actor=people.database, contact=inside)
    assert names(guest_list) == {"Fuera"}
    assert guest_summary(guest_list)["removed"] == 1
    guest_list_add(guest_list=guest_list, actor=people.database, contact=inside)  # put back
    assert names(guest_list) == {"Dentro", "Fuera"}


def test_merged_and_erased_contacts_are_never_guests(people, campaign):
    keep = person("Conservado", sectors=["Medios"], mobile="+529981000001")
    absorbed = person("Absorbido", sectors=["Empresarios"], mobile="+529981000002")
    added = person("Agregado y luego fusionado", mobile="+529981000003")
    person("Eliminado", sectors=["Empresarios"], mobile="+529981000004", erased_at=timezone.now())
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([sector("Empresarios")])
    guest_list_add(guest_list=guest_list, actor=people.database, contact=added)
    services.contact_merge(keep=keep, absorb=absorbed, actor=people.database)
    other = person("Otro", mobile="+529981000005")
    services.contact_merge(keep=other, absorb=added, actor=people.database)
    # The merged contacts are gone; the person they became is invited, in a sector of the list or not.
    assert names(guest_list) == {"Conservado", "Otro"}
    with pytest.raises(GuestListError):
        guest_list_add(guest_list=guest_list, actor=people.database, contact=absorbed)


def test_channels_and_reasons_for_leaving_out(client, people, campaign):
    common = {"sectors": ["Empresarios"]}
    person("Ambos", mobile="+529981000001", email="ambos@x.example", **common)
    person("Solo WhatsApp", mobile="+529981000002", **common)
    person("Baja de WhatsApp", mobile="+529981000003", whatsapp_opt_out=True, email="correo@x.example", **common)
    person("Baja de todo", mobile="+529981000004", email="baja@x.example", whatsapp_opt_out=True,
           email_opt_out=True, **common)
    person("Sin datos", office_phone="+529988810000", office_extension="12", **common)
    person("Sin WhatsApp", mobile="+529981000005", whatsapp_unavailable_at=timezone.now(), **common)
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([sector("Empresarios")])
    summary = guest_summary(guest_list)
    assert {k: summary[k] for k in ("guests", "invited", "whatsapp", "email", "both", "email_only_total",
                                    "email_after_opt_out", "unreachable", "opted_out", "no_address", "no_whatsapp")} == {
        "guests": 6, "invited": 3, "whatsapp": 2, "email": 2, "both": 1, "email_only_total": 1,
        "email_after_opt_out": 1, "unreachable": 3, "opted_out": 1, "no_address": 1, "no_whatsapp": 1}

    client.force_login(people.database)
    page = client.get(reverse("directory:guest_list", args=[campaign.folio])).content.decode()
    left_out = page[page.index('id="left-out"'):]
    assert "Baja de todo" in left_out and "Dio de baja" in left_out
    assert "Sin datos" in left_out and "Sin celular ni correo válidos" in left_out
    assert "Sin WhatsApp" in left_out and "Su celular no tiene WhatsApp y no tiene correo" in left_out
    assert "Baja de WhatsApp" not in left_out  # still reached by e-mail
    assert 'data-count="invited"><strong>3</strong>' in page


def test_editing_from_the_page_and_confirming(client, people, campaign):
    person("Empresaria", sectors=["Empresarios"], mobile="+529981000001")
    extra = person("Académica Invitada", sectors=["Academia"], email="a@uni.example", organization="Universidad")
    client.force_login(people.database)
    url = reverse("directory:guest_list", args=[campaign.folio])
    response = client.post(reverse("directory:guest_list_rules", args=[campaign.folio]),
                           {"include_sectors": [sector("Empresarios").pk], "exclude_sectors": [sector("Empresarios").pk]},
                           follow=True)
    assert "No puede incluir y excluir a la vez" in response.content.decode()
    client.post(reverse("directory:guest_list_rules", args=[campaign.folio]), {"include_sectors": [sector("Empresarios").pk]})
    page = client.get(url, {"buscar": "académica"}).content.decode()
    assert "Académica Invitada" in page[page.index('id="add"'):]
    client.post(reverse("directory:guest_list_add", args=[campaign.folio]), {"contacto": extra.pk})

    for _twice in range(2):  # a double click confirms once
        response = client.post(reverse("directory:guest_list_confirm", args=[campaign.folio]), follow=True)
    assert "La lista ya estaba confirmada." in response.content.decode()
    guest_list = guest_list_for(campaign)
    guest_list.refresh_from_db()
    assert guest_list.confirmed_by == people.database and names(guest_list) == {"Empresaria", "Académica Invitada"}
    entries = AuditEntry.objects.filter(campaign=campaign, action="guestlist.confirm")
    assert entries.count() == 1 and entries.get().data["invited"] == 2
    assert Notification.objects.filter(audit_entry=entries.get(), recipient=people.social_media).exists()

    response = client.post(reverse("directory:guest_list_remove", args=[campaign.folio]), {"contacto": extra.pk}, follow=True)
    assert "La lista ya no está confirmada" in response.content.decode()
    guest_list.refresh_from_db()
    assert guest_list.confirmed_at is None
    assert AuditEntry.objects.filter(campaign=campaign, action="guestlist.change", data__unconfirmed=True).exists()


def test_an_empty_list_cannot_be_confirmed(people, campaign):
    with pytest.raises(GuestListError, match="no tiene a nadie"):
        guest_list_confirm(guest_list=guest_list_for(campaign), actor=people.database)


def test_freeze_creates_invitations_once_and_blocks_edits(client, people, campaign):
    guests = [person(f"Invitado {n}", sectors=["Empresarios"], mobile=f"+52998100{n:04d}") for n in range(5)]
    person("Sin datos", sectors=["Empresarios"])
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([sector("Empresarios")])
    with pytest.raises(GuestListError, match="no está confirmada"):
        guest_list_freeze(campaign=campaign)
    guest_list.refresh_from_db()
    assert guest_list.frozen_at is None  # the refusal froze nothing

    guest_list_confirm(guest_list=guest_list, actor=people.database)
    assert guest_list_freeze(campaign=campaign, actor=people.social_media) == 5
    assert guest_list_freeze(campaign=campaign, actor=people.social_media) == 0
    assert set(Invitation.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == {g.pk for g in guests}
    entry = AuditEntry.objects.get(campaign=campaign, action="guestlist.freeze")
    assert entry.data["created"] == 5 and entry.data["unreachable"] == 1

    with pytest.raises(GuestListFrozen, match="La lista se congeló al iniciar el envío"):
        guest_list_remove(guest_list=guest_list, actor=people.database, contact=guests[0])
    client.force_login(people.database)
    response = client.post(reverse("directory:guest_list_add", args=[campaign.folio]), {"contacto": guests[0].pk}, follow=True)
    page = response.content.decode()
    assert "La lista se congeló al iniciar el envío" in page
    assert "Confirmar lista" not in page and 'name="contacto"' not in page  # read-only


def test_who_may_see_and_edit(client, people, campaign):
    url = reverse("directory:guest_list", args=[campaign.folio])
    writes = [reverse(f"directory:guest_list_{name}", args=[campaign.folio]) for name in ("rules", "add", "confirm")]
    for user in (people.requester, people.social_media):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert all(client.post(write, {"contacto": "1"}).status_code == 403 for write in writes)
    client.force_login(people.director)
    page = client.get(url)
    assert page.status_code == 200 and "Confirmar lista" not in page.content.decode()
    assert client.post(writes[2]).status_code == 403
    assert guest_list_for(campaign).confirmed_at is None


def test_the_database_inbox_shows_authorized_campaigns_until_the_list_is_confirmed(people, make_campaign):
    waiting = make_campaign("authorized")
    make_campaign("in_review")
    person("Empresaria", sectors=["Empresarios"], mobile="+529981000001")
    assert list(guest_lists_waiting()) == [waiting]
    html = render_to_string("directory/guestlists/_inbox_rows.html", {"guest_lists_waiting": guest_lists_waiting()})
    assert reverse("directory:guest_list", args=[waiting.folio]) in html and waiting.title in html
    guest_list = guest_list_for(waiting)
    guest_list.include_sectors.set([sector("Empresarios")])
    guest_list_confirm(guest_list=guest_list, actor=people.database)
    assert not guest_lists_waiting().exists()


def attach_guest_list(campaign, user, content: bytes, name="invitados.csv"):
    return Attachment.objects.create(
        campaign=campaign, kind=AttachmentKind.GUEST_LIST, file=ContentFile(content, name=name), original_name=name,
        content_type="text/csv", size=len(content), uploaded_by=user,
    )


def test_the_requesters_list_is_imported_and_used(client, people, campaign, django_capture_on_commit_callbacks):
    known = person("Ya en el directorio", sectors=["Medios"], mobile="+529981234567")
    person("Otro de medios", sectors=["Medios"], mobile="+529981234568")
    csv = "Nombre,Cargo,Organización,Celular,Correo\nLuz Canul,Directora,Hotel Sol,998 765 4321,luz@sol.example\n" \
          "Ya en el directorio,Reportero,Radio,998 123 4567,\n"
    attach_guest_list(campaign, people.requester, csv.encode())
    client.force_login(people.database)
    page = client.get(reverse("directory:guest_list", args=[campaign.folio])).content.decode()
    assert "Importar la lista de la dirección" in page
    response = client.post(reverse("directory:guest_list_import", args=[campaign.folio]))
    batch = ImportBatch.objects.get()
    assert response["Location"] == reverse("directory:import_mapping", args=[batch.public_id])
    assert batch.campaign == campaign and campaign.folio in batch.original_name
    client.post(reverse("directory:guest_list_import", args=[campaign.folio]))  # a double click
    assert ImportBatch.objects.count() == 1

    mapping = {f"col_{i}": f for i, f in enumerate(["name", "position", "organization", "mobile", "email"])}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("directory:import_mapping", args=[batch.public_id]), {**mapping, "import": "1"})
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE
    new = Contact.objects.get(name="Luz Canul")
    assert campaign.folio in new.provenance and "Cultura" in new.provenance

    page = client.get(reverse("directory:guest_list", args=[campaign.folio])).content.decode()
    assert "Usar esta importación" in page
    client.post(reverse("directory:guest_list_use_import", args=[campaign.folio]), {"importacion": str(batch.public_id)})
    guest_list = guest_list_for(campaign)
    assert names(guest_list) == {"Luz Canul", known.name}  # created by the file, and matched by it
    other = ImportBatch.objects.create(file=ContentFile(b"x", name="x.csv"), original_name="x.csv",
                                       status=ImportBatch.Status.DONE)
    response = client.post(reverse("directory:guest_list_use_import", args=[campaign.folio]),
                           {"importacion": str(other.public_id)}, follow=True)
    assert "Solo se puede usar una importación terminada de esta misma solicitud." in response.content.decode()


def test_an_unreadable_requester_list_is_explained(client, people, campaign):
    attach_guest_list(campaign, people.requester, b"\x00\x01\x02\x03binary", name="invitados.csv")
    client.force_login(people.database)
    response = client.post(reverse("directory:guest_list_import", args=[campaign.folio]), follow=True)
    assert response.status_code == 200 and not ImportBatch.objects.exists()
    assert "invitados.csv" in response.content.decode()


def test_a_large_guest_list_is_counted_in_one_query(people, campaign, django_assert_max_num_queries):
    Contact.objects.bulk_create([Contact(name=f"P{n}", mobile=f"+5299810{n:05d}") for n in range(300)])
    links = [Contact.sectors.through(contact_id=pk, sector_id=sector("Academia").pk)
             for pk in Contact.objects.values_list("pk", flat=True)]
    Contact.sectors.through.objects.bulk_create(links)
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([sector("Academia")])
    guest_list = type(guest_list).objects.get(pk=guest_list.pk)
    # Reading the rules takes a few tiny queries; the counting itself is one.
    with django_assert_max_num_queries(7):
        assert guest_summary(guest_list)["invited"] == 300


@pytest.mark.django_db(transaction=True)
def test_two_freezes_at_once_invite_each_guest_once(people, make_campaign):
    campaign = make_campaign("ready")
    for n in range(5):
        person(f"Invitado {n}", sectors=["Empresarios"], mobile=f"+52998100{n:04d}")
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([sector("Empresarios")])
    guest_list_confirm(guest_list=guest_list, actor=people.database)
    barrier = threading.Barrier(2)

    def freeze(_):
        try:
            barrier.wait(timeout=10)
            return guest_list_freeze(campaign=campaign, actor=people.social_media)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(freeze, range(2)))
    assert results == [0, 5]
    assert Invitation.objects.filter(campaign=campaign).count() == 5
    assert AuditEntry.objects.filter(campaign=campaign, action="guestlist.freeze").count() == 1
