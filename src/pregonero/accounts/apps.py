from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "pregonero.accounts"
    verbose_name = _("Cuentas y roles")

    def ready(self):
        from django.db.models.signals import post_migrate

        from .roles import sync_role_groups

        # Not tied to one app: the permissions it hands out are created by other apps' post_migrate.
        post_migrate.connect(sync_role_groups, dispatch_uid="pregonero.sync_role_groups")
