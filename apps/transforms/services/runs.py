"""Transform runs: request, cancel, run on a worker, reap, and start after a sync.

The request / run / record triad of ``connectors/services.py``: a request is
atomic and audited and enqueues on commit; the run happens on a worker outside
any transaction (dbt is a subprocess); the record is atomic again. The row is the
truth, like a sync's: a worker claims it with a conditional UPDATE, beats on it
from its own thread while dbt runs, and the tick (beat, every 30 s) reaps runs
whose worker died and kills the dbt process group it left on this host.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Max
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connections.lifecycle import worker_name
from apps.core import metrics
from apps.core.pids import pid_alive
from apps.engines.masking import SecretMasker
from apps.transforms.models import (
    DbtProject,
    ProjectArtifact,
    RunNode,
    TransformRun,
    TransformTrigger,
)
from apps.transforms.profiles import ProfileError, profile_for

logger = logging.getLogger(__name__)

Status = TransformRun.Status
Command = TransformRun.Command

# Runs a page asks for to show something (a preview, compiled SQL, a fresh parse):
# their end is no news for webhooks or the notification list.
QUIET_COMMANDS = (Command.PARSE, Command.COMPILE, Command.SHOW)
# How often the worker writes the run's log and heartbeat: at most once a second.
FLUSH_SECONDS = 1.0
# How far back the tick looks for syncs whose transforms could not start (the
# project was busy with another run when the sync ended).
AFTER_SYNC_CATCH_UP = timedelta(hours=1)
# Rows ``dbt show`` previews on a model's page.
SHOW_LIMIT = 20
# dbt's node statuses that mean the node did not do its job.
FAILED_NODE_STATUSES = ("error", "fail", "runtime error")
# The time dbt starts each text line with ("17:05:18  Running with dbt=...").
DBT_CLOCK = re.compile(r"^\d\d:\d\d:\d\d\s\s?")


class RunAlreadyActive(ValidationError):
    """The project already has a run pending or running; ``run`` is that run."""

    def __init__(self, run: TransformRun | None) -> None:
        self.run = run
        number = f" (run #{run.number})" if run is not None else ""
        super().__init__(
            f"A run of this project is already queued or running{number}: wait for "
            "it to end or cancel it."
        )


# -- request and cancel ----------------------------------------------------------------


def _user(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


@transaction.atomic
def transform_run_request(
    *,
    project: DbtProject,
    actor: AbstractBaseUser | None,
    command: str = "build",
    selector: str = "",
    trigger: str = "manual",
    sync_job: Any = None,
) -> TransformRun:
    """Queue a dbt command; RunAlreadyActive when the project has an active run."""
    if command not in Command.values:
        raise ValidationError(
            f"“{command}” is not a dbt command the console runs; use one of "
            f"{', '.join(Command.values)}."
        )
    if trigger not in TransformRun.Trigger.values:
        raise ValidationError(f"“{trigger}” is not a run trigger.")
    selector = (selector or "").strip()
    if len(selector) > 500:
        raise ValidationError("The selector is longer than 500 characters.")
    if "\n" in selector or "\x00" in selector:
        raise ValidationError("The selector must be one line.")
    # Lock the project: run numbers are handed out one at a time.
    project = DbtProject.objects.select_for_update().get(pk=project.pk)
    number = (project.runs.aggregate(top=Max("number"))["top"] or 0) + 1
    try:
        # A savepoint, so the one-active-run constraint's failure leaves the outer
        # transaction usable.
        with transaction.atomic():
            run = TransformRun.objects.create(
                workspace_id=project.workspace_id,
                project=project,
                number=number,
                command=command,
                selector=selector,
                trigger=trigger,
                requested_by=_user(actor),
                sync_job=sync_job,
            )
    except IntegrityError:
        raise RunAlreadyActive(project.runs.active().first()) from None
    audit_record(
        actor=actor,
        actor_label="" if actor is not None else f"{trigger} trigger",
        action="transform.requested",
        workspace=project.workspace,
        target=project,
        changes={
            "run": [None, number],
            "command": [None, command],
            "selector": [None, selector],
            "trigger": [None, trigger],
        },
    )
    run_id = run.pk
    transaction.on_commit(lambda: transform_run_enqueue(run_id))
    return run


def transform_run_enqueue(run_id: int) -> None:
    """Ask a worker to run it; a broker outage leaves it pending for the tick."""
    from apps.transforms.tasks import transform_run_task

    try:
        transform_run_task.apply_async(args=[run_id], queue="syncs", retry=False)
    except Exception:  # the broker is down: the row stays pending, the tick resends
        logger.warning(
            "Could not enqueue transform run %s; the tick will retry.",
            run_id,
            exc_info=True,
        )


@transaction.atomic
def transform_run_cancel(
    *, run: TransformRun, actor: AbstractBaseUser | None
) -> TransformRun:
    """Stop a run: a pending one ends at once, a running one's worker stops dbt."""
    run = (
        TransformRun.objects.select_for_update()
        .select_related("project__workspace")
        .get(pk=run.pk)
    )
    if not run.is_active:
        raise ValidationError("This run has already ended.")
    if run.status == Status.CANCELLING:
        return run  # asked already: no second save, no second audit row
    before = run.status
    if run.status == Status.RUNNING:
        run.status = Status.CANCELLING
    elif run.status == Status.PENDING:
        run.status = Status.CANCELLED
        run.finished_at = timezone.now()
        run.failure_message = "Cancelled before it started."
    run.save(update_fields=["status", "finished_at", "failure_message", "updated_at"])
    audit_record(
        actor=actor,
        action="transform.cancel_requested",
        workspace=run.project.workspace,
        target=run.project,
        changes={"run": [run.number, run.number], "status": [before, run.status]},
    )
    if run.status == Status.CANCELLED:
        # Ended here, not by a worker's _finish: counted like any run that ended.
        command = run.command
        transaction.on_commit(
            lambda: metrics.transform_finished(status=Status.CANCELLED, command=command)
        )
    return run


