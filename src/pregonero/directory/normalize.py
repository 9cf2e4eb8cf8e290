"""Normalisation of messy spreadsheet contact data: phone numbers, e-mails and names.

Pure Python (no models): the importer calls it on up to 1,000,000 rows. Phone
numbers take a fast path for the common case, a Mexican 10-digit number checked
against `phonenumbers`' own MX metadata; the rest goes through `phonenumbers.parse`.

Decisions worth knowing:

* An empty cell is not a problem: the result is empty with ``problem == ""``.
* ``problem`` is set whenever the result is empty because the input was bad, and
  also, as a warning beside a valid result, when a cell held several numbers or
  addresses: the first valid one is kept and the others are named in ``problem``.
* Foreign numbers are valid and kept in E.164; they are not a problem.
* Legacy Mexican prefixes (``+52 1``, ``521``, ``044``, ``045``, ``01``) are
  rewritten to ``+52`` + 10 digits before parsing, because current metadata
  calls them invalid.
* Scientific notation ("9.98123E+09") means the spreadsheet already rounded the
  number away, so it is reported instead of guessed.
"""

import math
import re
import unicodedata
from dataclasses import dataclass, fields
from functools import lru_cache

import phonenumbers
from django.core.validators import validate_email
from django.utils.translation import gettext as _

# --------------------------------------------------------------------------- phones


@dataclass(frozen=True, slots=True)
class PhoneResult:
    e164: str  # "" when no valid number was found
    extension: str
    is_office_line: bool  # extension present or office-phone column: never WhatsApp
    problem: str  # "" or a short Spanish reason (a warning when e164 is set)


def _mx_validator():
    """Compile, from the library's MX metadata, the exact test `is_valid_number` applies.

    The general pattern alone (``[2-9]\\d{9}``) is looser than the number-type
    patterns: e.g. 2100000000 fits it but no type, and `is_valid_number` says
    invalid. So a number must fit the general pattern AND some type pattern,
    each with its own possible lengths, as `phonenumbers._number_type_helper` does.
    Returns None (no fast path) if the metadata stops matching the fast path's
    assumptions: 10-digit numbers, no national prefix to strip, an international
    prefix that starts with 0.
    """
    meta = phonenumbers.PhoneMetadata.metadata_for_region("MX")
    general = meta.general_desc
    if (general is None or 10 not in general.possible_length
            or meta.national_prefix_for_parsing or meta.national_prefix
            or not (meta.international_prefix or "").startswith("0")):
        return None
    type_patterns = []
    for name in ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                 "pager", "uan", "voicemail", "fixed_line", "mobile"):
        desc = getattr(meta, name)
        if desc is None or desc.national_number_pattern is None:
            continue
        if desc.possible_length and 10 not in desc.possible_length:
            continue  # this type can never match a 10-digit number
        type_patterns.append(desc.national_number_pattern)
    if not type_patterns:
        return None
    pattern = "(?=(?:%s)$)(?:%s)" % (general.national_number_pattern, "|".join(type_patterns))
    return re.compile(pattern).fullmatch


_MX_VALID = _mx_validator()
_LEGACY_13 = frozenset({"044", "045", "521"})  # mobile prefixes from before 2019/2020
_LEGACY_12 = frozenset({"01", "52"})  # long-distance prefix, or country code without "+"
_SEPARATORS = str.maketrans("", "", " \t\u00a0\u202f-\u2010\u2011\u2012\u2013\u2014.()")
_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+")
_EXTENSION_RE = re.compile(
    r"(?:(?<![^\W\d_])(?:ext(?:ensi[oó]n)?|ex|anexo|x)\s*[.:]?|#)\s*(\d{1,7})\s*$", re.IGNORECASE
)
_CELL_SPLIT_RE = re.compile(r"[/;|\n]|,(?!\s*(?:ext|ex|anexo|x|#))|\s[yoó]\s", re.IGNORECASE)
_NUMBER_SPAN_RE = re.compile(r"[+\d].*\d", re.DOTALL)  # drops labels such as "Cel:"
_new_object = object.__new__
_SETTERS = tuple(getattr(PhoneResult, field.name).__set__ for field in fields(PhoneResult))


