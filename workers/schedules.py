"""Schedules from ``configs/schedules.yaml``: cron expressions read in each schedule's own time zone.

Cron libraries default to UTC; ``10 0 * * *`` here means 00:10 in ``timezone`` (Asia/Seoul unless set), so
the daily run lands at 00:10 KST = 15:10 UTC the day before. croniter walks tz-aware datetimes, which also
keeps DST zones right.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import CroniterBadCronError, croniter
from pydantic import BaseModel, Field, ValidationError, field_validator

from workers.errors import ScheduleError

DEFAULT_TIMEZONE = "Asia/Seoul"


class Watchlist(BaseModel):
    stocks: list[str] = Field(default_factory=list)
    etfs: list[str] = Field(default_factory=list)

    @property
    def tickers(self) -> list[str]:
        seen: dict[str, None] = {}
        for ticker in [*self.stocks, *self.etfs]:
            seen.setdefault(ticker.strip().upper(), None)
        return [t for t in seen if t]


class Schedule(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    task: Literal["stock_reports"] = "stock_reports"
    cron: str
    timezone: str = DEFAULT_TIMEZONE
    # after downtime over a due time, run the latest missed slot once when the scheduler comes back
    catch_up: bool = True
    watchlist: Watchlist = Field(default_factory=Watchlist)
    # the reports' language: auto = Korean for Korean listings (.KS, .KQ), English for the rest
    language: Literal["auto", "ko", "en"] = "auto"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday)")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Seoul)") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_run(self, after: datetime) -> datetime:
        """The first due time strictly after ``after`` (tz-aware), in the schedule's time zone."""
        try:
            return croniter(self.cron, after.astimezone(self.tz)).get_next(datetime)
        except CroniterBadCronError as exc:  # pragma: no cover - validated above
            raise ScheduleError(str(exc)) from exc

    def last_due(self, now: datetime) -> datetime:
        """The latest due time at or before ``now``."""
        local = now.astimezone(self.tz)
        due: datetime = croniter(self.cron, local).get_prev(datetime)  # strictly before ``local``
        nxt = self.next_run(due)
        return nxt if nxt <= local else due

    def run_day(self, due: datetime) -> str:
        """The day a run belongs to: the due time's date in the schedule's zone (a run key part)."""
        return due.astimezone(self.tz).date().isoformat()


class ScheduleFile(BaseModel):
    schedules: list[Schedule] = Field(default_factory=list)


def load_schedules(path: Path) -> list[Schedule]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        schedules = ScheduleFile.model_validate(raw).schedules
    except FileNotFoundError as exc:
        raise ScheduleError(f"no schedules file at {path}: set HEARTH_SCHEDULER__SCHEDULES_FILE") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ScheduleError(f"{path} is not a valid schedules file: {exc}") from exc
    names = [s.name for s in schedules]
    if len(set(names)) != len(names):
        raise ScheduleError(f"{path}: schedule names must be unique, got {names}")
    return schedules


def job_id_part(value: str) -> str:
    """RQ job ids allow [A-Za-z0-9_-] only (tickers have dots and carets)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)
