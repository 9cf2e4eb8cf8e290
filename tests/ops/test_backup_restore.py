"""Backup and restore: the data of a real send (messages through the emulator and the SMTP server, answers, an
uploaded scan) backed up with `pregonero backup`, restored into an empty database by `pregonero restore` in its own
process, and found there whole, row by row and byte by byte. A damaged, forged or foreign archive, and a target that
already holds data, are refused with a clear message and nothing touched. Runs on the engine under test."""

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from pregonero.accounts.models import User
from pregonero.campaigns.models import Attachment, AttachmentKind, Campaign, State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.directory.models import Contact
from pregonero.rsvp.models import AnswerRecord, Invitation
from pregonero.rsvp.services import invitation_answer
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.models import Message
from pregonero.sending.services import send_start

pytestmark = pytest.mark.django_db(transaction=True)  # committed: pg_dump and the other processes must see it

PREGONERO = [sys.executable, "-m", "pregonero"]
SCAN = b"%PDF-1.4\n% Oficio DC/123/2026 de la Direccion de Cultura\n" + bytes(range(256))
# Run in the restored process: this file's snapshot() over that process's database, as one JSON line.
SNAPSHOT_COMMAND = f"import runpy; print(runpy.run_path({str(Path(__file__))!r})['snapshot_json']())"


def snapshot() -> dict:
    """Every row a person would look for after a restore, with all its values, and the uploaded files' bytes."""
    def rows(model):
        return list(model.objects.order_by("pk").values())

    files = {attachment.file.name: hashlib.sha256(attachment.file.open("rb").read()).hexdigest()
             for attachment in Attachment.objects.all()}
    data = {"campaigns": rows(Campaign), "contacts": rows(Contact), "messages": rows(Message),
            "invitations": rows(Invitation), "answers": rows(AnswerRecord), "attachments": rows(Attachment),
            "users": rows(User), "files": files}
    return json.loads(json.dumps(data, default=str))


def snapshot_json() -> str:
    return json.dumps(snapshot())


def pregonero(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*PREGONERO, *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def database_url(name: str) -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


@pytest.fixture
def sent_campaign(people, make_campaign, emulator, inbox):
    """A send that went out (WhatsApp to the emulator, e-mail to the SMTP server), two answers, a scanned oficio."""
    campaign = make_campaign(state=State.READY, max_companions=2)
    demo_ready_campaign(campaign=campaign, author=people.social_media, whatsapp=3, email_only=2, both=1,
                        opted_out_whatsapp=1)
    Attachment.objects.create(campaign=campaign, kind=AttachmentKind.SCAN, file=ContentFile(SCAN, name="oficio.pdf"),
                              original_name="Oficio DC-123-2026.pdf", content_type="application/pdf", size=len(SCAN),
                              uploaded_by=people.requester)
    send_start(campaign=campaign, actor=people.social_media)
    dispatcher = Dispatcher("t")
    for _round in range(10):
        if not dispatcher.run_once():
            break
    assert not Message.objects.filter(state__in=["queued", "sending"]).exists()
    assert len(emulator.messages()) == Message.objects.filter(channel="whatsapp", state="sent").count() == 4
    assert inbox.to("correo0@example.com")
    attending, declined = Invitation.objects.filter(campaign=campaign).order_by("pk")[:2]
    with transaction.atomic():
        invitation_answer(invitation=attending, answer=Invitation.Answer.ATTENDING, via=Invitation.Via.LINK,
                          companions=2)
    with transaction.atomic():
        invitation_answer(invitation=declined, answer=Invitation.Answer.DECLINED, via=Invitation.Via.PHONE,
                          actor=people.assistant, note="Llamó su secretaria")
    return campaign


@pytest.fixture
def archive(sent_campaign, tmp_path) -> Path:
    folder = tmp_path / "respaldos"
    out = io.StringIO()
    call_command("backup", output=folder, stdout=out)
    [path] = folder.iterdir()
    assert f"Respaldo creado: {path}" in out.getvalue()
    return path


@pytest.fixture
def empty_database(transactional_db, tmp_path):
    """The environment of `pregonero` processes with their own data folder and an empty database of the engine
    under test: a new SQLite file there, or a freshly created PostgreSQL database (dropped afterwards)."""
    env = {key: value for key, value in os.environ.items() if key != "MEDIA_ROOT"}
    env["PREGONERO_DATA_DIR"] = str(tmp_path / "restaurada")
    if connection.vendor == "sqlite":
        yield {**env, "DATABASE_URL": ""}
        return
    name = f"{connection.settings_dict['NAME']}_restaurada"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield {**env, "DATABASE_URL": database_url(name)}
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_backup_restores_into_an_empty_database_with_everything_in_it(archive, empty_database):
    assert re.fullmatch(r"pregonero-respaldo-\d{8}-\d{6}\.tar\.gz", archive.name)
    assert archive.stat().st_mode & 0o777 == 0o600  # it holds personal data
    before = snapshot()
    assert len(before["campaigns"]) == 1 and len(before["contacts"]) == 7 and len(before["messages"]) == 8
    assert sorted(row["answer"] for row in before["answers"]) == ["attending", "declined"]

    restored = pregonero(empty_database, "restore", archive)

    assert restored.returncode == 0, restored.stderr
    assert "Todos los conteos coinciden con el respaldo." in restored.stdout
    assert re.search(r"mensajes\s+8\s+8", restored.stdout)
    found = pregonero(empty_database, "shell", "-c", SNAPSHOT_COMMAND)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout.strip().splitlines()[-1]) == before
    [scan] = Attachment.objects.all()
    assert (Path(empty_database["PREGONERO_DATA_DIR"]) / "media" / scan.file.name).read_bytes() == SCAN

    again = pregonero(empty_database, "restore", archive)
    assert again.returncode == 1
    assert "La base de datos de destino ya tiene datos (" in again.stderr and "--yes" in again.stderr
    replaced = pregonero(empty_database, "restore", "--yes", archive)
    assert replaced.returncode == 0, replaced.stderr
    assert "Todos los conteos coinciden con el respaldo." in replaced.stdout


