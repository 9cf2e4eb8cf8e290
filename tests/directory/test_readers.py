"""Reading the office's spreadsheets: real files are generated in tmp_path (openpyxl, hand-made ODS, stdlib CSV)."""

import csv
import datetime
import itertools
import time
import tracemalloc
import unicodedata
import zipfile
from collections.abc import Iterator
from xml.sax.saxutils import escape

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pregonero.directory.readers import (
    FIELD_LABELS, MAX_CELL_CHARS, UnreadableFile, _clean_strings, _clean_text, open_table, suggest_mapping,
)

MB = 1024 * 1024


def read(path, *, max_bytes=20 * MB, max_rows=100_000, **kwargs):
    return open_table(path, filename=path.name, max_bytes=max_bytes, max_rows=max_rows, **kwargs)


def refused(path, **kwargs) -> str:
    with pytest.raises(UnreadableFile) as info:
        read(path, **kwargs)
    assert str(info.value) == info.value.message
    return info.value.message


def write_xlsx(path, rows, merges=(), sheets_before=()):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, hidden_rows in sheets_before:
        extra = book.create_sheet(title)
        for row in hidden_rows:
            extra.append(row)
        extra.sheet_state = "hidden" if hidden_rows else "visible"
    sheet = book.create_sheet("Directorio")
    for row in rows:
        sheet.append(row)
    for cells in merges:
        sheet.merge_cells(cells)
    book.save(path)
    return path


def write_csv(path, rows, *, encoding="utf-8", delimiter=","):
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def ods_cell(value):
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, bool):
        return f'<table:table-cell office:value-type="boolean" office:boolean-value="{str(value).lower()}"/>'
    if isinstance(value, (int, float)):
        return f'<table:table-cell office:value-type="float" office:value="{value}"/>'
    if isinstance(value, datetime.date):
        return f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}"/>'
    return f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'


def write_ods(path, rows, *, encrypted=False):
    """A minimal but valid OpenDocument spreadsheet: mimetype (stored, first), content.xml and the manifest."""
    body = "".join(f"<table:table-row>{''.join(ods_cell(v) for v in row)}</table:table-row>" for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
        f'<office:spreadsheet><table:table table:name="Hoja1">{body}</table:table></office:spreadsheet>'
        "</office:body></office:document-content>"
    )
    encryption = "<manifest:encryption-data/>" if encrypted else ""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{encryption}'
        "</manifest:file-entry></manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        zf.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


HEADER = ["Tratamiento", "Nombre", "Cargo", "Dependencia", "Celular", "Correo", "Sector"]


def test_xlsx_title_rows_and_merged_title_above_the_header(tmp_path):
    path = write_xlsx(tmp_path / "directorio.xlsx", [
        ["H. Ayuntamiento de Benito Juárez"],
        ["Directorio de Empresarios 2025"],
        [],
        HEADER,
        ["Lic.", "Ana Peña", "Directora", "Canaco", 9981234567, "ana@example.mx", "Empresarios"],
        [],
        ["Ing.", "Luis Ávila", "Gerente", "Coparmex", 9987654321.0, "luis@example.mx", "ONG"],
    ], merges=["A1:G1", "A2:G2"])
    table = read(path)
    assert table.format == "xlsx"
    assert table.sheet_name == "Directorio"
    assert table.encoding is None and table.delimiter is None
    assert table.header == HEADER
    assert table.header_row_number == 4
    assert table.row_count == 2
    rows = table.rows()
    assert isinstance(rows, Iterator)
    assert list(rows) == [
        (5, ["Lic.", "Ana Peña", "Directora", "Canaco", "9981234567", "ana@example.mx", "Empresarios"]),
        (7, ["Ing.", "Luis Ávila", "Gerente", "Coparmex", "9987654321", "luis@example.mx", "ONG"]),
    ]
    assert list(table.rows()) == list(table.rows())  # rows() can be read again


