"""ARCO requests: the legal deadline, the list, and access, rectification, cancellation and opposition."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from pregonero.campaigns.models import AuditEntry
from pregonero.directory import services
from pregonero.directory.arco import arco_create, legal_due_date, official_holidays
from pregonero.directory.models import ArcoRequest, Contact, ContactEvent, ImportBatch, ImportIssue, Sector, Tag
from pregonero.rsvp.models import Invitation

pytestmark = pytest.mark.django_db
D = datetime.date
NAME, MOBILE, EMAIL = "Rosalba Tzec Chan", "+529981234567", "rosalba.tzec@hotel.example"


@pytest.fixture
def person(people):
    business = Sector.objects.get(name="Empresarios")
    return services.contact_create(
        actor=people.database, provenance="Lista de la Cámara 2026",
        values={"honorific": "Lic.", "name": NAME, "position": "Gerente", "organization": "Hotel Caribe Azul",
                "mobile": MOBILE, "email": EMAIL, "notes": "Prefiere llamadas por la tarde",
                "consent_basis": Contact.ConsentBasis.CONSENT, "consent_source": "Formulario de la feria"},
        sectors=[business], tags=[Tag.objects.create(name="Feria turística")],
    )


@pytest.fixture
def invitation(person, make_campaign):
    return Invitation.objects.create(
        campaign=make_campaign(state="sending"), contact=person, answer=Invitation.Answer.ATTENDING, companions=2,
        answered_via=Invitation.Via.LINK, answered_at=timezone.now(),
    )


def request_for(people, contact, kind, received_on=None, description=""):
    return arco_create(actor=people.database, contact=contact, kind=kind,
                       received_on=received_on or timezone.localdate(), description=description)


def page(client, name, *args, **kwargs):
    return client.get(reverse(f"directory:{name}", args=args), **kwargs)


def shown(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


# --------------------------------------------------------------------------- the deadline


@pytest.mark.parametrize("received, due", [
    (D(2026, 6, 1), D(2026, 6, 29)),   # Monday: four full weeks of business days
    (D(2026, 6, 6), D(2026, 7, 3)),    # received on a Saturday: counting starts on Monday
    (D(2026, 11, 2), D(2026, 12, 1)),  # Monday 16 November 2026 (third Monday) is a rest day
    (D(2026, 12, 7), D(2027, 1, 6)),   # 25 December and 1 January (both Fridays) are rest days
])
def test_due_date_is_twenty_business_days_after_receipt(received, due):
    assert legal_due_date(received) == due


def test_the_official_rest_days_follow_article_74():
    assert {D(2026, 2, 2), D(2026, 3, 16), D(2026, 11, 16), D(2026, 9, 16)} <= official_holidays(2026)
    assert D(2030, 10, 1) in official_holidays(2030) and D(2026, 10, 1) not in official_holidays(2026)


def test_the_city_halls_own_non_working_days_also_count(settings):
    settings.ARCO_NON_WORKING_DAYS = ["2026-06-15"]
    assert legal_due_date(D(2026, 6, 1)) == D(2026, 6, 30)


# --------------------------------------------------------------------------- registering and the list


def test_registering_a_request_from_the_contact_sets_the_legal_due_date(client, people, person):
    client.force_login(people.database)
    html = page(client, "arco_new", data={"contacto": person.pk}).content.decode()
    assert NAME in html and 'name="kind"' in html
    form = {"contact": person.pk, "kind": "access", "received_on": "2026-11-02", "description": "Pide copia de sus datos"}
    response = client.post(reverse("directory:arco_new"), form, follow=True)
    arco = ArcoRequest.objects.get()
    assert (arco.contact, arco.kind, arco.due_on, arco.created_by) == (person, "access", D(2026, 12, 1), people.database)
    assert "01/12/2026" in shown(response)
    client.post(reverse("directory:arco_new"), form)  # the same form sent twice
    assert ArcoRequest.objects.count() == 1


def test_the_new_request_page_finds_the_person_and_refuses_a_future_date(client, people, person):
    client.force_login(people.database)
    html = page(client, "arco_new", data={"buscar": "rosalba tzec"}).content.decode()
    assert f"?contacto={person.pk}" in html
    assert f"?contacto={person.pk}" in page(client, "arco_new", data={"buscar": "998 123"}).content.decode()
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    response = client.post(reverse("directory:arco_new"), {"contact": person.pk, "kind": "access",
                                                           "received_on": tomorrow.isoformat()})
    assert "no puede ser futura" in response.content.decode() and not ArcoRequest.objects.exists()


def test_list_puts_open_requests_by_due_date_with_the_overdue_in_red(client, people, person):
    today = timezone.localdate()
    late = request_for(people, person, "access", received_on=today - datetime.timedelta(days=60))
    fresh = request_for(people, person, "opposition")
    middle = request_for(people, person, "rectification", received_on=today - datetime.timedelta(days=14))
    done = request_for(people, person, "cancellation", received_on=today - datetime.timedelta(days=3))
    ArcoRequest.objects.filter(pk=done.pk).update(status="done", resolved_at=timezone.now())
    client.force_login(people.director)  # the Director may look
    html = page(client, "arco_list").content.decode()
    open_part, done_part = html.split('id="arco-done"')
    positions = [open_part.index(f'data-arco="{arco.pk}"') for arco in (late, middle, fresh)]
    assert positions == sorted(positions)
    assert f'class="arco-row overdue" data-arco="{late.pk}"' in open_part
    assert f'class="arco-row" data-arco="{fresh.pk}"' in open_part and "Quedan 20 días hábiles" in open_part
    assert f'data-arco="{done.pk}"' in done_part and f'data-arco="{done.pk}"' not in open_part
    assert "Nueva solicitud ARCO" not in html


# --------------------------------------------------------------------------- access


def test_access_export_holds_the_contact_its_history_and_its_invitations(client, people, person, invitation):
    arco = request_for(people, person, "access")
    client.force_login(people.database)
    assert 'id="arco-download"' in page(client, "arco_detail", arco.pk).content.decode()
    response = page(client, "arco_export", arco.pk)
    assert response["Content-Disposition"].startswith(f'attachment; filename="arco-{arco.pk}-datos')
    data = json.loads(response.content)
    assert data["Titular"] == f"Lic. {NAME}"
    [record] = data["Contacto"]
    assert (record["Nombre"], record["Celular"], record["Correo"]) == (NAME, MOBILE, EMAIL)
    assert record["Sectores"] == "Empresarios" and record["Etiquetas"] == "Feria turística"
    assert record["Origen del consentimiento"] == "Formulario de la feria" and record["No desea correo"] == "No"
    assert record["Procedencia"] == "Lista de la Cámara 2026"
    assert [event["Movimiento"] for event in data["Historial"]] == ["Alta"]
    [sent] = data["Invitaciones"]
    assert sent["Solicitud de difusión"] == invitation.campaign.folio and sent["Respuesta"] == "Asistirá"
    assert sent["Acompañantes"] == 2 and sent["Respondió por"] == "Enlace personal"
    assert data["Mensajes"] == []
    workbook = load_workbook(io.BytesIO(page(client, "arco_export", arco.pk, data={"formato": "xlsx"}).content))
    assert NAME in [cell.value for cell in workbook["Contacto"][2]]
    assert workbook["Invitaciones"]["A2"].value == invitation.campaign.folio
    assert AuditEntry.objects.filter(action="directory.arco.export", data__arco=arco.pk).count() == 2
    response = client.post(reverse("directory:arco_resolve", args=[arco.pk]), {"resolution": "Se entregó por correo"},
                           follow=True)
    arco.refresh_from_db()
    assert (arco.status, arco.resolution, arco.resolved_by) == ("done", "Se entregó por correo", people.database)


@pytest.mark.parametrize("who", ["director", "requester", "social_media", "assistant"])
def test_only_the_database_team_downloads_a_persons_data(client, people, person, who):
    arco = request_for(people, person, "access")
    client.force_login(getattr(people, who))
    assert page(client, "arco_export", arco.pk).status_code == 403
    assert not AuditEntry.objects.filter(action="directory.arco.export").exists()


@pytest.mark.parametrize("who", ["requester", "social_media"])
def test_other_roles_get_403_everywhere(client, people, person, who):
    arco = request_for(people, person, "cancellation")
    client.force_login(getattr(people, who))
    for name, args in (("arco_list", ()), ("arco_new", ()), ("arco_detail", (arco.pk,)), ("arco_erase", (arco.pk,))):
        assert page(client, name, *args).status_code == 403
    assert client.post(reverse("directory:arco_erase", args=[arco.pk]), {"confirm": "1"}).status_code == 403
    assert client.post(reverse("directory:arco_oppose", args=[arco.pk])).status_code == 403
    assert Contact.objects.get(pk=person.pk).erased_at is None


def test_the_director_reads_a_request_but_cannot_act_on_it(client, people, person):
    arco = request_for(people, person, "opposition")
    client.force_login(people.director)
    html = page(client, "arco_detail", arco.pk).content.decode()
    assert NAME in html and 'id="arco-oppose"' not in html
    assert client.post(reverse("directory:arco_oppose", args=[arco.pk])).status_code == 403
    assert client.post(reverse("directory:arco_new"), {"contact": person.pk, "kind": "access"}).status_code == 403


# --------------------------------------------------------------------------- rectification


def test_rectification_normalises_the_values_and_records_old_and_new(client, people, person):
    arco = request_for(people, person, "rectification")
    client.force_login(people.database)
    html = page(client, "arco_detail", arco.pk).content.decode()
    assert f'value="{MOBILE}"' in html and f'value="{EMAIL}"' in html
    form = {"honorific": "Mtra.", "name": "ROSALBA TZEC CHAN", "position": "Directora general",
            "organization": "Hotel Caribe Azul", "mobile": "998 765 4321", "email": " Rosalba@Caribe.Example "}
    bad = client.post(reverse("directory:arco_rectify", args=[arco.pk]), {**form, "mobile": "123", "email": "sin-arroba"})
    assert "no es un celular válido" in bad.content.decode() and "no es un correo válido" in bad.content.decode()
    assert Contact.objects.get(pk=person.pk).mobile == MOBILE
    client.post(reverse("directory:arco_rectify", args=[arco.pk]), form)
    person.refresh_from_db()
    assert (person.honorific, person.name, person.position) == ("Mtra.", NAME, "Directora general")
    assert (person.mobile, person.email) == ("+529987654321", "rosalba@caribe.example")
    event = person.events.get(kind=ContactEvent.Kind.ARCO)
    assert event.actor == people.database
    assert event.data["changes"]["mobile"] == [MOBILE, "+529987654321"]
    assert event.data["changes"]["email"] == [EMAIL, "rosalba@caribe.example"]
    arco.refresh_from_db()
    assert arco.status == "done" and arco.resolution == "Se rectificaron: tratamiento, cargo, celular, correo."
    again = client.post(reverse("directory:arco_rectify", args=[arco.pk]), {**form, "name": "Otra"}, follow=True)
    assert "ya fue atendida" in shown(again) and Contact.objects.get(pk=person.pk).name == NAME


# --------------------------------------------------------------------------- cancellation


def everything_in_the_database() -> str:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return json.dumps(json.loads(out.getvalue()), ensure_ascii=False)


def test_cancellation_leaves_no_trace_of_the_person_but_keeps_the_counts(client, people, person, invitation):
    services.contact_update(contact=person, actor=people.database, values={"position": "Gerente general"})
    older = services.contact_create(actor=people.database, values={"name": NAME, "email": "rtzec@viejo.example"})
    services.contact_merge(keep=person, absorb=older, actor=people.database)
    batch = ImportBatch.objects.create(original_name="feria.xlsx", uploaded_by=people.database)
    ImportIssue.objects.create(batch=batch, row_number=7, level="doubtful", reason="Celular con extensión",
                               values=["LIC. ROSALBA TZEC CHAN", "998 123 4567 ext 2", EMAIL.upper()])
    ImportIssue.objects.create(batch=batch, row_number=8, level="rejected", reason="Sin nombre", values=["", "x"])
    arco = request_for(people, person, "cancellation", description=f"{NAME} ({EMAIL}) pide borrar sus datos")
    assert NAME in everything_in_the_database() and "9981234567" in everything_in_the_database()
    client.force_login(people.database)
    assert NAME in page(client, "arco_erase", arco.pk).content.decode()
    client.post(reverse("directory:arco_erase", args=[arco.pk]))  # not confirmed: nothing happens
    assert Contact.objects.get(pk=person.pk).erased_at is None

    response = client.post(reverse("directory:arco_erase", args=[arco.pk]), {"confirm": "1"}, follow=True)
    assert "Se eliminaron los datos personales" in shown(response)
    dump = everything_in_the_database()
    for trace in (NAME, "Rosalba", MOBILE, "9981234567", "998 123 4567", EMAIL, "rtzec@viejo.example", "Caribe Azul",
                  "Prefiere llamadas", "Formulario de la feria"):
        assert trace.lower() not in dump.lower(), trace
    assert "Contacto eliminado" in dump and "Hotel" not in dump
    person.refresh_from_db()
    assert person.name == "Contacto eliminado" and person.erased_at and person.whatsapp_opt_out and person.email_opt_out
    assert [s.name for s in person.sectors.all()] == ["Empresarios"] and not person.tags.exists()
    assert Contact.objects.get(pk=older.pk).erased_at is not None
    kept = Invitation.objects.get(pk=invitation.pk)
    assert (kept.contact_id, kept.answer, kept.companions) == (person.pk, "attending", 2)
    assert [e.kind for e in person.events.all()][-1] == ContactEvent.Kind.ERASED
    assert person.events.get(kind=ContactEvent.Kind.UPDATED).data == {"changes": ["position"]}
    assert ImportIssue.objects.get(row_number=7).values == [] and ImportIssue.objects.get(row_number=8).values == ["", "x"]
    [entry] = AuditEntry.objects.filter(action="directory.arco.erase")
    assert entry.data == {"arco": arco.pk} and entry.campaign is None and entry.actor == people.database
    arco.refresh_from_db()
    assert arco.status == "done" and "[eliminado]" in arco.description

    again = client.post(reverse("directory:arco_erase", args=[arco.pk]), {"confirm": "1"}, follow=True)
    assert "ya fueron eliminados" in shown(again)
    assert AuditEntry.objects.filter(action="directory.arco.erase").count() == 1


# --------------------------------------------------------------------------- opposition


def test_opposition_opts_out_of_both_channels_once(client, people, person):
    arco = request_for(people, person, "opposition")
    client.force_login(people.database)
    response = client.post(reverse("directory:arco_oppose", args=[arco.pk]), follow=True)
    assert "dado de baja" in shown(response)
    person.refresh_from_db()
    assert person.whatsapp_opt_out and person.email_opt_out
    assert not Contact.objects.whatsapp_reachable().filter(pk=person.pk).exists()
    assert not Contact.objects.email_reachable().filter(pk=person.pk).exists()
    [event] = person.events.filter(kind=ContactEvent.Kind.OPT_OUT)
    assert f"n.º {arco.pk}" in event.data["source"]
    again = client.post(reverse("directory:arco_oppose", args=[arco.pk]), follow=True)
    assert "ya fue atendida" in shown(again) and person.events.filter(kind=ContactEvent.Kind.OPT_OUT).count() == 1


def test_the_contact_page_include_lists_the_requests(client, people, person):
    from django.template.loader import render_to_string

    arco = request_for(people, person, "access")
    html = render_to_string("directory/arco/_contact_arco.html", {"contact": person, "user_roles": ["database"]})
    assert reverse("directory:arco_detail", args=[arco.pk]) in html
    assert f"{reverse('directory:arco_new')}?contacto={person.pk}" in html
