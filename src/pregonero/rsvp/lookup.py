"""A guest's invitation with its campaign and contact, in one statement built once per database connection.

Every guest page and every answer starts with this lookup. Through the ORM, `select_related(...).get(token=…)`
spent about 1 ms of CPU per request composing the same three-table SELECT and turning its row into objects,
while executing the statement cost a tenth of that (bench/rsvp_load.py --cpu). So the statement is composed
once from the models' own metadata (tables, columns, the backend's quoting), each value goes through the
converters the ORM would apply (SQLite hands back datetimes as text and booleans as integers), and the objects
are made with `Model.from_db`, as the ORM makes them: they save, refresh and compare like any other.
"""

from weakref import WeakKeyDictionary

from django.db import connections

from pregonero.campaigns.models import Campaign
from pregonero.directory.models import Contact

from .models import Invitation

# (alias in the statement, model, how the invitation reaches it)
JOINED = (("i", Invitation, None), ("c", Campaign, "campaign"), ("k", Contact, "contact"))

_plans: WeakKeyDictionary = WeakKeyDictionary()


class _Plan:
    def __init__(self, connection):
        quote = connection.ops.quote_name
        columns, self.parts, self.converters = [], [], []
        for alias, model, _relation in JOINED:
            fields = model._meta.concrete_fields
            self.parts.append((model, [field.attname for field in fields], len(fields)))
            for field in fields:
                columns.append(f"{alias}.{quote(field.column)}")
                column = field.get_col(alias)
                converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                self.converters.append((len(columns) - 1, converters, column))
        self.converters = [entry for entry in self.converters if entry[1]]
        invitation, campaign, contact = (quote(model._meta.db_table) for _alias, model, _relation in JOINED)
        # Only table and column names from the models' metadata, quoted by the backend; the token is a parameter.
        self.sql = (
            f"SELECT {', '.join(columns)} FROM {invitation} i "  # nosec B608
            f"INNER JOIN {campaign} c ON c.{quote('id')} = i.{quote('campaign_id')} "
            f"INNER JOIN {contact} k ON k.{quote('id')} = i.{quote('contact_id')} "
            f"WHERE i.{quote('token')} = %s"
        )


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation with this token, its `campaign` and `contact` already loaded; None when there is none."""
    connection = connections[Invitation.objects.db]
    plan = _plans.get(connection)
    if plan is None:
        plan = _plans[connection] = _Plan(connection)
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    row = list(row)
    for index, converters, column in plan.converters:
        for converter in converters:
            row[index] = converter(row[index], column, connection)
    objects, start = [], 0
    for model, names, count in plan.parts:
        objects.append(model.from_db(connection.alias, names, row[start:start + count]))
        start += count
    invitation, campaign, contact = objects
    Invitation.campaign.field.set_cached_value(invitation, campaign)
    Invitation.contact.field.set_cached_value(invitation, contact)
    return invitation
