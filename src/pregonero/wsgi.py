import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pregonero.settings")
django_application = get_wsgi_application()

from pregonero.sending.webhooks import IngestFront  # noqa: E402  (needs the apps loaded above)

# The WhatsApp webhook's POSTs bypass Django's middleware: see pregonero.sending.webhooks.
application = IngestFront(django_application)
