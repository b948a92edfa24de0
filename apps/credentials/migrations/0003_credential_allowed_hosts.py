"""Credentials carry the hosts they may be sent to; those in use keep working.

A credential made before this change has no allowed hosts, which now means it may
be sent to no host at all. So that nothing that works today breaks, each one gets
the hosts of the sources and destinations that already use it; one nobody uses is
left empty, for a workspace admin to fill in before it is used.
"""

from django.db import migrations, models

from apps.credentials.hosts import hosts_in


def fill_allowed_hosts(apps, schema_editor):
    """Give each credential in use the hosts of the configs that use it."""
    Credential = apps.get_model("credentials", "Credential")
    hosts_by_credential: dict[str, set[str]] = {}
    for model_name in ("Source", "Destination"):
        model = apps.get_model("connectors", model_name)
        rows = model.objects.exclude(credential_refs={}).values_list(
            "workspace_id", "config", "credential_refs"
        )
        for workspace_id, config, refs in rows.iterator():
            if not refs:
                continue
            found = hosts_in(config or {})
            for credential_id in refs.values():
                key = f"{workspace_id}:{credential_id}"
                hosts_by_credential.setdefault(key, set()).update(found.hosts)
    for credential in Credential.objects.only("pk", "workspace_id", "public_id"):
        hosts = hosts_by_credential.get(
            f"{credential.workspace_id}:{credential.public_id}"
        )
        if hosts:
            # update(), not save(): the encrypted payload is not read or rewritten.
            Credential.objects.filter(pk=credential.pk).update(
                allowed_hosts=sorted(hosts)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0002_encryption_canary_and_ci_names"),
        ("connectors", "0005_destination_remote_id_source_remote_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="credential",
            name="allowed_hosts",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(fill_allowed_hosts, migrations.RunPython.noop),
    ]
