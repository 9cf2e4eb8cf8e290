"""Read the office's messy directory spreadsheets (.xlsx, .xls, .ods, .csv) as a stream of clean text rows.

The format is decided by the file's content, never by its name: offices rename files freely. Workbooks are read with
python-calamine (Rust, fast), CSV with the stdlib; every cell comes out as a stripped ``str``. Whole-file problems
raise :class:`UnreadableFile` with a message for the user.

Formulas are never evaluated: calamine returns the value Excel cached when it saved the file ("" if there is none,
as in files written by openpyxl); error values (#N/A, #¡REF!…) become "". Vertically merged cells below the header
(a "Sector" spanning several people) are filled down for .xlsx/.xls; calamine exposes no merges for .ods, so there
only the first row of a merge carries the value.
"""

import copy
import csv
import datetime
import itertools
import math
import mmap
import os
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import python_calamine
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy

MAX_CELL_CHARS = 1000
HEADER_SCAN_ROWS = 30  # non-empty rows examined when looking for the header
SNIFF_BYTES = 64 * 1024
DEFAULT_MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
# Real xlsx/ods XML deflates ~5-30x; zip bombs reach ~1000x. Only big members are judged: tiny ones vary wildly.
MAX_ZIP_RATIO, ZIP_RATIO_MIN_BYTES = 200, 1024 * 1024
MAX_ZIP_MEMBERS, ZIP_READ_CHUNK = 10_000, 1024 * 1024
# A DOCTYPE is where XML entities are declared; spelled in every encoding an XML part may use.
XML_DECLARATIONS = tuple(marker.encode(encoding) for marker in ("<!DOCTYPE", "<!ENTITY")
                         for encoding in ("utf-8", "utf-16-le", "utf-16-be"))
XML_MARKER_TAIL = max(map(len, XML_DECLARATIONS)) - 1  # a marker split across two chunks is still found
ZIP_MAGIC, OLE_MAGIC, UTF16_BOMS = b"PK\x03\x04", b"\xd0\xcf\x11\xe0", (b"\xff\xfe", b"\xfe\xff")
ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
ENCRYPTED_OOXML = "EncryptedPackage".encode("utf-16-le")  # a protected .xlsx is an OLE file with this stream
CSV_DELIMITERS = ",;\t|"

FIELD_LABELS = {
    "honorific": gettext_lazy("Tratamiento"), "name": gettext_lazy("Nombre completo"),
    "first_name": gettext_lazy("Nombre(s)"), "last_name": gettext_lazy("Apellido paterno"),
    "second_last_name": gettext_lazy("Apellido materno"), "position": gettext_lazy("Cargo"),
    "organization": gettext_lazy("Organización o dependencia"), "mobile": gettext_lazy("Celular (WhatsApp)"),
    "office_phone": gettext_lazy("Teléfono de oficina"), "office_extension": gettext_lazy("Extensión"),
    "email": gettext_lazy("Correo electrónico"), "sector": gettext_lazy("Sector"), "tags": gettext_lazy("Etiquetas"),
    "notes": gettext_lazy("Notas"), "consent": gettext_lazy("Consentimiento"),
}
_MESSAGES = {
    "empty": gettext_lazy("El archivo «%(name)s» está vacío."),
    "invalid": gettext_lazy("«%(name)s» no es una hoja de cálculo válida (se aceptan .xlsx, .xls, .ods y .csv)."),
    "damaged": gettext_lazy("El archivo está dañado o incompleto."),
    "pdf": gettext_lazy("Es un documento PDF."),
    "html": gettext_lazy("Es una página web (HTML/XML) guardada con otra extensión: ábrala en Excel y guárdela "
                         "como «Libro de Excel (.xlsx)»."),
    "quotes": gettext_lazy("Revise las comillas: hay un campo sin cerrar o demasiado largo."),
    "password": gettext_lazy("«%(name)s» está protegido con contraseña. Quite la contraseña en Excel y vuelva a "
                             "subirlo."),
    "too_big": gettext_lazy("«%(name)s» pesa %(size)s; el máximo permitido es %(limit)s."),
    "zip_bomb": gettext_lazy("«%(name)s» se descomprime en más de %(limit)s o está comprimido de forma anómala; "
                             "por seguridad no se procesará."),
    "odd_zip": gettext_lazy("«%(name)s» trae archivos repetidos o comprimidos dentro; por seguridad no se procesará. "
                            "Ábralo en Excel, quite los objetos incrustados y guárdelo de nuevo."),
    "xml_doctype": gettext_lazy("«%(name)s» contiene declaraciones XML (DOCTYPE) que una hoja de cálculo normal no "
                                "lleva; por seguridad no se procesará. Ábralo en Excel y guárdelo de nuevo."),
    "too_many_rows": gettext_lazy("«%(name)s» tiene más de %(limit)s filas de datos, el máximo permitido; divídalo "
                                  "en varios archivos."),
    "no_header": gettext_lazy("No se encontró la fila de encabezados en «%(name)s»: la tabla debe tener una fila "
                              "con los nombres de las columnas (Nombre, Cargo, Correo…)."),
    "no_data": gettext_lazy("«%(name)s» tiene encabezados pero ninguna fila de datos."),
}


