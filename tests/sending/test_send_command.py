"""`pregonero send FOLIO`: the send from the terminal, with its progress, to the emulator and real SMTP."""

import pytest
from django.core.management import CommandError, call_command

from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.sending.models import Message



def test_send_from_the_cli_runs_to_the_end(people, make_campaign, emulator, inbox, capsys):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=5, email_only=2, both=1, opted_out_whatsapp=0)
    call_command("send", campaign.folio, "--as", "redes", "--dispatch", "--timeout", "60")
    out = capsys.readouterr().out
    assert "Envío iniciado: 9 mensajes" in out and "100 %" in out and "Terminado" in out
    campaign.refresh_from_db()
    assert campaign.state == State.SENT
    assert len(emulator.messages()) == 6 and not emulator.duplicates()
    assert set(Message.objects.values_list("state", flat=True)) == {"sent"}


def test_send_refuses_a_campaign_that_is_not_ready_or_a_wrong_role(people, make_campaign):
    campaign = make_campaign(state=State.PROOF_REVIEW)
    with pytest.raises(CommandError, match="no se puede enviar"):
        call_command("send", campaign.folio, "--as", "redes")
    ready = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                whatsapp=1, email_only=0, both=0, opted_out_whatsapp=0)
    with pytest.raises(CommandError):
        call_command("send", ready.folio, "--as", "directora")
    assert not Message.objects.exists()
