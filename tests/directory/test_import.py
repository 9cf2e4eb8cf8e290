"""Importing messy spreadsheets into the directory: results, duplicates, opt-outs, bad files, web and CLI."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from pregonero.directory import services
from pregonero.directory.importer import import_prepare, import_run
from pregonero.directory.models import Contact, ContactEvent, DuplicateCandidate, ImportBatch, Sector
from pregonero.directory.readers import UnreadableFile

HEADER = ["Nombre completo", "Cargo", "Dependencia", "Celular", "Correo", "Sector"]


def xlsx(rows, *, title=True) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    if title:
        sheet.append(["H. Ayuntamiento de Benito Juárez"])
        sheet.append(["Directorio de invitados 2026"])
        sheet.append([])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def run(data: bytes, name="directorio.xlsx", actor=None, sector=None) -> ImportBatch:
    batch = import_prepare(file=io.BytesIO(data), filename=name, actor=actor, default_sector=sector)
    return import_run(batch)


MESSY = [
    ["Lic. José Luis de la Cruz Pérez", "Director", "CANACO Cancún", "998 123 4567", " JOSE.CRUZ@Canaco.MX ", "Empresarios"],
    ["ING. MARÍA DEL CARMEN PECH", "Rectora", "Universidad del Caribe", "+52 1 (998) 765-4321", "", "academia"],
    ["Mtra. Ana Sofía Canul", "Coordinadora", "DIF", "044 998 111 2233", "ana@dif.example", "Gobierno municipal"],
    ["Roberto May", "Gerente", "Hotel Palapas", "998 881 2800 ext. 9509", "roberto@palapas.example", "Empresarios"],
    ["", "Sin nombre", "", "998 000 0000", "", ""],
    ["Sergio Uc", "Reportero", "Radio Cancún", "12345", "no-es-correo", "Medios"],
    ["Lic. José Luis de la Cruz Pérez", "Director General", "CANACO Cancún", "9981234567", "", "Empresarios; Medios"],
]


def test_a_messy_sheet_is_cleaned_deduplicated_and_reported(people):
    batch = run(xlsx(MESSY), actor=people.database)
    assert (batch.status, batch.rows_read) == (ImportBatch.Status.DONE, 7)
    assert (batch.created, batch.merged, batch.rejected) == (4, 1, 2)

    jose = Contact.objects.get(mobile="+529981234567")
    assert (jose.honorific, jose.name, jose.email) == ("Lic.", "José Luis de la Cruz Pérez", "jose.cruz@canaco.mx")
    assert set(jose.sectors.values_list("name", flat=True)) == {"Empresarios", "Medios"}
    assert jose.position == "Director"  # the first row's value is kept; the repeat only fills blanks
    assert Contact.objects.get(mobile="+529987654321").name == "María del Carmen Pech"
    assert Contact.objects.filter(mobile="+529981112233").exists()
    roberto = Contact.objects.get(email="roberto@palapas.example")
    assert (roberto.mobile, roberto.office_phone, roberto.office_extension) == ("", "+529988812800", "9509")
    assert jose.provenance.startswith("Importación directorio.xlsx")
    reasons = {i.row_number: (i.level, i.reason) for i in batch.issues.all()}
    # The header is on row 4 under two title rows and a blank one: data starts on row 5.
    assert reasons[9] == ("rejected", "Sin nombre.")
    assert reasons[10][0] == "rejected"
    assert "oficina" in reasons[8][1]


def test_a_reimport_never_resubscribes_and_updates_by_number(people):
    run(xlsx(MESSY[:1]))
    jose = Contact.objects.get()
    services.contact_opt_out(contact=jose, whatsapp=True, email=True, source="BAJA por WhatsApp")
    again = run(xlsx([["José Luis de la Cruz", "Presidente", "CANACO", "998-123-45-67", "nuevo@canaco.mx", "Medios"]]))
    jose.refresh_from_db()
    assert (again.created, again.updated) == (0, 1)
    assert jose.whatsapp_opt_out and jose.email_opt_out
    assert jose.email == "jose.cruz@canaco.mx"  # filled values are never overwritten by an import
    assert "Medios" in set(jose.sectors.values_list("name", flat=True))
    assert ContactEvent.objects.filter(contact=jose, kind="imported", import_batch=again).exists()


def test_same_name_and_organization_goes_to_review(people):
    run(xlsx([["Ana Sofía Canul", "Coordinadora", "DIF Municipal", "998 111 2233", "", ""]]))
    run(xlsx([["Mtra. Ana Sofia Canul", "Directora", "DIF municipal", "998 444 5566", "", ""]]))
    pair = DuplicateCandidate.objects.get()
    assert {pair.contact.mobile, pair.other.mobile} == {"+529981112233", "+529984445566"}
    assert Contact.objects.count() == 2


def test_default_sector_and_csv_in_windows_1252(people):
    data = "Nombre;Teléfono;Correo\nPatricia Peña Ávila;(998) 222 3344;PATY@EXAMPLE.COM\n".encode("cp1252")
    batch = run(data, name="ongs.csv", sector=Sector.objects.get(name="ONGs"))
    contact = Contact.objects.get()
    assert batch.created == 1 and contact.name == "Patricia Peña Ávila" and contact.email == "paty@example.com"
    assert list(contact.sectors.values_list("name", flat=True)) == ["ONGs"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("vacio.xlsx", b"", "vacío"),
        ("falso.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "hoja de cálculo"),
        ("roto.xlsx", xlsx(MESSY)[:600], ""),
        ("solo-encabezado.csv", "Nombre,Celular\n".encode(), ""),
    ],
    ids=["empty", "pdf-as-xlsx", "corrupt-zip", "headers-only"],
)
def test_an_unreadable_file_imports_nothing(people, name, data, message):
    with pytest.raises(UnreadableFile) as error:
        run(data, name=name)
    assert message in str(error.value)
    assert not Contact.objects.exists() and not ImportBatch.objects.exists()


def test_more_rows_than_the_limit_is_refused_whole(people, settings):
    settings.IMPORT_MAX_ROWS = 3
    with pytest.raises(UnreadableFile, match="3"):
        run(xlsx(MESSY))
    assert not Contact.objects.exists()


def test_emoji_long_fields_dates_and_formulas_are_kept_safely(people):
    long_position = "Coordinación " * 40
    batch = run(xlsx([
        ["Carmen 🌺 Dzul", long_position, "=1+1", "9982223344", "carmen@example.com", "2026-01-15"],
    ]))
    contact = Contact.objects.get()
    assert contact.name == "Carmen 🌺 Dzul" and len(contact.position) == 200
    assert batch.doubtful == 1 and "recortó" in batch.issues.get().reason


def test_crash_while_writing_leaves_nothing_half_imported(people, monkeypatch):
    from pregonero.directory import import_writer

    def explode(self, issues):
        raise RuntimeError("disk full")

    monkeypatch.setattr(import_writer.BatchWriter, "finish", explode)
    batch = import_prepare(file=io.BytesIO(xlsx(MESSY)), filename="d.xlsx", actor=None)
    with pytest.raises(RuntimeError):
        import_run(batch)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED and "no se guardó ningún contacto" in batch.error
    assert not Contact.objects.exists()


def test_web_import_from_upload_to_report(client, people, django_capture_on_commit_callbacks):
    client.force_login(people.database)
    upload = SimpleUploadedFile("invitados.xlsx", xlsx(MESSY))
    response = client.post(reverse("directory:import_new"), {"file": upload})
    batch = ImportBatch.objects.get()
    assert response["Location"] == reverse("directory:import_mapping", args=[batch.public_id])
    page = client.get(response["Location"]).content.decode()
    assert 'value="name" selected' in page and 'value="mobile" selected' in page
    assert "Sin nombre." in page  # the preview shows each row's problem before importing
    mapping = {f"col_{i}": f for i, f in enumerate(["name", "position", "organization", "mobile", "email", "sector"])}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("directory:import_mapping", args=[batch.public_id]), {**mapping, "import": "1"})
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE and batch.created == 4
    assert client.get(reverse("directory:import_status", args=[batch.public_id])).json()["finished"]
    report = client.get(reverse("directory:import_report", args=[batch.public_id]))
    sheet = load_workbook(io.BytesIO(b"".join(report.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Fila", "Resultado", "Motivo") and {r[0] for r in rows[1:]} >= {9, 10}


def test_mapping_needs_a_name_and_a_way_to_reach(client, people):
    client.force_login(people.database)
    client.post(reverse("directory:import_new"), {"file": SimpleUploadedFile("a.xlsx", xlsx(MESSY))})
    batch = ImportBatch.objects.get()
    response = client.post(reverse("directory:import_mapping", args=[batch.public_id]), {"col_1": "position", "import": "1"})
    assert "Indique qué columna tiene el nombre" in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.MAPPING


def test_upload_of_a_bad_file_is_explained(client, people):
    client.force_login(people.database)
    response = client.post(reverse("directory:import_new"), {"file": SimpleUploadedFile("x.xlsx", b"PK\x03\x04garbage")})
    assert response.status_code == 200
    assert "no es una hoja de cálculo válida" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_only_the_database_team_imports(client, people):
    for user in (people.requester, people.social_media, people.director):
        client.force_login(user)
        assert client.get(reverse("directory:import_new")).status_code == 403


def test_cli_reports_in_json_and_dry_run_writes_nothing(people, tmp_path, capsys):
    path = tmp_path / "directorio.xlsx"
    path.write_bytes(xlsx(MESSY))
    call_command("import-contacts", str(path), "--dry-run", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert (summary["created"], summary["merged"], len(summary["rejected"])) == (4, 1, 2)
    assert not Contact.objects.exists() and not ImportBatch.objects.exists()
    call_command("import-contacts", str(path), "--sector", "medios")
    out = capsys.readouterr().out
    assert "Filas leídas: 7" in out and "Nuevas: 4" in out
    assert Contact.objects.count() == 4


def test_cli_unreadable_file_exits_with_the_reason(people, tmp_path):
    path = tmp_path / "falso.xlsx"
    path.write_bytes(b"%PDF-1.4 not a sheet")
    with pytest.raises(CommandError, match="hoja de cálculo"):
        call_command("import-contacts", str(path))


def test_an_oversize_upload_is_refused_before_reading(client, people, settings):
    settings.IMPORT_MAX_BYTES = 2000
    client.force_login(people.database)
    response = client.post(reverse("directory:import_new"), {"file": SimpleUploadedFile("grande.xlsx", xlsx(MESSY))})
    assert response.status_code == 200 and "el máximo es" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_a_big_file_is_cleaned_in_a_second_process_with_the_same_result(people, monkeypatch):
    from pregonero.directory import import_pipeline

    monkeypatch.setattr(import_pipeline, "CHILD_THRESHOLD", 1)  # force the spawned cleaner on a small file
    batch = run(xlsx(MESSY), actor=people.database)
    assert (batch.status, batch.rows_read, batch.created, batch.merged, batch.rejected) == ("done", 7, 4, 1, 2)
    assert Contact.objects.get(mobile="+529981234567").email == "jose.cruz@canaco.mx"
