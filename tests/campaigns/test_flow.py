"""The flow diagram (DF-PRE-SP-RP-01) is drawn from the transition table: pure functions, no database."""

import xml.etree.ElementTree as ET

import pytest
from django.utils.safestring import SafeString

from pregonero.campaigns.flow import flow_svg
from pregonero.campaigns.models import State
from pregonero.campaigns.workflow import TRANSITIONS

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def groups(root: ET.Element, attribute: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}g") if attribute in el.attrib]


def text_of(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def test_returns_a_safe_scalable_accessible_svg():
    svg = flow_svg()
    assert isinstance(svg, SafeString)
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "100%"
    assert root.get("viewBox")
    assert root.get("role") == "img"
    assert "Diagrama de flujo" in root.get("aria-label")
    assert "Diagrama de flujo" in root.find(f"{SVG}title").text


def test_every_state_is_exactly_one_node():
    codes = [g.get("data-state") for g in groups(parse(flow_svg()), "data-state")]
    assert sorted(codes) == sorted(State.values)


def test_every_transition_is_one_edge_and_cancel_is_drawn_once():
    names = [g.get("data-transition") for g in groups(parse(flow_svg()), "data-transition")]
    assert sorted(names) == sorted(TRANSITIONS)
    # cancel leaves every open state but is one annotated connector, not one arrow per source
    assert len(TRANSITIONS["cancel"].sources) > 1
    cancel = next(g for g in groups(parse(flow_svg()), "data-transition") if g.get("data-transition") == "cancel")
    assert len(cancel.findall(f"{SVG}path")) == 1
    assert "desde cualquier estado abierto" in text_of(cancel)


def test_non_cancel_edges_have_one_path_each():
    for g in groups(parse(flow_svg()), "data-transition"):
        assert len(g.findall(f"{SVG}path")) == 1, g.get("data-transition")


@pytest.mark.parametrize("state", [State.RECEIVED, State.AUTHORIZED, State.SENT, State.CANCELLED])
def test_current_state_is_marked(state):
    root = parse(flow_svg(state))
    marked = [g for g in groups(root, "data-state") if "current" in g.get("class").split()]
    assert [g.get("data-state") for g in marked] == [state.value]
    assert marked[0].get("aria-current") == "step"
    assert str(state.label) in root.get("aria-label")


@pytest.mark.parametrize("current", [None, "no-such-state"])
def test_nothing_is_marked_without_a_current_state(current):
    svg = flow_svg(current)
    root = parse(svg)
    assert not [g for g in groups(root, "data-state") if "current" in g.get("class").split()]
    assert "aria-current" not in svg


def test_engine_transitions_are_drawn_as_engine_edges():
    edges = {g.get("data-transition"): g.get("class").split() for g in groups(parse(flow_svg()), "data-transition")}
    for name, t in TRANSITIONS.items():
        if name != "cancel":
            assert ("engine" in edges[name]) == (t.trigger == "engine"), name


def test_labels_are_in_spanish():
    root = parse(flow_svg())
    nodes = {g.get("data-state"): text_of(g) for g in groups(root, "data-state")}
    edges = {g.get("data-transition"): text_of(g) for g in groups(root, "data-transition")}
    assert "Rechazada" in nodes["rejected"]
    assert "Autorizada" in nodes["authorized"]
    assert "Dirección de Relaciones Públicas" in nodes["in_review"]  # who the state waits on
    assert edges["authorize"] == "Autorizar"
    assert "Cancelar solicitud" in edges["cancel"]
