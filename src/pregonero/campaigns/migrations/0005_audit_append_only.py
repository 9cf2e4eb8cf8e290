"""The chain cannot fork (unique prev_hash), and on PostgreSQL the table refuses UPDATE and DELETE.

Separate from 0004 so the constraint and the trigger come in a transaction of their own, after the rows were
linked. TRUNCATE (a test database flush) is not refused: it is not a change to the record, it is its end.
"""

from django.db import migrations, models

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION campaigns_auditentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'campaigns_auditentry is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER campaigns_auditentry_append_only BEFORE UPDATE OR DELETE ON campaigns_auditentry
    FOR EACH ROW EXECUTE FUNCTION campaigns_auditentry_append_only();
"""
ALLOW_CHANGES = """
DROP TRIGGER IF EXISTS campaigns_auditentry_append_only ON campaigns_auditentry;
DROP FUNCTION IF EXISTS campaigns_auditentry_append_only();
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)  # no parameters: the % in RAISE is PL/pgSQL's, not a placeholder

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0004_audit_chain"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(editable=False, max_length=64, unique=True,
                                   verbose_name="huella de la entrada anterior"),
        ),
        migrations.RunPython(on_postgresql(APPEND_ONLY), on_postgresql(ALLOW_CHANGES)),
    ]
