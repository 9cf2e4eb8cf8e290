from django import template

from pregonero.intake.models import Draft
from pregonero.intake.services import may_decide, may_view_intake

register = template.Library()


@register.inclusion_tag("intake/_nav_link.html", takes_context=True)
def intake_nav_link(context):
    """The navigation's "Recibidas" link; the assistant also sees how many drafts wait to be registered."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not may_view_intake(user):
        return {"show": False}
    count = Draft.objects.filter(status=Draft.Status.OPEN).count() if may_decide(user) else 0
    return {"show": True, "open_count": count}
