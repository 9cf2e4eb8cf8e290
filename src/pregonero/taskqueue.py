"""Enqueueing background tasks: as part of the write that calls for them, or as one task draining a backlog."""

import time
from functools import cached_property

from django.conf import settings
from django.db import connections, transaction
from django.tasks import TaskResultStatus


def enqueue_with(task, *args) -> None:
    """With the database task backend (django-tasks-db) the task row is written in the caller's transaction: it
    commits with the change that calls for it, or not at all, and costs no commit of its own. A backend that runs
    tasks at once (the tests' immediate backend) runs it after the commit instead, never inside the transaction."""
    if task.get_backend().supports_defer:
        task.enqueue(*args)
    else:
        transaction.on_commit(lambda: task.enqueue(*args))


class Drain:
    """One task working through a backlog that web requests add to (stored webhooks, answers to confirm), instead
    of a task per item: enqueueing a task was about a third of a guest's answer under cProfile, and without it the
    answer's instructions fell by 14 % (callgrind; bench/rsvp_load.py), while a task costs the worker more than a
    stored webhook's own work (bench/send_throughput.py).

    After committing an item, a request calls ``wake``: it enqueues the task unless one is waiting to start (that
    one will look for work after this commit, so it finds the item). A task already running may have looked for
    the last time, so it does not count; neither does one that failed or died.

    A process looks for a waiting task at most once per WAKE_SECONDS (settings WEBHOOK_WAKE_SECONDS): within it,
    the task its last look found or enqueued had not started then, and ``run`` keeps looking for items until
    LINGER × that interval after the task's start, so after the item was committed. With a backend that runs
    tasks at once (the tests' immediate backend) the interval is 0: every wake runs the task."""

    LINGER = 2.5

    def __init__(self, task_path: str):
        self.task_path = task_path  # "module.function", imported on first use (tasks import their models)
        self._last_wake = 0.0

    @cached_property
    def task(self):
        from django.utils.module_loading import import_string

        return import_string(self.task_path)

    def interval(self) -> float:
        return settings.WEBHOOK_WAKE_SECONDS if self.task.get_backend().supports_defer else 0.0

    def wake(self, *args, look_now: bool = False) -> None:
        """``look_now``: whenever this process last looked (a worker starting up, which no task may follow)."""
        task, now, interval = self.task, time.monotonic(), self.interval()
        if interval and now - self._last_wake < interval and not look_now:
            return
        self._last_wake = now
        if not self.waiting(task):
            task.enqueue(*args)

    @staticmethod
    def waiting(task) -> bool:
        """Whether a task like this one waits to start. One statement written once: through the ORM, composing it
        cost more than running it (bench/rsvp_load.py --profile)."""
        from django_tasks_db.models import DBTaskResult

        connection = connections[DBTaskResult.objects.db]
        quote = connection.ops.quote_name
        table, status, path = (quote(name) for name in (DBTaskResult._meta.db_table, "status", "task_path"))
        with connection.cursor() as cursor:
            # Only names from the model's metadata, quoted; the values are parameters.
            cursor.execute(f"SELECT 1 FROM {table} WHERE {status} = %s AND {path} = %s LIMIT 1",  # nosec B608
                           [TaskResultStatus.READY, task.module_path])
            return cursor.fetchone() is not None

    def run(self, step) -> int:
        """Calls ``step()`` (which handles some items and returns how many) until it finds none after lingering;
        returns how many it handled in all."""
        started, handled = time.monotonic(), 0
        linger = self.LINGER * self.interval()
        while True:
            looked_at = time.monotonic()
            found = step()
            handled += found
            if not found:
                if looked_at - started >= linger:
                    return handled
                time.sleep(min(0.05, started + linger - looked_at))