def repack(source: Path, target: Path, *, contents=None, added=None, manifest=None) -> Path:
    """A copy of the archive with members replaced (``contents``, the manifest's checksums kept), members added
    (``added``, with their checksums in the manifest) or manifest fields changed."""
    with tarfile.open(source, "r:gz") as tar:
        members = {member.name: tar.extractfile(member).read() for member in tar}
    listed = {**json.loads(members.pop("manifest.json")), **(manifest or {})}
    listed["sha256"].update({name: hashlib.sha256(content).hexdigest() for name, content in (added or {}).items()})
    members.update(contents or {})
    members.update(added or {})
    with tarfile.open(target, "w:gz") as tar:
        for name, content in [("manifest.json", json.dumps(listed).encode()), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return target


def test_a_damaged_forged_or_foreign_archive_is_refused_and_nothing_is_touched(archive, tmp_path, settings):
    before = snapshot()
    media_before = sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*"))
    [scan] = Attachment.objects.all()
    for name, position in [("un-byte.tar.gz", archive.stat().st_size // 2), ("crc.tar.gz", -6)]:
        flipped = bytearray(archive.read_bytes())
        flipped[position] ^= 0x01  # in the middle of the data; in gzip's own checksum at the end
        (tmp_path / name).write_bytes(flipped)
    with tarfile.open(tmp_path / "ajeno.tar.gz", "w:gz") as tar:
        tar.add(archive, arcname="otra-cosa.tar.gz")
    other_engine = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    cases = {
        tmp_path / "un-byte.tar.gz": "está dañado",
        tmp_path / "crc.tar.gz": "está dañado",
        repack(archive, tmp_path / "anexo.tar.gz", contents={f"media/{scan.file.name}": b"%PDF otro oficio"}):
            f"El respaldo está dañado: «media/{scan.file.name}» no coincide con su suma de verificación",
        repack(archive, tmp_path / "fuera.tar.gz", added={"media/../fuera.txt": b"fuera de MEDIA_ROOT"}):
            "nombre de archivo no permitido: «media/../fuera.txt»",
        repack(archive, tmp_path / "absoluto.tar.gz", added={"/tmp/absoluto.txt": b"absoluto"}):
            "nombre de archivo no permitido: «/tmp/absoluto.txt»",
        repack(archive, tmp_path / "motor.tar.gz", manifest={"engine": other_engine}):
            "no se puede restaurar entre motores distintos",
        repack(archive, tmp_path / "futuro.tar.gz", manifest={"migrations": [["campaigns", "9999_del_futuro"]]}):
            "viene de una versión más nueva de Pregonero (migraciones que este código no conoce: campaigns.9999",
        tmp_path / "ajeno.tar.gz": "«ajeno.tar.gz» no es un respaldo de Pregonero",
        tmp_path / "no-existe.tar.gz": "No existe el archivo",
    }
    for path, message in cases.items():
        with pytest.raises(CommandError, match=re.escape(message)) as refused:
            call_command("restore", str(path), yes=True)
        assert "No se cambió nada" in str(refused.value) or "No existe" in str(refused.value)

    assert snapshot() == before
    assert sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*")) == media_before
    assert not (tmp_path / "fuera.txt").exists() and not Path("/tmp/absoluto.txt").exists()


def test_restoring_over_data_needs_yes(archive):
    before = snapshot()
    with pytest.raises(CommandError, match=r"ya tiene datos \(\d+ usuarios, 1 solicitudes de difusión, .*--yes"):
        call_command("restore", str(archive))
    assert snapshot() == before


def test_without_pg_dump_the_backup_says_what_to_install_and_leaves_nothing(tmp_path, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump only backs up PostgreSQL")
    monkeypatch.setenv("PATH", str(tmp_path / "sin-programas"))
    with pytest.raises(CommandError, match="«pg_dump».*postgresql-client"):
        call_command("backup", output=tmp_path / "respaldos")
    assert not (tmp_path / "respaldos").exists() or not list((tmp_path / "respaldos").iterdir())
