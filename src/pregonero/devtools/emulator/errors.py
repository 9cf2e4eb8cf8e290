"""Graph API error bodies (reference §3): the synchronous `{"error": …}` and the webhook `errors[]` element."""

from __future__ import annotations

import secrets

from aiohttp import web

HREF = "/documentation/business-messaging/whatsapp/support/error-codes"

# code -> (title, details, default HTTP status). Statuses follow the reference's "in practice" column: 400 for most
# messaging errors, 401 for tokens, 500/503 for the transient server errors. Scenarios can override the status.
CATALOG: dict[int, tuple[str, str, int]] = {
    1: ("API Unknown", "Invalid request or possible server error.", 500),
    2: ("API Service", "Temporary due to downtime or due to being overloaded.", 503),
    4: ("API Too Many Calls", "The app has reached its API call rate limit.", 400),
    100: ("Invalid parameter", "The request included one or more unsupported or misspelled parameters.", 400),
    190: ("Access token has expired", "Error validating access token.", 401),
    368: ("Temporarily blocked for policies violations",
          "The WhatsApp Business Account associated with the app has been restricted or disabled for violating "
          "a platform policy.", 400),
    80007: ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit.", 400),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached.", 400),
    130472: ("User's number is part of an experiment",
             "Failed to send message because this user's phone number is part of an experiment.", 400),
    131000: ("Something went wrong", "Message failed to send due to an unknown error.", 500),
    131008: ("Required parameter is missing", "The request is missing a required parameter.", 400),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid.", 400),
    131016: ("Service unavailable", "A service is temporarily unavailable.", 503),
    131026: ("Message undeliverable",
             "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone "
             "number; the recipient has not accepted the new Terms of Service; the recipient uses an old "
             "WhatsApp version.", 400),
    131047: ("Re-engagement message",
             "More than 24 hours have passed since the recipient last replied to the sender number.", 400),
    131048: ("Spam rate limit hit",
             "Message failed to send because there are restrictions on how many messages can be sent from this "
             "phone number. This may be because too many previous messages were blocked or flagged as spam.", 400),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.", 400),
    131050: ("Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
             "WhatsApp from your business.",
             "This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.", 400),
    131051: ("Message type unknown", "Message type is currently not supported.", 400),
    131053: ("Media upload error", "Unable to upload the media used in the message.", 400),
    131056: ("(Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone number to the same "
             "phone number in a short period of time.", 400),
    131057: ("Account in maintenance mode", "Business Account is in maintenance mode.", 400),
    132000: ("Number of parameters does not match the expected number of params",
             "The number of variable parameter values included in the request did not match the number of "
             "variable parameters defined in the template.", 400),
    132001: ("Template name does not exist in the translation",
             "The template does not exist in the specified language or the template has not been approved.", 400),
    132012: ("Parameter format does not match format in the created template",
             "Variable parameter values formatted incorrectly.", 400),
    132015: ("Template is Paused", "Template is paused due to low quality so it cannot be sent in a template message.",
             400),
    132016: ("Template is Disabled", "Template has been paused too many times due to low quality and is now "
             "permanently disabled.", 400),
}

# 190 is the Graph API's own OAuth error; the WhatsApp codes still say "OAuthException" in real bodies (reference §3.1).
ERROR_TYPE = "OAuthException"


def describe(code: int) -> tuple[str, str, int]:
    return CATALOG.get(code, ("Unknown error", "Error code not modelled by the emulator.", 400))


class GraphError(Exception):
    """Raised anywhere in request handling; turned into the Graph API error body by `error_response`."""

    def __init__(self, code: int, details: str | None = None, *, status: int | None = None,
                 subcode: int | None = None, message: str | None = None):
        title, default_details, default_status = describe(code)
        self.code = code
        self.details = details or default_details
        self.status = status or default_status
        self.subcode = subcode
        self.message = message or f"(#{code}) {title}"
        super().__init__(self.message)

    def body(self) -> dict:
        error = {
            "message": self.message,
            "type": ERROR_TYPE,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": trace_id(),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def trace_id() -> str:
    return secrets.token_urlsafe(12)


def error_response(error: GraphError, api_version: str | None = None) -> web.Response:
    headers = {"x-fb-trace-id": trace_id(), "x-fb-request-id": trace_id()}
    if api_version:
        headers["facebook-api-version"] = api_version
    return web.json_response(error.body(), status=error.status, headers=headers)


def webhook_error(code: int) -> dict:
    """One element of `statuses[].errors[]` (reference §3.2)."""
    title, details, _status = describe(code)
    return {"code": code, "title": title, "message": title, "error_data": {"details": details}, "href": HREF}
