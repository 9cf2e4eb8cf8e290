"""The invitation image in the WhatsApp template header: uploaded once per send as media, reused by every message.

Messages are written with the image as a public link (``/i/imagen/<folio>``, served below) so they are complete
on their own; before a campaign's first WhatsApp batch the dispatcher uploads the image (reference §7) and sends
its media id instead, which spares WhatsApp one download per guest. Media ids last 30 days; older ones are
uploaded again. A campaign without an image of its own uses the office's generic invitation card.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404
from django.urls import path
from django.utils import timezone

from pregonero.campaigns.models import Campaign, State

from .channels.base import SendError
from .models import Message, SendControl

MEDIA_LIFETIME = timedelta(days=29)  # WhatsApp keeps uploaded media 30 days
GENERIC_IMAGE = "pregonero/invitacion.jpg"
PUBLIC_STATES = (State.SENDING, State.SENT, State.CLOSED)


@dataclass(frozen=True)
class HeaderImage:
    campaign_id: int
    path: Path
    mime_type: str


def image_of(campaign: Campaign) -> HeaderImage:
    attachment = campaign.invitation_image
    if attachment is not None:
        return HeaderImage(campaign.pk, Path(attachment.file.path), attachment.content_type)
    return HeaderImage(campaign.pk, Path(finders.find(GENERIC_IMAGE)), "image/jpeg")


def has_header_image(payload: dict) -> bool:
    components = (payload.get("template") or {}).get("components") or []
    return any(component.get("type") == "header" for component in components)


def media_for(messages: list[Message]) -> tuple[list[HeaderImage], dict[int, str]]:
    """For a batch: the images of its campaigns whose WhatsApp messages need a (new) media id, and the media ids
    still current, in one query. Only a campaign without a current id has its messages' payloads looked at."""
    campaign_ids = {m.campaign_id for m in messages if m.channel == Message.Channel.WHATSAPP}
    if not campaign_ids:
        return [], {}
    current = current_media_ids(campaign_ids)
    stale = {m.campaign_id for m in messages if m.channel == Message.Channel.WHATSAPP
             and m.campaign_id not in current and has_header_image(m.payload)}
    campaigns = Campaign.objects.filter(pk__in=stale).prefetch_related("attachments") if stale else ()
    return [image_of(campaign) for campaign in campaigns], current


async def upload(client, images: list[HeaderImage]) -> dict[int, str]:
    """Uploads each image; a campaign whose upload failed keeps the link (the message still goes out)."""
    media_ids = {}
    for image in images:
        try:
            media_ids[image.campaign_id] = await client.upload_media(image.path, image.mime_type)
        except SendError:
            continue  # already logged by the client; the payload's link still works
    return media_ids


def save(media_ids: dict[int, str]) -> None:
    now = timezone.now()
    for campaign_id, media_id in media_ids.items():
        SendControl.objects.update_or_create(campaign_id=campaign_id,
                                             defaults={"header_media_id": media_id, "header_media_at": now})


def current_media_ids(campaign_ids: set[int]) -> dict[int, str]:
    rows = (SendControl.objects.filter(campaign_id__in=campaign_ids, header_media_at__gte=timezone.now() - MEDIA_LIFETIME)
            .exclude(header_media_id="").values_list("campaign_id", "header_media_id"))
    return dict(rows)


def with_media_id(payload: dict, media_id: str | None) -> dict:
    """The payload with its header image given as the uploaded media id (a copy; the stored payload keeps the link)."""
    if not media_id or not has_header_image(payload):
        return payload
    template = payload["template"]
    components = [
        {**component, "parameters": [{"type": "image", "image": {"id": media_id}}]}
        if component.get("type") == "header" else component
        for component in template["components"]
    ]
    return {**payload, "template": {**template, "components": components}}


# The header's image as the outbox stores it, in either database's text of a JSON field.
HEADER_LINK = re.compile(r'"image": ?\{"link": ?"[^"\\]*"\}')


def whatsapp_body(message, media_id: str | None) -> dict | str:
    """What to post for a claimed WhatsApp message: its stored text, with the header image's link replaced by the
    uploaded media id when there is one, and never decoded; the decoded payload (``with_media_id``) when the stored
    text is not as expected (not one header image link)."""
    stored = message.stored
    if not isinstance(stored, str):
        return with_media_id(message.payload, media_id)
    text = media_id_in_text(stored, media_id)
    return text if text is not None else with_media_id(message.payload, media_id)


def media_id_in_text(stored: str, media_id: str | None) -> str | None:
    """A stored payload's text with its one header image link replaced by ``media_id`` (the text as it is without
    one); None if the text holds no image link or several."""
    if not media_id:
        return stored
    image = '"image": {"id": ' + orjson.dumps(str(media_id)).decode() + "}"
    replaced, found = HEADER_LINK.subn(lambda _match: image, stored)
    return replaced if found == 1 else None


def header_image(request, folio):
    """The invitation image WhatsApp fetches when a header carries a link; only once the campaign is being sent."""
    campaign = Campaign.objects.filter(folio=folio, state__in=PUBLIC_STATES).prefetch_related("attachments").first()
    if campaign is None:
        raise Http404
    image = image_of(campaign)
    if not image.path.is_file():
        raise Http404
    content_type = image.mime_type or mimetypes.guess_type(image.path.name)[0] or "application/octet-stream"
    response = FileResponse(image.path.open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response


def header_image_url(campaign: Campaign) -> str:
    return f"{settings.SITE_URL}/i/imagen/{campaign.folio}"


urlpatterns = [path("i/imagen/<str:folio>", header_image, name="header_image")]
