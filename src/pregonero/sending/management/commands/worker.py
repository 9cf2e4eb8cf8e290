from django.utils.translation import gettext as _
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand


class Command(DatabaseWorkerCommand):
    """``pregonero worker``: runs the background tasks (notice e-mails today; imports, exports and the
    sending dispatcher join it as they are built). Stops cleanly on SIGTERM; run as many as needed."""

    help = _("Trabajador en segundo plano: ejecuta las tareas pendientes (avisos por correo, importaciones…).")
