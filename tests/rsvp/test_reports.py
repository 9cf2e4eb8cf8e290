"""The campaign report's charts and the office's monthly dashboard: the numbers a person reads in them."""

import datetime
import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import formats, timezone

from final_list_setup import invitation_of, sent_campaign
from pregonero.campaigns.models import AuditEntry
from pregonero.directory.models import Contact, Sector
from pregonero.rsvp.models import AnswerRecord, Invitation
from pregonero.sending.models import Message


@pytest.fixture
def campaign(people, make_campaign, emulator, inbox):
    return sent_campaign(people, make_campaign)


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


def svg_titles(html: str) -> list[str]:
    """The tooltips of the chart's marks (a bar segment, a point): what a person reads on hovering."""
    return [unescape(title) for title in re.findall(r"<(?:rect|circle)[^>]*><title>(.*?)</title>", html)]


def day_label(days_ago: int) -> str:
    return formats.date_format(timezone.localdate() - datetime.timedelta(days=days_ago), "j \\d\\e F")


def report(client, campaign) -> str:
    response = client.get(reverse("reports:campaign", args=[campaign.folio]))
    assert response.status_code == 200
    return response.content.decode()


def test_messages_by_state_and_channel(client, people, campaign):
    client.force_login(people.social_media)
    page = report(client, campaign)
    chart = section(page, "chart-messages")
    assert 'class="messages"' not in page  # no stray notice list above the report

    assert 'role="img"' in chart and "<title id=\"messages-title\">Mensajes por estado y canal</title>" in chart
    assert set(svg_titles(chart)) == {
        "WhatsApp · Leído: 1", "WhatsApp · Entregado: 1", "WhatsApp · Enviado: 4", "WhatsApp · Falló: 1",
        "Correo · Enviado: 5",
    }
    summary = "12 mensajes (7 por WhatsApp, 5 por Correo): 9 enviados, 1 entregado, 1 leído, 1 falló."
    assert f'<figcaption id="messages-summary">{summary}</figcaption>' in chart
    assert f"<desc id=\"messages-desc\">{summary}</desc>" in chart
    widths = dict(re.findall(r'<g data-channel="(\w+)">.*?font-weight="700">(\d+)</text>', chart, re.S))
    assert widths == {"whatsapp": "7", "email": "5"}  # each bar's total at its end


def test_the_rsvp_curve_adds_up_by_day_and_follows_changes_of_mind(client, people, campaign):
    def move(name, days_ago, which=0):
        record = AnswerRecord.objects.filter(invitation=invitation_of(campaign, name)).order_by("at", "pk")[which]
        AnswerRecord.objects.filter(pk=record.pk).update(at=timezone.now() - datetime.timedelta(days=days_ago))

    move("Invitado 0", 2)
    move("Invitado 2", 2)  # said yes two days ago…
    move("Invitado 2", 1, which=1)  # …and no yesterday
    move("Correo 0", 1)
    client.force_login(people.database)
    chart = section(report(client, campaign), "chart-curve")

    titles = svg_titles(chart)
    assert titles == [
        f"{day_label(2)} · Asistirán: 2", f"{day_label(1)} · Asistirán: 1", f"{day_label(0)} · Asistirán: 3",
        f"{day_label(2)} · No asistirán: 0", f"{day_label(1)} · No asistirán: 2", f"{day_label(0)} · No asistirán: 2",
    ]
    summary = (f"Al {day_label(0)}: 3 asistirán y 2 no asistirán. "
               f"El día con más respuestas fue el {day_label(2)} (2 respuestas).")
    assert f'<figcaption id="curve-summary">{summary}</figcaption>' in chart
    assert chart.count("<polyline") == 2


def test_attending_by_sector(client, people, campaign):
    client.force_login(people.requester)  # the requesting department sees its own event's report
    chart = section(report(client, campaign), "chart-sectors")

    bars = re.findall(r'<g data-sector="([^"]+)">.*?<tspan font-weight="700">(\d+)</tspan>( \(\+\d+\))?', chart, re.S)
    assert bars == [("Empresarios", "1", " (+2)"), ("Academia", "1", " (+1)"), ("Medios", "1", "")]
    summary = "3 invitados asistirán (más 3 acompañantes). El sector con más asistentes es Empresarios (1)."
    assert f'<figcaption id="sectors-summary">{summary}</figcaption>' in chart


