"""Downloading the directory as Excel or CSV: the filtered live contacts, Spanish headers, no formula injection."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from pregonero.campaigns.models import AuditEntry
from pregonero.directory import services
from pregonero.directory.exports import neutralise
from pregonero.directory.models import Contact, Sector

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://x")'


@pytest.fixture
def contacts(people):
    db = people.database
    business = Sector.objects.get_or_create(name="Empresarios")[0]
    media = Sector.objects.get_or_create(name="Medios")[0]

    def add(name, sectors=(), **values):
        return services.contact_create(actor=db, values={"name": name, **values}, sectors=sectors)

    jose = add("José Ángel Núñez", sectors=[business], honorific="Lic.", position="Director",
               organization="CANACO Cancún", mobile="+529981234567", email="jose@canaco.example",
               office_phone="+529988814400", office_extension="214", consent_basis="public_role")
    evil = add(HYPERLINK, sectors=[business], organization="+SUM(A1)", position="@cmd", notes="-1+1",
               mobile="+529987654321", email="evil@example.com")
    add("Sergio Uc", sectors=[media], organization="Radio Cancún", email="sergio@radio.example")
    merged = add("Persona Fusionada", sectors=[business])
    services.contact_merge(keep=jose, absorb=merged, actor=db)
    Contact.objects.filter(pk=add("Persona Borrada", sectors=[business]).pk).update(erased_at=timezone.now())
    return {"jose": jose, "evil": evil}


def download(client, **params):
    response = client.get(reverse("directory:export"), params)
    assert response.status_code == 200, response.status_code
    return response, b"".join(response.streaming_content)


def test_excel_download_of_a_filtered_list(client, people, contacts):
    client.force_login(people.director)
    business = Sector.objects.get_or_create(name="Empresarios")[0]
    response, body = download(client, formato="xlsx", sector=business.pk)
    assert response["Content-Disposition"].startswith('attachment; filename="directorio-')
    assert ".xlsx" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:8] == ("ID", "Tratamiento", "Nombre", "Cargo", "Organización", "Sectores", "Etiquetas", "Celular")
    assert "Correo" in header and "No desea WhatsApp" in header and "Origen del consentimiento" in header
    by_name = {row[2]: dict(zip(header, row)) for row in rows[1:]}
    assert set(by_name) == {"José Ángel Núñez", "'" + HYPERLINK}  # Sergio is in Medios; merged and erased are gone
    jose = by_name["José Ángel Núñez"]
    assert (jose["Organización"], jose["Sectores"], jose["Correo"]) == ("CANACO Cancún", "Empresarios", "jose@canaco.example")
    assert (jose["Celular"], jose["Teléfono de oficina"], jose["Extensión"]) == ("+529981234567", "+529988814400", "214")
    assert jose["Se le puede enviar WhatsApp"] == "Sí"


def test_excel_cells_cannot_become_formulas_and_phones_stay_readable(client, people, contacts):
    client.force_login(people.database)
    _response, body = download(client, formato="xlsx", q="cmd")
    sheet = load_workbook(io.BytesIO(body)).active
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    cells = dict(zip(header, next(sheet.iter_rows(min_row=2, max_row=2))))
    assert cells["Nombre"].value == "'" + HYPERLINK
    assert cells["Organización"].value == "'+SUM(A1)"
    assert cells["Cargo"].value == "'@cmd"
    assert all(cell.data_type != "f" for cell in cells.values())
    # The phone is a text cell of "+" and digits: readable as is, and no spreadsheet evaluates a text cell.
    assert (cells["Celular"].value, cells["Celular"].data_type) == ("+529987654321", "s")


def test_csv_download_has_a_bom_accents_and_neutralised_cells(client, people, contacts):
    client.force_login(people.database)
    response, body = download(client, formato="csv")
    assert ".csv" in response["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf")  # so Excel reads the accents as UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    header = rows[0]
    by_name = {row[header.index("Nombre")]: dict(zip(header, row)) for row in rows[1:]}
    assert set(by_name) == {"José Ángel Núñez", "'" + HYPERLINK, "Sergio Uc"}
    evil = by_name["'" + HYPERLINK]
    assert (evil["Organización"], evil["Cargo"]) == ("'+SUM(A1)", "'@cmd")
    # CSV has no text cells: Excel would turn "+529987654321" into 5.29988E+11, so the apostrophe keeps it text.
    assert evil["Celular"] == "'+529987654321"
    assert by_name["José Ángel Núñez"]["Organización"] == "CANACO Cancún"
    assert by_name["Sergio Uc"]["Celular"] == ""


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2", "'-2"), ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    (" =1+1", "' =1+1"), ("\x01=1+1", "'=1+1"), ("José", "José"), ("a=b", "a=b"), ("", ""), (None, ""), (42, "42"),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_each_export_is_in_the_audit_log_without_personal_data(client, people, contacts):
    client.force_login(people.database)
    download(client, formato="csv", q="998 123 4567", organizacion="canaco")
    entry = AuditEntry.objects.get(action="directory.export")
    assert entry.actor == people.database and entry.campaign is None
    assert entry.data["rows"] == 1 and entry.data["format"] == "csv"
    assert entry.data["filters"]["organizacion"] == "canaco"
    assert "998" not in str(entry.data)  # a searched phone number is not copied into the log


@pytest.mark.parametrize("who", ["requester", "social_media", "assistant"])
def test_only_directory_viewers_export(client, people, contacts, who):
    client.force_login(getattr(people, who))
    assert client.get(reverse("directory:export"), {"formato": "xlsx"}).status_code == 403
    assert not AuditEntry.objects.filter(action="directory.export").exists()


def test_a_bad_format_or_filter_exports_nothing(client, people, contacts):
    client.force_login(people.database)
    response = client.get(reverse("directory:export"), {"formato": "pdf"}, follow=True)
    assert "Formato desconocido" in response.content.decode()
    response = client.get(reverse("directory:export"), {"formato": "xlsx", "sector": "999999"}, follow=True)
    assert "corríjalo antes de descargar" in response.content.decode()
    assert not AuditEntry.objects.filter(action="directory.export").exists()


def test_the_list_links_to_both_downloads_with_its_filters(client, people, contacts):
    client.force_login(people.database)
    html = client.get(reverse("directory:contacts"), {"organizacion": "canaco", "pagina": 1}).content.decode()
    assert f'{reverse("directory:export")}?organizacion=canaco&amp;formato=xlsx"' in html
    assert "formato=csv" in html and "pagina=1&amp;formato" not in html
