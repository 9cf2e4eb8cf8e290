from functools import lru_cache

from django import template
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext as _, ngettext, pgettext

from pregonero.campaigns.models import State
from pregonero.campaigns.notifications import describe as describe_entry
from pregonero.campaigns.workflow import OTHER_ACTIONS, TRANSITIONS

register = template.Library()


@register.filter
def describe(entry):
    return describe_entry(entry)


@register.filter
def state_label(code):
    return State(code).label if code in State.values else code


@register.filter
def action_label(action: str):
    """The timeline's verb for an audit action ("campaign.authorize" → "Autorizar")."""
    name = action.removeprefix("campaign.")
    if name in TRANSITIONS:
        return TRANSITIONS[name].label
    return OTHER_ACTIONS.get(action, action)




@register.filter
def waited(delta):
    """How long a request has waited, as a person says it: "3 días", "5 h", "12 min"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 1440:
        days = minutes // 1440
        return ngettext("%(n)d día", "%(n)d días", days) % {"n": days}
    if minutes >= 60:
        return _("%(n)d h") % {"n": minutes // 60}
    return _("%(n)d min") % {"n": max(minutes, 0)}


@register.filter
def long_datetime(value, style=""):
    """A date and time in words, in the page's language: "lunes 21 de diciembre a las 19:00" in Spanish (lower
    case, as Spanish writes months and weekdays), "Monday, December 21 at 19:00" in English.
    ``style``: "weekday" adds the day of the week, "year" the year."""
    if not value:
        return ""
    return _long_datetime(value, style, get_language() or "es", timezone.get_current_timezone_name())


@lru_cache(maxsize=1024)
def _long_datetime(value, style, language, zone):
    # Every guest of an event sees the same deadline: worded once per language and time zone (what the wording
    # depends on besides the arguments), not once per page.
    if style == "weekday":
        pattern = pgettext("date format with weekday", "l j \\d\\e F \\a \\l\\a\\s H:i")
    elif style == "year":
        pattern = pgettext("date format with year", "j \\d\\e F \\d\\e Y, H:i \\h")
    else:
        pattern = pgettext("date format", "j \\d\\e F \\a \\l\\a\\s H:i")
    text = formats.date_format(timezone.localtime(value), pattern)
    return text.lower() if language.startswith("es") else text
