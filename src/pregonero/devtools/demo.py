"""Demo data for the embedded mode: departments, one user per role, and a small directory.

Numbers are in Cancún's 998 area and e-mails under example domains; in the embedded mode nothing leaves the
machine (the WhatsApp emulator and the local mail sink receive everything).
"""

import random
import secrets
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from pregonero.accounts.models import Department
from pregonero.accounts.roles import Role
from pregonero.directory.models import Contact, Sector

DEPARTMENTS = [
    ("Dirección de Cultura", "CULT"),
    ("Dirección de Turismo Municipal", "TUR"),
    ("Secretaría Municipal de Desarrollo Económico", "SEDE"),
    ("Sistema DIF Municipal", "DIF"),
    ("Secretaría Municipal de Obras Públicas", "SMOPS"),
    ("Instituto Municipal de la Mujer", "IMM"),
    ("Dirección de Relaciones Públicas", "RP"),
]

# username, first name, last name, role, department short name
DEMO_USERS = [
    ("solicitante", "Laura", "Canché Pech", Role.REQUESTER, "CULT"),
    ("asistente", "Gabriela", "Ek Chan", Role.ASSISTANT, "RP"),
    ("directora", "Aurora", "Aguilar Rivero", Role.DIRECTOR, "RP"),
    ("redes", "Laura Estrella", "Mata Medina", Role.SOCIAL_MEDIA, "RP"),
    ("basedatos", "Sandri Guadalupe", "Áviles Cruz", Role.DATABASE, "RP"),
]

FIRST_NAMES = [
    "José Luis", "María Fernanda", "Juan Carlos", "Ana Sofía", "Miguel Ángel", "Guadalupe", "Francisco Javier",
    "Alejandra", "Jesús", "Verónica", "Roberto", "Claudia", "Eduardo", "Patricia", "Ricardo", "Mariana",
    "Fernando", "Rocío", "Arturo", "Daniela", "Héctor", "Itzel", "Sergio", "Ximena", "Raúl",
]
SURNAMES = [
    "Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez", "Ramírez", "Cruz",
    "May", "Pech", "Canul", "Chan", "Ek", "Dzul", "Uc", "Flores", "Gómez", "de la Cruz", "del Valle", "Vázquez",
]
HONORIFICS = ["Lic.", "Ing.", "C.", "Mtra.", "Mtro.", "Dr.", "Dra.", "Arq.", "C.P."]
ORGANIZATIONS = {
    "Empresarios": ["Consejo Coordinador Empresarial del Caribe", "CANACO Servytur Cancún", "Asociación de Hoteles de Cancún"],
    "ONGs": ["Fundación Comunitaria Cancún", "Cruz Roja Mexicana, Delegación Cancún", "Amigos de Sian Ka'an"],
    "Gobierno federal": ["Secretaría de Marina, Quinta Región Naval", "Delegación de la Secretaría de Bienestar"],
    "Gobierno estatal": ["Secretaría de Turismo de Quintana Roo", "Secretaría de Educación de Quintana Roo"],
    "Gobierno municipal": ["Regiduría de Turismo", "Instituto Municipal de Planeación"],
    "Academia": ["Universidad del Caribe", "Tecnológico Nacional de México, Campus Cancún"],
    "Medios": ["Noticias del Caribe", "Radio Cancún 98.1"],
    "Sociedad civil": ["Colegio de Arquitectos de Cancún", "Club Rotario Cancún"],
}
POSITIONS = ["Presidente", "Directora General", "Coordinador", "Gerente", "Rectora", "Jefe de Departamento", "Secretario"]


def ensure_users(password_for) -> list[tuple[str, str, str]]:
    """Creates the demo users once; returns (username, role label, password) for those it created."""
    User = get_user_model()
    departments = {short: Department.objects.get_or_create(name=name, defaults={"short_name": short})[0] for name, short in DEPARTMENTS}
    Department.objects.filter(short_name="RP").update(is_requester=False)
    created = []
    for username, first, last, role, dept in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            continue
        password = password_for(username)
        user = User.objects.create_user(
            username=username, password=password, first_name=first, last_name=last,
            email=f"{username}@pregonero.example", department=departments[dept],
        )
        user.groups.add(Group.objects.get(name=role.group_name))
        created.append((username, str(role.label), password))
    if not User.objects.filter(username="sistemas").exists():
        password = password_for("sistemas")
        User.objects.create_superuser(
            username="sistemas", password=password, email="sistemas@pregonero.example", first_name="Área de", last_name="Sistemas",
        )
        created.append(("sistemas", "Administración (TI)", password))
    return created


