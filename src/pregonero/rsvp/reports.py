"""Figures a person would rather look at than read: the campaign report (messages by state and channel, the RSVP
curve, attending by sector) and the office's monthly dashboard.

The database does the counting (grouped queries, no loop over messages); this module turns the counts into chart
geometry — coordinates and labels — that the templates draw as inline SVG, escaped like any other page.
"""

import datetime
import math
from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, F, Min, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce, Lag, TruncDate, TruncMonth
from django.utils import formats, timezone
from django.utils.translation import gettext as _, ngettext

from pregonero.campaigns.models import AuditEntry, Campaign
from pregonero.sending.models import Message

from .finallist import REACHED_STATES, primary_sector
from .models import AnswerRecord, Invitation

# Stacking order (best outcome first) and colours, readable by people with the common colour blindnesses:
# the legend and the text summary carry the same numbers.
STATE_STYLE = {
    Message.State.READ: "#1b5e20",
    Message.State.DELIVERED: "#43a047",
    Message.State.SENT: "#1e6fb8",
    Message.State.SENDING: "#90a4ae",
    Message.State.QUEUED: "#cfd8dc",
    Message.State.FAILED: "#c62828",
    Message.State.SKIPPED: "#f0a202",
}
ATTENDING_COLOR, DECLINED_COLOR = "#1f7a4d", "#b3261e"
CHART_WIDTH = 640


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above value: a round top for an axis."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


def long_date(day: datetime.date) -> str:
    return formats.date_format(day, "j \\d\\e F")


# --- the campaign report -------------------------------------------------------------------------------------

def messages_by_channel(campaign: Campaign) -> list[dict]:
    """One row per channel: its messages counted by state, in one grouped query."""
    counts = Counter()
    for row in Message.objects.filter(campaign=campaign).values("channel", "state").annotate(n=Count("pk")):
        counts[row["channel"], row["state"]] = row["n"]
    rows = []
    for channel, label in Message.Channel.choices:
        states = [{"state": state, "label": state.label, "n": counts[channel, state], "color": color}
                  for state, color in STATE_STYLE.items()]
        total = sum(state["n"] for state in states)
        if total:
            rows.append({"channel": channel, "label": str(label), "total": total, "states": states})
    return rows


def messages_chart(rows: list[dict]) -> dict:
    """Horizontal stacked bars: one bar per channel, a segment per state, all on one scale."""
    label_width, bar_height, gap, top = 100, 30, 18, 10
    area = CHART_WIDTH - label_width - 60
    scale = area / max((row["total"] for row in rows), default=1)
    bars = []
    for index, row in enumerate(rows):
        y, x, segments = top + index * (bar_height + gap), label_width, []
        for state in row["states"]:
            if state["n"]:
                width = state["n"] * scale
                segments.append({**state, "x": round(x, 1), "width": round(width, 1)})
                x += width
        bars.append({**row, "y": y, "segments": segments, "text_y": y + bar_height / 2 + 5, "end_x": round(x + 8, 1)})
    totals = Counter()
    for row in rows:
        for state in row["states"]:
            totals[state["state"]] += state["n"]
    legend = [{"label": state.label, "color": color, "n": totals[state]} for state, color in STATE_STYLE.items()
              if totals[state]]
    height = top + len(rows) * (bar_height + gap)
    return {"width": CHART_WIDTH, "height": max(height, 40), "bars": bars, "bar_height": bar_height,
            "legend": legend, "summary": messages_summary(rows, totals)}


def state_counts(totals: Counter) -> list[str]:
    """"9 enviados", "1 entregado", "1 falló"…: each state with its number, in the chart's order."""
    waiting = totals[Message.State.QUEUED] + totals[Message.State.SENDING]
    wordings = [
        (totals[Message.State.SENT], ngettext("%(n)d enviado", "%(n)d enviados", totals[Message.State.SENT])),
        (totals[Message.State.DELIVERED],
         ngettext("%(n)d entregado", "%(n)d entregados", totals[Message.State.DELIVERED])),
        (totals[Message.State.READ], ngettext("%(n)d leído", "%(n)d leídos", totals[Message.State.READ])),
        (waiting, ngettext("%(n)d sigue en cola", "%(n)d siguen en cola", waiting)),
        (totals[Message.State.FAILED], ngettext("%(n)d falló", "%(n)d fallaron", totals[Message.State.FAILED])),
        (totals[Message.State.SKIPPED],
         ngettext("%(n)d no se envió", "%(n)d no se enviaron", totals[Message.State.SKIPPED])),
    ]
    return [wording % {"n": n} for n, wording in wordings if n]


