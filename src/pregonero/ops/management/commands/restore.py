"""``pregonero restore``: puts a backup back, after checking all of it."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pregonero.ops.backups import COUNTED, BackupError, backup_restore


class Command(BaseCommand):
    help = _("Restaura un respaldo hecho con «pregonero backup»: primero revisa el archivo completo (manifiesto, "
             "sumas de verificación, nombres) y no toca nada si algo falla; luego reemplaza la base de datos "
             "configurada, repone los archivos subidos en MEDIA_ROOT (los que ya estén y no vengan en el respaldo "
             "se conservan), aplica las migraciones pendientes y compara los conteos con los del respaldo. "
             "Detenga antes el servidor web y los trabajadores. Solo restaura en el mismo motor (SQLite o "
             "PostgreSQL) del respaldo.")

    def add_arguments(self, parser):
        parser.add_argument("archive", metavar=_("ARCHIVO"), help=_("El respaldo (.tar.gz) que se va a restaurar."))
        parser.add_argument("--yes", action="store_true",
                            help=_("Reemplaza la base de datos aunque ya tenga datos."))

    def handle(self, *args, archive, yes=False, **options):
        try:
            manifest, found = backup_restore(archive=archive, replace=yes)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(_("Respaldo del %(created)s (Pregonero %(version)s) restaurado.")
                          % {"created": manifest["created_at"], "version": manifest["versions"]["pregonero"]})
        rows = [(str(COUNTED[label]), manifest["counts"].get(label), count) for label, count in found.items()]
        width = max(len(name) for name, _backup, _now in rows)
        self.stdout.write(f"{'':{width}}  {_('respaldo'):>9}  {_('restaurado'):>10}")
        for name, expected, count in rows:
            self.stdout.write(f"{name:{width}}  {'—' if expected is None else expected:>9}  {count:>10}")
        different = [name for name, expected, count in rows if expected is not None and expected != count]
        if different:
            raise CommandError(_("La restauración terminó, pero no coinciden los conteos de: %(names)s. Revise la "
                                 "base de datos antes de abrir Pregonero.") % {"names": ", ".join(different)})
        self.stdout.write(self.style.SUCCESS(_("Todos los conteos coinciden con el respaldo.")))
