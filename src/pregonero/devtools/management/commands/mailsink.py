"""``pregonero mailsink``: run the embedded local mail sink until SIGTERM / SIGINT."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pregonero.devtools.mailsink import start_sink

# Loopback only: the sink accepts mail from anyone who can connect and relays nothing.
HOST = "127.0.0.1"


class Stop(Exception):
    """Raised by the signal handler to end the wait in the main thread."""


def raise_stop(signum, frame):
    raise Stop


class Command(BaseCommand):
    # The sink needs only the database; a failing check elsewhere (URLs, templates) must not stop mail being caught.
    requires_system_checks = []
    help = _("Ejecuta el buzón local de correo del modo integrado (sin servidor SMTP configurado).")

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=None, help=_("Puerto de escucha (por omisión, MAIL_SINK_PORT).")
        )

    def handle(self, *args, port=None, **options):
        if not settings.MAIL_SINK_ENABLED:
            raise CommandError(
                _(
                    "Hay un servidor SMTP configurado (EMAIL_HOST), así que el correo se envía por él; "
                    "el buzón local sólo se usa en el modo integrado."
                )
            )
        port = settings.MAIL_SINK_PORT if port is None else port
        try:
            controller = start_sink(HOST, port)
        except Exception as exc:
            raise CommandError(
                _("No se pudo abrir el buzón local en %(host)s:%(port)s: %(error)s")
                % {"host": HOST, "port": port, "error": exc}
            ) from exc
        self.stdout.write(_("Buzón local de correo escuchando en %(host)s:%(port)s") % {"host": HOST, "port": port})
        self.stdout.flush()
        try:
            wait_for_stop_signal()
        finally:
            controller.stop()


def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT; the SMTP server runs in the controller's own thread meanwhile."""
    # Raising from the handler (rather than setting an Event from it) cannot deadlock on the Event's lock.
    previous = {sig: signal.signal(sig, raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        threading.Event().wait()
    except Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