def _phone_result(e164: str, extension: str, is_office_line: bool, problem: str) -> PhoneResult:
    """PhoneResult without the frozen dataclass __init__, half its cost on a per-row hot path."""
    result = _new_object(PhoneResult)
    set_e164, set_extension, set_office, set_problem = _SETTERS
    set_e164(result, e164)
    set_extension(result, extension)
    set_office(result, is_office_line)
    set_problem(result, problem)
    return result


@lru_cache(maxsize=1 << 16)
def _slow_e164(text: str) -> str:
    """The plain `phonenumbers` route, memoised: repeated switchboards are common."""
    try:
        number = phonenumbers.parse(text, "MX")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _rewrite_legacy(compact: str) -> str:
    """Turn Mexican forms of a '+'/digits string into "+52" + 10 digits, else return it unchanged."""
    length = len(compact)
    if length == 10 and compact[0] not in "0+":  # a leading 0 may be the "00" international prefix
        return "+52" + compact
    if length == 12 and compact[:2] in _LEGACY_12:
        return "+52" + compact[2:]
    if (length == 13 and compact[:3] in _LEGACY_13) or (length == 14 and compact[:4] == "+521"):
        return "+52" + compact[-10:]
    return compact


def _e164_of_compact(compact: str) -> str | None:
    """E.164 ("" if invalid) of a separator-free string; None when it is not just '+' and digits."""
    digits = compact[1:] if compact[:1] == "+" else compact
    if not (digits.isascii() and digits.isdigit()):
        return None
    candidate = _rewrite_legacy(compact)
    if _MX_VALID is None:  # metadata changed shape: everything takes the slow path
        return _slow_e164(candidate)
    if len(candidate) == 13 and candidate.startswith("+52"):
        return candidate if _MX_VALID(candidate[3:]) else ""
    if candidate[0] in "+0":  # another country code, or the "00" international prefix
        return _slow_e164(candidate)
    # Digits only, no international prefix, not the 10 or 12 digits of a Mexican
    # number: phonenumbers reads them as an MX national number of the wrong length.
    return ""


def _coerce_phone(raw) -> str | None:
    """Cell value as text; None for a value that cannot be a phone number (NaN, fractions...)."""
    if isinstance(raw, str):
        return raw
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        # Guard str(): huge ints raise ValueError, and negatives are not numbers people dial.
        return str(raw) if 0 <= raw < 10**20 else None
    if isinstance(raw, float):
        if math.isnan(raw):
            return ""  # pandas' empty cell
        if not math.isfinite(raw) or raw < 0 or raw >= 1e20 or not raw.is_integer():
            return None
        return str(int(raw))  # 9981234567.0 -> "9981234567"
    return str(raw)


def normalize_phone(raw, *, office_column: bool = False) -> PhoneResult:
    """Normalise one spreadsheet cell to E.164 (default region MX); never raises."""
    text = _coerce_phone(raw)
    if text is None:
        return _phone_result("", "", office_column, _invalid_phone(repr(raw)))
    text = text.strip()
    if not text:
        return _phone_result("", "", office_column, "")
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]  # a float exported to CSV as text
    e164 = _e164_of_compact(_compact(text))
    if e164:
        return _phone_result(e164, "", office_column, "")
    if e164 == "":
        return _phone_result("", "", office_column, _invalid_phone(text))
    return _normalize_messy(text, office_column)


def _compact(text: str) -> str:
    # str.replace beats str.translate several times over on these short strings;
    # the table is only needed for exotic separators (no-break spaces, Unicode dashes).
    text = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "").replace(".", "")
    return text if text.isascii() and "\t" not in text else text.translate(_SEPARATORS)


def _e164_of_odd_characters(candidate: str) -> str:
    """Unicode digits or spaces, stray symbols: keep the digits, so legacy prefixes still get rewritten."""
    if any(character.isalpha() for character in candidate):
        return _slow_e164(candidate)  # vanity numbers ("800-FLORES") are phonenumbers' business
    digits = phonenumbers.normalize_digits_only(candidate)
    if not digits:
        return ""
    return _e164_of_compact(("+" if candidate[0] == "+" else "") + digits) or ""


def _invalid_phone(text: str) -> str:
    return _("Número incompleto o inválido: «%(raw)s»") % {"raw": text}


