"""Contact imports: a messy spreadsheet in, clean contacts out, and every rejected or doubtful row reported.

The file is read and cleaned in chunks (in a second process for big files, see import_pipeline) while this
process writes each chunk into the directory. Everything is written in one transaction, so an import is never
half done: a file that turns out unreadable, or a crash, leaves nothing; otherwise every valid row is in.
"""

import logging
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .import_pipeline import CleanJob, progress_path, run_cleaner
from .import_writer import BatchWriter
from .models import ImportBatch, ImportIssue, Sector
from .readers import UnreadableFile, open_table, suggest_mapping
from .rows import RowCleaner, fold

log = logging.getLogger(__name__)


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
    clean = RowCleaner(mapping, sector_ids=sector_lookup(), default_sector=batch.default_sector_id)
    preview = []
    for row_number, cells in table.rows():
        preview.append((cells, clean(row_number, cells)))
        if len(preview) >= limit:
            break
    return preview


def set_progress(batch: ImportBatch, **fields) -> None:
    ImportBatch.objects.filter(pk=batch.pk).update(**fields)
    for name, value in fields.items():
        setattr(batch, name, value)


def issue(batch, row, level, reason, cells) -> ImportIssue:
    return ImportIssue(batch=batch, row_number=row, level=level, reason=reason, values=[c[:200] for c in cells])


def fail(batch: ImportBatch, message: str) -> ImportBatch:
    set_progress(batch, status=ImportBatch.Status.FAILED, error=message, finished_at=timezone.now(), phase="")
    return batch


def clean_job(batch: ImportBatch) -> CleanJob:
    return CleanJob(
        path=batch.file.path, filename=batch.original_name,
        mapping={int(index): name for index, name in batch.mapping.items()},
        sector_ids=sector_lookup(), default_sector=batch.default_sector_id,
        progress_file=str(progress_path(batch.public_id)), total=batch.progress_total, **limits(),
    )


def write_all(batch: ImportBatch, *, dry_run: bool) -> dict:
    """Cleans (in a second process for big files) and writes as chunks arrive, all in one transaction."""
    issues, read = [], 0
    with transaction.atomic():
        writer = BatchWriter(batch)
        for message in run_cleaner(clean_job(batch)):
            if message[0] == "done":
                read = message[1]
                break
            _kind, rows, problems = message
            writer.write(rows)
            issues += [issue(batch, *problem) for problem in problems]
        counts = writer.finish([] if dry_run else issues)
        if dry_run:
            transaction.set_rollback(True)
            counts.update(problem_counts(issues))
        else:
            set_progress(batch, status=ImportBatch.Status.DONE, finished_at=timezone.now(), phase="",
                         rows_read=read, progress_done=read, **counts)
    batch.dry_run_issues = issues if dry_run else None
    return {**counts, "rows_read": read}


def import_run(batch: ImportBatch, *, dry_run: bool = False) -> ImportBatch:
    """Runs a confirmed import to the end: the batch ends DONE or FAILED. A dry run writes nothing but the
    batch's own counts, computed exactly as a real run would (the writes are rolled back)."""
    set_progress(batch, status=ImportBatch.Status.RUNNING, started_at=timezone.now(), phase="reading", error="")
    try:
        counts = write_all(batch, dry_run=dry_run)
    except UnreadableFile as error:
        return fail(batch, str(error))
    except Exception:
        log.exception("import %s failed", batch.pk)
        fail(batch, _("La importación se interrumpió por un error interno; no se guardó ningún contacto."))
        raise
    finally:
        progress_path(batch.public_id).unlink(missing_ok=True)
    if dry_run:
        set_progress(batch, status=ImportBatch.Status.DONE, finished_at=timezone.now(), phase="", **counts)
    log.info("import %s done: %s rows", batch.pk, counts["rows_read"])
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
