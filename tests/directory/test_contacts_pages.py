"""The directory's contact pages: counts for everyone, search and filters, a contact's page, create and edit."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pregonero.directory import services
from pregonero.directory.models import Contact, ContactEvent, ImportBatch, Sector, Tag
from pregonero.rsvp.models import Invitation

pytestmark = pytest.mark.django_db


def add(actor, name, *, sectors=(), tags=(), **values) -> Contact:
    return services.contact_create(actor=actor, values={"name": name, **values}, sectors=sectors, tags=tags)


@pytest.fixture
def directory(people):
    """A small directory: reachable by both channels, one channel only, opted out, merged and erased people."""
    sector = {name: Sector.objects.get_or_create(name=name)[0]
              for name in ("Empresarios", "Academia", "Medios", "Gobierno municipal")}
    press = Tag.objects.create(name="Prensa")
    db = people.database
    contacts = {
        "jose": add(db, "José Luis Pérez", honorific="Lic.", position="Director", organization="CANACO Cancún",
                    mobile="+529981234567", email="jose@canaco.example", sectors=[sector["Empresarios"]]),
        "maria": add(db, "María Pech", position="Rectora", organization="Universidad del Caribe",
                     mobile="+529987654321", sectors=[sector["Academia"]]),
        "sergio": add(db, "Sergio Uc", position="Reportero", organization="Radio Cancún", email="sergio@radio.example",
                      sectors=[sector["Medios"]], tags=[press]),
        "ana": add(db, "Ana Canul", position="Coordinadora", organization="DIF", mobile="+529981112233",
                   email="ana@dif.example", sectors=[sector["Gobierno municipal"]]),
    }
    services.contact_opt_out(contact=contacts["ana"], actor=db, whatsapp=True, email=False, source="Llamada")
    old = add(db, "Persona Fusionada", mobile="+529980000001")
    services.contact_merge(keep=contacts["jose"], absorb=old, actor=db)
    add(db, "Persona Borrada", email="borrada@example.com").__class__.objects.filter(name="Persona Borrada").update(
        erased_at=timezone.now())
    return contacts


def names_in(response) -> set[str]:
    return {contact.name for contact in response.context["page"].object_list}


# --------------------------------------------------------------------------- who sees what


@pytest.mark.parametrize("who", ["requester", "social_media", "assistant"])
def test_everyone_else_sees_counts_only(client, people, directory, who):
    client.force_login(getattr(people, who))
    response = client.get(reverse("directory:index"))
    html = response.content.decode()
    assert response.status_code == 200
    counts = response.context["counts"]
    assert (counts["total"], counts["whatsapp"], counts["email"], counts["opted_out"]) == (4, 2, 3, 1)
    academia = next(s for s in counts["sectors"] if s.name == "Academia")
    assert academia.live_count == 1
    assert "<dd>4</dd>" in html and "Academia" in html
    for secret in ("José", "Pech", "Sergio", "Canul", "Fusionada", "Borrada", "998", "@", "4567"):
        assert secret not in html, secret
    assert client.get(reverse("directory:contacts")).status_code == 403
    assert client.get(reverse("directory:contact", args=[directory["jose"].pk])).status_code == 403


def test_viewers_get_the_list_with_masked_mobiles(client, people, directory):
    client.force_login(people.director)
    response = client.get(reverse("directory:index"))
    html = response.content.decode()
    assert names_in(response) == {"José Luis Pérez", "María Pech", "Sergio Uc", "Ana Canul"}
    assert "Lic. José Luis Pérez" in html and "CANACO Cancún" in html and "Empresarios" in html
    assert "+52 998 *** 4567" in html and "9981234567" not in html
    assert "jose@canaco.example" in html
    assert "Sin WhatsApp (baja)" in html  # Ana's badge
    assert "Nuevo contacto" not in html  # the Director consults; she does not edit


def test_sign_in_is_required(client):
    response = client.get(reverse("directory:index"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


# --------------------------------------------------------------------------- search and filters


@pytest.mark.parametrize("q, expected", [
    ("jose perez", {"José Luis Pérez"}),  # no accents needed
    ("PECH", {"María Pech"}),
    ("universidad caribe", {"María Pech"}),  # organization, words in any position
    ("reportero", {"Sergio Uc"}),  # position
    ("sergio@radio", {"Sergio Uc"}),  # e-mail
    ("4567", {"José Luis Pérez"}),  # mobile digits
    ("998 765 4321", {"María Pech"}),  # a number typed with spaces
    ("044 998 111 2233", {"Ana Canul"}),  # old Mexican mobile prefix
    ("Fusionada", set()),  # merged contacts are not in the directory any more
    ("Borrada", set()),
])
def test_search(client, people, directory, q, expected):
    client.force_login(people.database)
    assert names_in(client.get(reverse("directory:contacts"), {"q": q})) == expected


def test_each_filter(client, people, directory):
    client.force_login(people.database)
    url = reverse("directory:contacts")
    media = Sector.objects.get_or_create(name="Medios")[0]
    press = Tag.objects.get(name="Prensa")
    assert names_in(client.get(url, {"sector": media.pk})) == {"Sergio Uc"}
    assert names_in(client.get(url, {"etiqueta": press.pk})) == {"Sergio Uc"}
    assert names_in(client.get(url, {"organizacion": "cancún"})) == {"José Luis Pérez", "Sergio Uc"}
    assert names_in(client.get(url, {"whatsapp": "si"})) == {"José Luis Pérez", "María Pech"}
    assert names_in(client.get(url, {"whatsapp": "no"})) == {"Sergio Uc", "Ana Canul"}
    assert names_in(client.get(url, {"correo": "si"})) == {"José Luis Pérez", "Sergio Uc", "Ana Canul"}
    assert names_in(client.get(url, {"correo": "no"})) == {"María Pech"}
    assert names_in(client.get(url, {"baja": "si"})) == {"Ana Canul"}
    assert names_in(client.get(url, {"baja": "no"})) == {"José Luis Pérez", "María Pech", "Sergio Uc"}
    assert names_in(client.get(url, {"organizacion": "cancún", "whatsapp": "si"})) == {"José Luis Pérez"}


def test_an_unknown_filter_value_is_reported_not_a_500(client, people, directory):
    client.force_login(people.database)
    response = client.get(reverse("directory:contacts"), {"sector": "999999", "q": "pech"})
    assert response.status_code == 200
    assert names_in(response) == {"María Pech"}
    assert "Algún filtro no es válido" in response.content.decode()


def test_pages_of_fifty_keep_the_filters_and_queries_do_not_grow_with_the_page(client, people):
    academia = Sector.objects.get_or_create(name="Academia")[0]
    tag = Tag.objects.create(name="Rectores")
    for n in range(53):
        add(people.database, f"Académico {n:02d}", sectors=[academia], tags=[tag], organization="UNICARIBE")
    add(people.database, "Otra Persona")
    client.force_login(people.database)
    url = reverse("directory:contacts")
    first = client.get(url, {"sector": academia.pk})
    assert len(first.context["page"].object_list) == 50
    html = first.content.decode()
    assert "53 contactos" in html and "Página 1 de 2" in html
    assert f"sector={academia.pk}" in html and "pagina=2" in html
    second = client.get(url, {"sector": academia.pk, "pagina": 2})
    assert len(second.context["page"].object_list) == 3

    with CaptureQueriesContext(connection) as big:
        client.get(url, {"sector": academia.pk})
    with CaptureQueriesContext(connection) as small:
        client.get(url, {"sector": academia.pk, "pagina": 2})
    assert len(big) == len(small)  # no query per contact: sectors and tags are prefetched
    contact_counts = [q for q in big.captured_queries if 'COUNT(*) AS "__count" FROM "directory_contact"' in q["sql"]]
    assert len(contact_counts) == 1


# --------------------------------------------------------------------------- a contact's page


def test_contact_page_shows_everything_with_history_and_invitations(client, people, directory, make_campaign):
    jose = directory["jose"]
    batch = ImportBatch.objects.create(original_name="directorio-canaco.xlsx", file="x.xlsx", uploaded_by=people.database)
    services.contact_event(contact=jose, kind=ContactEvent.Kind.IMPORTED, batch=batch, filled=["position"])
    campaign = make_campaign(state="sending")
    Invitation.objects.create(campaign=campaign, contact=jose, answer=Invitation.Answer.ATTENDING, companions=2)
    client.force_login(people.director)
    html = client.get(reverse("directory:contact", args=[jose.pk])).content.decode()
    for text in ("+529981234567", "jose@canaco.example", "CANACO Cancún", "Director", "Empresarios",
                 "directorio-canaco.xlsx", "Completó: cargo", "Persona Fusionada", campaign.folio, "Asistirá"):
        assert text in html, text
    assert "Editar" not in html


def test_an_unknown_contact_is_a_404(client, people):
    client.force_login(people.database)
    assert client.get(reverse("directory:contact", args=[424242])).status_code == 404


# --------------------------------------------------------------------------- create and edit


def form_data(**overrides) -> dict:
    data = {"honorific": "", "name": "", "position": "", "organization": "", "tags": "", "mobile": "",
            "office_phone": "", "office_extension": "", "email": "", "consent_basis": "", "consent_source": "",
            "consent_date": "", "notes": "", "opt_out_source": "", "renewed_consent_source": "",
            "renewed_consent_date": ""}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not False}


@pytest.mark.parametrize("who", ["director", "social_media", "requester"])
def test_only_the_database_team_creates_and_edits(client, people, directory, who):
    client.force_login(getattr(people, who))
    jose = directory["jose"]
    assert client.get(reverse("directory:contact_new")).status_code == 403
    assert client.post(reverse("directory:contact_new"), form_data(name="Intruso")).status_code == 403
    assert client.post(reverse("directory:contact_edit", args=[jose.pk]), form_data(name="Cambiado")).status_code == 403
    assert not Contact.objects.filter(name__in=["Intruso", "Cambiado"]).exists()


def test_create_normalises_numbers_and_email(client, people):
    client.force_login(people.database)
    academia = Sector.objects.get_or_create(name="Academia")[0]
    response = client.post(reverse("directory:contact_new"), form_data(
        honorific="Dra.", name="  Laura   Chan ", organization="UNICARIBE", mobile="998-123-9876",
        email="  Laura.Chan@Unicaribe.MX ", office_phone="(998) 881 4400 ext. 1201", sectors=[academia.pk],
        tags="Rectores, VIP, rectores", consent_basis="public_role",
    ))
    laura = Contact.objects.get(name="Laura Chan")
    assert response.status_code == 302 and response["Location"] == reverse("directory:contact", args=[laura.pk])
    assert (laura.mobile, laura.email) == ("+529981239876", "laura.chan@unicaribe.mx")
    assert (laura.office_phone, laura.office_extension) == ("+529988814400", "1201")
    assert sorted(laura.tags.values_list("name", flat=True)) == ["Rectores", "VIP"]
    assert list(laura.sectors.all()) == [academia]
    assert laura.events.get().kind == ContactEvent.Kind.CREATED and laura.created_by == people.database


def test_bad_numbers_and_addresses_are_form_errors_in_spanish(client, people):
    client.force_login(people.database)
    response = client.post(reverse("directory:contact_new"), form_data(
        name="Sergio Uc", mobile="12345", email="no-es-correo", office_phone="abc"))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"mobile", "email", "office_phone"}
    html = response.content.decode()
    assert "Correo inválido" in html
    assert not Contact.objects.filter(name="Sergio Uc").exists()


def test_a_mobile_with_an_extension_is_refused(client, people):
    client.force_login(people.database)
    response = client.post(reverse("directory:contact_new"), form_data(name="Roberto May", mobile="998 881 2800 ext. 9"))
    assert "teléfono de oficina" in response.context["form"].errors["mobile"][0]


def test_a_double_submitted_new_contact_is_saved_once(client, people):
    client.force_login(people.database)
    data = form_data(name="Laura Chan", mobile="9981239876")
    first = client.post(reverse("directory:contact_new"), data)
    second = client.post(reverse("directory:contact_new"), data, follow=True)
    assert Contact.objects.filter(name="Laura Chan").count() == 1
    assert second.redirect_chain[0][0] == first["Location"]
    assert "ya se había guardado" in second.content.decode()


def test_edit_is_recorded_in_the_history(client, people, directory):
    jose = directory["jose"]
    client.force_login(people.database)
    client.post(reverse("directory:contact_edit", args=[jose.pk]), form_data(
        honorific="Lic.", name="José Luis Pérez", position="Presidente", organization="CANACO Cancún",
        mobile="+529981234567", email="jose@canaco.example", sectors=[s.pk for s in jose.sectors.all()]))
    jose.refresh_from_db()
    assert jose.position == "Presidente"
    event = jose.events.filter(kind=ContactEvent.Kind.UPDATED).get()
    assert event.actor == people.database and event.data["changes"] == {"position": ["Director", "Presidente"]}
    html = client.get(reverse("directory:contact", args=[jose.pk])).content.decode()
    assert "Cargo: Director → Presidente" in html


def edit_data(contact: Contact, **overrides) -> dict:
    data = form_data(name=contact.name, mobile=contact.mobile, email=contact.email,
                     whatsapp_opt_out="on" if contact.whatsapp_opt_out else False,
                     email_opt_out="on" if contact.email_opt_out else False)
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not False}


def test_staff_record_an_opt_out_asked_by_phone(client, people, directory):
    maria = directory["maria"]
    client.force_login(people.database)
    client.post(reverse("directory:contact_edit", args=[maria.pk]),
                edit_data(maria, whatsapp_opt_out="on", opt_out_source="Llamó el 3 de marzo"))
    maria.refresh_from_db()
    assert maria.whatsapp_opt_out and not maria.email_opt_out and maria.opted_out_at
    event = maria.events.get(kind=ContactEvent.Kind.OPT_OUT)
    assert event.data == {"channels": ["whatsapp_opt_out"], "source": "Llamó el 3 de marzo"}
    assert maria not in Contact.objects.whatsapp_reachable()


def test_an_opt_out_is_lifted_only_with_a_recorded_new_consent(client, people, directory):
    ana = directory["ana"]  # asked not to get WhatsApp
    client.force_login(people.database)
    url = reverse("directory:contact_edit", args=[ana.pk])

    refused = client.post(url, edit_data(ana, whatsapp_opt_out=False))
    assert refused.status_code == 200
    assert "nuevo consentimiento" in refused.content.decode()
    ana.refresh_from_db()
    assert ana.whatsapp_opt_out

    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    future = client.post(url, edit_data(ana, whatsapp_opt_out=False, renewed_consent_source="Formulario firmado",
                                        renewed_consent_date=tomorrow.isoformat()))
    assert "no puede ser futura" in future.content.decode()

    last_week = timezone.localdate() - datetime.timedelta(days=7)
    client.post(url, edit_data(ana, whatsapp_opt_out=False, renewed_consent_source="Formulario firmado en el evento",
                               renewed_consent_date=last_week.isoformat()))
    ana.refresh_from_db()
    assert not ana.whatsapp_opt_out and ana.opted_out_at is None
    assert (ana.consent_basis, ana.consent_source, ana.consent_date) == (
        "consent", "Formulario firmado en el evento", last_week)
    changes = ana.events.filter(kind=ContactEvent.Kind.UPDATED).get().data["changes"]
    assert changes["whatsapp_opt_out"][0] == "True" and changes["consent_source"][1] == "Formulario firmado en el evento"
    assert ana in Contact.objects.whatsapp_reachable()
    html = client.get(reverse("directory:contact", args=[ana.pk])).content.decode()
    assert "No desea WhatsApp: Sí → No" in html and "Origen del consentimiento: — → Formulario firmado" in html


def test_merged_contacts_are_not_edited(client, people, directory):
    absorbed = Contact.objects.get(name="Persona Fusionada")
    client.force_login(people.database)
    response = client.get(reverse("directory:contact_edit", args=[absorbed.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("directory:contact", args=[directory["jose"].pk])
    assert "se fusionó en otro" in response.content.decode()


def test_the_directory_subnav_links_its_pages(client, people, directory):
    client.force_login(people.database)
    html = client.get(reverse("directory:contacts")).content.decode()
    assert f'href="{reverse("directory:duplicates")}"' in html
    assert f'href="{reverse("directory:imports")}"' in html