def _normalize_messy(text: str, office_column: bool) -> PhoneResult:
    """Cells with extensions, labels, several numbers or scientific notation."""
    if _SCIENTIFIC_RE.fullmatch(text):
        problem = _("Número en notación científica; la hoja de cálculo lo redondeó: «%(raw)s»")
        return _phone_result("", "", office_column, problem % {"raw": text})
    found = None
    others = []
    for part in _CELL_SPLIT_RE.split(text):
        part = part.strip()
        span = _NUMBER_SPAN_RE.search(part)
        if span is None:
            continue  # a label or an empty piece, not a number
        extension = ""
        match = _EXTENSION_RE.search(part)
        if match is not None:
            extension = match[1]
            span = _NUMBER_SPAN_RE.search(part, 0, match.start())
            if span is None:
                continue
        if found is not None:
            others.append(part)
            continue
        candidate = span[0]
        e164 = _e164_of_compact(_compact(candidate))
        if e164 is None:
            e164 = _e164_of_odd_characters(candidate)
        if e164:
            found = (e164, extension)
        else:
            others.append(part)
    if found is None:
        return _phone_result("", "", office_column, _invalid_phone(text))
    e164, extension = found
    problem = ""
    if others:
        problem = _("Se ignoraron otros números de la celda: %(others)s") % {
            "others": ", ".join(f"«{other}»" for other in others)
        }
    return _phone_result(e164, extension, office_column or bool(extension), problem)


# --------------------------------------------------------------------------- e-mails


@dataclass(frozen=True, slots=True)
class EmailResult:
    email: str  # "" when no valid address was found
    problem: str  # "" or a short Spanish reason (a warning when email is set)


_EMAIL_SPLIT_RE = re.compile(r"[\s;,]+")
_EMAIL_LEAD = "<([\"«'"  # "'" is Excel's text marker; "{" is left: it may start an address
_EMAIL_TRAIL = ">)]}.;,:'\"»"


def _clean_address(token: str) -> str:
    token = token.lstrip(_EMAIL_LEAD)
    if token.startswith("mailto:"):
        token = token[7:].lstrip(_EMAIL_LEAD)
    return token.rstrip(_EMAIL_TRAIL)


# Django's own regex, taken out of its lazy wrapper: the proxy doubles the cost of a match.
_EMAIL_USER_MATCH = re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags).match


@lru_cache(maxsize=1 << 14)
def _email_domain_ok(domain: str) -> bool:
    """Memoised: a million contacts share a few thousand domains."""
    return domain in validate_email.domain_allowlist or validate_email.validate_domain_part(domain)


def _is_valid_email(address: str) -> bool:
    """`EmailValidator.__call__` step for step, on Django's own regexes (a test pins the equivalence)."""
    if not address or "@" not in address or len(address) > 320:
        return False
    user, domain = address.rsplit("@", 1)
    return _EMAIL_USER_MATCH(user) is not None and _email_domain_ok(domain)


def normalize_email(raw) -> EmailResult:
    """Trim, lower-case and validate one cell; the first valid address wins. Never raises."""
    if raw is None:
        return EmailResult("", "")
    text = str(raw).strip().lower()
    if not text:
        return EmailResult("", "")
    tokens = _EMAIL_SPLIT_RE.split(text)
    found = ""
    others = []
    for token in tokens:
        if "@" not in token:
            continue  # display names ("Juan Pérez <juan@x.mx>") and other words
        address = _clean_address(token)
        if not found and _is_valid_email(address):
            found = address
        else:
            others.append(address)
    if not found:
        return EmailResult("", _("Correo inválido: «%(raw)s»") % {"raw": str(raw).strip()})
    if others:
        problem = _("Se ignoraron otros correos de la celda: %(others)s")
        return EmailResult(found, problem % {"others": ", ".join(others)})
    return EmailResult(found, "")


# --------------------------------------------------------------------------- names

# Lower-case inside a title-cased name, except as its first word.
_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "e", "da", "das", "do", "dos",
                        "van", "von", "der"})