def test_xlsx_cell_conversion(tmp_path):
    path = write_xlsx(tmp_path / "tipos.xlsx", [
        ["Nombre", "Celular", "Fecha de consentimiento", "Notas", "Autoriza"],
        ["A", 9981234567.0, datetime.date(2025, 3, 4), 1.5, True],
        ["B", 123456789012345, datetime.datetime(2025, 3, 4, 17, 30), 0.1 + 0.2, False],
        ["C", 1e20, datetime.datetime(2025, 3, 4, 0, 0), datetime.time(9, 15), None],
        ["D", "=1+1", "#N/A", "=NA()", "  con espacios  "],
        ["E", "Línea 1\nLínea 2\r\nLínea 3", "🎉 Fiesta 👨‍👩‍👧", "x" * 5000, unicodedata.normalize("NFD", "Peña")],
    ])
    rows = dict(read(path).rows())
    assert rows[2] == ["A", "9981234567", "2025-03-04", "1.5", "sí"]
    assert rows[3] == ["B", "123456789012345", "2025-03-04 17:30", "0.3", "no"]
    assert rows[4] == ["C", "100000000000000000000", "2025-03-04", "09:15", ""]
    # openpyxl writes formulas without a cached value; calamine returns that (absent) cached value as "", it
    # never evaluates the formula. A file saved by Excel carries the cached result, which is what we would read.
    # Error cells ("#N/A", or =NA() once Excel has computed it) also come out as "".
    assert rows[5] == ["D", "", "", "", "con espacios"]
    name, text, emoji, long_text, decomposed = rows[6]
    assert text == "Línea 1 Línea 2 Línea 3"
    assert emoji == "🎉 Fiesta 👨‍👩‍👧"
    assert long_text == "x" * MAX_CELL_CHARS
    assert decomposed == "Peña" and len(decomposed) == 4  # NFC


def test_merged_sector_cells_are_filled_down(tmp_path):
    path = write_xlsx(tmp_path / "sectores.xlsx", [
        ["Directorio por sector"],
        ["Nombre", "Apellido", "Cargo", "Sector"],
        ["Ana", "Peña", "Directora", "Empresarios"],
        ["Luis", "Ávila", "Gerente", None],
        ["Sofía", "Ruiz", "Socia", None],
        ["Juan Pérez", None, "Presidente", "ONG"],
        ["Eva", "Lara", "Tesorera", "Gobierno"],
    ], merges=["A1:D1", "D3:D5", "A6:B6"])
    rows = list(read(path).rows())
    assert [cells[3] for _number, cells in rows] == ["Empresarios", "Empresarios", "Empresarios", "ONG", "Gobierno"]
    # A horizontal merge is not copied into the neighbouring column (it would become a surname).
    assert rows[3] == (6, ["Juan Pérez", "", "Presidente", "ONG"])


def test_table_away_from_cell_a1(tmp_path):
    # calamine starts its rows at the first used column, while merged ranges are in absolute columns.
    book = openpyxl.Workbook()
    sheet = book.active
    for row, values in enumerate([["Nombre", "Sector"], ["Ana", "ONG"], ["Luis", None], ["Eva", "IP"]], start=3):
        for column, value in enumerate(values, start=3):
            sheet.cell(row, column, value)
    sheet.merge_cells("D4:D5")
    book.save(tmp_path / "lejos.xlsx")
    table = read(tmp_path / "lejos.xlsx")
    assert (table.header, table.header_row_number) == (["Nombre", "Sector"], 3)
    assert list(table.rows()) == [(4, ["Ana", "ONG"]), (5, ["Luis", "ONG"]), (6, ["Eva", "IP"])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=8))
def test_fast_row_cleaning_matches_cell_by_cell(row):
    assert _clean_strings(row) == [_clean_text(value) for value in row]


def test_first_sheet_with_data_is_used(tmp_path):
    path = write_xlsx(tmp_path / "hojas.xlsx", [HEADER, ["Lic.", "Ana", "", "", "", "", ""]],
                      sheets_before=[("Vacía", []), ("Catálogos", [["Nombre", "Cargo", "Correo"], ["x", "y", "z"]])])
    table = read(path)
    assert table.sheet_name == "Directorio"  # the empty sheet is skipped, the hidden one comes last
    assert table.row_count == 1


def test_metadata_row_above_the_header_does_not_win(tmp_path):
    path = write_csv(tmp_path / "meta.csv", [
        ["Dependencia:", "Ayuntamiento"], ["Fecha:", "2025-01-01"], [],
        ["Nombre", "Cargo", "Dependencia", "Correo"], ["Ana", "Directora", "DIF", "ana@example.mx"],
    ])
    table = read(path)
    assert table.header_row_number == 4
    assert list(table.rows()) == [(5, ["Ana", "Directora", "DIF", "ana@example.mx"])]


