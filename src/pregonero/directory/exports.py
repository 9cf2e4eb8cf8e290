"""Spreadsheet downloads of the directory (.xlsx and .csv), safe to open in Excel or LibreOffice.

Formula injection: a cell whose text starts with "=", "+", "-", "@", a tab or a carriage return would be read
as a formula by a spreadsheet (OWASP "CSV injection"), so `neutralise` puts an apostrophe in front of it.

Phone numbers: E.164 numbers start with "+". In .xlsx every value is written as a typed text cell, which no
spreadsheet evaluates, so a phone number that is strictly "+" and digits is written as is ("+529981234567"):
readable, and with nothing in it that could be a formula even if someone retypes it. In .csv there are no
cell types — Excel would read "+529981234567" as the number 5.29981E+11 — so there it gets the apostrophe like
any other text ("'+529981234567"): every digit stays readable.
"""

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Callable

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .models import Contact, Sector, Tag

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
STRICT_E164 = re.compile(r"\+[1-9]\d{6,14}")
CHUNK = 2000  # rows fetched per query while streaming; keeps memory flat on a million contacts


def neutralise(value) -> str:
    """The cell's text, with a leading apostrophe if a spreadsheet could take it for a formula.

    Control characters that XML (hence .xlsx) cannot hold are dropped first: they are invisible, openpyxl
    refuses them, and dropping them later could uncover a "=" that was not checked.
    """
    text = "" if value is None else ILLEGAL_CHARACTERS_RE.sub("", str(value))
    # Leading spaces do not stop LibreOffice from reading " =1+1" as a formula.
    if text[:1] in FORMULA_TRIGGERS or text.lstrip(" ")[:1] in FORMULA_TRIGGERS:
        return "'" + text
    return text


@dataclass(frozen=True)
class Column:
    header: object  # text or a lazy translation
    value: Callable  # row -> cell value (str, number, date or None)
    phone: bool = False


def joined(items) -> str:
    """Names of related rows ("Empresarios, Medios"): a related manager or an already fetched list."""
    return ", ".join(item.name for item in (items.all() if hasattr(items, "all") else items))


def _related(contact, name: str) -> str:
    # contacts_for_export leaves plain lists in sector_list/tag_list; any other contact goes through its manager.
    prefetched = getattr(contact, f"{name[:-1]}_list", None)
    return joined(getattr(contact, name) if prefetched is None else prefetched)


def contact_columns() -> tuple[Column, ...]:
    """The directory export's columns, translated once per file: a million rows must not mean millions of
    gettext calls. Rows from `contacts_for_export` are fastest (sectors and tags prefetched as plain lists)."""
    yes, no = _("Sí"), _("No")
    basis = {value: str(label) for value, label in Contact.ConsentBasis.choices}

    def flag(value: bool) -> str:
        return yes if value else no

    return (
        Column(_("ID"), lambda c: c.pk),
        Column(_("Tratamiento"), lambda c: c.honorific),
        Column(_("Nombre"), lambda c: c.name),
        Column(_("Cargo"), lambda c: c.position),
        Column(_("Organización"), lambda c: c.organization),
        Column(_("Sectores"), lambda c: _related(c, "sectors")),
        Column(_("Etiquetas"), lambda c: _related(c, "tags")),
        Column(_("Celular"), lambda c: c.mobile, phone=True),
        Column(_("Teléfono de oficina"), lambda c: c.office_phone, phone=True),
        Column(_("Extensión"), lambda c: c.office_extension),
        Column(_("Correo"), lambda c: c.email),
        Column(_("Se le puede enviar WhatsApp"), lambda c: flag(c.reachable_by_whatsapp)),
        Column(_("Se le puede enviar correo"), lambda c: flag(c.reachable_by_email)),
        Column(_("No desea WhatsApp"), lambda c: flag(c.whatsapp_opt_out)),
        Column(_("No desea correo"), lambda c: flag(c.email_opt_out)),
        Column(_("Base del tratamiento"), lambda c: basis.get(c.consent_basis, c.consent_basis)),
        Column(_("Origen del consentimiento"), lambda c: c.consent_source),
        Column(_("Fecha del consentimiento"), lambda c: c.consent_date),
        Column(_("Procedencia"), lambda c: c.provenance),
    )


class _ContactColumns(Sequence):
    """`contact_columns()` as a constant, translated into the active language each time it is read."""

    def __iter__(self):
        return iter(contact_columns())

    def __getitem__(self, index):
        return contact_columns()[index]

    def __len__(self):
        return len(contact_columns())


CONTACT_COLUMNS = _ContactColumns()


def xlsx_cell(value, *, phone: bool = False):
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if hasattr(value, "isoformat"):  # dates stay dates: Excel sorts and filters them as such
        return value
    text = str(value)
    if phone and STRICT_E164.fullmatch(text):
        return text  # a typed text cell made of "+" and digits: readable and never a formula
    return neutralise(text)


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return neutralise(value)


def write_xlsx(rows: Iterable, columns: Sequence[Column], *, title: str = "") -> tuple[IO[bytes], int]:
    """Streams the rows into a write-only workbook in a temporary file; returns (file at 0, row count)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=(title or _("Contactos"))[:31])
    sheet.append([neutralise(column.header) for column in columns])
    count = 0
    for row in rows:
        sheet.append([xlsx_cell(column.value(row), phone=column.phone) for column in columns])
        count += 1
    output = tempfile.TemporaryFile()
    workbook.save(output)
    output.seek(0)
    return output, count


def write_csv(rows: Iterable, columns: Sequence[Column]) -> tuple[IO[bytes], int]:
    """UTF-8 with a byte-order mark (so Excel shows accents right), comma-separated; returns (file at 0, count)."""
    output = tempfile.TemporaryFile()
    text = io.TextIOWrapper(output, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow([neutralise(column.header) for column in columns])
    count = 0
    for row in rows:
        writer.writerow([csv_cell(column.value(row)) for column in columns])
        count += 1
    text.flush()
    text.detach()  # hand the binary file back without closing it
    output.seek(0)
    return output, count


FORMATS = {"xlsx": write_xlsx, "csv": write_csv}


def export_filename(stem: str, extension: str) -> str:
    return f"{stem}-{timezone.localtime().strftime('%Y%m%d-%H%M')}.{extension}"


def contacts_for_export(queryset):
    """Contacts in batches with their sectors and tags as lists: two extra queries per batch, not per row."""
    return queryset.prefetch_related(
        Prefetch("sectors", queryset=Sector.objects.only("name"), to_attr="sector_list"),
        Prefetch("tags", queryset=Tag.objects.only("name"), to_attr="tag_list"),
    ).iterator(chunk_size=CHUNK)
