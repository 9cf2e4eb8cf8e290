"""Files written inside a transaction: storage is not transactional, so a block that writes files before its rows
commit deletes them again when it fails. Otherwise a file no row names would stay on disk for good, out of reach
of the retention rules.

    with files_removed_on_failure() as save_file, transaction.atomic():
        save_file(message.raw, "mensaje.eml", raw)        # writes and keeps track of the file
        Attachment.objects.create(file=upload, ...)       # the ORM wrote it: keep track with remove_on_failure

Blocks nest: the files of an inner block that ended well stay in the outer block's keeping until it ends.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.files.base import ContentFile

log = logging.getLogger(__name__)

_written: ContextVar[list | None] = ContextVar("files_written", default=None)


@contextmanager
def files_removed_on_failure() -> Iterator[Callable[..., None]]:
    """Yields save(field_file, name, content); when the block raises, every file it saved or handed to
    ``remove_on_failure`` is deleted again."""
    outer, written = _written.get(), []
    token = _written.set(written)

    def save(field_file, name: str, content: bytes) -> None:
        field_file.save(name, ContentFile(content), save=False)
        remove_on_failure(field_file)

    try:
        yield save
    except BaseException:
        for storage, name in written:
            try:
                storage.delete(name)
            except OSError:
                log.warning("a file written by a failed transaction could not be deleted")
        raise
    else:
        if outer is not None:
            outer.extend(written)
    finally:
        _written.reset(token)


def remove_on_failure(field_file) -> None:
    """Puts a file already written (by the ORM's save of its model) in the keeping of the innermost
    ``files_removed_on_failure`` block; outside any block it stays as it is."""
    written = _written.get()
    if written is not None:
        written.append((field_file.storage, field_file.name))
