"""``pregonero whatsapp-emulator``: run the local WhatsApp Cloud API emulator until SIGTERM / SIGINT."""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer
from pregonero.devtools.emulator.config import TIMEOUT_MODES


class Command(BaseCommand):
    # The emulator needs neither the database nor the URLconf; a failing check elsewhere must not stop it.
    requires_system_checks = []
    # Plain strings: argparse cannot format lazy translations.
    help = "Ejecuta el emulador local de la API de WhatsApp Cloud (desarrollo, demos y pruebas)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Dirección de escucha.")
        parser.add_argument("--port", type=int, default=None,
                            help="Puerto de escucha (por omisión, WHATSAPP_EMULATOR_PORT o 8026).")
        parser.add_argument("--callback-url", default=None,
                            help="URL de los webhooks (por omisión, SITE_URL + /webhooks/whatsapp/).")
        parser.add_argument("--no-callback", action="store_true", help="No enviar webhooks.")
        parser.add_argument("--rate", type=float, default=80.0, help="Mensajes por segundo.")
        parser.add_argument("--no-pair-limit", action="store_true",
                            help="Sin límite por destinatario (pruebas de rendimiento).")
        parser.add_argument("--daily-limit", type=int, default=250,
                            help="Destinatarios únicos en 24 h; 0 = sin límite.")
        parser.add_argument("--no-statuses", action="store_true",
                            help="No enviar webhooks de estado (pruebas de rendimiento).")
        parser.add_argument("--read-probability", type=float, default=0.8)
        parser.add_argument("--batch-probability", type=float, default=0.2)
        parser.add_argument("--duplicate-probability", type=float, default=0.0)
        parser.add_argument("--transient-error-rate", type=float, default=0.0)
        parser.add_argument("--timeout-rate", type=float, default=0.0)
        parser.add_argument("--timeout-hold", type=float, default=30.0)
        parser.add_argument("--timeout-mode", choices=TIMEOUT_MODES, default="accepted")
        parser.add_argument("--no-mx-quirk", action="store_true", help="Sin el 521 de México.")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--log", default=None, metavar="ARCHIVO",
                            help="Añade cada mensaje aceptado a este archivo, una línea JSON por mensaje.")

    def handle(self, *args, **options):
        port = options["port"]
        if port is None:
            port = getattr(settings, "WHATSAPP_EMULATOR_PORT", 8026)
        overrides = {
            "host": options["host"], "port": port, "rate": options["rate"],
            "pair_limit": not options["no_pair_limit"], "daily_limit": options["daily_limit"] or None,
            "statuses": not options["no_statuses"], "read_probability": options["read_probability"],
            "batch_probability": options["batch_probability"],
            "duplicate_probability": options["duplicate_probability"],
            "transient_error_rate": options["transient_error_rate"], "timeout_rate": options["timeout_rate"],
            "timeout_hold": options["timeout_hold"], "timeout_mode": options["timeout_mode"],
            "mx_521_quirk": not options["no_mx_quirk"], "seed": options["seed"], "log_path": options["log"],
        }
        if options["no_callback"]:
            overrides["callback_url"] = None
        elif options["callback_url"]:
            overrides["callback_url"] = options["callback_url"]
        server = EmulatorServer(EmulatorConfig.from_settings(**overrides))
        try:
            asyncio.run(self.run(server))
        except OSError as exc:
            raise CommandError(
                _("No se pudo abrir el emulador de WhatsApp en %(host)s:%(port)s: %(error)s")
                % {"host": options["host"], "port": port, "error": exc}
            ) from exc

    async def run(self, server: EmulatorServer) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            url = await server.serve()
            callback = server.config.callback_url or _("ninguno")
            self.stdout.write(_("Emulador de WhatsApp Cloud API escuchando en %(url)s (webhooks a %(callback)s)")
                              % {"url": url, "callback": callback})
            self.stdout.flush()
            await stop.wait()
        finally:
            await server.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