# -- the worker ------------------------------------------------------------------------


class RunReporter:
    """The worker's side of a running run: capped log, heartbeat, cancel flag.

    A thread writes the heartbeat and the log (at most once a second) and
    notices a cancel asked on the row, so a busy dbt never looks dead.
    """

    def __init__(self, run: TransformRun) -> None:
        self.run_id = run.pk
        self._lock = threading.Lock()
        self._log: deque[str] = deque()
        self._log_bytes = 0
        self._log_dropped = 0
        self._log_dirty = False
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self._masker = SecretMasker()
        self._thread = threading.Thread(
            target=self._beat_forever, name=f"transform-{run.pk}", daemon=True
        )

    def mask(self, secrets: list[str]) -> None:
        """From now on, these values never reach the stored log."""
        self._masker = SecretMasker(secrets)

    def masked(self, text: str) -> str:
        return self._masker.mask(text)

    def log(self, line: str) -> None:
        line = self._masker.mask(line.rstrip())
        line = f"{timezone.now():%Y-%m-%d %H:%M:%SZ} {line}"  # UTC
        size = len(line.encode()) + 1
        with self._lock:
            self._log.append(line)
            self._log_bytes += size
            self._log_dirty = True
            # Keep the tail: the end of a log says why a run ended.
            while (
                self._log_bytes > settings.TRANSFORM_LOG_MAX_BYTES
                and len(self._log) > 1
            ):
                dropped = len(self._log.popleft().encode()) + 1
                self._log_bytes -= dropped
                self._log_dropped += dropped

    def text(self) -> tuple[str, int]:
        with self._lock:
            return "\n".join(self._log), self._log_dropped

    def dbt_line(self, line: str) -> None:
        """A line dbt printed, without dbt's own clock (the log has its own)."""
        self.log(DBT_CLOCK.sub("", line, count=1))

    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def started(self, pgid: int) -> None:
        TransformRun.objects.filter(pk=self.run_id).update(pgid=pgid)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat_forever(self) -> None:
        try:
            while not self._stop.wait(FLUSH_SECONDS):
                self._flush()
        finally:
            db_connection.close()

    def _flush(self) -> None:
        with self._lock:
            dirty = self._log_dirty
            self._log_dirty = False
            log_text = "\n".join(self._log) if dirty else None
            dropped = self._log_dropped
        now = timezone.now()
        fields: dict[str, Any] = {"heartbeat_at": now}
        if log_text is not None:
            fields.update(log=log_text, log_truncated_bytes=dropped)
        try:
            updated = TransformRun.objects.filter(
                pk=self.run_id, status__in=[Status.RUNNING, Status.CANCELLING]
            ).update(**fields)
            # Asked to cancel; or the row already ended (the reaper saw a stale
            # heartbeat from another host), so this dbt must stop before a new
            # run takes the project's folder. A row not seen at all (a test's
            # open transaction) is neither.
            stop = (
                [Status.CANCELLING] if updated else list(TransformRun.TERMINAL_STATUSES)
            )
            if TransformRun.objects.filter(pk=self.run_id, status__in=stop).exists():
                self._cancel.set()
        except (
            Exception
        ):  # a database blip must not kill the run; the next beat retries
            logger.warning("Heartbeat of transform run %s failed", self.run_id)
            with self._lock:
                self._log_dirty = self._log_dirty or dirty


