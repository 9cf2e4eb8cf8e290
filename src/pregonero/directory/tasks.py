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
