"""Normalisation of spreadsheet contacts: examples plus properties checked against `phonenumbers` itself."""

import math
import re

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pregonero.directory import normalize
from pregonero.directory.normalize import (
    clean_name,
    name_key,
    normalize_email,
    normalize_phone,
    split_honorific,
)


def slow_reference(canonical: str) -> str:
    """What plain phonenumbers says about a canonical (legacy-free) number."""
    try:
        number = phonenumbers.parse(canonical, "MX")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# ------------------------------------------------------------------ phone examples


@pytest.mark.parametrize(
    ("raw", "e164", "extension"),
    [
        ("998 123 4567", "+529981234567", ""),
        ("998-123-4567", "+529981234567", ""),
        ("998.123.4567", "+529981234567", ""),
        ("(998) 123-4567", "+529981234567", ""),
        ("  9981234567\t", "+529981234567", ""),
        ("+52 (998) 123 4567", "+529981234567", ""),
        ("+52 1 998 123 4567", "+529981234567", ""),
        ("+521 998 123 4567", "+529981234567", ""),
        ("521 998 123 4567", "+529981234567", ""),
        ("52 998 123 4567", "+529981234567", ""),
        ("044 998 123 4567", "+529981234567", ""),
        ("045 55 1234 5678", "+525512345678", ""),
        ("01 998 123 4567", "+529981234567", ""),
        ("01 800 123 4567", "+528001234567", ""),
        ("Cel: 33 1234 5678", "+523312345678", ""),
        ("(998) 123-4567 ext. 123", "+529981234567", "123"),
        ("998 123 4567 ext 12", "+529981234567", "12"),
        ("998 123 4567 x123", "+529981234567", "123"),
        ("998-123-4567 extensión 123", "+529981234567", "123"),
        ("998 123 4567 Ext: 123", "+529981234567", "123"),
        ("998 123 4567, ext. 5", "+529981234567", "5"),
        ("9981234567#12", "+529981234567", "12"),
        ("+1 (305) 555-0123", "+13055550123", ""),
        ("+34 91 123 45 67", "+34911234567", ""),
        ("00 1 305 555 0123", "+13055550123", ""),
        (9981234567, "+529981234567", ""),
        (9981234567.0, "+529981234567", ""),
        ("9981234567.0", "+529981234567", ""),
    ],
)
def test_valid_numbers(raw, e164, extension):
    result = normalize_phone(raw)
    assert (result.e164, result.extension, result.problem) == (e164, extension, "")
    assert result.is_office_line is bool(extension)


@pytest.mark.parametrize(
    "raw", ["12345", "998 123 456", "2100000000", "abc", "+52 1 998 123 456", 1.5, -9981234567, True,
            float("inf"), "9.98123E+09", "9,98123e9"]
)
def test_invalid_numbers_explain_why(raw):
    result = normalize_phone(raw)
    assert result.e164 == ""
    assert result.problem


def test_scientific_notation_is_reported_not_guessed():
    assert "notación científica" in normalize_phone("9.98123E+09").problem


@pytest.mark.parametrize("raw", [None, "", "   ", math.nan])
def test_empty_cell_is_not_a_problem(raw):
    assert normalize_phone(raw) == normalize.PhoneResult("", "", False, "")


def test_office_column_marks_office_line():
    result = normalize_phone("998 123 4567", office_column=True)
    assert (result.e164, result.is_office_line) == ("+529981234567", True)
    assert normalize_phone(None, office_column=True).is_office_line


def test_several_numbers_keep_first_valid_and_name_the_rest():
    result = normalize_phone("12 / 998 123 4567 / 998 765 4321")
    assert result.e164 == "+529981234567"
    assert "«12»" in result.problem and "«998 765 4321»" in result.problem
    assert normalize_phone("998 123 4567 y 55 1234 5678").e164 == "+529981234567"


def test_result_is_frozen():
    with pytest.raises(AttributeError):
        normalize_phone("998 123 4567").e164 = ""


# ------------------------------------------------------------------ fast path vs metadata


def test_fast_validator_agrees_with_is_valid_number_on_every_prefix():
    """MX type patterns depend on at most 3-4 leading digits: sweep all 4-digit prefixes."""
    for prefix in range(1000, 10000):
        for tail in ("000000", "555555", "999999"):
            national = f"{prefix}{tail}"
            expected = phonenumbers.is_valid_number(phonenumbers.parse("+52" + national))
            assert bool(normalize._MX_VALID(national)) is expected, national


