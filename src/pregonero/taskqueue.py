"""Enqueueing a background task as part of the write that calls for it."""

from django.db import transaction


def enqueue_with(task, *args) -> None:
    """With the database task backend (django-tasks-db) the task row is written in the caller's transaction: it
    commits with the change that calls for it, or not at all, and costs no commit of its own. A backend that runs
    tasks at once (the tests' immediate backend) runs it after the commit instead, never inside the transaction."""
    if task.get_backend().supports_defer:
        task.enqueue(*args)
    else:
        transaction.on_commit(lambda: task.enqueue(*args))
