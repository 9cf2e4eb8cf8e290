"""Contact imports: a messy spreadsheet in, clean contacts out, and every rejected or doubtful row reported.

Two phases. The first streams the file, cleans each row and spools the clean rows to a temporary file, updating
the progress bar as it goes; a file that cannot be read stops here having written nothing. The second writes
everything in one transaction, so an import is never half done: all valid rows, or (on a crash) none.
"""

import logging
import pickle
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .import_writer import BatchWriter
from .models import ImportBatch, ImportIssue, Sector
from .readers import UnreadableFile, open_table, suggest_mapping
from .rows import clean_row, fold

log = logging.getLogger(__name__)
CHUNK = 5000


def limits() -> dict:
    return {"max_bytes": settings.IMPORT_MAX_BYTES, "max_rows": settings.IMPORT_MAX_ROWS}


def import_prepare(*, file, filename: str, actor, default_sector=None, campaign=None) -> ImportBatch:
    """Stores the file, finds its header and suggests the mapping; raises UnreadableFile (nothing kept)."""
    batch = ImportBatch(original_name=Path(filename).name[-255:], uploaded_by=actor, default_sector=default_sector,
                        campaign=campaign)
    batch.file.save(f"{batch.public_id.hex}{Path(filename).suffix.lower()[:8]}", File(file), save=False)
    try:
        table = open_table(batch.file.path, filename=filename, **limits())
    except UnreadableFile:
        batch.file.delete(save=False)
        raise
    batch.size = batch.file.size
    batch.header, batch.header_row_number = table.header, table.header_row_number
    batch.progress_total = table.row_count
    batch.mapping = {str(index): name for index, name in suggest_mapping(table.header).items()}
    batch.save()
    return batch


def sector_lookup() -> dict[str, int]:
    return {fold(name): pk for pk, name in Sector.objects.values_list("pk", "name")}


def import_preview(batch: ImportBatch, mapping: dict[int, str], limit: int = 15) -> list[tuple[list[str], object]]:
    """The first rows as the import would see them: (cells, CleanRow)."""
    table = open_table(batch.file.path, filename=batch.original_name, **limits())
    sector_ids, default = sector_lookup(), batch.default_sector_id
    preview = []
    for row_number, cells in table.rows():
        preview.append((cells, clean_row(row_number, cells, mapping, sector_ids=sector_ids, default_sector=default)))
        if len(preview) >= limit:
            break
    return preview


def set_progress(batch: ImportBatch, **fields) -> None:
    ImportBatch.objects.filter(pk=batch.pk).update(**fields)
    for name, value in fields.items():
        setattr(batch, name, value)


def issue(batch, row, level, reason, cells) -> ImportIssue:
    return ImportIssue(batch=batch, row_number=row, level=level, reason=reason, values=[c[:200] for c in cells])


def clean_to_spool(batch: ImportBatch, table, spool) -> tuple[list[ImportIssue], int]:
    """Phase one: every row cleaned; clean rows pickled to the spool in chunks, problems collected."""
    mapping = {int(index): name for index, name in batch.mapping.items()}
    sector_ids, default = sector_lookup(), batch.default_sector_id
    issues, chunk, read = [], [], 0
    step = max(table.row_count // 50, 1000)
    for row_number, cells in table.rows():
        read += 1
        row = clean_row(row_number, cells, mapping, sector_ids=sector_ids, default_sector=default)
        if row.rejected:
            issues.append(issue(batch, row_number, ImportIssue.Level.REJECTED, row.rejected, cells))
            continue
        if row.doubts:
            issues.append(issue(batch, row_number, ImportIssue.Level.DOUBTFUL, " ".join(row.doubts), cells))
        chunk.append(row)
        if len(chunk) >= CHUNK:
            pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
            chunk = []
        if read % step == 0:
            set_progress(batch, progress_done=read)
    if chunk:
        pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
    return issues, read


def spooled_chunks(spool):
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)  # noqa: S301 - our own temporary file, written just before
        except EOFError:
            return


def fail(batch: ImportBatch, message: str) -> ImportBatch:
    set_progress(batch, status=ImportBatch.Status.FAILED, error=message, finished_at=timezone.now(), phase="")
    return batch


def import_run(batch: ImportBatch, *, dry_run: bool = False) -> ImportBatch:
    """Runs a confirmed import to the end: the batch ends DONE or FAILED. A dry run writes nothing but the
    batch's own counts, computed exactly as a real run would (the writes are rolled back)."""
    set_progress(batch, status=ImportBatch.Status.RUNNING, started_at=timezone.now(), phase="reading", error="")
    try:
        table = open_table(batch.file.path, filename=batch.original_name, **limits())
        with tempfile.TemporaryFile(dir=settings.DATA_DIR) as spool:
            set_progress(batch, progress_total=table.row_count)
            issues, read = clean_to_spool(batch, table, spool)
            set_progress(batch, progress_done=read, phase="writing")
            with transaction.atomic():
                writer = BatchWriter(batch)
                for chunk in spooled_chunks(spool):
                    writer.write(chunk)
                counts = writer.finish([] if dry_run else issues)
                done = {"status": ImportBatch.Status.DONE, "phase": "", "rows_read": read}
                if dry_run:
                    transaction.set_rollback(True)
                    counts = {**counts, **problem_counts(issues)}
                else:
                    set_progress(batch, finished_at=timezone.now(), **done, **counts)
    except UnreadableFile as error:
        return fail(batch, str(error))
    except Exception:
        log.exception("import %s failed", batch.pk)
        fail(batch, _("La importación se interrumpió por un error interno; no se guardó ningún contacto."))
        raise
    if dry_run:
        set_progress(batch, finished_at=timezone.now(), **done, **counts)
    batch.dry_run_issues = issues if dry_run else None
    log.info("import %s done: %s rows", batch.pk, read)
    return batch


def problem_counts(issues) -> dict:
    rejected = sum(1 for i in issues if i.level == ImportIssue.Level.REJECTED)
    return {"rejected": rejected, "doubtful": len(issues) - rejected}


def import_confirm(*, batch: ImportBatch, mapping: dict[int, str], actor) -> ImportBatch:
    """Saves the confirmed mapping and queues the import (once: a second confirm finds it queued)."""
    from .tasks import run_import

    with transaction.atomic():
        updated = ImportBatch.objects.filter(pk=batch.pk, status=ImportBatch.Status.MAPPING).update(
            mapping={str(i): name for i, name in mapping.items()}, status=ImportBatch.Status.QUEUED
        )
        if updated:
            transaction.on_commit(lambda: run_import.enqueue(batch.pk))
    batch.refresh_from_db()
    return batch
