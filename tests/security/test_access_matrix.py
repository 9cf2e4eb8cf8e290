"""Every URL in the URLconf × every role → the answer it must get (issue 6).

The URL names come from the URLconf itself, so a new view fails here until somebody writes down who may open it.
The concrete URLs are filled with real objects: a campaign of Cultura sent for real (WhatsApp emulator over HTTP,
e-mail to the SMTP inbox) with an attachment, a proof, invitations, a shared guest list and a planned reminder; a
campaign of Turismo waiting for its requester; a contact, a duplicate pair, an ARCO request, an import and a
message of the local mail sink. "Turismo" — a requester of another department — opens Cultura's campaign URLs.
"""

import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from pregonero.campaigns.models import Attachment, AttachmentKind, State
from pregonero.campaigns.services import campaign_request_info
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.devtools.models import SinkMessage
from pregonero.directory.arco import arco_create
from pregonero.directory.guestlist_sharing import guest_list_share
from pregonero.directory.guestlists import guest_list_for
from pregonero.directory.importer import import_prepare
from pregonero.directory.models import Contact, DuplicateCandidate
from pregonero.intake.services import Incoming, IncomingFile, record_incoming
from pregonero.rsvp.models import Invitation
from pregonero.sending.dispatcher import Dispatcher
from pregonero.sending.models import Message, Reminder
from pregonero.sending.services import send_start

ROLES = ("anon", "own", "other", "asst", "dir", "redes", "bd", "admin")

