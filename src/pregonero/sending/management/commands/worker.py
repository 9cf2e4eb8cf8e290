import socket
import threading

from django.conf import settings
from django.utils.translation import gettext as _
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from pregonero.intake.tasks import mailbox_poll_schedule
from pregonero.rsvp.confirmations import confirmer
from pregonero.rsvp.models import AnswerRecord
from pregonero.sending.dispatcher import Dispatcher, worker_collector
from pregonero.sending.inbound import apply_pending_events


class Command(DatabaseWorkerCommand):
    """``pregonero worker``: the sending dispatcher (claims and sends due messages) in a thread, and the
    background tasks (notice e-mails, imports, webhook application) in the main loop. Run as many as needed
    on PostgreSQL; SIGTERM stops both cleanly, after the messages in flight are recorded."""

    help = _("Trabajador en segundo plano: envía los mensajes y ejecuta las tareas pendientes (avisos, importaciones…).")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--no-dispatcher", action="store_true", help=_("Solo tareas, sin enviar mensajes."))

    def handle(self, *args, no_dispatcher=False, **options):
        # A worker killed mid-task leaves that task "running" for ever: apply the webhooks it may have taken, and
        # wake the confirmations of answers that one may have left waiting.
        apply_pending_events()
        if AnswerRecord.objects.filter(confirm_due=True).exists():
            confirmer.wake(0, look_now=True)
        # With INTAKE_IMAP_HOST set, a mailbox poll waits in the queue (each poll schedules the next one).
        mailbox_poll_schedule()
        worker_collector()
        if no_dispatcher or options.get("batch"):
            return super().handle(*args, **options)
        stop = threading.Event()
        dispatcher = Dispatcher(f"{socket.gethostname()}-{threading.get_native_id()}",
                                lease_seconds=settings.SENDING_LEASE_SECONDS)
        thread = threading.Thread(target=dispatcher.run_forever, args=(stop,), name="dispatcher", daemon=True)
        thread.start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()
            thread.join(timeout=60)