class UnreadableFile(Exception):
    """The whole file cannot be imported; ``message`` is ready to show to the user, ``code`` says why ("invalid",
    "zip_bomb"… the keys of _MESSAGES)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.message, self.code = message, code


def _fail(key: str, name: str, reason: str = "", **params) -> UnreadableFile:
    """An UnreadableFile with message ``key``; ``reason`` (another key) is appended to explain "invalid"."""
    message = str(_MESSAGES[key]) % {"name": name, **params}
    return UnreadableFile(f"{message} {_MESSAGES[reason]}" if reason else message, key)


@dataclass
class Table:
    """One sheet (or CSV file) whose header was found. ``rows()`` streams ``(row_number, cells)`` anew at each
    call; ``row_count`` is the number of non-empty rows below the header (a whitespace-only row counts)."""

    header: list[str]
    header_row_number: int
    row_count: int
    format: str
    sheet_name: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    _rows: Callable[[], Iterator[tuple[int, list[str]]]] = field(default=None, repr=False)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        return self._rows()


def open_table(path, *, filename: str, max_bytes: int, max_rows: int,
               max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES) -> Table:
    """Open ``path`` (uploaded as ``filename``), find its header row and count its data rows."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise _fail("empty", filename)
    if size > max_bytes:
        raise _fail("too_big", filename, size=filesizeformat(size), limit=filesizeformat(max_bytes))
    if head.startswith(ZIP_MAGIC):
        return _open_workbook(path, workbook_zip_format(path, filename, max_unzipped_bytes), filename, max_rows)
    if head.startswith(OLE_MAGIC):
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(ENCRYPTED_OOXML) != -1:
                raise _fail("password", filename)
        return _open_workbook(path, "xls", filename, max_rows)
    refuse_non_text(head, filename)
    return _open_csv(path, head, filename, max_rows)


def workbook_zip_format(source, name: str, max_unzipped: int = DEFAULT_MAX_UNZIPPED_BYTES) -> str:
    """"xlsx" or "ods" for a zip (a path or an open file) that is safe to hand to calamine; raises UnreadableFile.

    Refused before calamine runs: encrypted zips, zip bombs, duplicate or nested archives and XML with a DOCTYPE.
    """
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            _check_directory(infos, name, max_unzipped)
            if any(info.flag_bits & 0x1 for info in infos):
                raise _fail("password", name)
            names = {info.filename for info in infos}
            if "mimetype" in names and _member_head(zf, "mimetype").strip() == ODS_MIME:
                # LibreOffice encrypts members itself and says so in the manifest, not in the zip flags.
                if "META-INF/manifest.xml" in names and b"encryption-data" in _member_head(zf, "META-INF/manifest.xml"):
                    raise _fail("password", name)
                fmt = "ods"
            elif "xl/workbook.xml" in names:
                fmt = "xlsx"
            else:
                raise _fail("invalid", name)  # another zip: a .docx, a folder of photos…
            _check_members(zf, infos, name, max_unzipped)
            return fmt
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError, OSError,
            ValueError) as exc:
        raise _fail("invalid", name, "damaged") from exc


