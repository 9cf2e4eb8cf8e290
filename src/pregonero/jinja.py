"""The Jinja2 environment of the guest's pages (``rsvp/jinja2/rsvp/``): the personal invitation, its opt-out, the
privacy notice and the answers to wrong links. The office's own pages stay on Django's template language.

Why a second engine: the invitation page is what every guest opens, many at once right after a send, and Django's
engine spent more of the page's CPU rendering it than the rest of the request with its database read
(bench/rsvp_load.py --profile). Jinja2 compiles a template to Python code once: with the same HTML (byte for byte
but the CSRF token and the file's last newline), a page request fell from 5.0 M to 3.6 M instructions, against
2.9 M for a bare view that reads one row and renders a two-line template (callgrind).

The templates mark texts only as ``{{ _("…") }}``, with ``|format(name=…)`` where a text has values, which is what
Django's ``makemessages`` reads in any ``.html`` file: ``make messages`` still finds every string.
"""

from django.template.defaultfilters import date, linebreaks_filter, urlize
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language, gettext, pgettext_lazy
from jinja2 import Environment

from pregonero.campaigns.templatetags.campaigns_tags import long_datetime

OFFICE_NAME = pgettext_lazy("office name", "Dirección de Relaciones Públicas")


def url(name: str, *args) -> str:
    return reverse(name, args=args or None)


def environment(**options) -> Environment:
    """Django's Jinja2 backend passes the loader and the undefined policy; escaping is on whatever it passes."""
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)
    env.globals.update(_=gettext, url=url, static=static, language=get_language, office_name=OFFICE_NAME)
    env.filters.update(linebreaks=linebreaks_filter, urlize=urlize, date=date, long_datetime=long_datetime)
    return env
