"""The audit log is append-only and tamper-evident: each entry hashes the one before it, and
`pregonero audit verify` finds the first entry that was changed, removed or slipped in."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

import pregonero
from pregonero.campaigns.audit import GENESIS, chain_verify, entry_digest
from pregonero.campaigns.models import AuditEntry
from pregonero.campaigns.services import audit_log, campaign_transition

ON_POSTGRESQL = connection.vendor == "postgresql"
TRIGGER = "campaigns_auditentry_append_only"


def verify() -> str:
    """What `pregonero audit verify` prints; a broken chain raises CommandError (non-zero exit)."""
    from io import StringIO

    out = StringIO()
    call_command("audit", "verify", stdout=out)
    return out.getvalue()


def raw(sql: str, params=()) -> None:
    """A change behind the application's back. On PostgreSQL the trigger is switched off for this test's
    transaction only (DDL is transactional: the rollback at the end of the test restores it)."""
    with connection.cursor() as cursor:
        if ON_POSTGRESQL:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no deferred foreign-key check
            cursor.execute(f"ALTER TABLE campaigns_auditentry DISABLE TRIGGER {TRIGGER}")
        cursor.execute(sql, params)
        if ON_POSTGRESQL:
            cursor.execute(f"ALTER TABLE campaigns_auditentry ENABLE TRIGGER {TRIGGER}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.fixture
def history(people, make_campaign):
    """A campaign's real steps, then a few more entries: eight or so links in the chain."""
    campaign = make_campaign()
    campaign_transition(campaign=campaign, actor=people.assistant, name="turn")
    campaign_transition(campaign=campaign, actor=people.director, name="authorize", comment="Adelante «sí» ✓")
    for n in range(4):
        audit_log(campaign=None, actor=people.database, action="directory.export", data={"n": n, "filtros": {"q": "á"}})
    return list(AuditEntry.objects.order_by("pk"))


@pytest.mark.django_db
def test_every_entry_links_to_the_one_before(history):
    assert len(history) >= 7
    assert history[0].prev_hash == GENESIS
    for before, entry in zip(history, history[1:]):
        assert entry.prev_hash == before.entry_hash and re.fullmatch(r"[0-9a-f]{64}", entry.entry_hash)
    assert verify().strip() == f"Registro de auditoría íntegro: {len(history)} entradas verificadas."


@pytest.mark.django_db
def test_an_edited_entry_is_found_at_that_entry(history):
    edited = history[3]
    raw("UPDATE campaigns_auditentry SET comment = %s WHERE id = %s", ["Sin comentarios", edited.pk])
    with pytest.raises(CommandError) as broken:
        verify()
    when = timezone.localtime(edited.at).strftime("%d/%m/%Y %H:%M:%S")
    assert f"entrada n.º {edited.pk} del {when}: su contenido no coincide" in str(broken.value)
    assert "Las 3 entradas anteriores están íntegras" in str(broken.value)


@pytest.mark.django_db
def test_an_edit_that_also_recomputes_the_hash_breaks_the_next_link(history):
    """Whoever rewrites an entry and its hash still cannot rewrite the next entry's pointer to it."""
    edited, following = history[2], history[3]
    edited.comment = "Nunca pasó"
    raw("UPDATE campaigns_auditentry SET comment = %s, entry_hash = %s WHERE id = %s",
        [edited.comment, entry_digest(edited, edited.prev_hash), edited.pk])
    check = chain_verify()
    assert (check.broken.pk, check.reason, check.count) == (following.pk, "link", 3)


@pytest.mark.django_db
def test_a_removed_entry_is_found_at_the_next_one_and_a_removed_tail_too(history):
    raw("DELETE FROM campaigns_auditentry WHERE id = %s", [history[4].pk])
    check = chain_verify()
    assert (check.broken.pk, check.reason, check.count) == (history[5].pk, "link", 4)
    with pytest.raises(CommandError, match=f"n.º {history[5].pk} .*no enlaza con la entrada anterior"):
        verify()
    raw("DELETE FROM campaigns_auditentry WHERE id >= %s", [history[4].pk])
    check = chain_verify()
    assert (check.broken.pk, check.reason) == (history[3].pk, "tail")
    with pytest.raises(CommandError, match="se borraron entradas después de esta"):
        verify()