def messages_summary(rows: list[dict], totals: Counter) -> str:
    total = sum(totals.values())
    if not total:
        return _("Todavía no hay mensajes: el envío no ha empezado.")
    channels = ", ".join(_("%(n)d por %(channel)s") % {"n": row["total"], "channel": row["label"]} for row in rows)
    return ngettext("%(n)d mensaje (%(channels)s): %(states)s.", "%(n)d mensajes (%(channels)s): %(states)s.",
                    total) % {"n": total, "channels": channels, "states": ", ".join(state_counts(totals))}


def answer_curve(campaign: Campaign) -> list[dict]:
    """Attending and declined guests at the end of each day since the first answer (the last answer of each guest
    wins: someone who changed their mind moves from one line to the other that day).

    The database pairs each answer with the guest's previous one (a window function); Python only adds the
    day's changes while the rows stream, so memory stays flat whatever the number of answers."""
    tz = timezone.get_current_timezone()
    records = (AnswerRecord.objects.filter(invitation__campaign=campaign, invitation__walk_in=False)
               .annotate(day=TruncDate("at", tzinfo=tz),
                         previous=Window(Lag("answer"), partition_by=[F("invitation_id")], order_by=[F("at"), F("pk")]))
               .order_by("at", "pk").values_list("day", "answer", "previous"))
    changes: dict[datetime.date, Counter] = {}
    answered = Counter()
    for day, answer, previous in records.iterator(chunk_size=2000):
        change = changes.setdefault(day, Counter())
        change[answer] += 1
        if previous:
            change[previous] -= 1
        answered[day] += 1
    if not changes:
        return []
    first, last = min(changes), max(changes)
    if campaign.is_open:  # the curve runs on to today, or to the event if it is over
        today = timezone.localdate()
        last = max(last, min(today, timezone.localdate(campaign.starts_at)) if campaign.starts_at else today)
    days, running = [], Counter()
    for offset in range((last - first).days + 1):
        day = first + datetime.timedelta(days=offset)
        running.update(changes.get(day, Counter()))
        days.append({"day": day, "attending": running[Invitation.Answer.ATTENDING],
                     "declined": running[Invitation.Answer.DECLINED], "new": answered[day]})
    return days


def curve_chart(days: list[dict]) -> dict:
    """Two lines (attending, declined) over the days, with a rounded vertical scale and a few date labels."""
    left, right, top, bottom, height = 44, 16, 12, 34, 260
    plot_width, plot_height = CHART_WIDTH - left - right, height - top - bottom
    peak = nice_ceiling(max((max(d["attending"], d["declined"]) for d in days), default=1))
    step = plot_width / max(len(days) - 1, 1)

    def point(index, value):
        return round(left + index * step, 1), round(top + plot_height * (1 - value / peak), 1)

    lines = []
    for key, label, color in (("attending", _("Asistirán"), ATTENDING_COLOR), ("declined", _("No asistirán"), DECLINED_COLOR)):
        points = [{"x": x, "y": y, "n": d[key], "day": long_date(d["day"])}
                  for index, d in enumerate(days) for x, y in [point(index, d[key])]]
        lines.append({"label": label, "color": color, "points": points,
                      "path": " ".join(f"{p['x']},{p['y']}" for p in points), "last": days[-1][key] if days else 0})
    tick_step = 1 if peak <= 5 else peak // 5  # peak is 1, 2, 5, 10, 20, 50…: five round steps
    ticks = [{"value": value, "y": point(0, value)[1]} for value in range(0, peak + 1, tick_step)]
    every = max(1, math.ceil(len(days) / 6))
    labels = [{"x": point(i, 0)[0], "text": formats.date_format(d["day"], "j M"),
               "anchor": "start" if i == 0 else "end" if i == len(days) - 1 else "middle"}
              for i, d in enumerate(days) if i % every == 0 or i == len(days) - 1]
    return {"width": CHART_WIDTH, "height": height, "left": left, "right": CHART_WIDTH - right, "top": top,
            "bottom": top + plot_height, "lines": lines, "ticks": ticks, "labels": labels,
            "label_y": top + plot_height + 20, "summary": curve_summary(days)}


