"""Contact import benchmark (prints figures; not a test).

    .venv/bin/python bench/import_contacts.py                  # SQLite, in a scratch data folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pregonero_bench .venv/bin/python bench/import_contacts.py

Each measurement runs in its own child process on a freshly migrated database, so wall time and peak memory
(the child's maximum resident set) belong to that step alone. Beside each import it prints the bare read of the
same file with the same reader (python-calamine for .xlsx, csv for .csv) and the ratio import / bare read.
Targets (issue 3): 100,000-row .xlsx ≤ 10 s and ≤ 400 MB; 1,000,000-row .csv ≤ 90 s; a 100,000-guest list
selected by sector from a 1,000,000-contact directory ≤ 2 s.
"""

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(os.environ.get("BENCH_DIR", ROOT / "var" / "bench"))
HEADER = ["Nombre completo", "Cargo", "Empresa", "Celular", "Correo", "Sector"]
SECTORS = ["Empresarios", "ONGs", "Gobierno federal", "Gobierno estatal", "Gobierno municipal", "Medios",
           "Sociedad civil"]
FIRST = ["José Luis", "María Fernanda", "Juan Carlos", "Ana Sofía", "Miguel Ángel", "Guadalupe", "Itzel", "Raúl"]
LAST = ["Hernández", "García", "de la Cruz", "Pech", "May", "Canul", "Ek", "del Valle", "Dzul", "Uc", "Vázquez"]


def messy_phone(rng: random.Random, n: int) -> str:
    digits = f"998{n:07d}"
    style = rng.random()
    if style < 0.3:
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    if style < 0.5:
        return f"+52 1 ({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    if style < 0.6:
        return f"044 {digits}"
    if style < 0.63:
        return f"{digits} ext. {rng.randrange(100, 999)}"
    if style < 0.65:
        return "12345"
    return digits


def rows(count: int, seed: int = 7):
    """Realistic messy rows: mixed phone styles, upper-case e-mails, ~2 % repeated people, a few bad rows.
    One row in ten is "Academia", so a 1,000,000-row file gives a 100,000-guest sector."""
    rng = random.Random(seed)
    for n in range(count):
        person = n - 1 if n and rng.random() < 0.02 else n
        sector = "Academia" if n % 10 == 0 else rng.choice(SECTORS)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)} {person}"
        email = f"Persona.{person}@Ejemplo.MX " if rng.random() < 0.7 else ""
        yield [name, "Director", f"Empresa {person % 5000}", messy_phone(rng, person), email, sector]


def make_csv(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows(count))


def make_xlsx(path: Path, count: int) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Directorio")
    sheet.append(["Directorio de invitados"])
    sheet.append(HEADER)
    for row in rows(count):
        sheet.append(row)
    workbook.save(path)