# Canonical honorific -> other spellings (lower-case, accents optional where people drop them).
_HONORIFIC_FORMS = {
    "Lic.": ["lic", "licenciado", "licdo"], "Licda.": ["licda", "lcda", "licenciada"],
    "Ing.": ["ing", "ingeniero", "ingeniera"], "Arq.": ["arq", "arquitecto", "arquitecta"],
    "C.": ["c"], "C.P.": ["c.p"], "Dr.": ["dr", "doctor"], "Dra.": ["dra", "doctora"],
    "Mtro.": ["mtro", "maestro"], "Mtra.": ["mtra", "maestra"],
    "Prof.": ["prof", "profesor"], "Profa.": ["profa", "profesora"],
    "Sr.": ["sr", "señor", "senor"], "Sra.": ["sra", "señora", "senora"],
    "Srta.": ["srta", "señorita", "senorita"], "Gral.": ["gral", "general"],
    "Almte.": ["almte", "almirante"], "Cap.": ["cap", "capitán", "capitan"],
    "Tte.": ["tte", "teniente"], "Dip.": ["dip", "diputado", "diputada"],
    "Sen.": ["sen", "senador", "senadora"], "Pbro.": ["pbro", "presbítero", "presbitero"],
    "Mons.": ["mons", "monseñor", "monsenor"],
}
_HONORIFIC_CANON = {
    form.replace(".", ""): canon for canon, forms in _HONORIFIC_FORMS.items() for form in forms
}


def _honorific_regex() -> re.Pattern:
    """One alternation; dots optional between letters of abbreviations such as "C.P."."""
    alternatives = []
    for forms in _HONORIFIC_FORMS.values():
        for form in forms:
            segments = [re.escape(segment) for segment in form.split(".")]
            alternatives.append(r"(?:\.\s*)?".join(segments))
    alternatives.sort(key=len, reverse=True)  # "Sra" before "Sr", "C.P." before "C."
    # Ends at a dot, whitespace or the end, so "Drago" is not "Dr." + "ago".
    return re.compile(r"\s*(%s)(?:\.\s*|\s+|$)" % "|".join(alternatives), re.IGNORECASE)


_HONORIFIC_RE = _honorific_regex()


def _title_case(text: str) -> str:
    words = text.split(" ")
    for index, word in enumerate(words):
        lowered = word.lower()
        if index and lowered in _PARTICLES:
            words[index] = lowered
        else:
            words[index] = lowered.title()  # "o'brien" -> "O'Brien", "pérez-gómez" -> "Pérez-Gómez"
    return " ".join(words)


def clean_name(raw) -> str:
    """Collapse whitespace, NFC; title-case only ALL-UPPER or all-lower input."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):  # NaN: pandas' empty cell
        return ""
    text = unicodedata.normalize("NFC", " ".join(str(raw).split()))
    if text == text.upper() or text == text.lower():
        return _title_case(text)
    return text  # mixed case was typed on purpose: "María de la Luz McDonald"


def split_honorific(name: str) -> tuple[str, str]:
    """("Lic.", "Juan Pérez") for "LIC JUAN PÉREZ"-like input; ("", name) when there is none."""
    match = _HONORIFIC_RE.match(name)
    # casefold, and .get(): IGNORECASE also lets look-alikes such as "ſ" (long s) match "s".
    canonical = match and _HONORIFIC_CANON.get(re.sub(r"[.\s]", "", match[1]).casefold())
    if not canonical:
        return "", name.strip()
    return canonical, name[match.end():].strip()


_COMBINING_RE = re.compile("[\u0300-\u036f]")
_NON_WORD_RE = re.compile(r"[\W_]+")


def _fold(text: str) -> str:
    """casefold, drop accents and punctuation, single spaces."""
    text = text.casefold()
    if not text.isascii():
        text = _COMBINING_RE.sub("", unicodedata.normalize("NFKD", text))
    return " ".join(_NON_WORD_RE.sub(" ", text).split())


_fold_organization = lru_cache(maxsize=1 << 14)(_fold)  # organisations repeat across rows


def name_key(name, organization="") -> str:
    """Key for spotting likely duplicates: "juan perez|secretaria de turismo"."""
    rest = "" if name is None else str(name)
    for _attempt in range(3):  # "Lic. Ing. Juan" carries more than one
        honorific, rest = split_honorific(rest)
        if not honorific:
            break
    return f"{_fold(rest)}|{_fold_organization('' if organization is None else str(organization))}"