def test_header_fallback_without_known_names(tmp_path):
    path = write_csv(tmp_path / "raro.csv", [["Persona", "Puesto actual", "Lugar"], ["Ana", "X", "Y"]])
    assert read(path).header == ["Persona", "Puesto actual", "Lugar"]  # "Puesto actual" matches anyway
    path = write_csv(tmp_path / "raro2.csv", [["Alfa", "Beta", "Gama"], ["1", "2", "3"]])
    assert read(path).header == ["Alfa", "Beta", "Gama"]


def test_ods_with_title_rows(tmp_path):
    path = write_ods(tmp_path / "directorio.ods", [
        ["Directorio 2025"], [], HEADER,
        ["Mtra.", "Peña", "Rectora", "UQROO", 9981234567, "r@example.mx", "Educación"],
        [None, "Ávila", None, None, None, datetime.date(2025, 3, 4), True],
    ])
    table = read(path)
    assert (table.format, table.header_row_number, table.row_count) == ("ods", 3, 2)
    assert list(table.rows()) == [
        (4, ["Mtra.", "Peña", "Rectora", "UQROO", "9981234567", "r@example.mx", "Educación"]),
        (5, ["", "Ávila", "", "", "", "2025-03-04", "sí"]),
    ]


def test_format_comes_from_content_not_extension(tmp_path):
    xlsx_as_xls = write_xlsx(tmp_path / "de_verdad_es_xlsx.xls", [HEADER, ["Lic."] * 7])
    assert read(xlsx_as_xls).format == "xlsx"
    tsv_as_xls = tmp_path / "exportado.xls"  # systems often export tab-separated text as ".xls"
    tsv_as_xls.write_text("Nombre\tCorreo\nAna\ta@example.mx\n", encoding="utf-8")
    table = read(tsv_as_xls)
    assert (table.format, table.delimiter, table.header) == ("csv", "\t", ["Nombre", "Correo"])


def test_csv_utf8_bom(tmp_path):
    path = write_csv(tmp_path / "bom.csv", [["Nombre", "Correo"], ["Peña", "p@example.mx"]], encoding="utf-8-sig")
    table = read(path)
    assert (table.format, table.encoding, table.delimiter) == ("csv", "utf-8-sig", ",")
    assert table.header == ["Nombre", "Correo"]
    assert list(table.rows()) == [(2, ["Peña", "p@example.mx"])]


def test_csv_cp1252_semicolon(tmp_path):
    rows = [["Directorio de Empresarios 2025"], ["Nombre", "Cargo", "Organización"],
            ["José Peña", "Director, área norte", "Cámara"], ["Ana Ávila", "Gerente", "Coparmex"]]
    path = write_csv(tmp_path / "excel.csv", rows, encoding="cp1252", delimiter=";")
    table = read(path)
    assert (table.encoding, table.delimiter, table.header_row_number) == ("cp1252", ";", 2)
    assert table.header == ["Nombre", "Cargo", "Organización"]
    assert list(table.rows()) == [(3, rows[2]), (4, rows[3])]


def test_csv_latin1_byte_late_in_the_file(tmp_path):
    # The first 64 KiB are plain ASCII, so the encoding can only be told by reading everything.
    lines = ["Nombre,Correo"] + [f"Persona {i},p{i}@example.mx" for i in range(5000)] + ["Ávila,a@example.mx"]
    path = tmp_path / "tarde.csv"
    path.write_bytes("\r\n".join(lines).encode("latin-1"))
    table = read(path)
    assert table.encoding == "cp1252"
    assert list(table.rows())[-1] == (5002, ["Ávila", "a@example.mx"])


def test_csv_tab_and_utf16(tmp_path):
    rows = [["Nombre", "Celular"], ["Peña", "998 123 4567"]]
    for encoding in ("utf-8", "utf-16"):  # Excel's "Texto Unicode" is tab-separated UTF-16
        path = write_csv(tmp_path / f"{encoding}.txt", rows, encoding=encoding, delimiter="\t")
        table = read(path)
        assert (table.delimiter, table.header) == ("\t", rows[0])
        assert list(table.rows()) == [(2, rows[1])]