def django_setup(data_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pregonero.settings")
    os.environ["PREGONERO_DATA_DIR"] = str(data_dir)
    os.environ["TASKS_BACKEND"] = "django.tasks.backends.immediate.ImmediateBackend"
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def fresh_database(data_dir: Path) -> None:
    """An empty, migrated database: a new SQLite file, or the PostgreSQL database dropped and recreated."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        Path(db["NAME"]).unlink(missing_ok=True)
    else:
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)


def bare_read(path: Path) -> int:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return sum(1 for _row in csv.reader(handle))
    from python_calamine import CalamineWorkbook

    return sum(1 for _row in CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).iter_rows())


def child_import(path: Path) -> dict:
    from pregonero.directory.importer import import_prepare, import_run

    with path.open("rb") as handle:
        batch = import_prepare(file=handle, filename=path.name, actor=None)
    batch = import_run(batch)
    return {"created": batch.created, "merged": batch.merged, "rejected": batch.rejected, "status": batch.status}


def child_select() -> dict:
    from pregonero.accounts.models import Department, User
    from pregonero.campaigns.models import Campaign
    from pregonero.directory.guestlists import guest_list_for, guest_queryset, guest_summary
    from pregonero.directory.models import Sector

    user = User.objects.create(username="bench")
    department = Department.objects.create(name="Bench")
    campaign = Campaign.objects.create(folio="RP-BENCH-0001", department=department, title="Bench", created_by=user)
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([Sector.objects.get(name="Academia")])
    started = time.perf_counter()
    summary = guest_summary(guest_list)
    selected = time.perf_counter() - started
    started = time.perf_counter()
    ids = list(guest_queryset(guest_list).values_list("pk", flat=True))
    listed = time.perf_counter() - started
    from django.db import connection

    with connection.cursor() as cursor:  # the floor: one indexed count on the link table
        started = time.perf_counter()
        cursor.execute("SELECT COUNT(*) FROM directory_contact_sectors WHERE sector_id = %s",
                       [Sector.objects.get(name="Academia").pk])
        cursor.fetchone()
        bare = time.perf_counter() - started
    return {"summary_s": selected, "ids_s": listed, "guests": len(ids), "bare_s": bare,
            "reach": {k: v for k, v in summary.items() if isinstance(v, int)}}


def run_child(step: str, *args: str) -> dict:
    command = [sys.executable, __file__, "--child", step, *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def child_main(step: str, args: list[str]) -> None:
    data_dir = SCRATCH / "data"
    django_setup(data_dir)
    if step == "fresh":
        fresh_database(data_dir)
        result = {}
    elif step == "bare":
        started = time.perf_counter()
        count = bare_read(Path(args[0]))
        result = {"rows": count, "seconds": time.perf_counter() - started}
    elif step == "import":
        started = time.perf_counter()
        result = child_import(Path(args[0]))
        result["seconds"] = time.perf_counter() - started
    else:
        result = child_select()
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The importer's cleaning process (a spawned child for big files): its own peak, reported beside.
    result["cleaner_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


def measure_import(path: Path, label: str, target_s: float, target_mb: float | None) -> None:
    run_child("fresh")
    bare = run_child("bare", str(path))
    done = run_child("import", str(path))
    ratio = done["seconds"] / bare["seconds"]
    both = done["peak_mb"] + done["cleaner_peak_mb"]
    memory = (f", peak {done['peak_mb']:.0f} MB + cleaner {done['cleaner_peak_mb']:.0f} MB = {both:.0f} MB"
              + (f" (target ≤ {target_mb:.0f})" if target_mb else ""))
    print(f"{label}: import {done['seconds']:.1f} s (target ≤ {target_s:.0f} s){memory}; "
          f"bare read {bare['seconds']:.2f} s; ratio {ratio:.1f}×; "
          f"created {done['created']}, merged {done['merged']}, rejected {done['rejected']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs="+")
    parser.add_argument("--only", choices=["xlsx", "csv", "select"], action="append")
    options = parser.parse_args()
    if options.child:
        child_main(options.child[0], options.child[1:])
        return
    SCRATCH.mkdir(parents=True, exist_ok=True)
    xlsx, big_csv = SCRATCH / "contactos-100k.xlsx", SCRATCH / "contactos-1m.csv"
    if not xlsx.exists():
        make_xlsx(xlsx, 100_000)
    if not big_csv.exists():
        make_csv(big_csv, 1_000_000)
    database = os.environ.get("DATABASE_URL", "sqlite").split(":")[0]
    print(f"Database: {database}; {os.cpu_count()} cores")
    wanted = options.only or ["xlsx", "csv", "select"]
    if "xlsx" in wanted:
        measure_import(xlsx, "100,000-row .xlsx", 10, 400)
    if "csv" in wanted or "select" in wanted:
        measure_import(big_csv, "1,000,000-row .csv", 90, None)
    if "select" in wanted:
        done = run_child("select")
        print(f"100,000-guest list by sector from {1_000_000:,} contacts: counts per channel "
              f"{done['summary_s']:.2f} s, guest ids {done['ids_s']:.2f} s (target ≤ 2 s); "
              f"bare indexed count {done['bare_s'] * 1000:.0f} ms; ratio {done['summary_s'] / done['bare_s']:.0f}×; "
              f"{done['guests']:,} guests, {done['reach']}")


if __name__ == "__main__":
    main()