# anon: not signed in · own: requester of Cultura, whose campaign it is · other: requester of Turismo ·
# asst: assistant · dir: Director · redes: social media · bd: database · admin: superuser.
#
# A cell is the status of a GET by that role; L = redirect to the login page. A role refused a GET is refused a
#   POST too (same answer, or 405 on a read-only page).
# kind "post": a POST-only view. Its cells are the answer to a POST by that role, "+" where the role may do it
#   (not posted: it would act); a GET gets 405 (or the POST's refusal, when the view checks the role first).
# "200/403": a GET, then a POST, for a view whose POST is narrower than its GET.
# kind "public": reachable without signing in, on purpose.
# The campaign is sent, so pages of earlier steps send their own roles back to its page (302).
# Another department's requester must never learn that a folio exists: on every campaign URL "other" answers what a
# folio that does not exist answers (checked below). 404 where requesters may enter; 403 on pages closed to every
# requester before any folio is read (the directory's and the dashboard).
MATRIX = """
name                                    kind    anon  own   other asst  dir   redes bd    admin
# --- requests
campaigns:inbox                         get     L     200   200   200   200   200   200   200
campaigns:list                          get     L     200   200   200   200   200   200   200
campaigns:new                           get     L     200   200   200   403   403   403   200
campaigns:detail                        get     L     200   404   200   200   200   200   200
campaigns:act                           post    L     403   404   403   403   403   +     +
campaigns:checklist                     post    L     403   404   403   403   +     403   +
campaigns:answer                        get     L     200   404   403   403   403   403   403
campaigns:proof_edit                    get     L     403   404   403   403   302   403   302  # past the proof
campaigns:proof_templates_sync          post    L     403   404   403   403   +     403   +
campaigns:proof_detail                  get     L     200   404   200   200   200   200   200
campaigns:attachment                    get     L     200   404   200   200   200   200   200
campaigns:notifications                 get     L     200   200   200   200   200   200   200
campaigns:procedure                     get     L     200   200   200   200   200   200   200
reports:campaign                        get     L     200   404   200   200   200   200   200
reports:dashboard                       get     L     403   403   200   200   200   200   200
# --- the send
sending:start                           post    L     403   404   403   403   +     403   +
sending:pause                           post    L     403   404   403   403   +     403   +
sending:resume                          post    L     403   404   403   403   +     403   +
sending:resend                          post    L     403   404   403   403   +     403   +
sending:progress                        get     L     200   404   200   200   200   200   200
sending:recipients                      get     L     403   404   403   200   200   200   200
sending:test_send                       post    L     403   404   403   403   +     403   +
sending:schedule                        post    L     403   404   403   403   +     403   +
sending:schedule_cancel                 post    L     403   404   403   403   +     403   +
sending:reminder_plan                   post    L     403   404   403   403   +     403   +
sending:reminder_now                    post    L     403   404   403   403   +     403   +
sending:reminder_cancel                 post    L     403   404   403   403   +     403   +
# --- answers, the door, the final list
rsvp:answers                            get     L     403   404   403   403   200   200   200
rsvp:answer_entry                       get     L     403   404   403   403   200   200   200
door:page                               get     L     403   404   403   200   200   200   200
door:search                             get     401   403   404   403   200   200   200   200
door:scan                               post    401   403   404   403   +     +     +     +
door:walk_in                            post    401   403   404   403   +     +     +     +
finallist:page                          get     L     200   404   200   200   200   200   200
finallist:download                      get     L     200   404   200   200   200   200   200
finallist:print                         get     L     200   404   200   200   200   200   200
finallist:send                          post    L     403   404   403   403   403   +     +
finallist:close                         post    L     403   404   403   403   403   +     +
# --- the directory (personal data: the database team edits, the Director consults)
directory:index                         get     L     200   200   200   200   200   200   200
directory:summary                       get     L     200   200   200   200   200   200   200
directory:contacts                      get     L     403   403   403   200   403   200   200
directory:contact                       get     L     403   403   403   200   403   200   200
directory:contact_new                   get     L     403   403   403   403   403   200   200
directory:contact_edit                  get     L     403   403   403   403   403   200   200
directory:export                        get     L     403   403   403   200   403   200   200
directory:duplicates                    get     L     403   403   403   200   403   200   200
directory:duplicate_resolve             post    L     403   403   403   403   403   +     +
directory:imports                       get     L     403   403   403   403   403   200   200
directory:import_new                    get     L     403   403   403   403   403   200   200
directory:import_mapping                get     L     403   403   403   403   403   200   200
directory:import_detail                 get     L     403   403   403   403   403   200   200
directory:import_status                 get     L     403   403   403   403   403   200   200
directory:import_report                 get     L     403   403   403   403   403   200   200
directory:guest_list                    get     L     403   403   403   200   403   200   200
directory:guest_list_rules              post    L     403   403   403   403   403   +     +
directory:guest_list_add                post    L     403   403   403   403   403   +     +
directory:guest_list_remove             post    L     403   403   403   403   403   +     +
directory:guest_list_import             post    L     403   403   403   403   403   +     +
directory:guest_list_use_import         post    L     403   403   403   403   403   +     +
directory:guest_list_confirm            post    L     403   403   403   403   403   +     +
directory:guest_list_share              get     L     200/403 404 404 200/403 404 200   200
directory:guest_list_shared_file        get     L     200   404   404   404   404   404   404
directory:arco_list                     get     L     403   403   403   200   403   200   200
directory:arco_new                      get     L     403   403   403   403   403   200   200
directory:arco_detail                   get     L     403   403   403   200   403   200   200
directory:arco_export                   get     L     403   403   403   403   403   200   200
directory:arco_erase                    get     L     403   403   403   403   403   200   200
directory:arco_resolve                  post    L     403   403   403   403   403   +     +
directory:arco_rectify                  post    L     403   403   403   403   403   +     +
directory:arco_oppose                   post    L     403   403   403   403   403   +     +
# --- requests that arrived by e-mail or WhatsApp: the assistant decides, the Director may look (read-only)
intake:inbox                            get     L     403   403   200   200   403   403   200
intake:draft                            get     L     403   403   200   200   403   403   200
intake:register                         post    L     403   403   +     403   403   403   +
intake:merge                            post    L     403   403   +     403   403   403   +
intake:discard                          post    L     403   403   +     403   403   403   +
intake:restore                          post    L     403   403   +     403   403   403   +
intake:follow_up                        post    L     403   403   +     403   403   403   +
intake:acknowledge_again                post    L     403   403   +     403   403   403   +
intake:attachment                       get     L     403   403   200   200   403   403   200
intake:original                         get     L     403   403   200   200   403   403   200
# --- accounts
login                                   public  200   302   302   302   302   302   302   302  # signed in: inbox
second_step                             public  302   302   302   302   302   302   302   302  # no password yet
logout                                  post    +     +     +     +     +     +     +     +
password_change                         get     L     200   200   200   200   200   200   200
password_change_done                    get     L     200   200   200   200   200   200   200
# --- the guest's side and the outside world (public on purpose)
rsvp:invitation                         public  200   200   200   200   200   200   200   200
rsvp:invitation_image                   public  200   200   200   200   200   200   200   200
rsvp:invitation_calendar                public  200   200   200   200   200   200   200   200
rsvp:invitation_opt_out                 public  200   200   200   200   200   200   200   200
rsvp:privacy                            public  200   200   200   200   200   200   200   200
rsvp:privacy_full                       public  200   200   200   200   200   200   200   200
header_image                            public  200   200   200   200   200   200   200   200  # for WhatsApp, once sent
whatsapp_webhook                        public  200   200   200   200   200   200   200   200  # Meta's handshake
health                                  public  503   503   503   503   503   503   503   503  # no worker here
set_language                            public  302   302   302   302   302   302   302   302  # back to the page
# --- the local mail sink (only while no SMTP server is configured)
devtools:mail_list                      get     L     403   403   200   200   200   200   200
devtools:mail_detail                    get     L     403   403   200   200   200   200   200
"""

