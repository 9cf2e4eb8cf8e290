"""One spreadsheet row turned into a clean contact, with the reasons it is doubtful or rejected.

Pure functions (no database): the importer, the preview and the property-based tests all use them.
"""

import re
import unicodedata
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .normalize import clean_name, normalize_email, normalize_phone, split_honorific

LIMITS = {"honorific": 30, "name": 200, "position": 200, "organization": 200, "notes": 2000}
LIST_SPLIT = re.compile(r"\s*[,;/|]\s*")
YES = {"si", "sí", "x", "1", "true", "verdadero", "autoriza", "acepta", "yes"}


def fold(text: str) -> str:
    """Case- and accent-insensitive form, for matching sector names typed by hand."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@dataclass(slots=True)
class CleanRow:
    row_number: int
    values: dict = field(default_factory=dict)
    sectors: list = field(default_factory=list)  # Sector ids
    tags: list = field(default_factory=list)  # tag names
    consent: bool = False
    doubts: list = field(default_factory=list)
    rejected: str = ""


def cell(cells: list[str], mapping: dict[int, str], name: str) -> str:
    """The first mapped column's value for a field ("" when not mapped or empty)."""
    for index, field_name in mapping.items():
        if field_name == name and index < len(cells) and cells[index]:
            return cells[index]
    return ""


def cells_of(cells: list[str], mapping: dict[int, str], name: str) -> list[str]:
    return [cells[i] for i, f in mapping.items() if f == name and i < len(cells) and cells[i]]


def person_name(cells, mapping, row: CleanRow) -> None:
    full = cell(cells, mapping, "name")
    if not full:
        parts = [cell(cells, mapping, part) for part in ("first_name", "last_name", "second_last_name")]
        full = " ".join(part for part in parts if part)
    honorific, rest = split_honorific(clean_name(full))
    given = cell(cells, mapping, "honorific")
    if given:
        canonical, _rest = split_honorific(f"{given} x")  # "lic" → "Lic.", as if it preceded a name
        honorific = canonical or given
    row.values["honorific"] = honorific
    row.values["name"] = rest


def phones(cells, mapping, row: CleanRow) -> None:
    raw_mobile = cell(cells, mapping, "mobile")
    if raw_mobile:
        result = normalize_phone(raw_mobile)
        if result.problem:
            row.doubts.append(result.problem)
        if result.e164 and result.is_office_line:
            row.values["office_phone"], row.values["office_extension"] = result.e164, result.extension
            row.doubts.append(_("Número con extensión: se guarda como teléfono de oficina, sin WhatsApp."))
        elif result.e164:
            row.values["mobile"] = result.e164
    raw_office = cell(cells, mapping, "office_phone")
    if raw_office and not row.values.get("office_phone"):
        result = normalize_phone(raw_office, office_column=True)
        if result.problem:
            row.doubts.append(result.problem)
        row.values["office_phone"] = result.e164
        row.values["office_extension"] = result.extension or cell(cells, mapping, "office_extension")[:10]


def email(cells, mapping, row: CleanRow) -> None:
    raw = cell(cells, mapping, "email")
    if raw:
        result = normalize_email(raw)
        if result.problem:
            row.doubts.append(result.problem)
        row.values["email"] = result.email


def sectors(cells, mapping, row: CleanRow, sector_ids: dict[str, int], default_sector: int | None) -> None:
    for text in cells_of(cells, mapping, "sector"):
        for name in filter(None, LIST_SPLIT.split(text)):
            sector = sector_ids.get(fold(name))
            if sector is None:
                row.doubts.append(_("Sector desconocido «%(name)s»: no se asignó.") % {"name": name[:60]})
            elif sector not in row.sectors:
                row.sectors.append(sector)
    if not row.sectors and default_sector:
        row.sectors.append(default_sector)


def plain_fields(cells, mapping, row: CleanRow) -> None:
    for name in ("position", "organization", "notes"):
        row.values[name] = " ".join(cell(cells, mapping, name).split()) if name != "notes" else cell(cells, mapping, name)
    row.tags = [t[:60] for text in cells_of(cells, mapping, "tags") for t in LIST_SPLIT.split(text) if t]
    row.consent = fold(cell(cells, mapping, "consent")) in YES
    for name, limit in LIMITS.items():
        if len(row.values.get(name, "")) > limit:
            row.values[name] = row.values[name][:limit]
            row.doubts.append(_("El campo «%(field)s» era demasiado largo y se recortó.") % {"field": name})


def clean_row(row_number, cells, mapping, *, sector_ids, default_sector=None) -> CleanRow:
    row = CleanRow(row_number)
    person_name(cells, mapping, row)
    phones(cells, mapping, row)
    email(cells, mapping, row)
    plain_fields(cells, mapping, row)
    sectors(cells, mapping, row, sector_ids, default_sector)
    if not row.values["name"]:
        row.rejected = _("Sin nombre.")
    elif not (row.values.get("mobile") or row.values.get("email") or row.values.get("office_phone")):
        row.rejected = _("Sin celular, teléfono ni correo válidos: no habría cómo invitarle.")
    return row
