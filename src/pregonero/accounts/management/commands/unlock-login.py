"""``pregonero unlock-login USUARIO``: lifts a sign-in lock-out on the server, even when no administrator can enter."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pregonero.accounts.lockout import login_unlock
from pregonero.accounts.otp import second_factor_reset


class Command(BaseCommand):
    help = _("Desbloquea la entrada de un usuario o de una dirección IP y, si se pide, restablece su segundo factor.")

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="", help=_("Usuario que se desbloquea."))
        parser.add_argument("--ip", default="", help=_("Dirección IP que se desbloquea."))
        parser.add_argument("--reset-second-factor", action="store_true",
                            help=_("Borra también el segundo factor del usuario: dará de alta uno nuevo al entrar."))

    def handle(self, *args, username, ip, reset_second_factor, **options):
        if not username and not ip:
            raise CommandError(_("Indique un usuario, una dirección IP (--ip) o ambos."))
        user = get_user_model().objects.filter(username=username).first() if username else None
        if username and user is None:
            raise CommandError(_("No existe el usuario %(username)s.") % {"username": username})
        if reset_second_factor and user is None:
            raise CommandError(_("--reset-second-factor necesita un usuario."))
        lifted = login_unlock(actor=None, username=username, ip=ip)
        self.stdout.write(_("Bloqueos levantados: %(count)d.") % {"count": lifted})
        if reset_second_factor:
            done = second_factor_reset(user=user, actor=None)
            self.stdout.write(_("Segundo factor restablecido.") if done else _("El usuario no tenía segundo factor."))
