from django.tasks import task

from .models import ImportBatch


@task()
def run_import(batch_id: int) -> str:
    from .importer import import_run

    # Claimed with a conditional update: a task delivered twice runs the import once.
    if not ImportBatch.objects.filter(pk=batch_id, status=ImportBatch.Status.QUEUED).update(
        status=ImportBatch.Status.RUNNING
    ):
        return "skipped"
    return import_run(ImportBatch.objects.get(pk=batch_id)).status


@task()
def retention_purge(dry_run: bool = False) -> dict:
    """The retention purge (directory/retention.py); run it daily, e.g. from a systemd timer or cron."""
    from .retention import retention_run

    purges = retention_run(dry_run=dry_run)
    totals: dict[str, int] = {}
    for purge in purges:
        for name, count in purge.counts.items():
            totals[name] = totals.get(name, 0) + count
    return {"campaigns": [purge.campaign.folio for purge in purges if purge.campaign], **totals}
