"""Backups: the database and the uploaded files in one archive, checked whole before a restore touches anything.

An archive (``pregonero-respaldo-AAAAMMDD-HHMMSS.tar.gz``) holds ``manifest.json`` first, then the database —
``base-de-datos.sqlite3`` (a copy made with SQLite's online backup API, consistent while the app writes) or
``base-de-datos.pgdump`` (``pg_dump --format=custom``) — and every uploaded file under ``media/``. The manifest
carries the SHA-256 of each member and the row counts of the main models, read from the same snapshot as the dump.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from importlib import metadata
from io import BytesIO
from pathlib import Path, PurePosixPath

import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

FORMAT, FORMAT_VERSION = "pregonero-respaldo", 1
MANIFEST = "manifest.json"
MEDIA = "media/"
DATABASE_MEMBER = {"sqlite": "base-de-datos.sqlite3", "postgresql": "base-de-datos.pgdump"}
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# The rows a person would miss first, with the words the restore report uses for them.
COUNTED = {
    "accounts.User": gettext_lazy("usuarios"),
    "campaigns.Campaign": gettext_lazy("solicitudes de difusión"),
    "campaigns.Attachment": gettext_lazy("anexos"),
    "campaigns.Proof": gettext_lazy("pruebas"),
    "campaigns.AuditEntry": gettext_lazy("entradas del registro de auditoría"),
    "directory.Contact": gettext_lazy("contactos"),
    "rsvp.Invitation": gettext_lazy("invitaciones"),
    "rsvp.AnswerRecord": gettext_lazy("respuestas recibidas"),
    "rsvp.CheckIn": gettext_lazy("registros de llegada"),
    "sending.Message": gettext_lazy("mensajes"),
}
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, in the user's words."""


def backup_create(*, output: Path | None = None) -> tuple[Path, dict]:
    """Writes the archive and returns its path and manifest. ``output`` is the file (ending in .tar.gz) or the
    folder (default ``DATA_DIR/respaldos/``). The archive appears only once complete (temporary name, then a
    rename), readable by its owner alone: it holds personal data."""
    vendor = connection.vendor
    if vendor not in DATABASE_MEMBER:
        raise BackupError(_("Solo se pueden respaldar bases de datos SQLite o PostgreSQL, no %(engine)s.")
                          % {"engine": vendor})
    now = timezone.localtime()
    name = f"pregonero-respaldo-{now:%Y%m%d-%H%M%S}.tar.gz"
    output = Path(output) if output else Path(settings.DATA_DIR) / "respaldos"
    if not output.name.endswith(".tar.gz"):  # a folder, created if need be
        output = output / name
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".respaldo-") as work:
        dump = Path(work) / DATABASE_MEMBER[vendor]
        facts = (sqlite_dump if vendor == "sqlite" else postgresql_dump)(connection.settings_dict, dump)
        members = {DATABASE_MEMBER[vendor]: dump, **media_files()}
        checksums = {}
        for member, path in list(members.items()):
            try:
                with path.open("rb") as source:
                    checksums[member] = hashlib.file_digest(source, "sha256").hexdigest()
            except FileNotFoundError:  # deleted by someone while we listed the folder
                del members[member]
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "created_at": now.isoformat(),
            "versions": {"django": django.get_version(), "pregonero": app_version()}, "engine": vendor,
            **facts, "sha256": checksums,
        }
        partial = Path(work) / "parcial.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            text = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(text), int(now.timestamp()), 0o600
            archive.addfile(info, BytesIO(text))
            for member, path in members.items():
                archive.add(path, arcname=member, recursive=False)
        partial.chmod(0o600)
        os.replace(partial, output)
    return output, manifest