def test_csv_quoted_fields_with_newlines_and_delimiters(tmp_path):
    path = write_csv(tmp_path / "comillas.csv", [
        ["Nombre", "Cargo", "Notas"],
        ["Pérez, Juan", 'Director "general"', "Primera línea\nsegunda línea"],
        ["", "", ""],
        ["Ana", "Jefa", "#N/A"],
    ])
    table = read(path)
    assert table.row_count == 2
    assert list(table.rows()) == [
        (2, ["Pérez, Juan", 'Director "general"', "Primera línea segunda línea"]),
        (4, ["Ana", "Jefa", ""]),  # row numbers are records: the quoted line break does not add a row
    ]


def test_csv_short_rows_are_padded(tmp_path):
    path = tmp_path / "corto.csv"
    path.write_text("Nombre,Cargo,Correo\nAna\nLuis,Jefe,l@example.mx,sobra\n", encoding="utf-8")
    # Extra cells are kept, not dropped: the importer can tell the row is malformed.
    assert list(read(path).rows()) == [(2, ["Ana", "", ""]), (3, ["Luis", "Jefe", "l@example.mx", "sobra"])]


def test_hostile_quoting_is_handled_quickly(tmp_path):
    path = tmp_path / "comillas.csv"
    path.write_text(',"x' * 20_000 + "\n" + "a;b\n" * 100, encoding="utf-8")
    started = time.perf_counter()
    try:
        list(read(path).rows())
    except UnreadableFile:
        pass
    assert time.perf_counter() - started < 3  # csv.Sniffer alone took 14 s on this 64 KiB sample


def test_csv_streams_200000_rows(tmp_path):
    path = write_csv(tmp_path / "grande.csv", [HEADER] + [
        ["Lic.", f"Persona {i}", "Director", "Empresa", str(9980000000 + i), f"p{i}@example.mx", "ONG"]
        for i in range(200_000)])
    started = time.perf_counter()
    table = read(path, max_rows=1_000_000)
    count = sum(1 for _row in table.rows())
    elapsed = time.perf_counter() - started
    print(f"\n200,000-row CSV: open_table + rows() in {elapsed:.2f} s")
    assert count == table.row_count == 200_000
    tracemalloc.start()
    for _row in itertools.islice(table.rows(), 20_000):
        pass
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2 * MB  # streaming: memory does not grow with the rows read (the file is ~14 MB)


def test_empty_files(tmp_path):
    for name, content in [("vacio.xlsx", b""), ("vacio.csv", b""), ("blancos.csv", b"\r\n \r\n")]:
        path = tmp_path / name
        path.write_bytes(content)
        assert "está vacío" in refused(path)
    assert "está vacío" in refused(write_xlsx(tmp_path / "sin_datos.xlsx", []))


def test_headers_only(tmp_path):
    assert "ninguna fila de datos" in refused(write_xlsx(tmp_path / "h.xlsx", [["Directorio"], HEADER]))
    assert "ninguna fila de datos" in refused(write_csv(tmp_path / "h.csv", [HEADER, [], ["", ""]]))


def test_no_header_row(tmp_path):
    path = write_csv(tmp_path / "numeros.csv", [["1", "2", "3"], ["4", "5", "6"]])
    assert "No se encontró la fila de encabezados" in refused(path)


def test_pdf_renamed_xlsx(tmp_path):
    path = tmp_path / "directorio.xlsx"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    assert "no es una hoja de cálculo válida" in refused(path)


def test_html_saved_as_xls(tmp_path):
    path = tmp_path / "reporte.xls"
    path.write_text("<html><body><table><tr><td>Nombre</td><td>Cargo</td></tr></table></body></html>")
    assert "página web" in refused(path)


def test_binary_junk(tmp_path):
    path = tmp_path / "foto.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert "no es una hoja de cálculo válida" in refused(path)


def test_corrupt_zip(tmp_path):
    good = write_xlsx(tmp_path / "bueno.xlsx", [HEADER, ["Lic."] * 7])
    path = tmp_path / "truncado.xlsx"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "dañado" in refused(path)
    other_zip = tmp_path / "documento.xlsx"  # a zip, but not a spreadsheet (e.g. a .docx renamed)
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    assert "no es una hoja de cálculo válida" in refused(other_zip)


