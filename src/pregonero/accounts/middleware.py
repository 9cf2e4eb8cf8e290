import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext, ngettext


class SpanishFirstLocaleMiddleware(LocaleMiddleware):
    """Spanish (es-MX) unless the person chose another language in the selector.

    Django's own middleware follows the browser's Accept-Language, which would show an office computer set up
    in English an English Pregonero; the office works in Spanish, so only an explicit choice changes it.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        code = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(code)
        request.LANGUAGE_CODE = translation.get_language()


SEEN_KEY = "pregonero_seen_at"
SIGNED_IN_KEY = "pregonero_signed_in_at"
SEEN_RESOLUTION = 60  # seconds: the last-seen mark is rewritten at most once a minute, not on every request


class IdleSessionMiddleware:
    """Signs out a session idle for SESSION_IDLE_MINUTES, or older than SESSION_COOKIE_AGE, on its next request.

    Django's cookie age alone would roll forward each time the session is saved; the sign-in time kept in the
    session makes it an absolute limit. The request then goes on anonymously, so a staff page sends the person
    to the sign-in page, where the message says why.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            self.check(request)
        return self.get_response(request)

    def check(self, request):
        session, now = request.session, int(time.time())
        seen, signed_in = session.get(SEEN_KEY, now), session.setdefault(SIGNED_IN_KEY, now)
        if now - seen > settings.SESSION_IDLE_MINUTES * 60:
            message = ngettext("Su sesión se cerró tras %(minutes)d minuto sin actividad; entre de nuevo.",
                               "Su sesión se cerró tras %(minutes)d minutos sin actividad; entre de nuevo.",
                               settings.SESSION_IDLE_MINUTES) % {"minutes": settings.SESSION_IDLE_MINUTES}
        elif now - signed_in > settings.SESSION_COOKIE_AGE:
            message = gettext("Su sesión llegó a su duración máxima y se cerró; entre de nuevo.")
        else:
            if now - session.get(SEEN_KEY, 0) >= SEEN_RESOLUTION:
                session[SEEN_KEY] = now
            return
        logout(request)
        messages.info(request, message)