def curve_summary(days: list[dict]) -> str:
    if not days:
        return _("Nadie ha respondido todavía.")
    last = days[-1]
    busiest = max(days, key=lambda d: d["new"])
    text = _("Al %(day)s: %(attending)d asistirán y %(declined)d no asistirán.") % {
        "day": long_date(last["day"]), "attending": last["attending"], "declined": last["declined"]}
    if busiest["new"]:
        text += " " + ngettext("El día con más respuestas fue el %(day)s (%(n)d respuesta).",
                               "El día con más respuestas fue el %(day)s (%(n)d respuestas).", busiest["new"]) % {
            "day": long_date(busiest["day"]), "n": busiest["new"]}
    return text


def attending_by_sector(campaign: Campaign) -> list[dict]:
    """Guests who will attend and their companions per sector (each guest under their first sector)."""
    rows = (Invitation.objects.filter(campaign=campaign, walk_in=False, answer=Invitation.Answer.ATTENDING)
            .annotate(sector=primary_sector("name"), sector_position=primary_sector("position"))
            .values("sector", "sector_position").annotate(guests=Count("pk"), companions=Coalesce(Sum("companions"), 0))
            .order_by("-guests", F("sector_position").asc(nulls_last=True), "sector"))
    return [{**row, "sector": row["sector"] or _("Sin sector")} for row in rows]


def sector_chart(rows: list[dict]) -> dict:
    label_width, bar_height, gap, top = 190, 22, 10, 6
    area = CHART_WIDTH - label_width - 90
    scale = area / max((row["guests"] for row in rows), default=1)
    bars = []
    for index, row in enumerate(rows):
        y = top + index * (bar_height + gap)
        width = round(row["guests"] * scale, 1)
        short = row["sector"] if len(row["sector"]) <= 26 else row["sector"][:25] + "…"
        bars.append({**row, "short": short, "y": y, "x": label_width, "width": width, "text_y": y + bar_height / 2 + 5,
                     "end_x": round(label_width + width + 8, 1)})
    guests = sum(row["guests"] for row in rows)
    companions = sum(row["companions"] for row in rows)
    if guests:
        summary = ngettext("%(n)d invitado asistirá (más %(companions)d acompañantes).",
                           "%(n)d invitados asistirán (más %(companions)d acompañantes).", guests) % {
            "n": guests, "companions": companions}
        summary += " " + _("El sector con más asistentes es %(sector)s (%(n)d).") % {
            "sector": rows[0]["sector"], "n": rows[0]["guests"]}
    else:
        summary = _("Nadie ha confirmado su asistencia todavía.")
    return {"width": CHART_WIDTH, "height": max(top + len(rows) * (bar_height + gap), 30), "bars": bars,
            "bar_height": bar_height, "label_width": label_width, "summary": summary}


def campaign_report(campaign: Campaign) -> dict:
    return {
        # Not "messages": that name belongs to Django's messages framework in every template.
        "messages_chart": messages_chart(messages_by_channel(campaign)),
        "curve_chart": curve_chart(answer_curve(campaign)),
        "sectors_chart": sector_chart(attending_by_sector(campaign)),
    }


# --- the office's monthly dashboard --------------------------------------------------------------------------

