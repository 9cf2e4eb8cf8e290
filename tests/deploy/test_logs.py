"""Log lines never carry a phone number or an e-mail address in clear, however careless the call."""

import io
import json
import logging
import subprocess
import sys

from pregonero.logs import JsonFormatter, RedactPersonalData


def logged(*args, exc_info=None, formatter=None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactPersonalData())
    handler.setFormatter(formatter or logging.Formatter("%(message)s"))
    logger = logging.getLogger("pregonero.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(*args, exc_info=exc_info)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_phone_numbers_keep_only_their_last_four_digits():
    line = logged("sent to %s, then %s and %s", "+5219981234567", "+52 998 765 4321", "(998) 111-22-33")
    assert line == "sent to ***4567, then ***4321 and ***2233\n"


def test_email_addresses_keep_their_first_letter_and_domain():
    line = logged("bounce from %(to)s", {"to": "maria.lopez@example.com"})
    assert line == "bounce from m***@example.com\n"


def test_a_traceback_quoting_an_address_is_masked_too():
    try:
        raise ValueError("refused: juan.perez@example.org, +5219981234567")
    except ValueError:
        line = logged("send failed", exc_info=True)
    assert "juan.perez" not in line and "9981234567" not in line
    assert "j***@example.org" in line and "***4567" in line


def test_what_is_not_personal_stays_readable():
    text = "campaign RP-2025-014 at 2025-03-01 12:30 from 192.168.10.200: 1200 of 20000 sent"
    assert logged(text) == text + "\n"


def test_json_lines_are_one_object_each():
    line = logged("to %s", "ana@example.com", formatter=JsonFormatter())
    entry = json.loads(line)
    assert entry["message"] == "to a***@example.com"
    assert entry["level"] == "WARNING" and entry["logger"] == "pregonero.test.logs"
    assert entry["time"].endswith("+00:00")


def test_the_filter_guards_every_configured_handler():
    handlers = [h for h in logging.getLogger().handlers + logging.getLogger("django").handlers
                if type(h) is logging.StreamHandler]
    assert handlers and all(any(isinstance(f, RedactPersonalData) for f in h.filters) for h in handlers)


def test_production_logs_json_without_personal_data(production_env):
    script = ("import django, logging; django.setup()\n"
              "logging.getLogger('pregonero.sending').warning('to %s <%s>', '+5219981234567', 'ana@example.com')\n")
    done = subprocess.run([sys.executable, "-c", script], env=production_env, capture_output=True, text=True,
                          timeout=60)
    entry = json.loads(done.stderr.strip().splitlines()[-1])
    assert entry["message"] == "to ***4567 <a***@example.com>"
    assert entry["logger"] == "pregonero.sending"