def test_fast_path_is_in_use():
    assert normalize._MX_VALID is not None


# ------------------------------------------------------------------ phone properties

AREA_CODES = ["998", "55", "33", "81", "999", "984", "222", "442", "800"]


@st.composite
def mexican_nationals(draw):
    if draw(st.booleans()):
        return draw(st.text(alphabet="0123456789", min_size=10, max_size=10))
    area = draw(st.sampled_from(AREA_CODES))
    return area + draw(st.text(alphabet="0123456789", min_size=10 - len(area), max_size=10 - len(area)))


PREFIXES = ["", "+52", "+52 ", "+52 1 ", "+521", "521 ", "52 ", "044 ", "045 ", "01 "]


@st.composite
def formatted_numbers(draw):
    """(formatted cell, canonical number, extension)."""
    national = draw(mexican_nationals())
    prefix = draw(st.sampled_from(PREFIXES))
    sep = draw(st.sampled_from(["", " ", "-", "."]))
    area_len = 2 if national[:2] in ("55", "33", "81") else 3
    area, rest = national[:area_len], national[area_len:]
    if draw(st.booleans()):
        area = f"({area}) "
    else:
        area += sep
    body = area + rest[:-4] + sep + rest[-4:]
    extension = draw(st.one_of(st.just(""), st.integers(1, 99999).map(str)))
    marker = draw(st.sampled_from([" ext. ", " ext ", " x", " Ext: ", " extensión ", "#"]))
    pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
    cell = f"{pad}{prefix}{body}{marker + extension if extension else ''}{pad}"
    canonical = national if prefix == "" else "+52" + national
    return cell, canonical, extension


@settings(max_examples=2000)
@given(formatted_numbers())
def test_fast_path_agrees_with_phonenumbers(case):
    cell, canonical, extension = case
    result = normalize_phone(cell)
    assert result.e164 == slow_reference(canonical)
    if result.e164:
        assert result.extension == extension
        assert result.is_office_line is bool(extension)


LEGACY_RE = re.compile(r"(?:\+521|521|044|045|\+52|52|01)(\d{10})")


def legacy_free(digits: str) -> str:
    """Test-side rewrite of the legacy Mexican forms, written independently of the module."""
    match = LEGACY_RE.fullmatch(digits)
    return "+52" + match[1] if match else digits


@settings(max_examples=3000)
@given(
    st.sampled_from(["", "+", "0", "00", "+52", "+521", "52", "521", "044", "045", "01", "1"]),
    st.text(alphabet="0123456789", min_size=0, max_size=20),
)
def test_digit_strings_agree_with_phonenumbers(prefix, digits):
    """Every digits-only shortcut, including the ones that answer "invalid" without parsing."""
    cell = prefix + digits
    assume(cell)
    assert normalize_phone(cell).e164 == slow_reference(legacy_free(cell))


PHONE_TEXT = st.text(alphabet="0123456789 +-().#/,;xXext:\t", max_size=40)
ANY_CELL = st.one_of(st.none(), st.integers(), st.floats(), st.text(), PHONE_TEXT)


@settings(max_examples=1000)
@given(st.one_of(ANY_CELL, formatted_numbers().map(lambda case: case[0])))
def test_phone_output_is_empty_or_valid_e164_and_idempotent(raw):
    result = normalize_phone(raw)  # never raises
    assert isinstance(result.problem, str)
    if result.e164:
        assert result.e164.startswith("+")
        assert phonenumbers.is_valid_number(phonenumbers.parse(result.e164))
        assert normalize_phone(result.e164).e164 == result.e164
    else:
        assert result.extension == ""


# ------------------------------------------------------------------ e-mails


@pytest.mark.parametrize(
    ("raw", "email"),
    [
        ("  Juan.Perez@Example.COM ", "juan.perez@example.com"),
        ("mailto:Ana@Turismo.gob.mx", "ana@turismo.gob.mx"),
        ("<ana@x.mx>;", "ana@x.mx"),
        ("ana@x.mx.", "ana@x.mx"),
        ("ana@x.mx,", "ana@x.mx"),
        ("Juan Pérez <juan@x.mx>", "juan@x.mx"),
    ],
)
def test_email_cleanup(raw, email):
    assert normalize_email(raw) == normalize.EmailResult(email, "")


def test_several_addresses_keep_first_valid():
    result = normalize_email("roto@ ; ana@x.mx, bob@y.mx beto@z.mx")
    assert result.email == "ana@x.mx"
    assert "roto@" in result.problem and "bob@y.mx" in result.problem and "beto@z.mx" in result.problem