# URL names that exist only under some settings: not an error when the URLconf lacks them.
CONDITIONAL = {"devtools:mail_list", "devtools:mail_detail"}
EXCLUDED_PREFIXES = ("admin:",)  # Django's admin site: its own permission system; /admin/ is checked below


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    cells: dict[str, str]


def parse(table: str) -> dict[str, Row]:
    rows = {}
    lines = [line.split("#")[0] for line in table.strip().splitlines()]
    for line in [line for line in lines if line.strip()][1:]:
        name, kind, *cells = line.split()
        assert len(cells) == len(ROLES), f"matrix row {name}: {len(cells)} cells for {len(ROLES)} roles"
        assert name not in rows, f"matrix row {name} written twice"
        rows[name] = Row(name, kind, dict(zip(ROLES, cells)))
    return rows


ROWS = parse(MATRIX)


def url_patterns(resolver=None, namespace="", params=()):
    """(namespace, qualified name or None, route, parameter names) of every URL pattern, through includes."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        found = tuple(params) + tuple(getattr(entry.pattern, "converters", {}) or entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            yield from url_patterns(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace, found)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield namespace, name, entry.pattern.describe(), found


def checked_patterns():
    """(name, route, parameter names) of every URL but the admin site's."""
    return [(name, route, params) for namespace, name, route, params in url_patterns()
            if not namespace.startswith(EXCLUDED_PREFIXES)]


def test_every_url_in_the_urlconf_is_in_the_matrix():
    patterns = checked_patterns()
    unnamed = [route for name, route, _params in patterns if name is None]
    missing = sorted({name for name, _route, _params in patterns if name and name not in ROWS})
    stale = sorted(set(ROWS) - {name for name, _route, _params in patterns} - CONDITIONAL)
    problems = [f"{name}: in the URLconf but not in the access matrix; add it to MATRIX" for name in missing]
    problems += [f"{route}: a URL without a name; name it and add it to MATRIX" for route in unnamed]
    problems += [f"{name}: in MATRIX but no longer in the URLconf; remove it" for name in stale]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the world the URLs point into


@dataclass
class World:
    clients: dict[str, Client]
    campaign: object  # Cultura's, sent
    other_campaign: object  # Turismo's, waiting for its requester
    invitation: Invitation
    attachment: Attachment
    other_attachment: Attachment  # Turismo's
    reminder: Reminder
    contact: Contact
    duplicate: DuplicateCandidate
    arco: object
    batch: object
    sink_message: SinkMessage
    intake_message: object  # an e-mail from Cultura waiting in the assistant's inbox, with a file
    intake_attachment: object

    @property
    def intake_draft(self):
        return self.intake_message.draft


def send_everything(campaign):
    dispatcher = Dispatcher("t")
    for _ in range(20):
        if not dispatcher.run_once() and not Message.objects.filter(state="queued").update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)):
            break
    campaign.refresh_from_db()


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


