"""One spreadsheet row turned into a clean contact, with the reasons it is doubtful or rejected.

Pure functions (no database): the importer, the preview and the property-based tests all use them. A
`RowCleaner` is built once per file, with the column of each field resolved up front, because it runs on up to
a million rows.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from django.utils.translation import gettext as _

from .normalize import clean_name, name_key, normalize_email, normalize_phone, split_honorific

LIMITS = (("honorific", 30), ("name", 200), ("position", 200), ("organization", 200), ("notes", 2000))
LIST_SPLIT = re.compile(r"\s*[,;/|]\s*")
YES = {"si", "sí", "x", "1", "true", "verdadero", "autoriza", "acepta", "yes"}
NAME_PARTS = ("first_name", "last_name", "second_last_name")


@lru_cache(maxsize=4096)
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


class RowCleaner:
    def __init__(self, mapping: dict[int, str], *, sector_ids: dict[str, int], default_sector: int | None = None):
        self.columns: dict[str, list[int]] = {}
        for index, name in sorted(mapping.items()):
            self.columns.setdefault(name, []).append(index)
        self.sector_ids, self.default_sector = sector_ids, default_sector

    def first(self, cells: list[str], name: str) -> str:
        for index in self.columns.get(name, ()):
            if index < len(cells) and cells[index]:
                return cells[index]
        return ""

    def every(self, cells: list[str], name: str) -> list[str]:
        return [cells[i] for i in self.columns.get(name, ()) if i < len(cells) and cells[i]]

    def __call__(self, row_number: int, cells: list[str]) -> CleanRow:
        row = CleanRow(row_number)
        self.person(cells, row)
        self.phones(cells, row)
        self.email(cells, row)
        self.plain_fields(cells, row)
        self.sectors(cells, row)
        # Computed here, in the cleaning process, so the writing process only copies it.
        row.values["name_key"] = name_key(row.values["name"], row.values["organization"])
        if not row.values["name"]:
            row.rejected = _("Sin nombre.")
        elif not (row.values.get("mobile") or row.values.get("email") or row.values.get("office_phone")):
            row.rejected = _("Sin celular, teléfono ni correo válidos: no habría cómo invitarle.")
        return row

    def person(self, cells, row: CleanRow) -> None:
        full = self.first(cells, "name") or " ".join(p for p in (self.first(cells, n) for n in NAME_PARTS) if p)
        honorific, rest = split_honorific(clean_name(full))
        given = self.first(cells, "honorific")
        if given:
            canonical, _rest = split_honorific(f"{given} x")  # "lic" → "Lic.", as if it preceded a name
            honorific = canonical or given
        row.values["honorific"], row.values["name"] = honorific, rest

    def phones(self, cells, row: CleanRow) -> None:
        raw_mobile = self.first(cells, "mobile")
        if raw_mobile:
            result = normalize_phone(raw_mobile)
            if result.problem:
                row.doubts.append(result.problem)
            if result.e164 and result.is_office_line:
                row.values["office_phone"], row.values["office_extension"] = result.e164, result.extension
                row.doubts.append(_("Número con extensión: se guarda como teléfono de oficina, sin WhatsApp."))
            elif result.e164:
                row.values["mobile"] = result.e164
        raw_office = self.first(cells, "office_phone")
        if raw_office and not row.values.get("office_phone"):
            result = normalize_phone(raw_office, office_column=True)
            if result.problem:
                row.doubts.append(result.problem)
            row.values["office_phone"] = result.e164
            row.values["office_extension"] = result.extension or self.first(cells, "office_extension")[:10]

    def email(self, cells, row: CleanRow) -> None:
        raw = self.first(cells, "email")
        if raw:
            result = normalize_email(raw)
            if result.problem:
                row.doubts.append(result.problem)
            row.values["email"] = result.email

    def plain_fields(self, cells, row: CleanRow) -> None:
        values = row.values
        values["position"] = " ".join(self.first(cells, "position").split())
        values["organization"] = " ".join(self.first(cells, "organization").split())
        values["notes"] = self.first(cells, "notes")
        if "tags" in self.columns:
            row.tags = [t[:60] for text in self.every(cells, "tags") for t in LIST_SPLIT.split(text) if t]
        if "consent" in self.columns:
            row.consent = fold(self.first(cells, "consent")) in YES
        for name, limit in LIMITS:
            if len(values.get(name, "")) > limit:
                values[name] = values[name][:limit]
                row.doubts.append(_("El campo «%(field)s» era demasiado largo y se recortó.") % {"field": name})

    def sectors(self, cells, row: CleanRow) -> None:
        for text in self.every(cells, "sector"):
            for name in filter(None, LIST_SPLIT.split(text)):
                sector = self.sector_ids.get(fold(name))
                if sector is None:
                    row.doubts.append(_("Sector desconocido «%(name)s»: no se asignó.") % {"name": name[:60]})
                elif sector not in row.sectors:
                    row.sectors.append(sector)
        if not row.sectors and self.default_sector:
            row.sectors.append(self.default_sector)


def clean_row(row_number, cells, mapping, *, sector_ids, default_sector=None) -> CleanRow:
    """One row on its own (the preview); the importer keeps one RowCleaner for the whole file."""
    return RowCleaner(mapping, sector_ids=sector_ids, default_sector=default_sector)(row_number, cells)
