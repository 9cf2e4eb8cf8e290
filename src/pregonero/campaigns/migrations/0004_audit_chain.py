"""The audit log becomes a hash chain: every existing entry is linked, in the order it was written (pk)."""

from django.db import migrations, models

from pregonero.campaigns.audit import GENESIS, HEAD_PK, entry_digest


def link_existing_entries(apps, schema_editor):
    AuditEntry = apps.get_model("campaigns", "AuditEntry")
    AuditChainHead = apps.get_model("campaigns", "AuditChainHead")
    previous, last, batch = GENESIS, None, []
    for entry in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        entry.prev_hash, entry.entry_hash = previous, entry_digest(entry, previous)
        previous, last = entry.entry_hash, entry
        batch.append(entry)
        if len(batch) == 1000:
            AuditEntry.objects.bulk_update(batch, ["prev_hash", "entry_hash"])
            batch = []
    AuditEntry.objects.bulk_update(batch, ["prev_hash", "entry_hash"])
    AuditChainHead.objects.create(pk=HEAD_PK, entry_id=last.pk if last else None, entry_hash=previous)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0003_campaign_max_companions"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("entry_id", models.BigIntegerField(null=True)),
                ("entry_hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.AddField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(default="", editable=False, max_length=64, verbose_name="huella"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64,
                                   verbose_name="huella de la entrada anterior"),
            preserve_default=False,
        ),
        migrations.RunPython(link_existing_entries, migrations.RunPython.noop),
    ]