@pytest.fixture
def world(settings, people, make_campaign, emulator, inbox, django_user_model) -> World:
    settings.WHATSAPP_VERIFY_TOKEN = "matriz-de-acceso"
    admin = django_user_model.objects.create_superuser("admin", "admin@pregonero.example", "clave-de-prueba-1")

    campaign = make_campaign(state=State.READY)
    attachment = Attachment(campaign=campaign, kind=AttachmentKind.SCAN, original_name="oficio.pdf",
                            content_type="application/pdf", size=9, uploaded_by=people.requester)
    attachment.file.save("oficio.pdf", ContentFile(b"%PDF-1.4\n"), save=True)
    image = Attachment(campaign=campaign, kind=AttachmentKind.INVITATION_IMAGE, original_name="invitacion.png",
                       content_type="image/png", size=len(PNG), uploaded_by=people.requester)
    image.file.save("invitacion.png", ContentFile(PNG), save=True)
    demo_ready_campaign(campaign=campaign, author=people.social_media, whatsapp=2, email_only=1, both=1,
                        opted_out_whatsapp=0)
    guest_list_share(guest_list=guest_list_for(campaign), actor=people.database)
    send_start(campaign=campaign, actor=people.social_media)
    send_everything(campaign)
    assert campaign.state == State.SENT, "the fixture's send did not finish"
    reminder = Reminder.objects.create(campaign=campaign, scheduled_for=timezone.now() + timedelta(days=3),
                                       created_by=people.social_media)

    other = make_campaign(state=State.AUTHORIZED, actor=people.other_requester, department=people.tourism,
                          title="Feria Secreta del Turismo")
    campaign_request_info(campaign=other, actor=people.social_media, missing=[], comment="Falta el lugar exacto.")
    other_attachment = Attachment(campaign=other, kind=AttachmentKind.SCAN, original_name="oficio-turismo.pdf",
                                  content_type="application/pdf", size=9, uploaded_by=people.other_requester)
    other_attachment.file.save("oficio-turismo.pdf", ContentFile(b"%PDF-1.4\n"), save=True)

    contact = Contact.objects.get(name="Invitado 0")
    twin = Contact.objects.create(name="Invitado 0", mobile="+529981999999")
    duplicate = DuplicateCandidate.objects.create(contact=twin, other=contact, reason="Mismo nombre")
    arco = arco_create(actor=people.database, contact=contact, kind="access", received_on=timezone.localdate())
    batch = import_prepare(file=io.BytesIO(b"nombre,celular\nAna Pool,9981234567\n"), filename="lista.csv",
                           actor=people.database)
    sink_message = SinkMessage.objects.create(mail_from="pregonero@localhost", recipients="cultura@example.com",
                                              subject="Prueba", raw=b"Subject: Prueba\r\n\r\nHola.\r\n")
    intake_message, _created = record_incoming(Incoming(
        source="email", external_id="matriz@cultura.example", sender_address="cultura@pregonero.example",
        subject="Solicitud por correo", body="Hola.", raw=b"Subject: Solicitud por correo\r\n\r\nHola.\r\n",
        files=[IncomingFile("oficio.pdf", "application/pdf", b"%PDF-1.4\n")]))

    users = {"own": people.requester, "other": people.other_requester, "asst": people.assistant,
             "dir": people.director, "redes": people.social_media, "bd": people.database, "admin": admin}
    clients = {"anon": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    return World(clients, campaign, other, Invitation.objects.filter(campaign=campaign).first(), attachment,
                 other_attachment, reminder, contact, duplicate, arco, batch, sink_message, intake_message,
                 intake_message.attachments.get())


# Which object fills a URL's `pk`, by URL name (or name prefix).
PK_OF = {
    "campaigns:attachment": "attachment",
    "rsvp:answer_entry": "invitation",
    "directory:contact": "contact",
    "directory:duplicate_resolve": "duplicate",
    "directory:arco_": "arco",
    "devtools:mail_detail": "sink_message",
    "intake:attachment": "intake_attachment",
    "intake:original": "intake_message",
    "intake:": "intake_draft",
}


def url_for(name: str, params, world: World, folio: str | None = None) -> str:
    values = {
        "folio": folio or world.campaign.folio, "token": world.invitation.token, "version": 1, "fmt": "xlsx",
        "name": "close", "public_id": world.batch.public_id, "reminder_id": world.reminder.pk,
    }
    kwargs = {}
    for param in params:
        if param == "pk":
            source = next((attr for prefix, attr in PK_OF.items() if name.startswith(prefix)), None)
            assert source, f"{name}: say in PK_OF which object fills its pk"
            kwargs[param] = getattr(world, source).pk
        else:
            assert param in values, f"{name}: say in url_for which object fills its <{param}>"
            kwargs[param] = values[param]
    url = reverse(name, kwargs=kwargs)
    if name == "whatsapp_webhook":  # Meta's verification handshake, as Meta sends it
        url += "?hub.mode=subscribe&hub.verify_token=matriz-de-acceso&hub.challenge=1158201444"
    return url


def answer(client: Client, method: str, url: str) -> str:
    """The answer as a matrix cell: the status code, or L for a redirect to the login page; never an exception."""
    try:
        response = getattr(client, method)(url)
        if response.streaming:  # read to the end: a stream that fails midway is a finding too
            b"".join(response.streaming_content)
    except Exception as error:  # noqa: BLE001 - a 500 is a finding to list with the others, not a stop
        return f"500 ({type(error).__name__}: {error})"
    if response.status_code == 302 and response.headers["Location"].startswith(reverse("login") + "?next="):
        return "L"
    return str(response.status_code)


REFUSALS = {"L", "401", "403", "404"}


def checks(row: Row, role: str) -> list[tuple[str, set[str]]]:
    """What to ask as this role, and the answers that agree with the matrix."""
    cell = row.cells[role]
    if row.kind == "post":
        # A GET is 405, or the refusal a POST gets when the view checks the role before the method.
        found = [("get", {"405"} | ({cell} if cell in REFUSALS else set()))]
        return found + ([("post", {cell})] if cell != "+" else [])
    get, _slash, post = cell.partition("/")
    found = [("get", {get})]
    if post and post != "+":
        found.append(("post", {post}))
    elif not post and get in REFUSALS and row.kind != "public":
        found.append(("post", {get, "405"}))  # refused to read, refused to write (or a read-only page: 405)
    return found


def test_every_url_answers_every_role_as_the_matrix_says(world):
    mismatches = []
    fake_folio = "RP-1999-0999"
    for name, route, params in checked_patterns():
        row = ROWS.get(name)
        if row is None:
            continue  # reported by test_every_url_in_the_urlconf_is_in_the_matrix
        url = url_for(name, params, world)
        for role in ROLES:
            for method, acceptable in checks(row, role):
                got = answer(world.clients[role], method, url)
                if got not in acceptable:
                    mismatches.append(f"{name} {method.upper()} as {role}: expected {' or '.join(sorted(acceptable))}, "
                                      f"got {got}  ({url})")
        # Another department's requester gets exactly what a folio that does not exist gets: no hint it exists.
        if "folio" in params and row.kind != "public":
            method = "post" if row.kind == "post" else "get"
            real = answer(world.clients["other"], method, url)
            invented = answer(world.clients["other"], method, url_for(name, params, world, folio=fake_folio))
            if real != invented or real not in ("403", "404"):
                mismatches.append(f"{name} {method.upper()} as other: {real} for Cultura's folio, {invented} for a "
                                  f"folio that does not exist (must be the same refusal)")
    assert not mismatches, f"{len(mismatches)} answers differ from the access matrix:\n" + "\n".join(mismatches)


def test_requesters_never_see_another_departments_campaigns_in_lists(world):
    culture, tourism = world.campaign, world.other_campaign
    pages = [reverse("campaigns:inbox"), reverse("campaigns:list"), reverse("campaigns:notifications"),
             *(reverse("campaigns:list") + f"?estado={state}" for state in (State.SENT, State.INFO_REQUESTED)),
             reverse("directory:index")]
    leaks, seen = [], {"own": set(), "other": set()}
    for role, theirs, foreign in (("own", culture, tourism), ("other", tourism, culture)):
        for url in pages:
            page = world.clients[role].get(url).content.decode()
            if foreign.folio in page or foreign.title in page:
                leaks.append(f"{role} sees {foreign.folio} «{foreign.title}» on {url}")
            if theirs.folio in page:
                seen[role].add(url)
        dashboard = world.clients[role].get(reverse("reports:dashboard"))
        if dashboard.status_code != 403:
            leaks.append(f"{role} opened the office dashboard ({dashboard.status_code})")
    assert not leaks, "\n".join(leaks)
    # The pages do list each department's own campaign, so the absence above means something.
    assert reverse("campaigns:list") in seen["own"] and reverse("campaigns:list") in seen["other"]
    assert reverse("campaigns:inbox") in seen["other"]  # Turismo's request waits for its requester
    assert reverse("campaigns:notifications") in seen["own"]  # "the send finished"
    staff_list = world.clients["dir"].get(reverse("campaigns:list")).content.decode()
    assert culture.folio in staff_list and tourism.folio in staff_list


def test_a_requester_cannot_reach_another_departments_file_through_their_own_folio(world):
    """Objects under a folio are looked up within that campaign: Cultura's folio with Turismo's attachment is 404."""
    mixed = reverse("campaigns:attachment", args=[world.campaign.folio, world.other_attachment.pk])
    assert world.clients["own"].get(mixed).status_code == 404
    theirs = reverse("campaigns:attachment", args=[world.other_campaign.folio, world.other_attachment.pk])
    assert world.clients["other"].get(theirs).status_code == 200


def test_the_admin_site_refuses_everyone_but_staff(world):
    for role in ROLES:
        got = world.clients[role].get("/admin/")
        if role == "admin":
            assert got.status_code == 200
        else:
            assert got.status_code == 302 and got.headers["Location"].startswith("/admin/login/"), role
