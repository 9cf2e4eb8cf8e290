"""``pregonero embedded``: the web server, the worker and the local mail sink, started and stopped together."""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = _("Inicia Pregonero en modo integrado: servidor web, trabajador, buzón local de correo y emulador de WhatsApp.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help=_("Dirección y puerto del servidor web."))

    def handle(self, *args, addr, **options):
        pregonero = [sys.executable, "-m", "pregonero"]
        commands = {"web": [*pregonero, "runserver", addr, "--noreload", "--skip-checks"], "worker": [*pregonero, "worker"]}
        if settings.MAIL_SINK_ENABLED:
            commands["correo"] = [*pregonero, "mailsink", "--port", str(settings.MAIL_SINK_PORT)]
        if settings.WHATSAPP_EMULATOR:
            commands["whatsapp"] = [*pregonero, "whatsapp-emulator", "--port", str(settings.WHATSAPP_EMULATOR_PORT),
                                    "--log", str(settings.DATA_DIR / "whatsapp-emulator.jsonl")]
        children = {name: subprocess.Popen(argv) for name, argv in commands.items()}
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(self.style.SUCCESS(_("Pregonero en http://%(addr)s/  (Ctrl+C para detener)") % {"addr": addr}))
        if settings.MAIL_SINK_ENABLED:
            self.stdout.write(_("Correo saliente: buzón local, visible en http://%(addr)s/correo-local/") % {"addr": addr})
        if settings.WHATSAPP_EMULATOR:
            self.stdout.write(_("WhatsApp: emulador local en el puerto %(port)s; ningún mensaje sale a WhatsApp.")
                              % {"port": settings.WHATSAPP_EMULATOR_PORT})
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(
                        _("El proceso «%(name)s» terminó (código %(code)s); se detiene todo.")
                        % {"name": name, "code": child.returncode}
                    )
                    stopping, exit_code = True, 1
            time.sleep(0.5)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(exit_code)
