"""Log lines without personal data, as JSON for the server's journal (settings.LOGGING).

``RedactPersonalData`` sits on every handler, so even a careless ``log.info("sent to %s", contact.mobile)``
writes ``***4567``: phone numbers keep their last four digits and e-mail addresses their first letter and domain
(the masks the sending channels already use).
"""

import json
import logging
import re
from datetime import UTC, datetime

from pregonero.sending.channels.base import mask_phone, redact_emails, redact_numbers

# A number as people type it ("+52 998 123 4567", "(998) 123-45-67"): ten digits or more, spaces, dashes and
# brackets between them. Dots are left out so IP addresses stay readable, and ISO dates ("2025-03-01 12:30").
FORMATTED_PHONE = re.compile(r"(?<![\w-])(?!\d{4}-\d\d-\d\d)\+?\(?\d{1,4}(?:[ ()-]{1,2}\d{1,4}){2,5}")


def redact_personal_data(text: str) -> str:
    text = redact_emails(text)
    text = FORMATTED_PHONE.sub(
        lambda m: mask_phone(m.group()) if sum(c.isdigit() for c in m.group()) >= 10 else m.group(), text)
    return redact_numbers(text)


class RedactPersonalData(logging.Filter):
    """Renders the message with its arguments, then masks it (and the traceback, which may quote a value)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_personal_data(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_personal_data(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_personal_data(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, process, message and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