MONTHS_SHOWN = 12


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def add_months(month: datetime.date, n: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + n
    return datetime.date(index // 12, index % 12 + 1, 1)


def local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


@dataclass
class MonthFigures:
    month: datetime.date
    received: int = 0
    started: int = 0
    closed: int = 0
    reached: int = 0
    answered: int = 0
    attending: int = 0
    waits: tuple = ()

    @property
    def answered_rate(self):
        return percent(self.answered, self.reached)

    @property
    def attending_rate(self):
        return percent(self.attending, self.reached)

    @property
    def average_days(self):
        return round(sum(self.waits) / len(self.waits), 1) if self.waits else None

    @property
    def label(self) -> str:
        return formats.date_format(self.month, "F Y")


def first_reach():
    """When the guest was first reached: the earliest time one of their messages left."""
    left = Coalesce("sent_at", "delivered_at", "read_at")
    messages = Message.objects.filter(invitation=OuterRef("pk"), state__in=REACHED_STATES).values("invitation")
    return Subquery(messages.annotate(first=Min(left)).values("first")[:1])


def request_wait_days(at: datetime.datetime, received_on: datetime.date, created_at: datetime.datetime) -> float:
    """Days from the request to the start of its send. The request counts from its registration, or from the
    start of the day it was received when that was earlier (an oficio registered days later)."""
    since = created_at if timezone.localdate(created_at) == received_on else local_midnight(received_on)
    return max((at - since).total_seconds(), 0) / 86400


def monthly_figures(last_month: datetime.date, months: int = MONTHS_SHOWN) -> list[MonthFigures]:
    """Per month (local time), the last `months` months up to last_month: a handful of grouped queries."""
    tz = timezone.get_current_timezone()
    first_month = add_months(last_month, 1 - months)
    start, end = local_midnight(first_month), local_midnight(add_months(last_month, 1))
    figures = {add_months(first_month, i): MonthFigures(add_months(first_month, i)) for i in range(months)}

    received = (Campaign.objects.filter(received_on__gte=first_month, received_on__lt=add_months(last_month, 1))
                .annotate(month=TruncMonth("received_on")).values("month").annotate(n=Count("pk")))
    for row in received:
        figures[row["month"]].received = row["n"]

    steps = (AuditEntry.objects.filter(action__in=["campaign.start_send", "campaign.close"], at__gte=start, at__lt=end)
             .annotate(month=TruncMonth("at", tzinfo=tz)).values("action", "month")
             .annotate(n=Count("campaign", distinct=True)))
    for row in steps:
        field = "started" if row["action"] == "campaign.start_send" else "closed"
        setattr(figures[row["month"].date()], field, row["n"])

    guests = (Invitation.objects.filter(created_at__lt=end, walk_in=False).annotate(reached_at=first_reach())
              .filter(reached_at__gte=start, reached_at__lt=end)
              .annotate(month=TruncMonth("reached_at", tzinfo=tz)).values("month")
              .annotate(reached=Count("pk"), answered=Count("pk", filter=~Q(answer=Invitation.Answer.PENDING)),
                        attending=Count("pk", filter=Q(answer=Invitation.Answer.ATTENDING))))
    for row in guests:
        month = figures[row["month"].date()]
        month.reached, month.answered, month.attending = row["reached"], row["answered"], row["attending"]

    waits: dict[datetime.date, list[float]] = {}
    starts = (AuditEntry.objects.filter(action="campaign.start_send", at__gte=start, at__lt=end)
              .values_list("at", "campaign__received_on", "campaign__created_at"))
    for at, received_on, created_at in starts:  # one row per campaign sent, never per message
        waits.setdefault(month_start(timezone.localdate(at)), []).append(request_wait_days(at, received_on, created_at))
    for month, days in waits.items():
        figures[month].waits = tuple(days)
    return [figures[month] for month in sorted(figures)]


def sparkline(series: list[MonthFigures], value, selected: datetime.date) -> dict:
    """Twelve small bars, the chosen month darker; `value` reads a month's figure (None: no data)."""
    width, height, gap = 168, 36, 2
    values = [value(month) for month in series]
    peak = max((v for v in values if v is not None), default=0) or 1
    bar = (width - gap * (len(series) - 1)) / len(series)
    bars = []
    for index, (month, v) in enumerate(zip(series, values)):
        h = round((v or 0) / peak * (height - 2), 1)
        bars.append({"x": round(index * (bar + gap), 1), "y": round(height - max(h, 1), 1), "height": max(h, 1),
                     "width": round(bar, 1), "selected": month.month == selected, "label": month.label,
                     "value": "—" if v is None else v})
    return {"width": width, "height": height, "bars": bars}


def dashboard(selected: datetime.date) -> dict:
    series = monthly_figures(selected)
    current = series[-1]
    metrics = [
        ("received", _("Solicitudes recibidas"), lambda m: m.received, ""),
        ("started", _("Envíos iniciados"), lambda m: m.started, ""),
        ("closed", _("Listas finales cerradas"), lambda m: m.closed, ""),
        ("reached", _("Invitados alcanzados"), lambda m: m.reached, ""),
        ("answered_rate", _("Respondieron"), lambda m: m.answered_rate, "%"),
        ("attending_rate", _("Confirmaron asistencia"), lambda m: m.attending_rate, "%"),
        ("average_days", _("Días promedio de la solicitud al envío"), lambda m: m.average_days, ""),
    ]
    cards = [{"key": key, "label": label, "value": value(current), "unit": unit,
              "spark": sparkline(series, value, current.month)} for key, label, value, unit in metrics]
    return {"month": current, "series": series, "cards": cards}
