from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from pregonero.health import health

admin.site.site_header = _("Pregonero · administración")
admin.site.site_title = _("Pregonero")

urlpatterns = [
    # The public endpoints that take load first: a URL is matched against the patterns in order, and the staff
    # pages' empty prefix makes every request try each of theirs (bench/rsvp_load.py, bench/send_throughput.py).
    path("", include("pregonero.sending.webhooks")),
    path("", include(("pregonero.rsvp.views", "rsvp"))),
    path("", include("pregonero.campaigns.urls")),
    path("cuenta/", include("pregonero.accounts.urls")),
    path("directorio/", include("pregonero.directory.urls")),
    path("recibidas/", include("pregonero.intake.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("salud/", health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("pregonero.sending.media")),
    path("", include(("pregonero.rsvp.door_views", "door"))),
    path("", include(("pregonero.rsvp.finallist_views", "finallist"))),
    path("", include(("pregonero.rsvp.report_views", "reports"))),
    path("", include(("pregonero.sending.views", "sending"))),
]
if settings.MAIL_SINK_ENABLED:
    urlpatterns.append(path("correo-local/", include("pregonero.devtools.urls")))
