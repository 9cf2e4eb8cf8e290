"""``/salud/``: can this installation do its work? For nginx, a load balancer or a monitor: no sign-in, no personal
data; 200 when every check passes, 503 naming the checks that failed.

The workers prove they are alive with a heartbeat: the dispatcher loop of every ``pregonero worker`` stamps its
row at most every ``HEARTBEAT_SECONDS``, and the check passes while the newest stamp is younger than
``HEARTBEAT_STALE_SECONDS``. The stamp is a ``rsvp.Throttle`` row (a key and a time shared by every process) keyed
``worker-heartbeat:<worker id>``, so it needs no table of its own.
"""

import logging
from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.models import Max
from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from pregonero.rsvp.models import Throttle

log = logging.getLogger(__name__)
HEARTBEAT_PREFIX = "worker-heartbeat:"
HEARTBEAT_SECONDS = 30
HEARTBEAT_STALE_SECONDS = 120  # four missed beats; a batch never holds the loop longer than its lease (120 s)
HEARTBEAT_FORGET = timedelta(days=1)  # a worker id is new at every start: old ones are dropped


def worker_heartbeat(worker_id: str) -> None:
    now = timezone.now()
    Throttle.objects.update_or_create(key=f"{HEARTBEAT_PREFIX}{worker_id}"[:200],
                                      defaults={"window_start": now, "hits": 0})
    Throttle.objects.filter(key__startswith=HEARTBEAT_PREFIX, window_start__lt=now - HEARTBEAT_FORGET).delete()


def database_check() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def workers_check() -> dict:
    now = timezone.now()
    beats = Throttle.objects.filter(key__startswith=HEARTBEAT_PREFIX)
    alive = beats.filter(window_start__gte=now - timedelta(seconds=HEARTBEAT_STALE_SECONDS)).count()
    last = beats.aggregate(last=Max("window_start"))["last"]
    result = {"ok": alive > 0, "alive": alive,
              "last_seen_seconds": round((now - last).total_seconds()) if last else None}
    if not alive:
        result["detail"] = _("Ningún trabajador (pregonero worker) ha dado señales en %(seconds)s segundos.") % {
            "seconds": HEARTBEAT_STALE_SECONDS}
    return result


def run_check(name: str, check) -> dict:
    try:
        return check()
    except DatabaseError as error:  # the server is down, or the tables are missing (migrate not run)
        log.error("health check %s: %s", name, type(error).__name__)
        return {"ok": False, "detail": _("La base de datos no responde o le faltan tablas (¿pregonero migrate?).")}


@never_cache
@require_GET
def health(request):
    checks = {"database": run_check("database", database_check)}
    checks["workers"] = (run_check("workers", workers_check) if checks["database"]["ok"]
                         else {"ok": False, "detail": _("Sin base de datos no se puede saber.")})
    failed = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "error" if failed else "ok", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)