def ensure_contacts(count: int = 50) -> int:
    if Contact.objects.exists():
        return 0
    rng = random.Random(2026)
    sectors = list(Sector.objects.all())
    for index in range(count):
        sector = sectors[index % len(sectors)]
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
        contact = Contact.objects.create(
            honorific=rng.choice(HONORIFICS), name=name, position=rng.choice(POSITIONS),
            organization=rng.choice(ORGANIZATIONS.get(sector.name, ["Particular"])),
            mobile=f"+52998{rng.randrange(1000000, 9999999)}",
            email=f"invitado{index + 1:02d}@correo.example" if index % 4 else "",
            consent_basis=Contact.ConsentBasis.CONSENT, consent_source="Registro de asistencia a eventos 2025",
            consent_date=date(2025, 11, 5), provenance="Datos de demostración",
        )
        contact.sectors.add(sector)
    return count


def ensure_intake_drafts() -> int:
    """Two requests waiting in the assistant's inbox (/recibidas/), as the mailbox and WhatsApp would leave them:
    the Culture department's e-mail and a WhatsApp message from its registered number."""
    from pregonero.intake.models import IncomingMessage, KnownSender, Source
    from pregonero.intake.services import Incoming, record_incoming

    if IncomingMessage.objects.exists():
        return 0
    culture = Department.objects.get(short_name="CULT")
    culture.email = culture.email or "cultura@municipio.example"
    culture.save(update_fields=["email"])
    KnownSender.objects.get_or_create(source=Source.WHATSAPP, address="+529981230045",
                                      defaults={"department": culture, "name": "Secretaría de Cultura"})
    record_incoming(Incoming(
        source=Source.EMAIL, external_id="demo-1@municipio.example", sender_address=culture.email,
        sender_name="Dirección de Cultura", subject="Solicitud de difusión: Noche de Museos",
        body="Buen día:\n\nSolicitamos el envío de la invitación a la Noche de Museos del viernes 11 de diciembre a "
             "las 19:00 h en el Museo Maya de Cancún, dirigida a los sectores empresarial y académico.\n\n"
             "Quedamos atentos. Saludos cordiales.",
        sent_at=timezone.now()))
    record_incoming(Incoming(
        source=Source.WHATSAPP, external_id="wamid.demo-1", sender_address="+529981230045",
        sender_name="Cultura", body="Hola, buenas tardes. ¿Nos apoyan con la difusión del Festival de Jazz del "
                                    "19 de diciembre? En un momento les mando la imagen.",
        sent_at=timezone.now()))
    return 2


@transaction.atomic
def load_demo(password_for=lambda username: secrets.token_urlsafe(9)) -> tuple[list, int]:
    users, contacts = ensure_users(password_for), ensure_contacts()
    ensure_intake_drafts()
    return users, contacts


def demo_ready_campaign(*, campaign, author, whatsapp=20, email_only=6, both=2, opted_out_whatsapp=2):
    """Makes a campaign ready to send (an approved proof, a confirmed guest list of made-up guests): the whole
    send can then be tried against the emulator and the local mail sink. Numbers are +52998{10,20,30}NNNNN."""
    from pregonero.campaigns.models import Proof
    from pregonero.directory.guestlists import guest_list_for

    Proof.objects.create(
        campaign=campaign, version=1, status=Proof.Status.APPROVED, created_by=author,
        whatsapp_body="{tratamiento} {nombre}", email_subject="Invitación: {evento}",
        email_body="{tratamiento} {nombre}:\n\nLe invitamos a {evento} el {fecha} a las {hora} en {lugar}.",
    )
    people = [Contact(honorific="Lic.", name=f"Invitado {n}", mobile=f"+5299810{n:05d}") for n in range(whatsapp)]
    people += [Contact(honorific="Ing.", name=f"Correo {n}", email=f"correo{n}@example.com") for n in range(email_only)]
    people += [Contact(name=f"Ambos {n}", mobile=f"+5299820{n:05d}", email=f"ambos{n}@example.com") for n in range(both)]
    people += [Contact(name=f"Baja {n}", mobile=f"+5299830{n:05d}", email=f"baja{n}@example.com",
                       whatsapp_opt_out=True, opted_out_at=timezone.now()) for n in range(opted_out_whatsapp)]
    guest_list = guest_list_for(campaign)
    guest_list.additions.add(*Contact.objects.bulk_create(people))
    guest_list.confirmed_at = timezone.now()
    guest_list.save(update_fields=["confirmed_at"])
    return campaign