def backup_restore(*, archive: Path, replace: bool = False) -> tuple[dict, dict]:
    """Restores ``archive`` into the configured database and MEDIA_ROOT, then migrates. Everything is checked
    first (manifest, checksums, member names, engine, a target that already holds data without ``replace``):
    a refusal changes nothing. Returns the manifest and the row counts found after the restore."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(_("No existe el archivo «%(path)s».") % {"path": archive})
    Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR, prefix=".restauracion-") as work:
        manifest, staged = archive_unpack(archive, Path(work))
        target_check(manifest, replace=replace)
        connection.close()
        database = staged.pop(DATABASE_MEMBER[manifest["engine"]])
        (sqlite_load if manifest["engine"] == "sqlite" else postgresql_load)(database, connection.settings_dict)
        media_load(staged)
    call_command("migrate", interactive=False, verbosity=0)
    return manifest, row_counts()


# --- the database ---------------------------------------------------------------------------------------------

def sqlite_dump(db: dict, target: Path) -> dict:
    if not Path(db["NAME"]).is_file():
        raise BackupError(_("No se encontró la base de datos «%(path)s».") % {"path": db["NAME"]})
    source, copy = sqlite3.connect(db["NAME"], timeout=20), sqlite3.connect(target)
    try:
        source.backup(copy)  # one consistent snapshot, even while the web server and the workers write
        copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
        tables = [row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return snapshot_facts(copy.cursor(), tables)
    finally:
        source.close()
        copy.close()


def postgresql_dump(db: dict, target: Path) -> dict:
    """pg_dump reads the snapshot this transaction exports, so the counts in the manifest are the dump's own."""
    pg_dump = client_tool("pg_dump")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        tool_run([pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}", f"--file={target}"], db)
        return snapshot_facts(cursor, connection.introspection.table_names(cursor))


def sqlite_load(staged: Path, db: dict) -> None:
    """SQLite's backup API, run the other way: the whole file replaced in one write transaction, with no stale
    -wal left to be replayed onto it."""
    source, target = sqlite3.connect(staged), sqlite3.connect(db["NAME"], timeout=20)
    try:
        source.backup(target)
    except sqlite3.Error as error:
        raise BackupError(_("No se pudo escribir la base de datos «%(path)s»: %(error)s")
                          % {"path": db["NAME"], "error": error}) from error
    finally:
        source.close()
        target.close()


def postgresql_load(staged: Path, db: dict) -> None:
    """One transaction: a pg_restore that fails half-way leaves the database as it was."""
    tool_run([client_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--no-password", f"--dbname={db['NAME']}", str(staged)], db)


def snapshot_facts(cursor, tables: list[str]) -> dict:
    """Row counts, tables and applied migrations, read through ``cursor`` (the snapshot being backed up)."""
    counts = {}
    for label in COUNTED:
        table = apps.get_model(label)._meta.db_table
        if table in tables:
            # The table name is a model's, never input; a DB-API cursor cannot bind identifiers.
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # nosec B608
            counts[label] = cursor.fetchone()[0]
    migrations = []
    if "django_migrations" in tables:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
        migrations = [list(row) for row in cursor.fetchall()]
    return {"counts": counts, "tables": sorted(tables), "migrations": migrations}


def row_counts() -> dict:
    return {label: apps.get_model(label).objects.count() for label in COUNTED}


def client_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(_("No se encontró el programa «%(tool)s». Instale las herramientas cliente de PostgreSQL "
                            "de la misma versión del servidor (en Debian o Ubuntu: apt install postgresql-client).")
                          % {"tool": name})
    return path


def tool_run(argv: list[str], db: dict) -> None:
    """Runs pg_dump or pg_restore with the connection in libpq's variables: no password on a command line."""
    options = db.get("OPTIONS") or {}
    values = {"PGHOST": db.get("HOST"), "PGPORT": db.get("PORT"), "PGUSER": db.get("USER"),
              "PGPASSWORD": db.get("PASSWORD"), "PGDATABASE": db.get("NAME"), "PGSSLMODE": options.get("sslmode"),
              "PGSSLROOTCERT": options.get("sslrootcert"), "PGSSLCERT": options.get("sslcert"),
              "PGSSLKEY": options.get("sslkey"), "PGPASSFILE": options.get("passfile")}
    env = {**os.environ, **{key: str(value) for key, value in values.items() if value}}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise BackupError(_("%(tool)s terminó con error: %(error)s")
                          % {"tool": Path(argv[0]).name, "error": result.stderr.strip()})


# --- the archive ----------------------------------------------------------------------------------------------

def media_files() -> dict[str, Path]:
    root = Path(settings.MEDIA_ROOT)
    if not root.is_dir():
        return {}
    return {MEDIA + path.relative_to(root).as_posix(): path
            for path in sorted(root.rglob("*")) if path.is_file() and not path.is_symlink()}


def archive_unpack(archive: Path, work: Path) -> tuple[dict, dict[str, Path]]:
    """Reads the manifest, then every member into ``work`` while checking its name and its SHA-256. Returns the
    manifest and the staged files by member name; raises BackupError at the first thing wrong."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest, first = manifest_read(tar, archive)
            expected, staged = manifest["sha256"], {}
            for member in tar:
                if member is first:
                    continue
                if member.name not in expected or member.name in staged or not member.isfile():
                    raise BackupError(_("El respaldo trae «%(name)s», que su manifiesto no incluye. "
                                        "No se cambió nada.") % {"name": member.name})
                staged[member.name] = member_stage(tar, member, work, expected[member.name])
            while tar.fileobj.read(CHUNK):  # to the very end, so gzip checks its own CRC too
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError, TypeError, KeyError) as error:
        raise BackupError(_("No se pudo leer «%(path)s»: está dañado o no es un respaldo de Pregonero (%(error)s). "
                            "No se cambió nada.") % {"path": archive.name, "error": error}) from error
    missing = sorted(set(expected) - set(staged))
    if missing:
        raise BackupError(_("Al respaldo le faltan archivos que su manifiesto lista: %(names)s. No se cambió nada.")
                          % {"names": ", ".join(missing[:5])})
    return manifest, staged


def manifest_read(tar: tarfile.TarFile, archive: Path) -> tuple[dict, tarfile.TarInfo]:
    foreign = BackupError(_("«%(path)s» no es un respaldo de Pregonero: no empieza con su manifiesto. "
                            "No se cambió nada.") % {"path": archive.name})
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > 50 * CHUNK:
        raise foreign
    manifest = json.load(tar.extractfile(first))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise foreign
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(_("Este respaldo tiene un formato (versión %(version)s) que esta versión de Pregonero no "
                            "conoce. No se cambió nada.") % {"version": manifest.get("format_version")})
    engine = manifest.get("engine")
    if engine not in DATABASE_MEMBER:
        raise foreign
    if engine != connection.vendor:
        raise BackupError(_("Este respaldo es de una base de datos %(source)s y la configurada es %(target)s: no se "
                            "puede restaurar entre motores distintos. Configure DATABASE_URL con el mismo motor del "
                            "respaldo. No se cambió nada.")
                          % {"source": ENGINE_NAMES[engine], "target": ENGINE_NAMES.get(connection.vendor,
                                                                                          connection.vendor)})
    if not isinstance(manifest.get("sha256"), dict) or DATABASE_MEMBER[engine] not in manifest["sha256"]:
        raise foreign
    loader = MigrationLoader(None, ignore_no_migrations=True)
    unknown = [f"{app}.{name}" for app, name in manifest.get("migrations", [])
               if app in loader.migrated_apps and (app, name) not in loader.disk_migrations]
    if unknown:
        raise BackupError(_("Este respaldo viene de una versión más nueva de Pregonero (migraciones que este código "
                            "no conoce: %(names)s). Actualice Pregonero antes de restaurarlo. No se cambió nada.")
                          % {"names": ", ".join(unknown[:5])})
    return manifest, first


def member_stage(tar: tarfile.TarFile, member: tarfile.TarInfo, work: Path, checksum: str) -> Path:
    """Copies one member into ``work``, refusing a name that would land outside MEDIA_ROOT or a wrong checksum."""
    name = member.name
    path = PurePosixPath(name)
    media_root = Path(settings.MEDIA_ROOT).resolve()
    inside = name in DATABASE_MEMBER.values() or (
        name.startswith(MEDIA) and (media_root / name.removeprefix(MEDIA)).resolve().is_relative_to(media_root))
    if path.is_absolute() or ".." in path.parts or "\\" in name or path.as_posix() != name or not inside:
        raise BackupError(_("El respaldo trae un nombre de archivo no permitido: «%(name)s». No se cambió nada.")
                          % {"name": name})
    target = work / "archivos" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tar.extractfile(member) as source, target.open("xb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != checksum:
        raise BackupError(_("El respaldo está dañado: «%(name)s» no coincide con su suma de verificación. "
                            "No se cambió nada.") % {"name": name})
    return target


def target_check(manifest: dict, *, replace: bool) -> None:
    """A database that already holds data is replaced only when asked; on PostgreSQL, tables the backup does
    not have would survive the restore and break the migrations, so that is refused too."""
    present = set(connection.introspection.table_names())
    holding = {label: model.objects.count() for label in COUNTED
               if (model := apps.get_model(label))._meta.db_table in present}
    holding = {label: count for label, count in holding.items() if count}
    if holding and not replace:
        summary = ", ".join(f"{count} {COUNTED[label]}" for label, count in holding.items())
        raise BackupError(_("La base de datos de destino ya tiene datos (%(summary)s). Para reemplazarlos por los del "
                            "respaldo, repita la orden con --yes. No se cambió nada.") % {"summary": summary})
    extra = sorted(present - set(manifest.get("tables", []))) if manifest["engine"] == "postgresql" else []
    if extra:
        raise BackupError(_("La base de datos de destino tiene tablas que el respaldo no trae (%(tables)s). Restaure "
                            "en una base de datos vacía. No se cambió nada.") % {"tables": ", ".join(extra[:5])})


def media_load(staged: dict[str, Path]) -> None:
    media_root = Path(settings.MEDIA_ROOT)
    for name, path in staged.items():
        target = media_root / name.removeprefix(MEDIA)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        target.chmod(settings.FILE_UPLOAD_PERMISSIONS or 0o640)


def app_version() -> str:
    try:
        return metadata.version("pregonero")
    except metadata.PackageNotFoundError:
        return "?"
