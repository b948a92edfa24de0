"""Reading a job's log: its attempts' lines with levels, filtered and tailed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from apps.connections.models import SyncAttempt, SyncJob

TAIL_LINES = 1000
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
_LEVEL = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL|TRACE)\b")


@dataclass(frozen=True)
class LogLine:
    attempt: int
    number: int
    level: str
    text: str


def line_level(text: str) -> str:
    match = _LEVEL.match(text)
    if not match:
        return "INFO"
    level = match.group(1)
    return {
        "WARNING": "WARN",
        "FATAL": "ERROR",
        "CRITICAL": "ERROR",
        "TRACE": "DEBUG",
    }.get(level, level)


@dataclass
class LogView:
    """What the log page shows: matching lines (the tail), and how many in all."""

    job: SyncJob
    level: str = ""
    search: str = ""
    attempt: str = ""
    lines: list[LogLine] = field(default_factory=list)
    total: int = 0
    matched: int = 0
    truncated_bytes: int = 0

    @classmethod
    def for_job(
        cls, job: SyncJob, *, level: str = "", search: str = "", attempt: str = ""
    ) -> LogView:
        view = cls(
            job=job,
            level=level if level in LEVELS else "",
            search=search.strip()[:200],
            attempt=attempt,
        )
        view._load()
        return view

    def _attempts(self) -> list[SyncAttempt]:
        attempts = SyncAttempt.objects.filter(job=self.job).order_by("number")
        if self.attempt.isdigit():
            attempts = attempts.filter(number=int(self.attempt))
        return list(attempts.only("number", "log", "log_truncated_bytes"))

    def _load(self) -> None:
        wanted = LEVELS.index(self.level) if self.level else 0
        needle = self.search.lower()
        matched: list[LogLine] = []
        for attempt in self._attempts():
            self.truncated_bytes += attempt.log_truncated_bytes
            for number, text in enumerate(attempt.log.splitlines(), start=1):
                self.total += 1
                level = line_level(text)
                if LEVELS.index(level) < wanted:
                    continue
                if needle and needle not in text.lower():
                    continue
                matched.append(LogLine(attempt.number, number, level, text))
        self.matched = len(matched)
        self.lines = matched[-TAIL_LINES:]

    @property
    def following(self) -> bool:
        return self.job.is_active

    def full_text(self) -> str:
        parts = []
        for attempt in self._attempts():
            parts.append(f"--- attempt {attempt.number}\n{attempt.log}\n")
        return "".join(parts)
