"""A guest's invitation with its campaign and contact, in one statement built once per database connection.

Every guest page starts with this lookup; an answer reads the row under its lock instead (``invitation_locked``,
``invitation_locked_by_token`` for the guest's own page). Through the ORM, `select_related(...).get(token=…)`
spent about 1 ms of CPU per request composing the same three-table SELECT and turning its row into objects, while
executing the statement cost a tenth of that (bench/rsvp_load.py --cpu). So the statement is composed once per connection from the models' own
metadata and its rows become objects as the ORM makes them (`pregonero.rawrows`).

On PostgreSQL with persistent connections (DB_CONN_MAX_AGE) each statement is also prepared once per connection:
planning the three-table join took PostgreSQL four times as long as running it (pgbench: 2,200 lookups/s planned
each time, 11,700/s prepared), which made a page cost the database more than twice what the bare view's one-table
read did (bench/rsvp_load.py). A prepared statement lives as long as its session, whatever transactions roll
back; behind a pooler in transaction mode, set DB_CONN_MAX_AGE=0 (Django's own default keeps psycopg from
preparing for the same reason).
"""

from weakref import WeakKeyDictionary

from django.db import connections

from pregonero.campaigns.models import Campaign
from pregonero.directory.models import Contact
from pregonero.rawrows import Columns

from .models import Invitation

# (alias in the statement, model, how the invitation reaches it)
JOINED = (("i", Invitation, None), ("c", Campaign, "campaign"), ("k", Contact, "contact"))

_plans: WeakKeyDictionary = WeakKeyDictionary()
_prepared: WeakKeyDictionary = WeakKeyDictionary()  # psycopg connection → the statements prepared in its session


class _Plan:
    def __init__(self, connection):
        quote = connection.ops.quote_name
        self.parts = [Columns.of(model, connection, alias) for alias, model, _relation in JOINED]
        invitation, campaign, contact = (quote(model._meta.db_table) for _alias, model, _relation in JOINED)
        # Only table and column names from the models' metadata, quoted by the backend; values are parameters.
        select = (
            f"SELECT {', '.join(part.sql for part in self.parts)} FROM {invitation} i "  # nosec B608
            f"INNER JOIN {campaign} c ON c.{quote('id')} = i.{quote('campaign_id')} "
            f"INNER JOIN {contact} k ON k.{quote('id')} = i.{quote('contact_id')} "
        )
        by_token = f"{select}WHERE i.{quote('token')} = %s"
        # The invitation's row only: an answer must not wait for another answer to the same campaign.
        lock = " FOR UPDATE OF i" if connection.features.has_select_for_update_of else ""
        locked = f"{select}WHERE i.{quote('id')} = %s{lock}"
        self.statements = {"by_token": by_token, "locked": locked, "locked_by_token": by_token + lock}
        # (name, PREPARE statement) of each on PostgreSQL; the names are ours, the one parameter is $1.
        self.prepare = {}
        if connection.vendor == "postgresql":
            for statement, key_type in (("by_token", "text"), ("locked", "bigint"), ("locked_by_token", "text")):
                name = f"pregonero_invitation_{statement}"
                sql = self.statements[statement].replace("%s", "$1")
                self.prepare[statement] = (name, f"PREPARE {name} ({key_type}) AS {sql}")

    def execute(self, cursor, connection, statement: str, key) -> None:
        # A connection per request (CONN_MAX_AGE 0) would pay a PREPARE each time for one EXECUTE.
        if statement not in self.prepare or connection.settings_dict["CONN_MAX_AGE"] == 0:
            cursor.execute(self.statements[statement], [key])
            return
        name, prepare = self.prepare[statement]
        done = _prepared.setdefault(connection.connection, set())
        if statement not in done:
            cursor.execute(prepare)
            done.add(statement)
        cursor.execute(f"EXECUTE {name} (%s)", [key])


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation with this token, its `campaign` and `contact` already loaded; None when there is none."""
    return _fetch("by_token", token)


def invitation_locked(pk: int) -> Invitation | None:
    """The invitation ``pk`` as ``invitation_by_token`` returns it, read again and locked until the transaction
    ends (SQLite's write transaction already excludes every other writer). Through the ORM this read cost an
    answer more CPU than its three writes (bench/rsvp_load.py --cpu)."""
    return _fetch("locked", pk)


def invitation_locked_by_token(token: str) -> Invitation | None:
    """``invitation_locked`` found by its token: a guest's answer reads its invitation once, under the lock."""
    return _fetch("locked_by_token", token)


def _fetch(statement: str, key) -> Invitation | None:
    connection = connections[Invitation.objects.db]
    plan = _plans.get(connection)
    if plan is None:
        plan = _plans[connection] = _Plan(connection)
    with connection.cursor() as cursor:
        plan.execute(cursor, connection, statement, key)
        row = cursor.fetchone()
    if row is None:
        return None
    objects, start = [], 0
    for part in plan.parts:
        objects.append(part.instance(row[start:start + len(part)], connection))
        start += len(part)
    invitation, campaign, contact = objects
    Invitation.campaign.field.set_cached_value(invitation, campaign)
    Invitation.contact.field.set_cached_value(invitation, contact)
    return invitation