def test_report_escapes_sector_names(client, people, campaign):
    sector = Sector.objects.create(name='<b onmouseover="x">Arte</b>', position=0)
    invitation_of(campaign, "Invitado 3").contact.sectors.set([sector])
    client.force_login(people.database)
    chart = section(report(client, campaign), "chart-sectors")
    assert "<b onmouseover" not in chart and "&lt;b onmouseover=&quot;x&quot;&gt;Arte&lt;/b&gt;" in chart


def test_a_report_before_any_send_says_so(client, people, make_campaign):
    campaign = make_campaign("ready")
    client.force_login(people.director)
    page = report(client, campaign)
    assert "Todavía no hay mensajes" in page and "Nadie ha respondido todavía." in page
    assert "Nadie ha confirmado su asistencia todavía." in page


def test_the_report_is_not_shown_to_another_department(client, people, campaign):
    client.force_login(people.other_requester)
    assert client.get(reverse("reports:campaign", args=[campaign.folio])).status_code == 404


def month_start(offset=0) -> datetime.date:
    first = timezone.localdate().replace(day=1)
    index = first.year * 12 + first.month - 1 + offset
    return datetime.date(index // 12, index % 12 + 1, 1)


def local(day: datetime.date, hour: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


@pytest.fixture
def last_month_campaign(people, make_campaign):
    """Received on the 2nd of last month, its send started on the 5th at noon (3.5 days later) and closed on the
    20th; its one guest was reached on the 5th and will attend."""
    previous = month_start(-1)
    old = make_campaign("closed", received_on=previous.replace(day=2))
    start = local(previous.replace(day=5), 12)
    AuditEntry.objects.create(campaign=old, actor=people.social_media, action="campaign.start_send", at=start,
                              from_state="ready", to_state="sending")
    AuditEntry.objects.create(campaign=old, actor=people.database, action="campaign.close",
                              at=local(previous.replace(day=20), 10), from_state="sent", to_state="closed")
    guest = Contact.objects.create(name="Ana Canul", email="ana@example.com")
    invitation = Invitation.objects.create(campaign=old, contact=guest, answer=Invitation.Answer.ATTENDING,
                                           created_at=start)
    Message.objects.create(campaign=old, invitation=invitation, channel="email", address=guest.email,
                           state=Message.State.DELIVERED, sent_at=start, delivered_at=start, created_at=start)
    return old


def cards(html: str) -> dict:
    found = re.findall(r'<li data-metric="(\w+)">\s*<h2>.*?</h2>\s*<p class="value">(.*?)</p>', html, re.S)
    return dict(found)


def table_row(html: str, month: datetime.date) -> list[str]:
    label = formats.date_format(month, "F Y")
    row = re.search(rf"<tr[^>]*><td>{label[0].upper() + label[1:]}</td>(.*?)</tr>", html, re.S).group(1)
    return re.findall(r'<td class="num">(.*?)</td>', row)


def test_the_monthly_dashboard(client, people, campaign, last_month_campaign):
    client.force_login(people.director)
    page = client.get(reverse("reports:dashboard")).content.decode()

    # This month: the request sent in the fixture: 10 of its 11 guests reached, 5 answered, 3 will attend.
    assert cards(page) == {"received": "1", "started": "1", "closed": "0", "reached": "10",
                           "answered_rate": "50%", "attending_rate": "30%", "average_days": "0.0"}
    assert table_row(page, month_start(-1)) == ["1", "1", "1", "1", "100%", "100%", "3.5"]
    assert table_row(page, month_start(-2)) == ["0", "0", "0", "0", "—", "—", "—"]
    assert 'aria-labelledby="spark-received-title spark-received-desc"' in page

    page = client.get(reverse("reports:dashboard"), {"mes": month_start(-1).strftime("%Y-%m")}).content.decode()
    assert cards(page) == {"received": "1", "started": "1", "closed": "1", "reached": "1",
                           "answered_rate": "100%", "attending_rate": "100%", "average_days": "3.5"}
    assert "Mes siguiente" in page


def test_a_wrong_month_shows_the_current_one_with_a_message(client, people):
    client.force_login(people.database)
    page = client.get(reverse("reports:dashboard"), {"mes": "2026-13"}).content.decode()
    assert "no es un mes válido" in page
    assert f'value="{month_start().strftime("%Y-%m")}"' in page


def test_the_dashboard_is_for_office_staff(client, people):
    client.force_login(people.assistant)
    assert 'href="/tablero/"' in client.get(reverse("campaigns:inbox")).content.decode()
    client.force_login(people.requester)
    assert 'href="/tablero/"' not in client.get(reverse("campaigns:inbox")).content.decode()
    assert client.get(reverse("reports:dashboard")).status_code == 403
    client.logout()
    assert client.get(reverse("reports:dashboard")).status_code == 302
