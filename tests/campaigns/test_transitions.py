"""Every (role, transition) pair, allowed and refused, through the service and through the web page."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from pregonero.accounts.roles import Role
from pregonero.campaigns import services
from pregonero.campaigns.models import AuditEntry, Campaign, Proof, State
from pregonero.campaigns.workflow import OPEN_STATES, TRANSITIONS

PAIRS = [(name, role) for name in TRANSITIONS for role in Role]


def prepare(campaign, name, people):
    """Puts in place what a transition needs besides the state (a proof to submit or to review)."""
    if name == "submit_proof":
        Proof.objects.create(campaign=campaign, version=1, whatsapp_body="Hola {nombre}", email_subject="Invitación",
                             email_body="Hola", created_by=people.social_media)
    if name in ("approve_proof", "return_proof"):
        Proof.objects.create(campaign=campaign, version=1, whatsapp_body="Hola {nombre}", email_subject="Invitación",
                             email_body="Hola", created_by=people.social_media, status=Proof.Status.SUBMITTED)


def apply(name, campaign, actor):
    comment = "Motivo de prueba"
    if name == "request_info":
        return services.campaign_request_info(campaign=campaign, actor=actor, missing=["Lugar"], comment=comment)
    if name == "provide_info":
        return services.campaign_provide_info(campaign=campaign, actor=actor, answer="Aquí está", save_changes=lambda c: None)
    if name == "submit_proof":
        return services.proof_submit(campaign=campaign, actor=actor)
    if name in ("approve_proof", "return_proof"):
        return services.proof_decide(campaign=campaign, actor=actor, approve=name == "approve_proof", comment=comment)
    return services.campaign_transition(campaign=campaign, actor=actor, name=name, comment=comment)


@pytest.mark.parametrize(("name", "role"), PAIRS, ids=[f"{n}-{r.value}" for n, r in PAIRS])
def test_role_may_or_may_not_apply_transition(name, role, people, make_campaign):
    transition = TRANSITIONS[name]
    campaign = make_campaign(state=transition.sources[0])
    prepare(campaign, name, people)
    actor = people.by_role(role)
    entries_before = AuditEntry.objects.filter(campaign=campaign).count()

    if role in transition.roles:
        entry = apply(name, campaign, actor)
        campaign.refresh_from_db()
        assert campaign.state == transition.target
        assert (entry.actor, entry.from_state, entry.to_state) == (actor, transition.sources[0], transition.target)
        assert entry.action == f"campaign.{name}"
        assert AuditEntry.objects.filter(campaign=campaign).count() == entries_before + 1
    else:
        with pytest.raises(PermissionDenied):
            apply(name, campaign, actor)
        campaign.refresh_from_db()
        assert campaign.state == transition.sources[0]
        assert AuditEntry.objects.filter(campaign=campaign).count() == entries_before


def test_requester_of_another_department_may_not_act(people, make_campaign):
    campaign = make_campaign(state=State.INFO_REQUESTED)
    with pytest.raises(PermissionDenied):
        apply("provide_info", campaign, people.other_requester)
    with pytest.raises(PermissionDenied):
        apply("cancel", campaign, people.other_requester)


@pytest.mark.parametrize("state", OPEN_STATES)
def test_director_cancels_from_every_open_state(state, people, make_campaign):
    campaign = make_campaign(state=state)
    entry = services.campaign_transition(campaign=campaign, actor=people.director, name="cancel", comment="Se pospone")
    assert Campaign.objects.get(pk=campaign.pk).state == State.CANCELLED
    assert entry.comment == "Se pospone"


@pytest.mark.parametrize("state", [State.REJECTED, State.CLOSED, State.CANCELLED])
def test_final_states_cannot_be_cancelled(state, people, make_campaign):
    campaign = make_campaign(state=state)
    with pytest.raises(services.TransitionConflict):
        services.campaign_transition(campaign=campaign, actor=people.director, name="cancel", comment="x")


def test_reason_is_required_to_reject(people, make_campaign):
    from django.core.exceptions import ValidationError

    campaign = make_campaign(state=State.IN_REVIEW)
    with pytest.raises(ValidationError):
        services.campaign_transition(campaign=campaign, actor=people.director, name="reject", comment="   ")
    assert Campaign.objects.get(pk=campaign.pk).state == State.IN_REVIEW
    assert not AuditEntry.objects.filter(campaign=campaign, action="campaign.reject").exists()


BUTTONS = [(n, r) for n, t in TRANSITIONS.items() if t.trigger == "button" for r in Role]


@pytest.mark.parametrize(("name", "role"), BUTTONS, ids=[f"{n}-{r.value}" for n, r in BUTTONS])
def test_button_shown_only_to_allowed_roles_and_server_refuses_others(name, role, client, people, make_campaign):
    transition = TRANSITIONS[name]
    campaign = make_campaign(state=transition.sources[0])
    prepare(campaign, name, people)
    client.force_login(people.by_role(role))
    page = client.get(reverse("campaigns:detail", args=[campaign.folio]))
    allowed = role in transition.roles
    assert page.status_code == 200
    assert (f'data-action="{name}"' in page.content.decode()) == allowed

    response = client.post(
        reverse("campaigns:act", args=[campaign.folio, name]),
        {"comment": "Comentario de prueba", "expected_state": campaign.state},
    )
    campaign.refresh_from_db()
    if allowed:
        assert response.status_code == 302
        assert campaign.state == transition.target
    else:
        assert response.status_code == 403
        assert campaign.state == transition.sources[0]


def test_engine_transitions_have_no_web_action(client, people, make_campaign):
    campaign = make_campaign(state=State.READY)
    client.force_login(people.social_media)
    response = client.post(reverse("campaigns:act", args=[campaign.folio, "start_send"]), {"expected_state": "ready"})
    assert response.status_code == 404
    assert Campaign.objects.get(pk=campaign.pk).state == State.READY
