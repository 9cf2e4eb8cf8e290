"""A local WhatsApp Business Cloud API for development, demos and tests (DESIGN §6; reference §9). Never production.

Use::

    server = EmulatorServer(EmulatorConfig(callback_url="http://127.0.0.1:8000/webhooks/whatsapp/"))
    base_url = server.start()            # a free port on 127.0.0.1, served from a background thread
    ...                                  # point the client's base URL at base_url
    server.messages(to="+529981234567")  # what was accepted; server.duplicates() finds double sends
    server.stop()

or ``pregonero whatsapp-emulator --port 8026``.

Graph API endpoints (Bearer token required): ``POST /{ver}/{phone_id}/messages``, ``POST /{ver}/{phone_id}/media``,
``GET /{ver}/{waba_id}/message_templates``, ``GET /{ver}/{object_id}`` (template, media or phone number).

Test-only endpoints: see ``control.register`` (``/_emulator/messages``, ``/faults``, ``/config``, ``/inbound/...``,
``/templates/status``, ``/verify``, ``/clock/advance``, ``/token``, ``/recipients``, ``/reset``, ``/stats``,
``/media/faults``). The media ``url`` that ``GET /{ver}/{media-id}`` returns (``/_emulator/media/{id}``) needs the
Bearer token, as Meta's media URLs do.

Scripted recipients by number suffix (config.DEFAULT_RECIPIENT_PATTERNS): ...000001 not on WhatsApp (131026),
...000002 per-user marketing limit (131049), ...000003 opted out (131050), ...000004 experiment (130472),
...000005 read without delivered, ...000006 out of order, ...000007 duplicate deliveries, ...000008 never read.
"""

from .config import EmulatorConfig
from .server import EmulatorServer
from .state import LoggedMessage

__all__ = ["EmulatorConfig", "EmulatorServer", "LoggedMessage"]