def _check_directory(infos, name: str, max_unzipped: int) -> None:
    """What the central directory declares: cheap, but it can understate sizes (see _check_members)."""
    if len({info.filename for info in infos}) != len(infos):
        # Two members of one name are read differently by different programs: a classic way to smuggle content.
        raise _fail("odd_zip", name)
    inflated = any(info.file_size >= ZIP_RATIO_MIN_BYTES and info.file_size > MAX_ZIP_RATIO * info.compress_size
                   for info in infos)
    if inflated or len(infos) > MAX_ZIP_MEMBERS or sum(info.file_size for info in infos) > max_unzipped:
        raise _fail("zip_bomb", name, limit=filesizeformat(max_unzipped))


def _member_head(zf: zipfile.ZipFile, member: str, size: int = 1024 * 1024) -> bytes:
    with zf.open(member) as fh:
        return fh.read(size)


def _check_members(zf: zipfile.ZipFile, infos, name: str, max_unzipped: int) -> None:
    """Inflates every member in chunks, checking what really comes out. calamine believes neither the declared
    sizes nor our limits, so a member that inflates past its declared size (which _check_directory judged) is a
    bomb with a lying header. Office files never nest archives or declare a DOCTYPE (the door to XML entity
    attacks), so either is refused wherever it appears."""
    for info in infos:
        probe = copy.copy(info)
        probe.file_size += ZIP_READ_CHUNK  # room to see the overflow: zipfile would stop at the declared size
        size, tail = 0, b""
        with zf.open(probe) as member:
            while chunk := member.read(ZIP_READ_CHUNK):
                if size == 0 and chunk.startswith(ZIP_MAGIC):
                    raise _fail("odd_zip", name)
                window = tail + chunk
                if any(marker in window for marker in XML_DECLARATIONS):
                    raise _fail("xml_doctype", name)
                tail, size = window[-XML_MARKER_TAIL:], size + len(chunk)
                if size > info.file_size:
                    raise _fail("zip_bomb", name, limit=filesizeformat(max_unzipped))


def refuse_non_text(head: bytes, name: str) -> None:
    """Raises UnreadableFile when the head of a supposed CSV file shows a PDF, a web page or binary data."""
    if head.startswith(b"%PDF"):
        raise _fail("invalid", name, "pdf")
    if head.lstrip(b" \t\r\n\xef\xbb\xbf")[:20].lower().startswith(
            (b"<!doctype", b"<html", b"<table", b"<?xml", b"<head", b"<body")):
        raise _fail("invalid", name, "html")
    # UTF-16 text legitimately has NULs; any other NUL means a binary file (image, Word document…).
    if b"\x00" in head and not head.startswith(UTF16_BOMS):
        raise _fail("invalid", name)


def _open_workbook(path, fmt: str, name: str, max_rows: int) -> Table:
    try:
        # from_filelike detects the format by content; from_path would trust the extension.
        with open(path, "rb") as fh, python_calamine.CalamineWorkbook.from_filelike(fh) as book:
            sheet, header_index, header = _first_table_sheet(book, name)  # a sheet outlives its closed book
    except python_calamine.PasswordError as exc:
        raise _fail("password", name) from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise _fail("invalid", name, "damaged") from exc
    # iter_rows() starts at sheet row 1 but at the first used column; merged ranges use absolute columns.
    count = _count_rows(itertools.islice(sheet.iter_rows(), header_index + 1, None), max_rows, name)
    merges = _merge_plan(sheet.merged_cell_ranges, header_index, sheet.start[1], sheet.end[0])
    return Table(header=header, header_row_number=header_index + 1, row_count=count, format=fmt,
                 sheet_name=sheet.name, _rows=lambda: _sheet_rows(sheet, header_index, merges))


def _first_table_sheet(book, name: str):
    """The first worksheet (visible ones first) with data and a recognisable header row."""
    metadata = book.sheets_metadata
    order = sorted(range(len(metadata)), key=lambda i: metadata[i].visible != python_calamine.SheetVisibleEnum.Visible)
    has_data = False
    for index in order:
        if metadata[index].typ != python_calamine.SheetTypeEnum.WorkSheet:
            continue  # chart and macro sheets hold no table
        sheet = book.get_sheet_by_index(index)
        has_data = has_data or bool(sheet.height)
        found = _find_header(sheet.iter_rows()) if sheet.height else None
        if found:
            return sheet, found[0], found[1]
    raise _fail("no_header" if has_data else "empty", name)


