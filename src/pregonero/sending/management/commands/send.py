"""``pregonero send FOLIO``: the same start as the campaign page's button, then its progress on the terminal."""

import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pregonero.campaigns.models import Campaign, State
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.services import SendRefused, send_start
from pregonero.sending.views import progress


class Command(BaseCommand):
    help = _("Inicia el envío masivo de una solicitud lista y muestra su avance.")

    def add_arguments(self, parser):
        parser.add_argument("folio", help=_("Folio de la solicitud, p. ej. RP-2026-0042."))
        parser.add_argument("--as", dest="username", required=True,
                            help=_("Usuario de Redes Sociales y Difusión que inicia el envío."))
        parser.add_argument("--dispatch", action="store_true",
                            help=_("Enviar desde este proceso en vez de esperar a los trabajadores."))
        parser.add_argument("--timeout", type=float, default=3600, help=_("Segundos máximos de espera."))

    def handle(self, *args, folio, username, dispatch, timeout, **options):
        campaign = Campaign.objects.filter(folio=folio).first()
        actor = get_user_model().objects.filter(username=username, is_active=True).first()
        if campaign is None or actor is None:
            raise CommandError(_("No existe la solicitud o el usuario indicado."))
        if campaign.state == State.READY:
            try:
                count = send_start(campaign=campaign, actor=actor)
            except (SendRefused, PermissionDenied) as refusal:
                raise CommandError(str(refusal)) from None
            self.stdout.write(_("Envío iniciado: %(n)d mensajes en la bandeja de salida.") % {"n": count})
        elif campaign.state not in (State.SENDING, State.SENT):
            raise CommandError(_("La solicitud %(folio)s está «%(state)s»: no se puede enviar.")
                               % {"folio": folio, "state": campaign.get_state_display()})
        self.follow(campaign, dispatch=dispatch, timeout=timeout)

    def follow(self, campaign, *, dispatch: bool, timeout: float) -> None:
        dispatcher, deadline = Dispatcher(f"cli-{campaign.folio}"), time.monotonic() + timeout
        while True:
            campaign.refresh_from_db()
            now = progress(campaign)
            bar = "#" * (now["percent"] // 4)
            self.stdout.write(f"\r[{bar:<25}] {now['percent']:3d} %  {now['final']}/{now['total']}", ending="")
            if campaign.state != State.SENDING:
                self.stdout.write("\n" + _("Terminado: %(counts)s") % {
                    "counts": ", ".join(f"{k} {v}" for k, v in now["by_state"].items() if v)})
                return
            if time.monotonic() > deadline:
                raise CommandError(_("Se agotó el tiempo de espera; el envío sigue en los trabajadores."))
            if not (dispatch and dispatcher.run_once()):
                time.sleep(1)
