"""The mailbox poll as a background task that schedules its own next run (worker command, django-tasks-db)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.tasks import TaskResultStatus, task
from django.utils import timezone

log = logging.getLogger(__name__)


@task()
def poll_mailbox() -> dict:
    """Reads the office's mailbox once, then schedules the next poll INTAKE_IMAP_POLL_SECONDS later."""
    from .imap import mailbox_poll

    try:
        return mailbox_poll().as_dict()
    finally:
        mailbox_poll_schedule(delay=timedelta(seconds=settings.INTAKE_IMAP_POLL_SECONDS))


def mailbox_poll_schedule(delay: timedelta = timedelta(0)) -> bool:
    """Enqueues the next poll unless one is already waiting (the worker calls it at start, each poll at its end):
    one chain of polls however many workers start. A poll running now does not count, nor one whose worker died
    mid-run (it stays "running" for ever). Returns whether it enqueued. Only the database backend can wait."""
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    if not settings.INTAKE_IMAP_HOST:
        return False
    if not isinstance(poll_mailbox.get_backend(), DatabaseBackend):
        log.info("mailbox polls are scheduled only with the database task backend")
        return False
    waiting = DBTaskResult.objects.filter(status=TaskResultStatus.READY, task_path=poll_mailbox.module_path)
    if waiting.exists():
        return False
    poll_mailbox.using(run_after=timezone.now() + delay).enqueue()
    return True