def _merge_plan(ranges, header_index: int, first_column: int, last_row: int) -> dict[int, list[tuple[int, int]]]:
    """Row index -> [(column, anchor row index)] for the rows of each vertical merge below the header.

    Only the anchor's own column is filled: a range spanning A:B would otherwise copy a name into the neighbouring
    field. Merges starting at or above the header (titles, grouped headings) are ignored. ODS gives None.
    """
    plan: dict[int, list[tuple[int, int]]] = {}
    for (top, left), (bottom, _right) in ranges or ():
        if top > header_index and bottom > top:
            # A merge down to row 1,048,576 only matters where there is data; the anchor row is listed too.
            for row in range(top, min(bottom, last_row) + 1):
                plan.setdefault(row, []).append((left - first_column, top))
    return plan


def _sheet_rows(sheet, header_index: int, merges) -> Iterator[tuple[int, list[str]]]:
    anchors: dict[tuple[int, int], str] = {}
    convert, other = _CONVERTERS.get, _convert_other
    for index, raw in enumerate(itertools.islice(sheet.iter_rows(), header_index + 1, None), header_index + 1):
        if raw.count("") == len(raw):  # cheap test on raw values before converting anything
            continue
        cells = [convert(type(value), other)(value) for value in raw]
        for column, top in merges.get(index, ()):
            if 0 <= column < len(cells):
                if index == top:
                    anchors[top, column] = cells[column]
                elif not cells[column]:
                    cells[column] = anchors.get((top, column), "")
        if any(cells):
            yield index + 1, cells


def _open_csv(path, head: bytes, name: str, max_rows: int) -> Table:
    # cp1252 is a superset of Latin-1's printable range; "replace" makes it the never-failing last resort.
    attempts = [("utf-16", "strict")] if head.startswith(UTF16_BOMS) else [("utf-8-sig", "strict"),
                                                                             ("cp1252", "replace")]
    for encoding, errors in attempts:
        try:
            return _scan_csv(path, name, encoding, errors, max_rows)
        except UnicodeError:
            continue  # a byte invalid in UTF-8 may sit anywhere, so the whole scan is redone
    raise _fail("invalid", name)


def _scan_csv(path, name: str, encoding: str, errors: str, max_rows: int) -> Table:
    """First pass: delimiter, header and row count (decoding the whole file also validates the encoding)."""
    with open(path, encoding=encoding, errors=errors, newline="") as fh:
        delimiter = _sniff_delimiter(fh.read(SNIFF_BYTES))
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter, skipinitialspace=True)
        try:
            found = _find_header(reader)
            if not found:
                raise _fail("no_header", name)
            header_index, header, already = found
            count = _count_rows(reader, max_rows, name, already)
        except csv.Error as exc:
            raise _fail("invalid", name, "quotes") from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        width = len(header)
        with open(path, encoding=encoding, errors=errors, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, skipinitialspace=True)
            # Row numbers count CSV records, as Excel shows them: a quoted multi-line field stays one row.
            for number, raw in enumerate(itertools.islice(reader, header_index + 1, None), header_index + 2):
                if any(cells := _clean_strings(raw)):
                    if len(cells) < width:
                        cells.extend([""] * (width - len(cells)))
                    yield number, cells

    return Table(header=header, header_row_number=header_index + 1, row_count=count, format="csv",
                 encoding=encoding, delimiter=delimiter, _rows=rows)


