"""The procedure's flow diagram (record DF-PRE-SP-RP-01), drawn as inline SVG from the transition table.

No coordinates are written per state: ranks and the main path come from ``TRANSITIONS``, so a change to
workflow.py redraws the diagram and the diagram can never disagree with what the buttons do.
"""

import math
import textwrap
from collections import deque
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from pregonero.accounts.roles import Role

from .models import FINAL_STATES, State
from .workflow import TRANSITIONS, waiting_roles

CANCEL = "cancel"  # leaves every open state; drawn once as an annotation, not as one arrow per state
NODE_W, NODE_H, ROW_H, TOP = 240, 60, 104, 24
COLUMNS = (150, 620)  # left edge of the main-path column, then of the side column
WIDTH = 900
LOOP = 62  # how far a back edge along the main path bulges out, clear of the forward arrows
BULGE = 72  # how far a back edge between columns bends away from its forward twin
# Its look is in pregonero.css (.df-flow): a <style> inside the page would need the page's CSP nonce.


@dataclass(frozen=True)
class Box:
    x: float
    y: float

    @property
    def cx(self):
        return self.x + NODE_W / 2

    @property
    def cy(self):
        return self.y + NODE_H / 2

    @property
    def right(self):
        return self.x + NODE_W

    @property
    def bottom(self):
        return self.y + NODE_H


def _edges():
    """(transition, source, target) for every arrow except cancel."""
    return [(t, s, t.target) for t in TRANSITIONS.values() if t.name != CANCEL for s in t.sources]


def _ranks(edges):
    """Shortest distance from RECEIVED: a side state sits level with the step that leads to it."""
    ranks, queue = {State.RECEIVED: 0}, deque([State.RECEIVED])
    while queue:
        state = queue.popleft()
        for _t, source, target in edges:
            if source == state and target not in ranks:
                ranks[target] = ranks[state] + 1
                queue.append(target)
    return ranks


def _main_path(edges, ranks):
    """The longest forward path from RECEIVED: the procedure's normal course, drawn as one straight column."""
    best: dict[State, list[State]] = {}

    def longest(state):
        if state not in best:
            nexts = [tgt for _t, src, tgt in edges if src == state and ranks.get(tgt, -1) > ranks[state]]
            best[state] = [state] + max((longest(n) for n in nexts), key=len, default=[])
        return best[state]

    return longest(State.RECEIVED)


def _layout(edges):
    """A Box and a row per state: main path down the first column, other states beside it at their rank."""
    ranks = _ranks(edges)
    spine = _main_path(edges, ranks)
    rows: dict[State, tuple[int, int]] = {state: (ranks[state], 0) for state in spine}
    for state in State:
        if state in ranks and state not in rows:
            taken = sum(1 for r, c in rows.values() if r == ranks[state] and c > 0)
            rows[state] = (ranks[state], 1 + taken)
    # States no arrow reaches (cancelled) go below the side branches, with a free row for their annotation.
    free_row = max((r for r, c in rows.values() if c > 0), default=0) + 2
    for state in State:
        if state not in rows:
            rows[state] = (free_row, 1)
            free_row += 2

    def col_x(col):
        return COLUMNS[min(col, 1)] + max(col - 1, 0) * (NODE_W + 20)

    # Rows double as ranks for the edges, so even an arrow out of an unreached state has a direction.
    boxes = {state: Box(col_x(col), TOP + row * ROW_H) for state, (row, col) in rows.items()}
    return boxes, {state: row for state, (row, _col) in rows.items()}