@dataclass
class RunResult:
    """How a run ended, as the worker saw it; written by ``_finish``."""

    status: str
    failure_message: str = ""
    nodes: list[dict[str, Any]] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)
    graph: dict[str, Any] | None = None
    docs_html: str | None = None
    git_commit: str = ""


class _Refused(Exception):
    """A step before dbt could not be done; ``message`` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _claim(run_id: int) -> TransformRun | None:
    """Take a pending run for this worker; None when someone else has it."""
    now = timezone.now()
    claimed = TransformRun.objects.filter(pk=run_id, status=Status.PENDING).update(
        status=Status.RUNNING,
        worker=worker_name(),
        started_at=now,
        heartbeat_at=now,
        updated_at=now,
    )
    if not claimed:
        return None
    return TransformRun.objects.select_related(
        "project__workspace",
        "project__destination__definition",
        "project__git_credential",
    ).get(pk=run_id)


def transform_run_execute(run_id: int) -> None:
    """Run a pending run on this worker, if it wins the claim; safe to call twice."""
    run = _claim(run_id)
    if run is None:
        return
    reporter = RunReporter(run)
    reporter.start()
    try:
        reporter.log(
            f"INFO Run #{run.number} of “{run.project.name}”: dbt {run.command}"
            + (f" --select {run.selector}" if run.selector else "")
            + f", started on {run.worker}."
        )
        result = _run_dbt(run, reporter)
    except _Refused as exc:
        message = reporter.masked(exc.message)
        reporter.log(f"ERROR {message}")
        result = RunResult(status=Status.FAILED, failure_message=message)
    except Exception as exc:  # never lose the run: record why it died
        logger.exception("Transform run %s crashed", run_id)
        detail = reporter.masked(
            str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        )
        message = (
            f"The console failed while running dbt ({type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + "). The worker's log has the details."
        )
        reporter.log(f"ERROR {message}")
        result = RunResult(status=Status.FAILED, failure_message=message)
    finally:
        reporter.stop()
    log_text, dropped = reporter.text()
    _finish(run_id, result, log=log_text, log_truncated_bytes=dropped)


def _prepare(
    run: TransformRun, reporter: RunReporter, secrets: list[str]
) -> tuple[Any, str]:
    """The project folder on this host, filled from the rows or from git.

    Returns (the folder holding dbt_project.yml, the git commit or "").
    A git credential's secret joins ``secrets``, which dbt's output is masked with.
    """
    from apps.transforms import workdir

    project = run.project
    source = workdir.source_dir(project.public_id)
    commit = ""
    if project.kind == DbtProject.Kind.GIT:
        from apps.transforms.git import (
            GitError,
            git_credential_secret,
            git_sync,
            shown_url,
        )

        secret = kind = None
        if project.git_credential is not None:
            try:
                secret, kind = git_credential_secret(project.git_credential)
            except GitError as exc:
                raise _Refused(exc.message) from None
            secrets.append(secret)
        # A token written into the URL itself (https://<token>@host/...).
        url = urlsplit(project.git_url)
        if url.scheme in ("http", "https"):
            secrets += [v for v in (url.username, url.password) if v]
        reporter.mask(secrets)
        reporter.log(
            f"INFO Pulling {shown_url(project.git_url)} "
            f"(branch {project.git_branch or 'main'})."
        )
        try:
            commit = git_sync(
                url=project.git_url,
                branch=project.git_branch or "main",
                dest=source,
                secret=secret,
                secret_kind=kind,
                timeout=settings.GIT_TIMEOUT_SECONDS,
            )
        except GitError as exc:
            raise _Refused(exc.message) from None
        reporter.log(f"INFO At commit {commit}.")
    else:
        from apps.transforms.services.projects import project_files

        try:
            workdir.materialize(project_files(project), source)
        except ValueError as exc:
            raise _Refused(str(exc)) from None
    try:
        return workdir.find_project_dir(source), commit
    except ValueError as exc:
        raise _Refused(str(exc)) from None


def _run_dbt(run: TransformRun, reporter: RunReporter) -> RunResult:
    from apps.transforms import workdir
    from apps.transforms.dbt import artifacts
    from apps.transforms.dbt.install import DbtInstallError, dbt_ensure
    from apps.transforms.dbt.invoke import Invocation, invoke

    project = run.project
    try:
        adapter, profile, secrets = profile_for(project)
    except ProfileError as exc:
        raise _Refused(exc.message) from None
    reporter.mask(secrets)
    try:
        env = dbt_ensure(adapter, on_output=lambda line: reporter.log(f"INFO {line}"))
    except DbtInstallError as exc:
        raise _Refused(exc.message) from None
    project_dir, commit = _prepare(run, reporter, secrets)
    if commit:
        TransformRun.objects.filter(pk=run.pk).update(git_commit=commit)
    if reporter.cancel_requested():
        return RunResult(status=Status.CANCELLED, git_commit=commit)
    extra: tuple[str, ...] = ()
    if run.command == Command.SHOW:
        extra = ("--limit", str(SHOW_LIMIT))
    elif run.command == Command.DOCS:
        extra = ("--static",)
    outcome = invoke(
        Invocation(
            dbt=env.dbt,
            project_dir=project_dir,
            target_dir=workdir.target_dir(project.public_id),
            profile=profile,
            command=run.command,
            selector=run.selector,
            extra_args=extra,
            timeout=settings.TRANSFORM_RUN_TIMEOUT_SECONDS,
        ),
        on_line=reporter.dbt_line,
        on_start=reporter.started,
        should_cancel=reporter.cancel_requested,
        secrets=secrets,
    )
    nodes = (
        artifacts.node_results(outcome.run_results, outcome.manifest)
        if outcome.run_results
        else []
    )
    output = dict(outcome.output or {})
    docs_html = output.pop("docs_html", None)
    result = RunResult(
        status=Status.SUCCEEDED,
        nodes=nodes,
        output=output,
        graph=artifacts.graph(outcome.manifest) if outcome.manifest else None,
        docs_html=docs_html,
        git_commit=commit,
    )
    if outcome.cancelled:
        result.status = Status.CANCELLED
        result.failure_message = "Cancelled: dbt was stopped."
    elif outcome.timed_out:
        result.status = Status.FAILED
        result.failure_message = (
            f"dbt ran longer than {settings.TRANSFORM_RUN_TIMEOUT_SECONDS} s and was "
            "stopped (TRANSFORM_RUN_TIMEOUT_SECONDS)."
        )
    elif outcome.returncode != 0:
        result.status = Status.FAILED
        result.failure_message = _failure_message(nodes, outcome.error, outcome)
    if result.failure_message and result.status == Status.FAILED:
        reporter.log(f"ERROR {result.failure_message.splitlines()[0]}")
    return result


def _failure_message(nodes: list[dict[str, Any]], error: str, outcome: Any) -> str:
    """Which nodes failed and why, else dbt's own error, else its exit code."""
    failed = [n for n in nodes if n.get("status") in FAILED_NODE_STATUSES]
    if failed:
        parts = []
        for node in failed[:5]:
            what = f"{node.get('resource_type') or 'node'} {node.get('name')}"
            if node.get("status") == "fail":
                count = node.get("failures")
                detail = f"failed with {count} failing row{'s' if count != 1 else ''}"
            else:
                detail = "failed"
            # dbt points at the compiled file on the worker's disk: not for people.
            message = "\n".join(
                line
                for line in (node.get("message") or "").strip().splitlines()
                if not line.strip().startswith("compiled code at ")
            ).strip()
            parts.append(f"{what} {detail}" + (f": {message}" if message else ""))
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        head = f"{len(failed)} of {len(nodes)} nodes failed{more}."
        return "\n".join([head, *parts])[:10_000]
    if error:
        return error[:10_000]
    return f"dbt exited with code {outcome.returncode}; the log has the details."


