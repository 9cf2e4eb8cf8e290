"""A request really sent (the WhatsApp emulator and the SMTP inbox), its guests placed in sectors and
organizations, and a few answers: what the final list and report tests read.

Guests (demo_ready_campaign): Invitado 0–5 by WhatsApp, Correo 0–2 by e-mail, Ambos 0 by both, Baja 0 by e-mail
(opted out of WhatsApp). Invitado 1's number is one WhatsApp does not know: its message fails.
"""

from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.directory.models import Contact, Sector
from pregonero.rsvp.models import Invitation
from pregonero.rsvp.services import invitation_answer
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.inbound import apply_status
from pregonero.sending.models import Message
from pregonero.sending.services import send_start

# demo name -> (name shown, sector, organization)
PROFILES = {
    "Invitado 0": ("Invitado 0", "Empresarios", "Hotel Sol"),
    "Invitado 1": ("Invitado 1", "Empresarios", "Aeropuerto de Cancún"),
    "Invitado 2": ("Invitado 2", "Empresarios", ""),
    "Invitado 3": ("Invitado 3", "Medios", "Radio Cancún"),
    "Invitado 4": ("Invitado 4", "Medios", "Noticias del Caribe"),
    "Invitado 5": ("Invitado 5", None, ""),
    "Correo 0": ("Correo 0", "ONGs", "Cruz Roja"),
    "Correo 1": ('=HYPERLINK("http://x")', "Sociedad civil", "+SUM(1)"),
    "Correo 2": ("@cmd", "Gobierno federal", "-1+2"),
    "Ambos 0": ("Ambos 0", "Academia", "Universidad del Caribe"),
    "Baja 0": ("Baja 0", "Academia", "Universidad del Caribe"),
}

SECTOR_POSITIONS = {"Empresarios": 0, "ONGs": 1, "Gobierno federal": 2, "Academia": 5, "Medios": 6, "Sociedad civil": 7}

# The list in its printed order: sector by the office's order (Empresarios, ONGs, Gobierno federal, …, Academia,
# Medios, Sociedad civil, none), then organization (blank last), then name.
ORDER = [
    "Invitado 1", "Invitado 0", "Invitado 2",
    "Correo 0",
    "@cmd",
    "Ambos 0", "Baja 0",
    "Invitado 4", "Invitado 3",
    '=HYPERLINK("http://x")',
    "Invitado 5",
]


def whatsapp_message(campaign, name):
    return Message.objects.get(campaign=campaign, channel="whatsapp", invitation__contact__name=name)


def invitation_of(campaign, name) -> Invitation:
    return Invitation.objects.get(campaign=campaign, contact__name=name)


def answer(campaign, name, answer, companions=0, via=Invitation.Via.LINK):
    return invitation_answer(invitation=invitation_of(campaign, name), answer=answer, via=via, companions=companions)


def sent_campaign(people, make_campaign):
    """Sent to all 11 guests; 10 reached. Answers: Invitado 0 attends with 2 companions, Invitado 3 attends alone,
    Ambos 0 attends with 1, Correo 0 declines, Invitado 2 first attends then declines; the other 6 are pending."""
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY, max_companions=3),
                                   author=people.social_media, whatsapp=6, email_only=3, both=1, opted_out_whatsapp=1)
    send_start(campaign=campaign, actor=people.social_media)
    dispatcher = Dispatcher("t")
    while dispatcher.run_once():
        pass
    campaign.refresh_from_db()
    assert campaign.state == State.SENT

    failed = whatsapp_message(campaign, "Invitado 1")  # the emulator reports the number is not on WhatsApp
    apply_status({"id": failed.provider_id, "status": "failed", "errors": [{"code": 131026, "title": "Message undeliverable"}]})
    apply_status({"id": whatsapp_message(campaign, "Invitado 0").provider_id, "status": "delivered"})
    apply_status({"id": whatsapp_message(campaign, "Invitado 3").provider_id, "status": "read"})

    sectors = {name: Sector.objects.get_or_create(name=name, defaults={"position": position})[0]  # a flush by a
               for name, position in SECTOR_POSITIONS.items()}  # transactional test may have dropped the seeded ones
    for demo_name, (name, sector, organization) in PROFILES.items():
        contact = Contact.objects.get(invitations__campaign=campaign, name=demo_name)
        contact.name, contact.organization = name, organization
        contact.save(update_fields=["name", "organization"])
        if sector:
            contact.sectors.add(sectors[sector])

    answer(campaign, "Invitado 0", Invitation.Answer.ATTENDING, 2, via=Invitation.Via.BUTTON)
    answer(campaign, "Invitado 2", Invitation.Answer.ATTENDING)
    answer(campaign, "Correo 0", Invitation.Answer.DECLINED)
    answer(campaign, "Invitado 2", Invitation.Answer.DECLINED)
    answer(campaign, "Invitado 3", Invitation.Answer.ATTENDING)
    answer(campaign, "Ambos 0", Invitation.Answer.ATTENDING, 1)
    return campaign