def _text(x, y, lines, css, anchor=None):
    """One <text>, one <tspan> per line, all escaped."""
    spans = "".join(
        f'<tspan x="{x:.0f}" dy="{0 if i == 0 else 1.2}em">{escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    align = f' text-anchor="{anchor}"' if anchor else ""
    return f'<text class="{css}" x="{x:.0f}" y="{y:.0f}"{align}>{spans}</text>'


def _wrap(text, width, lines=2):
    return textwrap.wrap(str(text), width, max_lines=lines, placeholder="…") or [""]


def _node(state, box, current):
    final = state in FINAL_STATES
    roles = waiting_roles(state)
    if roles:
        who = ", ".join(str(role.label) for role in Role if role in roles)
    else:
        who = _("Estado final") if final else _("Motor de envío (automático)")
    css = "node" + (" final" if final else "") + (" current" if state == current else "")
    aria = ' aria-current="step"' if state == current else ""
    return (
        f'<g class="{css}" data-state="{escape(state.value)}"{aria}>'
        f'<rect x="{box.x}" y="{box.y}" width="{NODE_W}" height="{NODE_H}" rx="10"/>'
        + _text(box.cx, box.y + 21, _wrap(state.label, 32, 1), "state")
        + _text(box.cx, box.y + 38, _wrap(who, 40), "roles")
        + "</g>"
    )


def _route(a, b, back):
    """Path data and label position (x, y, anchor) for an arrow from box a to box b."""
    if a.x == b.x and not back:  # down the column, label to the left so back loops keep the right side
        return f"M{a.cx},{a.bottom} V{b.y - 1}", (a.cx - 10, (a.bottom + b.y) / 2 + 4, "end")
    if a.x == b.x:  # back up the column: a loop out to the right
        out = a.right + LOOP
        path = f"M{a.right},{a.cy} C{out},{a.cy} {out},{b.cy} {a.right + 1},{b.cy}"
        return path, (a.right + LOOP * 0.75 + 8, (a.cy + b.cy) / 2 + 4, "start")
    # Across columns: a forward arrow runs straight and a little high, its back twin bends away below it.
    x1, x2 = (a.right, b.x) if b.x > a.x else (a.x, b.right)
    dy = 12 if back else -12
    (y1, y2) = (a.cy + dy, b.cy + dy)
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    if not back:
        return f"M{x1},{y1} L{x2},{y2}", (mx, my, "middle")
    length = math.hypot(x2 - x1, y2 - y1)
    nx, ny = -(y2 - y1) / length, (x2 - x1) / length
    if ny < 0:
        nx, ny = -nx, -ny
    cx, cy = mx + nx * BULGE, my + ny * BULGE
    return f"M{x1},{y1} Q{cx:.0f},{cy:.0f} {x2},{y2}", ((mx + cx) / 2, (my + cy) / 2 + 8, "middle")


def _edge(t, source, target, boxes, ranks):
    back = ranks[target] <= ranks[source]
    path, (lx, ly, anchor) = _route(boxes[source], boxes[target], back)
    css = "edge engine" if t.trigger == "engine" else "edge"
    marker = "df-arrow-engine" if t.trigger == "engine" else "df-arrow"
    # Labels between the columns must fit the gap; those beside the main column have room to spare.
    lines = _wrap(t.label, 30 if anchor == "end" else 22)
    ly -= (len(lines) - 1) * 7  # center a wrapped label on its anchor
    return (
        f'<g class="{css}" data-transition="{escape(t.name)}">'
        f'<path d="{path}" marker-end="url(#{marker})"/>{_text(lx, ly, lines, "elabel", anchor)}</g>'
    )


def _cancel(box):
    """The cancel transition once: a dashed arrow into the cancelled node, annotated instead of drawn ~9 times."""
    t = TRANSITIONS[CANCEL]
    lines = [str(t.label), _("desde cualquier estado abierto")]
    return (
        f'<g class="edge cancel" data-transition="{escape(t.name)}">'
        + _text(box.cx, box.y - 58, lines, "elabel", "middle")
        + f'<path d="M{box.cx},{box.y - 32} V{box.y - 1}" marker-end="url(#df-arrow-engine)"/></g>'
    )


def _legend(y):
    items = [
        ('<path d="M0,0 H34" stroke="#1f3a5f" stroke-width="1.5" marker-end="url(#df-arrow)"/>',
         _("Acción de una persona")),
        ('<path d="M0,0 H34" stroke="#7b8794" stroke-width="1.5" stroke-dasharray="6 4" '
         'marker-end="url(#df-arrow-engine)"/>', _("Lo mueve el motor de envío")),
        ('<rect class="swatch-current" x="0" y="-8" width="34" height="16" rx="4"/>', _("Estado actual")),
        ('<rect x="0" y="-8" width="34" height="16" rx="4" fill="#e2e5ea" stroke="#4a5568"/>', _("Estado final")),
    ]
    parts, x = [], 60
    for mark, label in items:
        parts.append(f'<g transform="translate({x},{y})">{mark}{_text(44, 4, [label], "")}</g>')
        x += 44 + len(str(label)) * 6.5 + 36  # rough text width: keeps entries apart in any language
    return f'<g class="legend">{"".join(parts)}</g>'


def _marker(marker_id, color):
    return (
        f'<marker id="{marker_id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
    )


def flow_svg(current_state: str | None = None) -> SafeString:
    """The diagram as one <svg> element; ``current_state`` (a State code) is highlighted if given."""
    edges = _edges()
    boxes, ranks = _layout(edges)
    current = State(current_state) if current_state in State.values else None
    title = _("Diagrama de flujo del procedimiento de envío masivo de difusiones")
    if current is not None:
        title = _("%(title)s. Estado actual: %(state)s") % {"title": title, "state": current.label}
    legend_y = max(box.bottom for box in boxes.values()) + 40
    height = legend_y + 30
    width = max(WIDTH, max(box.right for box in boxes.values()) + 40)
    body = [_edge(t, s, tgt, boxes, ranks) for t, s, tgt in edges]
    body.append(_cancel(boxes[State.CANCELLED]))
    body += [_node(state, boxes[state], current) for state in State]
    return mark_safe(  # every label is escaped, the rest are numbers and fixed markup  # nosec B308 B703
        f'<svg xmlns="http://www.w3.org/2000/svg" class="df-flow" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" role="img" aria-label="{escape(title)}" preserveAspectRatio="xMidYMin meet">'
        f"<title>{escape(title)}</title>"
        f'<defs>{_marker("df-arrow", "#1f3a5f")}{_marker("df-arrow-engine", "#7b8794")}</defs>'
        f'{"".join(body)}{_legend(legend_y)}</svg>'
    )