@transaction.atomic
def _finish(
    run_id: int,
    result: RunResult,
    *,
    log: str | None = None,
    log_truncated_bytes: int | None = None,
) -> TransformRun:
    """Record how a run ended: nodes, project graph, docs, one audit event."""
    now = timezone.now()
    run = (
        TransformRun.objects.select_for_update()
        .select_related("project__workspace")
        .get(pk=run_id)
    )
    if run.status not in (Status.RUNNING, Status.CANCELLING):
        # The tick got here first (the heartbeat went stale): keep its verdict.
        return run
    previous = run.status
    status = result.status
    if previous == Status.CANCELLING and status == Status.FAILED:
        status = Status.CANCELLED
    run.status = status
    run.finished_at = now
    run.failure_message = (
        "Cancelled: dbt was stopped."
        if status == Status.CANCELLED and not result.failure_message
        else result.failure_message
    )
    if result.nodes:
        from apps.transforms.dbt.artifacts import stats

        run.stats = stats(result.nodes)
        RunNode.objects.filter(run=run).delete()
        RunNode.objects.bulk_create(
            [
                RunNode(
                    run=run,
                    unique_id=str(n.get("unique_id", ""))[:500],
                    name=str(n.get("name", ""))[:300],
                    resource_type=str(n.get("resource_type", ""))[:20],
                    status=str(n.get("status", ""))[:20],
                    execution_time=float(n.get("execution_time") or 0),
                    rows_affected=n.get("rows_affected"),
                    failures=n.get("failures"),
                    message=str(n.get("message") or ""),
                )
                for n in result.nodes
            ]
        )
    run.output = result.output
    if result.git_commit:
        run.git_commit = result.git_commit
    if log is not None:
        run.log = log
        run.log_truncated_bytes = log_truncated_bytes or 0
    run.save()
    project = run.project
    project_fields = []
    if result.graph is not None:
        project.graph = result.graph
        project.dbt_name = str(result.graph.get("project_name") or "")[:100]
        project_fields += ["graph", "dbt_name"]
    if result.git_commit:
        project.git_commit = result.git_commit
        project_fields.append("git_commit")
    if project_fields:
        project.save(update_fields=[*project_fields, "updated_at"])
    if result.docs_html is not None and status == Status.SUCCEEDED:
        ProjectArtifact.objects.update_or_create(
            project=project,
            name="docs.html",
            defaults={"content": result.docs_html, "run": run},
        )
    audit_record(
        actor=None,
        actor_label="worker",
        action=f"transform.{status}",
        workspace=project.workspace,
        target=project,
        changes={
            "run": [None, run.number],
            "command": [None, run.command],
            "status": [previous, status],
            "nodes": [None, run.stats],
        },
        outcome="success" if status == Status.SUCCEEDED else "failure",
    )
    command = run.command
    transaction.on_commit(
        lambda: metrics.transform_finished(status=status, command=command)
    )
    if status in (Status.SUCCEEDED, Status.FAILED) and run.command not in (
        QUIET_COMMANDS
    ):
        transaction.on_commit(lambda: transform_run_announce(run_id))
    return run