def _sniff_delimiter(sample: str) -> str:
    lines = sample[: sample.rfind("\n") + 1 or None].splitlines()[:50]  # whole lines only
    try:
        # Sniffer's regexes are quadratic on hostile quoting (25 s for 64 KiB); 4 KiB keeps it under 0.1 s.
        return csv.Sniffer().sniff("\n".join(lines)[:4096], delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        pass
    # Fallback: the candidate that appears the same (non-zero) number of times on the most lines.
    scores = {}
    for candidate in CSV_DELIMITERS:
        counts = [n for n in (line.count(candidate) for line in lines) if n]
        mode = max(set(counts), key=counts.count, default=0)
        scores[candidate] = (counts.count(mode), mode)
    return max(scores, key=scores.get) if max(scores.values()) > (0, 0) else ","


_NUMBER_LIKE = re.compile(r"[\d\s.,:;/+()#-]*")


def _find_header(raw_rows: Iterable[list]) -> tuple[int, list[str], int] | None:
    """Consume rows until the header is chosen; return (row index, cleaned header, data rows already consumed).

    Among the first non-empty rows, the header is the one with the most cells naming a known field (ties: the
    earliest), needing two or more cells, mostly text. This beats "first matching row" when an office puts
    "Dependencia: | Ayuntamiento" above the table. Fallback: the first row with three or more text cells.
    """
    best = fallback = None  # (index, raw row, matches)
    seen: list[int] = []  # indexes of the non-empty rows read, to count those below the chosen header
    for index, raw in enumerate(raw_rows):
        if raw.count("") == len(raw):
            continue
        seen.append(index)
        texts = [value for value in raw if type(value) is str and value.strip() and not _NUMBER_LIKE.fullmatch(value)]
        filled = sum(1 for value in raw if value != "" and value is not None)
        if filled >= 2 and len(texts) * 2 > filled:
            matches = sum(1 for value in texts if _field_scores(value))
            if matches and (best is None or matches > best[2]):
                best = (index, raw, matches)
            if fallback is None and len(texts) >= 3:
                fallback = (index, raw, 0)
        if len(seen) >= HEADER_SCAN_ROWS:
            break
    if (chosen := best or fallback) is None:
        return None
    return chosen[0], [_convert(value) for value in chosen[1]], sum(1 for index in seen if index > chosen[0])


def _count_rows(raw_rows: Iterable[list], max_rows: int, name: str, already: int = 0) -> int:
    count = already
    for raw in raw_rows:
        if raw.count("") != len(raw):
            count += 1
            if count > max_rows:
                break  # no need to read further
    if count > max_rows:
        raise _fail("too_many_rows", name, limit=f"{max_rows:,}")
    if not count:
        raise _fail("no_data", name)
    return count


# English and Spanish Excel spellings; a formula error carries no data for the directory.
_ERROR_VALUES = frozenset({
    "#N/A", "#N/D", "#REF!", "#¡REF!", "#VALUE!", "#¡VALOR!", "#DIV/0!", "#¡DIV/0!", "#NAME?", "#¿NOMBRE?",
    "#NUM!", "#¡NUM!", "#NULL!", "#¡NULO!", "#SPILL!", "#¡DESBORDAMIENTO!", "#CALC!", "#¡CALC!",
})
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def _clean_text(value: str) -> str:
    if "\n" in value or "\r" in value or "\u2028" in value or "\u2029" in value:
        value = _LINE_BREAKS.sub(" ", value)
    value = value.strip()
    if not value.isascii():
        # Mac keyboards and some exports produce decomposed accents; zero-width marks come from copy-paste.
        value = unicodedata.normalize("NFC", value).strip(_INVISIBLE).strip()
    if value[:1] == "#" and value.upper() in _ERROR_VALUES:
        return ""
    return value[:MAX_CELL_CHARS]


def _clean_strings(raw: list[str]) -> list[str]:
    """``_clean_text`` for a row of strings, made fast by a few C-level checks on the joined row.

    isprintable() is False for line breaks, tabs and zero-width marks, which then take the careful path.
    """
    joined = "".join(raw)
    if len(joined) < MAX_CELL_CHARS and joined.isprintable() and "#" not in joined and (
            joined.isascii() or unicodedata.is_normalized("NFC", joined)):
        return list(map(str.strip, raw))
    return [_clean_text(value) for value in raw]


def _convert_float(value: float) -> str:
    if value.is_integer():
        return str(int(value))  # phones read as 9981234567.0; int() also avoids "1e+20"
    return f"{value:.15g}" if math.isfinite(value) else ""  # Excel's 15 digits: 0.1 + 0.2 shows as 0.3


def _convert_datetime(value: datetime.datetime) -> str:
    if value.hour == value.minute == value.second == value.microsecond == 0:
        return value.date().isoformat()  # a date-formatted cell
    return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")


def _convert_other(value) -> str:
    return "" if value is None else _clean_text(str(value))  # e.g. timedelta durations: "1:30:00"


_CONVERTERS: dict[type, Callable[[object], str]] = {
    str: _clean_text, float: _convert_float, int: str, bool: lambda value: "sí" if value else "no",
    datetime.datetime: _convert_datetime, datetime.date: datetime.date.isoformat,
    datetime.time: lambda value: value.isoformat(timespec="seconds" if value.second else "minutes"),
}


def _convert(value) -> str:
    return _CONVERTERS.get(type(value), _convert_other)(value)


_STOPWORDS = frozenset({"de", "del", "la", "las", "el", "los", "en", "y", "e", "o", "u", "a", "para", "por"})
# Address columns share words with phone columns ("Dirección de oficina"); they only match a synonym exactly.
_BLOCKERS = frozenset({"direccion", "domicilio", "calle", "colonia"})
# (field, penalty, synonyms). A generic "Teléfono" prefers mobile but yields to a specific "Celular" column.
_SYNONYMS = (
    ("honorific", 0, "tratamiento|titulo|grado|grado academico|prefijo|titulo profesional|abreviatura"),
    ("name", 0, "nombre|nombre completo|invitado|invitada|titular|nombre invitado|nombre apellidos|nombre titular"),
    ("first_name", 0, "nombre s|nombres|primer nombre|nombre pila"),
    ("last_name", 0, "apellido|apellidos|apellido paterno|primer apellido|ap paterno|paterno"),
    ("second_last_name", 0, "apellido materno|segundo apellido|ap materno|materno"),
    ("position", 0, "cargo|puesto|cargo puesto|funcion"),
    ("organization", 0, "dependencia|empresa|institucion|organizacion|organismo|razon social|nombre empresa|"
                        "nombre dependencia|nombre institucion|nombre organizacion|nombre organismo"),
    ("mobile", 0, "celular|cel|movil|whatsapp|whats|telefono celular|telefono movil|tel celular|tel cel|"
                  "tel movil|numero celular"),
    ("mobile", 1, "telefono|tel|telefonos|numero telefono"),
    ("office_phone", 0, "telefono oficina|tel oficina|oficina|conmutador|telefono fijo|tel fijo|fijo|"
                        "telefono empresa|tel empresa|telefono institucional|telefono dependencia|tel dependencia"),
    ("office_phone", 2, "telefono|tel|telefonos|numero telefono"),
    ("office_extension", 0, "extension|ext|extension telefonica"),
    ("email", 0, "correo|correo electronico|e mail|email|mail|correo institucional|emails"),
    ("sector", 0, "sector|giro|sector giro|ramo"),
    ("tags", 0, "etiquetas|etiqueta|categoria|categorias|clasificacion"),
    ("notes", 0, "observaciones|notas|nota|comentarios|comentario|obs"),
    ("consent", 0, "consentimiento|autoriza|autorizacion"),
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _tokens(text: str) -> tuple[str, ...]:
    text = "".join(char for char in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(char))
    return tuple(token for token in _NON_ALNUM.split(text) if token and token not in _STOPWORDS)


_SYNONYM_TOKENS = [(field_name, penalty, _tokens(synonym))
                   for field_name, penalty, synonyms in _SYNONYMS for synonym in synonyms.split("|")]


def _field_scores(header_cell: str) -> dict[str, int]:
    """Field -> score for one header cell: an exact match beats any partial one; longer partial ones win."""
    tokens = _tokens(header_cell)
    partial_ok = not _BLOCKERS.intersection(tokens)
    scores: dict[str, int] = {}
    for field_name, penalty, synonym in _SYNONYM_TOKENS if tokens else ():
        if synonym == tokens:
            score = 100  # all exact matches are equal, so the leftmost column wins
        elif partial_ok and set(synonym) <= set(tokens):
            score = 10 * len(synonym) - tokens.index(synonym[0])  # the head noun comes first in Spanish
        else:
            continue
        scores[field_name] = max(scores.get(field_name, -999), score - penalty)
    return scores


def suggest_mapping(header: list[str]) -> dict[int, str]:
    """Column index -> field name; each field at most once (best score, then leftmost), except ``tags``."""
    candidates = sorted((-score, index, field_name) for index, cell in enumerate(header)
                        for field_name, score in _field_scores(cell).items())
    mapping: dict[int, str] = {}
    for _score, index, field_name in candidates:
        if index not in mapping and (field_name == "tags" or field_name not in mapping.values()):
            mapping[index] = field_name
    return dict(sorted(mapping.items()))