def test_fake_ole_header_is_refused(tmp_path):
    # No .xls writer is installed (xlwt is not a dependency), so real .xls reading is not exercised here.
    path = tmp_path / "viejo.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000)
    assert "no es una hoja de cálculo válida" in refused(path)


def test_password_protected(tmp_path):
    encrypted_xlsx = tmp_path / "protegido.xlsx"  # Excel stores it as an OLE container with this stream
    ole_header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    encrypted_xlsx.write_bytes(ole_header + "EncryptedPackage".encode("utf-16-le"))
    assert "contraseña" in refused(encrypted_xlsx)
    assert "contraseña" in refused(write_ods(tmp_path / "protegido.ods", [HEADER], encrypted=True))
    encrypted_zip = tmp_path / "cifrado.xlsx"
    with zipfile.ZipFile(encrypted_zip, "w") as zf:
        zf.writestr("xl/workbook.xml", "x")
    # zipfile cannot encrypt: set the "encrypted" flag bit in the local and central headers by hand.
    data = bytearray(encrypted_zip.read_bytes())
    data[data.index(b"PK\x03\x04") + 6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    encrypted_zip.write_bytes(bytes(data))
    assert "contraseña" in refused(encrypted_zip)


def test_over_max_bytes(tmp_path):
    path = write_csv(tmp_path / "pesado.csv", [HEADER] + [["x"] * 7] * 100)
    message = refused(path, max_bytes=1000)
    assert "pesa" in message and "máximo permitido" in message


def test_over_max_rows(tmp_path):
    rows = [HEADER] + [["Lic.", f"P{i}", "", "", "", "", ""] for i in range(11)]
    for path in (write_csv(tmp_path / "muchas.csv", rows), write_xlsx(tmp_path / "muchas.xlsx", rows)):
        assert "más de 10 filas" in refused(path, max_rows=10)
        assert read(path, max_rows=11).row_count == 11
    big = write_csv(tmp_path / "mil.csv", rows[:1] + rows[1:] * 200)
    assert "más de 1,000 filas" in refused(big, max_rows=1000)


def test_zip_bomb(tmp_path):
    path = tmp_path / "bomba.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = b"\x00" * MB
            for _ in range(50):
                member.write(chunk)
    assert path.stat().st_size < MB
    assert "por seguridad" in refused(path, max_unzipped_bytes=10 * MB)
    assert "por seguridad" in refused(path)  # the default limits catch the ~1000:1 ratio too


@pytest.mark.parametrize(("header", "expected"), [
    (["TRATAMIENTO", "nombre completo", "CARGO", "Dependencia", "Celular", "Correo Electrónico", "Sector"],
     ["honorific", "name", "position", "organization", "mobile", "email", "sector"]),
    (["Título", "Nombre(s)", "Apellido Paterno", "Apellido materno", "Puesto", "Empresa", "WhatsApp", "E-mail"],
     ["honorific", "first_name", "last_name", "second_last_name", "position", "organization", "mobile", "email"]),
    (["Grado", "Invitado", "Institución", "Tel.", "Tel. oficina", "Ext.", "Mail", "Giro", "Observaciones"],
     ["honorific", "name", "organization", "mobile", "office_phone", "office_extension", "email", "sector", "notes"]),
    (["Teléfono", "Cel.", "Conmutador", "Extensión", "Etiquetas", "Categoría", "Autoriza", "Comentarios"],
     [None, "mobile", "office_phone", "office_extension", "tags", "tags", "consent", "notes"]),
    (["Nombre de la empresa", "Teléfono de oficina", "Dirección de oficina", "Organismo", "Notas", "Nombre"],
     ["organization", "office_phone", None, None, "notes", "name"]),
    (["Nombre", "Teléfono", "Celular"], ["name", "office_phone", "mobile"]),  # a generic phone yields to "Celular"
    (["Titular", "Móvil", "Whats", "Organización", "Correo", "Consentimiento", "Teléfono celular", "Oficina"],
     ["name", "mobile", None, "organization", "email", "consent", None, "office_phone"]),
])
def test_suggest_mapping(header, expected):
    mapping = suggest_mapping(header)
    assert [mapping.get(index) for index in range(len(header))] == expected
    assert set(mapping.values()) <= set(FIELD_LABELS)


def test_field_labels_are_spanish():
    assert str(FIELD_LABELS["mobile"]) == "Celular (WhatsApp)" and len(FIELD_LABELS) == 15
