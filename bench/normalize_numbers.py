"""Microbenchmark: plain `phonenumbers` loop vs `normalize_phone` on 100,000 messy numbers.

Not a test; prints figures. Run from the project root:

    .venv/bin/python bench/normalize_numbers.py [count]

The mix imitates the office's spreadsheets: mostly Mexican numbers in every
common layout (legacy prefixes included), ~5 % with an extension, ~3 %
international, ~5 % invalid (short, words, scientific notation).
"""

import math
import os
import random
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pregonero.settings")
django.setup()  # gettext for the Spanish problem strings needs settings

import phonenumbers  # noqa: E402

from pregonero.directory.normalize import (  # noqa: E402
    _slow_e164,
    clean_name,
    name_key,
    normalize_email,
    normalize_phone,
)

AREA_CODES = ["998", "55", "33", "81", "999", "984", "222", "442", "664", "477"]
MX_LAYOUTS = [
    (30, "{a} {b} {c}"),
    (15, "({a}) {b}-{c}"),
    (10, "{a}-{b}-{c}"),
    (10, "{a}{b}{c}"),
    (5, "{a}.{b}.{c}"),
    (6, "+52 {a} {b} {c}"),
    (5, "+52 1 {a} {b} {c}"),
    (3, "521{a}{b}{c}"),
    (4, "044 {a} {b} {c}"),
    (2, "045 {a} {b} {c}"),
    (4, "01 {a} {b} {c}"),
    (3, " {a} {b} {c} "),
]
EXTENSIONS = ["{n} ext. {e}", "{n} ext {e}", "{n} x{e}", "{n} Ext: {e}", "{n} extensión {e}", "{n} #{e}"]
INTERNATIONAL = ["+1 ({a}) {b}-{c}", "+34 91 {s2} {s2b} {s2c}", "+1 {a} {b} {c}"]
INVALID = ["{a} {b}", "sin teléfono", "9.98123E+09", "{a} {b} {c}9", "12345", "N/A"]


def mexican(rng: random.Random) -> tuple[str, str, str]:
    area = rng.choice(AREA_CODES)
    rest = f"{rng.randrange(10 ** (10 - len(area))):0{10 - len(area)}d}"
    return area, rest[:-4], rest[-4:]


def messy_number(rng: random.Random):
    """(kind, cell) with the office's mix of layouts."""
    roll = rng.random()
    a, b, c = mexican(rng)
    if roll < 0.05:
        return "invalid", rng.choice(INVALID).format(a=a, b=b, c=c)
    if roll < 0.08:
        us_area = rng.choice(["305", "212", "713", "415"])
        return "international", rng.choice(INTERNATIONAL).format(
            a=us_area, b=f"{rng.randrange(200, 1000)}", c=f"{rng.randrange(10000):04d}",
            s2=f"{rng.randrange(100, 1000)}",
            s2b=f"{rng.randrange(10, 100)}",
            s2c=f"{rng.randrange(10, 100)}",
        )
    layout = rng.choices([layout for _w, layout in MX_LAYOUTS], [w for w, _l in MX_LAYOUTS])[0]
    number = layout.format(a=a, b=b, c=c)
    if roll < 0.13:
        return "extension", rng.choice(EXTENSIONS).format(n=number, e=rng.randrange(1, 9999))
    if roll < 0.16:
        return "mexican", float(a + b + c)  # numeric spreadsheet cell
    if roll < 0.18:
        return "mexican", int(a + b + c)
    return "mexican", number


def plain_loop(cells) -> int:
    valid = 0
    for cell in cells:
        try:
            number = phonenumbers.parse(str(cell), "MX")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            valid += 1
    return valid


def normalizer_loop(cells) -> int:
    _slow_e164.cache_clear()  # cold cache: the import sees each file once
    valid = 0
    for cell in cells:
        if normalize_phone(cell).e164:
            valid += 1
    return valid


def best_of(repeats: int, function, items) -> tuple[float, int]:
    """Fastest of a few runs: other work on the machine only ever adds time."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(items)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = 3
    rng = random.Random(20240601)
    kinds_cells = [messy_number(rng) for _ in range(count)]
    cells = [cell for _kind, cell in kinds_cells]

    plain_s, plain_valid = best_of(repeats, plain_loop, cells)
    fast_s, fast_valid = best_of(repeats, normalizer_loop, cells)
    print(f"{count:,} numbers on one core, best of {repeats}")
    for label, seconds, valid in (("plain phonenumbers loop", plain_s, plain_valid),
                                  ("normalize_phone", fast_s, fast_valid)):
        print(f"  {label:24s} {seconds * 1e6 / count:6.2f} µs/number  ({seconds:.2f} s, {valid:,} valid)")
    print(f"  speed-up: {plain_s / fast_s:.1f}x")
    for kind in ("mexican", "extension", "international", "invalid"):
        subset = [cell for cell_kind, cell in kinds_cells if cell_kind == kind]
        plain_k, _ = best_of(repeats, plain_loop, subset)
        fast_k, _ = best_of(repeats, normalizer_loop, subset)
        print(f"    {kind:13s} {len(subset) / count:4.0%}: plain {plain_k * 1e6 / len(subset):6.2f}"
              f"  normalize_phone {fast_k * 1e6 / len(subset):6.2f} µs/number")

    emails = [f" Usuario.{i}@Dominio{i % 97}.COM.MX; " if i % 20 else "roto@" for i in range(count)]
    names = [f"LIC. MARÍA DE LA LUZ GÓMEZ {i}" if i % 2 else f"José del Río {i}" for i in range(count)]
    email_s, _ = best_of(repeats, lambda items: [normalize_email(x) for x in items], emails)
    name_s, _ = best_of(repeats, lambda items: [clean_name(x) for x in items], names)
    key_s, _ = best_of(repeats, lambda items: [name_key(x, "Secretaría de Turismo") for x in items], names)
    print(f"  normalize_email: {email_s * 1e6 / count:6.2f} µs/address (5% invalid)")
    print(f"  clean_name:      {name_s * 1e6 / count:6.2f} µs/name (half ALL CAPS)")
    print(f"  name_key:        {key_s * 1e6 / count:6.2f} µs/name")


if __name__ == "__main__":
    main()
