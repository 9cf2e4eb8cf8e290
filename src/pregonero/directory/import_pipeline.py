"""Reading and cleaning a file in a second process while the importer writes, so both cores work.

The cleaner yields chunks of clean rows plus the problems found. For a big file it runs in a spawned child
process that feeds a bounded queue (memory stays flat whatever the file size); a small file is cleaned in the
importer's own process, where a child's start-up would cost more than it saves.

Progress goes to a small JSON file beside the data while the importer's write transaction is open (SQLite lets
nobody else write then), and to the import's own row once it ends; the status page reads whichever is newer.
"""

import json
import multiprocessing
import os
import queue as queue_module
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

CHUNK = 5000
CHILD_THRESHOLD = 20_000  # rows; below it a child process is not worth its start-up


@dataclass(frozen=True)
class CleanJob:
    path: str
    filename: str
    mapping: dict
    sector_ids: dict
    default_sector: int | None
    max_bytes: int
    max_rows: int
    progress_file: str
    total: int


def progress_path(public_id) -> Path:
    return Path(settings.DATA_DIR) / "progress" / f"{public_id}.json"


def write_progress(path: str, done: int, total: int, phase: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(".tmp")
    scratch.write_text(json.dumps({"done": done, "total": total, "phase": phase}))
    os.replace(scratch, target)  # atomic: the status page never reads half a file


def read_progress(public_id) -> dict | None:
    try:
        return json.loads(progress_path(public_id).read_text())
    except (OSError, ValueError):
        return None


def clean_chunks(job: CleanJob):
    """Yields ("rows", clean_rows, problems) per chunk, then ("done", rows_read). Problems are tuples
    (row_number, level, reason, cells). Raises UnreadableFile for a file that cannot be read."""
    from .readers import open_table
    from .rows import RowCleaner

    table = open_table(job.path, filename=job.filename, max_bytes=job.max_bytes, max_rows=job.max_rows)
    clean = RowCleaner(job.mapping, sector_ids=job.sector_ids, default_sector=job.default_sector)
    rows, problems, read = [], [], 0
    for row_number, cells in table.rows():
        read += 1
        row = clean(row_number, cells)
        if row.rejected:
            problems.append((row_number, "rejected", row.rejected, cells))
            continue
        if row.doubts:
            problems.append((row_number, "doubtful", " ".join(row.doubts), cells))
        rows.append(row)
        if len(rows) >= CHUNK:
            yield "rows", rows, problems
            write_progress(job.progress_file, read, job.total, "reading")
            rows, problems = [], []
    yield "rows", rows, problems
    yield "done", read


def child_main(job: CleanJob, out) -> None:
    """Entry point of the spawned cleaner: every outcome, error included, ends up in the queue."""
    import django

    django.setup()
    from .readers import UnreadableFile

    try:
        for message in clean_chunks(job):
            out.put(message)
    except UnreadableFile as error:
        out.put(("unreadable", str(error)))
    except Exception as error:  # reported to the importer, which fails the import with it
        out.put(("error", repr(error)))


def run_cleaner(job: CleanJob):
    """Clean chunks from a child process (big files) or from this one (small files)."""
    if job.total < CHILD_THRESHOLD:
        yield from clean_chunks(job)
        return
    context = multiprocessing.get_context("spawn")
    out = context.Queue(maxsize=6)
    child = context.Process(target=child_main, args=(job, out), daemon=True)
    child.start()
    try:
        yield from relay(out, child)
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)


def relay(out, child):
    from .readers import UnreadableFile

    while True:
        try:
            message = out.get(timeout=5)
        except queue_module.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the cleaning process ended unexpectedly (exit code {child.exitcode})") from None
            continue
        if message[0] == "unreadable":
            raise UnreadableFile(message[1])
        if message[0] == "error":
            raise RuntimeError(f"cleaning failed: {message[1]}")
        yield message
        if message[0] == "done":
            return
