"""Quiet hours: no invitation leaves at night unless the send was started to ignore them."""

from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.sending.dispatcher import claim
from pregonero.sending.quiet import in_quiet_hours
from pregonero.sending.services import send_start


def local(hour, minute=0):
    return timezone.make_aware(datetime(2026, 12, 1, hour, minute))


@pytest.mark.parametrize(("hour", "quiet"), [(20, False), (21, True), (23, True), (3, True), (7, True), (8, False), (12, False)])
def test_the_default_window_wraps_past_midnight(settings, hour, quiet):
    settings.SENDING_QUIET_HOURS = "21:00-08:00"
    assert in_quiet_hours(local(hour, 30 if hour == 7 else 0)) == quiet


def test_an_empty_setting_turns_quiet_hours_off(settings):
    settings.SENDING_QUIET_HOURS = ""
    assert not in_quiet_hours(local(23))


def window_around_now() -> str:
    hour = timezone.localtime().hour
    return f"{hour:02d}:00-{(hour + 2) % 24:02d}:00"


@pytest.mark.parametrize("override", [False, True])
def test_messages_wait_during_quiet_hours_unless_the_send_overrides(settings, people, make_campaign, override):
    settings.SENDING_QUIET_HOURS = window_around_now()
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=3, email_only=0, both=0, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media, ignore_quiet_hours=override)
    assert len(claim("w1")) == (3 if override else 0)
    settings.SENDING_QUIET_HOURS = ""
    assert len(claim("w1")) == (0 if override else 3)


def test_the_page_says_the_send_waits_for_the_quiet_hours_to_end(client, settings, people, make_campaign):
    settings.SENDING_QUIET_HOURS = window_around_now()
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=1, email_only=0, both=0, opted_out_whatsapp=0)
    client.force_login(people.social_media)
    page = client.get(reverse("campaigns:detail", args=[campaign.folio])).content.decode()
    assert 'name="ignore_quiet_hours"' in page
    client.post(reverse("sending:start", args=[campaign.folio]))
    page = client.get(reverse("campaigns:detail", args=[campaign.folio])).content.decode()
    assert 'id="send-quiet"' in page