def transform_run_announce(run_id: int) -> None:
    """After a run's end commits: ``transform.succeeded`` / ``transform.failed``.

    Never raises: a notification must not break the run it reports.
    """
    from apps.webhooks.services.emission import webhook_transform_event

    try:
        run = TransformRun.objects.select_related(
            "project__workspace",
            "project__destination",
            "sync_job__connection",
        ).get(pk=run_id)
        webhook_transform_event(run=run)
    except Exception:
        logger.exception("Could not announce the end of transform run %s", run_id)


# -- the tick --------------------------------------------------------------------------


def _on_this_host(worker: str) -> bool:
    return worker.rpartition(":")[0] == socket.gethostname()


def _worker_alive(worker: str) -> bool:
    pid = worker.rpartition(":")[2]
    return not pid.isdigit() or pid_alive(int(pid))


def stop_group(pgid: int) -> bool:
    """Kill the dbt process group a dead worker left on this host; True if one was.

    The group's leader must still lead its own group (dbt is started with
    ``start_new_session``); a reused pid that leads no group is left alone.
    """
    if pgid <= 1 or not pid_alive(pgid):
        return False
    try:
        if os.getpgid(pgid) != pgid:
            return False
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    logger.warning("Killed the dbt process group %s a dead worker left", pgid)
    return True


