"""``pregonero audit verify``: recomputes the audit log's hash chain and says whether it is intact."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.campaigns.audit import chain_verify


def break_reason(reason: str) -> str:
    return {
        "content": _("su contenido no coincide con su huella: la entrada fue modificada"),
        "link": _("no enlaza con la entrada anterior: antes de ella se borró, insertó o modificó una entrada"),
        "tail": _("el registro terminaba en una entrada posterior: se borraron entradas después de esta"),
    }[reason]


class Command(BaseCommand):
    help = _("Registro de auditoría: «verify» comprueba que ninguna entrada fue modificada ni borrada.")

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="verify")
        actions.add_parser("verify", help=_("Recalcula la cadena de huellas del registro de auditoría."))

    def handle(self, *args, action, **options):
        check = chain_verify()
        if check.ok:
            self.stdout.write(_("Registro de auditoría íntegro: %(n)d entradas verificadas.") % {"n": check.count})
            return
        entry = check.broken
        if entry is None:
            raise CommandError(_("Registro de auditoría alterado: se borraron todas sus entradas."))
        raise CommandError(
            _("Registro de auditoría alterado en la entrada n.º %(id)d del %(date)s: %(reason)s. "
              "Las %(n)d entradas anteriores están íntegras.")
            % {"id": entry.pk, "date": timezone.localtime(entry.at).strftime("%d/%m/%Y %H:%M:%S"),
               "reason": break_reason(check.reason), "n": check.count}
        )