@pytest.mark.parametrize("raw", ["bad@", "sin arroba", "a@b", "@x.mx"])
def test_invalid_email(raw):
    result = normalize_email(raw)
    assert result.email == "" and result.problem


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_empty_email_is_not_a_problem(raw):
    assert normalize_email(raw) == normalize.EmailResult("", "")


@settings(max_examples=1000)
@given(st.one_of(st.text(), st.emails().map(lambda e: f" {e.upper()}; "), st.none(), st.integers()))
def test_email_properties(raw):
    result = normalize_email(raw)  # never raises
    email = result.email
    assert email == email.lower() == email.strip()
    assert normalize_email(email).email == email
    if email:
        validate_email(email)


def django_says_valid(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


@settings(max_examples=1000)
@given(st.one_of(st.text(), st.emails(), st.emails().map(str.upper),
                 st.builds("{}@{}".format, st.text(), st.text())))
def test_fast_email_check_is_djangos(address):
    assert normalize._is_valid_email(address) is django_says_valid(address)


@given(st.emails(), st.sampled_from(["{}", " {} ", "mailto:{}", "<{}>", "{};", "{}.", "{},"]))
def test_wrapped_valid_email_comes_back(address, wrapper):
    address = address.lower()
    assume(address[0] not in normalize._EMAIL_LEAD)  # junk we strip, never first in real addresses
    try:
        validate_email(address)
    except ValidationError:
        assume(False)
    assert normalize_email(wrapper.format(address.upper())).email == address


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  MARÍA   DE LA LUZ  GÓMEZ ", "María de la Luz Gómez"),
        ("josé del río y santos", "José del Río y Santos"),
        ("DE LA CRUZ JUAN", "De la Cruz Juan"),
        ("María de la Luz McDonald", "María de la Luz McDonald"),
        ("JUAN PÉREZ-GÓMEZ", "Juan Pérez-Gómez"),
        ("o'brien", "O'Brien"),
        ("LIC. ANA DE LOS SANTOS", "Lic. Ana de los Santos"),
        ("Jose\u0301 Pe\u0301rez", "José Pérez"),  # decomposed accents become NFC
        (None, ""),
    ],
)
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean


@given(st.text())
def test_clean_name_is_idempotent(raw):
    once = clean_name(raw)
    assert clean_name(once) == once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Lic. Juan Pérez", ("Lic.", "Juan Pérez")),
        ("LIC JUAN", ("Lic.", "JUAN")),
        ("licda. ana", ("Licda.", "ana")),
        ("Ing.Pedro", ("Ing.", "Pedro")),
        ("arq ana", ("Arq.", "ana")),
        ("C. Juan", ("C.", "Juan")),
        ("C.P. Juan", ("C.P.", "Juan")),
        ("c. p. Juan", ("C.P.", "Juan")),
        ("C. Pedro", ("C.", "Pedro")),
        ("Dr. Ana", ("Dr.", "Ana")),
        ("DRA ANA", ("Dra.", "ANA")),
        ("Mtro. X", ("Mtro.", "X")),
        ("mtra X", ("Mtra.", "X")),
        ("Prof. X", ("Prof.", "X")),
        ("Profa X", ("Profa.", "X")),
        ("Sr. X", ("Sr.", "X")),
        ("sra X", ("Sra.", "X")),
        ("Gral. X", ("Gral.", "X")),
        ("ALMTE. X", ("Almte.", "X")),
        ("Cap X", ("Cap.", "X")),
        ("Carlos Pérez", ("", "Carlos Pérez")),
        ("Drago López", ("", "Drago López")),
        ("Sra", ("Sra.", "")),
    ],
)
def test_split_honorific(raw, expected):
    assert split_honorific(raw) == expected


def test_name_key_matches_likely_duplicates():
    key = name_key("Lic. José María DE LA O", "Secretaría de Turismo")
    assert key == "jose maria de la o|secretaria de turismo"
    assert name_key("JOSE MARIA DE LA O", "SECRETARIA DE TURISMO") == key
    assert name_key("Ing. Lic. José María de la O", "Secretaría  de Turismo.") == key
    assert name_key("María José de la O", "Secretaría de Turismo") != key
    assert name_key(None, None) == "|"


@given(st.text(), st.text())
def test_name_key_never_raises(name, organization):
    assert "|" in name_key(name, organization)