def reap_lost_runs(*, now: datetime | None = None) -> int:
    """End runs whose worker is gone: heartbeat stale, or its process here dead."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SYNC_HEARTBEAT_STALE_SECONDS)
    active = TransformRun.objects.filter(status__in=[Status.RUNNING, Status.CANCELLING])
    rows = "pk", "worker", "heartbeat_at", "pgid"
    stale = list(active.filter(heartbeat_at__lt=cutoff).values_list(*rows))
    seen = {row[0] for row in stale}
    here = f"{socket.gethostname()}:"
    dead_here = [
        row
        for row in active.filter(worker__startswith=here)
        .exclude(pk__in=seen)
        .values_list(*rows)
        if not _worker_alive(row[1])
    ]
    for run_id, worker, beat, pgid in stale + dead_here:
        if run_id in seen:
            seconds = int((now - beat).total_seconds()) if beat else 0
            why = f"no heartbeat for {seconds} s"
        else:
            why = "its process on this host is gone"
        message = (
            f"The worker running this transform ({worker}) stopped responding: {why}. "
            "Run it again; models dbt had not finished keep their previous version."
        )
        run = TransformRun.objects.get(pk=run_id)
        log = (run.log + "\n" if run.log else "") + (
            f"{timezone.now():%Y-%m-%d %H:%M:%SZ} ERROR {message}"
        )
        _finish(
            run_id,
            RunResult(status=Status.FAILED, failure_message=message),
            log=log,
            log_truncated_bytes=run.log_truncated_bytes,
        )
        if pgid and _on_this_host(worker):
            stop_group(pgid)
        logger.warning("Reaped transform run %s (worker %s: %s)", run_id, worker, why)
    return len(stale) + len(dead_here)


def lost_pending_runs(*, now: datetime | None = None) -> list[int]:
    """Pending runs no worker took for a while (a lost message, a broker outage)."""
    now = now or timezone.now()
    resend_after = now - timedelta(seconds=settings.SYNC_REENQUEUE_AFTER_SECONDS)
    return list(
        TransformRun.objects.filter(status=Status.PENDING, updated_at__lt=resend_after)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )


def start_due_schedules(*, now: datetime | None = None) -> int:
    """Run ``build`` for projects whose cron schedule is due; returns runs started."""
    from apps.schedules.timing import cron_next, parse_cron, zone

    now = now or timezone.now()
    started = 0
    due = DbtProject.objects.exclude(cron_expression="").filter(next_run_at__lte=now)
    for project in due.select_related("workspace"):
        try:
            # parse_cron names what is wrong; cronsim's own error would end the tick.
            following = cron_next(
                parse_cron(project.cron_expression),
                zone(project.schedule_timezone),
                now,
            )
        except (ValidationError, ValueError) as exc:
            logger.warning("Project %s has a bad schedule: %s", project.pk, exc)
            # Not due again every tick: the next save of the schedule sets it.
            DbtProject.objects.filter(pk=project.pk).update(next_run_at=None)
            continue
        # Claim this firing: a second tick (another beat) finds the time moved.
        claimed = DbtProject.objects.filter(
            pk=project.pk, next_run_at=project.next_run_at
        ).update(next_run_at=following)
        if not claimed:
            continue
        try:
            transform_run_request(
                project=project,
                actor=None,
                command=Command.BUILD,
                selector=project.schedule_selector,
                trigger=TransformRun.Trigger.SCHEDULE,
            )
            started += 1
        except RunAlreadyActive:
            logger.info(
                "Skipped the scheduled run of project %s: a run is active.", project.pk
            )
        except ValidationError as exc:
            logger.warning("Scheduled run of project %s refused: %s", project.pk, exc)
    return started


def transforms_tick(now: datetime | None = None) -> dict[str, int]:
    """Every 30 s: reap lost runs, resend lost pending ones, start due schedules."""
    now = now or timezone.now()
    reaped = reap_lost_runs(now=now)
    resent = lost_pending_runs(now=now)
    for run_id in resent:
        TransformRun.objects.filter(pk=run_id, status=Status.PENDING).update(
            updated_at=now
        )
        transform_run_enqueue(run_id)
    scheduled = start_due_schedules(now=now)
    caught_up = runs_after_missed_syncs(now=now)
    return {
        "reaped": reaped,
        "enqueued": len(resent),
        "scheduled": scheduled,
        "after_sync": len(caught_up),
    }


# -- after a sync ----------------------------------------------------------------------


def runs_after_sync(
    job_id: int, *, projects: set[int] | None = None
) -> list[TransformRun]:
    """One run per enabled trigger of a succeeded job's connection; safe twice.

    ``projects`` (ids) limits it to those projects' triggers.
    """
    from apps.connections.models import SyncJob
    from apps.transforms.generate import source_name

    job = (
        SyncJob.objects.select_related("connection__workspace")
        .filter(pk=job_id)
        .first()
    )
    if job is None or job.status != SyncJob.Status.SUCCEEDED:
        return []
    connection = job.connection
    triggers = (
        TransformTrigger.objects.filter(connection=connection, enabled=True)
        .select_related("project")
        .order_by("created_at")
    )
    if projects is not None:
        triggers = triggers.filter(project_id__in=projects)
    runs = []
    for trigger in triggers:
        project = trigger.project
        if project.workspace_id != connection.workspace_id:
            continue
        if TransformRun.objects.filter(project=project, sync_job=job).exists():
            continue  # this job's run was already requested
        selector = trigger.selector or f"source:{source_name(connection)}+"
        try:
            runs.append(
                transform_run_request(
                    project=project,
                    actor=None,
                    command=trigger.command or Command.BUILD,
                    selector=selector,
                    trigger=TransformRun.Trigger.SYNC,
                    sync_job=job,
                )
            )
        except RunAlreadyActive as exc:
            logger.info(
                "Sync job %s: project “%s” already has run #%s active; "
                "not starting another.",
                job_id,
                project.name,
                exc.run.number if exc.run else "?",
            )
        except ValidationError as exc:
            logger.warning(
                "Sync job %s: project “%s” could not run: %s",
                job_id,
                project.name,
                exc,
            )
    return runs


def runs_after_missed_syncs(*, now: datetime | None = None) -> list[TransformRun]:
    """Start the after-sync runs a busy project had to skip, once it is free.

    A sync that ends while its project runs something else (a preview a page
    asked for, an earlier build) cannot start its run then: one run per project.
    The tick looks at each followed connection's latest successful sync of the
    last hour and starts what is still owed, unless the project has started a
    build or run of its own since that sync ended.
    """
    from apps.connections.models import SyncJob

    now = now or timezone.now()
    jobs = (
        SyncJob.objects.filter(
            status=SyncJob.Status.SUCCEEDED,
            finished_at__gte=now - AFTER_SYNC_CATCH_UP,
            connection__transform_triggers__enabled=True,
        )
        .order_by("connection_id", "-finished_at")
        .distinct()
    )
    latest: dict[int, Any] = {}
    for job in jobs:
        latest.setdefault(job.connection_id, job)
    started: list[TransformRun] = []
    for job in latest.values():
        owed: set[int] = set()
        for trigger in TransformTrigger.objects.filter(
            connection_id=job.connection_id, enabled=True
        ).select_related("project"):
            # A sync that ended before the trigger existed owes it nothing.
            if trigger.created_at > job.finished_at:
                continue
            runs = trigger.project.runs
            if runs.filter(sync_job=job).exists() or runs.active().exists():
                continue
            since = runs.filter(created_at__gte=job.finished_at).exclude(
                command__in=QUIET_COMMANDS
            )
            if not since.exists():
                owed.add(trigger.project_id)
        if owed:
            started += runs_after_sync(job.pk, projects=owed)
    return started
