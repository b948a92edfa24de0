"""`airbyte pipeline quality --connection-id ID`: the data quality of a connection."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.management.base import CommandError

from apps.connections import quality
from apps.connections.models import Connection
from apps.core.clikit import CliResult, arg, group, table
from apps.core.roles import Role
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

pipeline = group("pipeline", "How connections perform over time.")


def _connection(workspace: Any, wanted: str) -> Connection:
    rows = Connection.objects.for_workspace(workspace).select_related(
        "destination__definition", "workspace"
    )
    try:
        found = rows.filter(public_id=UUID(str(wanted))).first()
    except ValueError:
        found = rows.filter(name__iexact=str(wanted)).first()
    if found is None:
        raise CommandError(f"No connection {wanted!r} in {workspace}.")
    return found


@pipeline.action(
    "quality",
    "Per stream: rows, NULLs per column (sampled), failed casts, duplicate keys, "
    "columns that appeared or vanished, record-count drift.",
    arg("--connection-id", required=True, dest="connection_id"),
    arg(
        "--sample",
        type=int,
        default=quality.SAMPLE_ROWS,
        help=f"Rows sampled per table, the latest first (default "
        f"{quality.SAMPLE_ROWS:,}).",
    ),
    WORKSPACE,
    AS_USER,
)
def pipeline_quality(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    connection = _connection(membership.workspace, options["connection_id"])
    sample = options.get("sample")
    if sample is None:
        sample = quality.SAMPLE_ROWS
    if sample < 1 or sample > quality.MAX_SAMPLE_ROWS:
        raise CommandError(
            f"--sample must be between 1 and {quality.MAX_SAMPLE_ROWS:,} rows."
        )
    report = quality.connection_quality(connection=connection, sample_rows=sample)
    return CliResult(
        data=report.as_dict(),
        text=report_text(report),
        exit_code=1 if report.error else 0,
    )


def report_text(report: quality.QualityReport) -> str:
    """The report for people: a summary table, then each stream's columns."""
    lines = [
        f"Data quality of {report.connection} → {report.destination}, "
        f"{report.checked_at:%Y-%m-%d %H:%M:%S %Z}.",
        f"NULLs and failed casts are counted in a sample: the latest "
        f"{report.sample_limit:,} rows of each table.",
    ]
    if report.error:
        lines.append(f"Could not read the destination: {report.error}")
    rows = [
        {
            "stream": s.label,
            "rows": "" if s.rows is None else f"{s.rows:,}",
            "sampled": f"{s.sample_rows:,}" if s.found else "",
            "failed_casts": s.failed_casts,
            "dup_keys": _dupes(s),
            "appeared": ", ".join(s.appeared) or "-",
            "vanished": ", ".join(s.vanished) or "-",
            "drift": s.drift.verdict or "no successful sync yet",
        }
        for s in report.streams
    ]
    lines += [
        "",
        table(
            rows,
            [
                "stream",
                "rows",
                "sampled",
                "failed_casts",
                "dup_keys",
                "appeared",
                "vanished",
                "drift",
            ],
        ),
    ]
    for stream in report.streams:
        if not stream.found and not stream.notes:
            continue
        lines += ["", f"{stream.label} ({stream.location or 'not read'})"]
        if stream.columns:
            lines.append(
                table(
                    [
                        {
                            "column": c.name,
                            "nulls": f"{c.nulls:,}",
                            "null_ratio": f"{c.null_ratio:.1%}",
                        }
                        for c in stream.columns
                    ],
                    ["column", "nulls", "null_ratio"],
                )
            )
        for failure in stream.cast_failures:
            lines.append(
                f"  {failure['field']}: {failure['count']:,} {failure['change']} "
                f"({failure['reason']})"
            )
        lines += [f"  note: {note}" for note in stream.notes]
    return "\n".join(lines)


def _dupes(stream: quality.StreamQuality) -> str:
    if not stream.primary_key:
        return "no key"
    if stream.duplicate_keys is None:
        return "not checked"
    if not stream.duplicate_keys:
        return "0"
    return f"{stream.duplicate_keys:,} ({stream.duplicate_rows:,} extra rows)"