@pytest.mark.django_db
def test_the_application_cannot_change_or_delete_an_entry(history):
    entry = history[1]
    entry.comment = "otra cosa"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    assert verify().startswith("Registro de auditoría íntegro")


@pytest.mark.django_db
@pytest.mark.skipif(not ON_POSTGRESQL, reason="the trigger exists on PostgreSQL only")
def test_postgresql_refuses_update_and_delete_even_in_raw_sql(history):
    for sql in ("UPDATE campaigns_auditentry SET comment = 'x'", "DELETE FROM campaigns_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=history[-1].pk).delete()  # one no notification points to
    assert AuditEntry.objects.count() == len(history)


@pytest.mark.django_db
def test_the_admin_shows_entries_read_only(client, django_user_model, history):
    admin = django_user_model.objects.create_superuser(username="ti", password="clave-de-prueba-1")
    client.force_login(admin)
    url = reverse("admin:campaigns_auditentry_change", args=[history[0].pk])
    page = client.get(url).content.decode()
    assert 'name="_save"' not in page and "Eliminar" not in page
    assert client.post(url, {"comment": "x"}).status_code == 403
    delete = reverse("admin:campaigns_auditentry_delete", args=[history[0].pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get(pk=history[0].pk).comment == history[0].comment


def test_only_audit_log_writes_entries():
    """Entries are created in one place, so none skips the chain: no other module creates or bulk-creates them."""
    source = Path(pregonero.__file__).parent
    writers = {
        path.relative_to(source).as_posix()
        for path in source.rglob("*.py")
        if "migrations" not in path.parts
        and re.search(r"AuditEntry\.objects\.(create|bulk_create|get_or_create|update_or_create)"
                      r"|(?<!class )AuditEntry\(", path.read_text())
    }
    assert writers == {"campaigns/services.py"}


@pytest.mark.django_db(transaction=True)
def test_appends_at_the_same_moment_queue_and_never_fork_the_chain(people):
    """Eight connections appending at once: every entry has a different predecessor and the chain checks out."""
    threads, each = 8, 10
    barrier, errors = threading.Barrier(threads), []

    def append(index):
        try:
            barrier.wait(timeout=10)
            for n in range(each):
                audit_log(campaign=None, actor=people.database, action="test.concurrent", data={"t": index, "n": n})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(append, range(threads)))
    assert errors == []
    entries = list(AuditEntry.objects.filter(action="test.concurrent"))
    assert len(entries) == threads * each
    assert len({entry.prev_hash for entry in AuditEntry.objects.all()}) == AuditEntry.objects.count()
    check = chain_verify()
    assert check.ok and check.count == AuditEntry.objects.count()


@pytest.mark.django_db(transaction=True)
def test_the_migration_links_the_entries_written_before_it(people):
    """Entries written before the chain existed are linked in the order they were written (pk, not date)."""
    executor = MigrationExecutor(connection)
    before = [("campaigns", "0003_campaign_max_companions")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("campaigns", "AuditEntry")
    now = timezone.now()
    written = [
        old.objects.create(actor_id=people.director.pk, action="campaign.authorize", comment="Autorizo «todo»",
                           at=now, data={"z": [1, 2.5, None], "a": {"ñ": True}}),
        old.objects.create(action="directory.export", at=now - timedelta(days=3, microseconds=7)),  # backdated
        old.objects.create(actor_id=people.database.pk, action="directory.arco.create", at=now, data={"arco": 4}),
    ]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [entry.pk for entry in entries] == [row.pk for row in written]
    assert entries[0].prev_hash == GENESIS and entries[2].prev_hash == entries[1].entry_hash
    assert verify().strip() == "Registro de auditoría íntegro: 3 entradas verificadas."
    audit_log(campaign=None, actor=None, action="after.migration")  # the next append links to the migrated chain
    assert chain_verify().count == 4
