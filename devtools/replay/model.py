"""The replay's world: every listing of both corpora and how it evolves, day by day.

Two calendars:

- **Corpus days**: the ESC records' own dates (gathered on 2026-08-22). The NYC
  Service records (2011–2012) are moved onto this calendar by a whole number
  of weeks (:data:`NYC_SHIFT_DAYS`, weekdays kept), so that the last of them was
  created in the week before 2026-08-22.
- **Served days**: what the replay's pages say and what tilts sees, the corpus
  day plus ``offset`` days. By default the replay's first day is served as
  the machine's today, because tilts reads "today" from the clock (a listing
  normalized after its deadline is marked expired), and a replay behind the
  clock would show its listings as expired.

On corpus day ``d`` a listing is **live** when it was created on or before
``d``, was not removed, its (possibly extended) deadline is not before ``d``
and its activity has not ended before ``d``. Going from one day to the next,
each live listing may be **edited** (``edit_rate`` a day: a deadline moved a
week later, an ongoing NYC listing's end moved four weeks later, or its
description revised) or, when it has no deadline, **removed** from the source
(``removal_rate`` a day). Which and when is decided by a hash of the seed, the
listing and the day, so a replay is reproducible and a ``limit`` draws the
same listings every time.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from devtools.replay.corpus import ESC_SNAPSHOT, esc_records, iso_date, nyc_date, nyc_place, nyc_rows

# The NYC rows were created up to 2011-09-26; whole weeks move that into the
# week before the ESC snapshot.
_NYC_LAST_CREATED = date(2011, 9, 26)
NYC_SHIFT_DAYS = (ESC_SNAPSHOT - _NYC_LAST_CREATED).days // 7 * 7
DEFAULT_EDIT_RATE = 0.02
DEFAULT_REMOVAL_RATE = 0.003
DEADLINE_EXTENSION = timedelta(days=7)
END_EXTENSION = timedelta(days=28)


@dataclass(frozen=True)
class Record:
    """One listing as a corpus has it, on the corpus calendar."""

    corpus: str  # "esc" or "nyc"
    key: str  # ESC opid, NYC opportunity_id
    title: str
    created: datetime
    start: date | None
    end: date | None
    deadline: date | None
    kind: str  # ESC activity type; NYC "onetime" or "ongoing"
    data: dict[str, Any] = field(compare=False, repr=False)

    @property
    def onetime(self) -> bool:
        return self.corpus == "nyc" and self.kind == "onetime"


@dataclass
class State:
    """A listing's state on the current corpus day."""

    record: Record
    deadline: date | None
    end: date | None
    revision: int = 0  # description revisions so far
    removed_on: date | None = None
    changed: datetime | None = None  # corpus time of the last edit

    def live(self, day: date) -> bool:
        r = self.record
        return (r.created.date() <= day and self.removed_on is None
                and (self.deadline is None or self.deadline >= day)
                and (self.end is None or self.end >= day))

    def closed_reason(self, day: date) -> str:
        if self.removed_on is not None:
            return "removed"
        if self.deadline is not None and self.deadline < day:
            return "deadline"
        return "ended"


def _esc_record(o: dict[str, Any]) -> Record | None:
    title = " ".join(str(o.get("title") or "").split())
    if not title or not o.get("opid"):
        return None
    try:
        created = datetime.fromisoformat(str(o.get("created") or "")[:19])
    except ValueError:
        created = datetime(1970, 1, 1)
    return Record("esc", str(o["opid"]), title, created, iso_date(o.get("start_date")),
                  iso_date(o.get("end_date")), iso_date(o.get("deadline")),
                  str(o.get("activity_type") or ""), o)


# A year written in a NYC listing's text ("EXTENDED DEADLINE - JULY 11, 2011") cannot
# move with its dates: those listings are left out (62 of 665).
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def _nyc_record(row: dict[str, str]) -> Record | None:
    title = " ".join((row.get("title") or "").split())
    created = nyc_date(row.get("created_date"))
    if not title or not row.get("opportunity_id") or created is None:
        return None
    if _YEAR.search(f"{title} {row.get('summary') or ''}"):
        return None
    shift = timedelta(days=NYC_SHIFT_DAYS)

    def moved(value: str | None) -> date | None:
        d = nyc_date(value)
        return d + shift if d else None

    data: dict[str, Any] = dict(row)
    data["_place"] = nyc_place(row)
    return Record("nyc", row["opportunity_id"], title,
                  datetime.combine(created + shift, datetime.min.time()).replace(hour=9),
                  moved(row.get("start_date_date")), moved(row.get("end_date_date")), None,
                  (row.get("recurrence_type") or "ongoing").strip() or "ongoing", data)


def load_records() -> dict[str, list[Record]]:
    """Both bundled corpora as records, by corpus."""
    esc = [r for r in map(_esc_record, esc_records()) if r]
    nyc = [r for r in map(_nyc_record, nyc_rows()) if r]
    return {"esc": esc, "nyc": nyc}


def chance(seed: int, *parts: object) -> float:
    """A reproducible number in [0, 1) for ``parts`` (listing, day, what)."""
    digest = hashlib.blake2b("|".join(map(str, (seed, *parts))).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def sample(records: list[Record], day: date, limit: int | None, seed: int) -> list[Record]:
    """At most ``limit`` records that are not closed on ``day`` (created before or
    after it), drawn reproducibly; all of them without a limit."""
    candidates = [r for r in records
                  if (r.deadline is None or r.deadline >= day) and (r.end is None or r.end >= day)]
    if limit is None or limit >= len(candidates):
        return candidates
    chosen = {r.key for r in random.Random(f"{seed}:{records[0].corpus if records else ''}").sample(
        sorted(candidates, key=lambda r: r.key), limit)}
    return [r for r in candidates if r.key in chosen]


@dataclass
class DayChanges:
    """What one day's step changed, by corpus key."""

    appeared: list[State] = field(default_factory=list)
    changed: list[tuple[State, list[str]]] = field(default_factory=list)
    closed: list[tuple[State, str]] = field(default_factory=list)


class World:
    """Every listing's state, moved forward one corpus day at a time."""

    def __init__(self, records: dict[str, list[Record]], day: date, *, seed: int = 0,
                 edit_rate: float = DEFAULT_EDIT_RATE, removal_rate: float = DEFAULT_REMOVAL_RATE) -> None:
        self.day = day
        self.seed = seed
        self.edit_rate = edit_rate
        self.removal_rate = removal_rate
        self.states: dict[tuple[str, str], State] = {
            (r.corpus, r.key): State(r, r.deadline, r.end) for rs in records.values() for r in rs}
        self.ever_live: set[tuple[str, str]] = {k for k, s in self.states.items() if s.live(day)}
        self.closed: dict[tuple[str, str], tuple[State, str, date]] = {}

    def live(self, corpus: str | None = None) -> list[State]:
        return [s for (c, _), s in self.states.items()
                if (corpus is None or c == corpus) and s.live(self.day)]

    def step(self) -> DayChanges:
        """Move to the next corpus day: edits and removals first, then what is live."""
        before, day = self.day, self.day + timedelta(days=1)
        was = {key for key, s in self.states.items() if s.live(before)}
        out = DayChanges()
        for key in was:
            s = self.states[key]
            r = s.record
            if chance(self.seed, r.corpus, r.key, day, "edit") < self.edit_rate:
                kinds = ["description"]
                if s.deadline is not None:
                    kinds.append("deadline")
                elif r.corpus == "nyc" and not r.onetime and s.end is not None:
                    kinds.append("end")
                kind = kinds[int(chance(self.seed, r.corpus, r.key, day, "kind") * len(kinds))]
                if kind == "deadline":
                    assert s.deadline is not None  # "deadline" is offered only when there is one
                    s.deadline = s.deadline + DEADLINE_EXTENSION
                elif kind == "end":
                    assert s.end is not None  # "end" likewise
                    s.end = s.end + END_EXTENSION
                else:
                    s.revision += 1
                s.changed = datetime.combine(day, datetime.min.time())
                out.changed.append((s, [kind]))
            elif s.deadline is None and chance(self.seed, r.corpus, r.key, day, "remove") < self.removal_rate:
                s.removed_on = day
        self.day = day
        out.changed = [(s, kinds) for s, kinds in out.changed if s.live(day)]
        for key, s in self.states.items():
            now = s.live(day)
            if now and key not in was and key not in self.ever_live:
                self.ever_live.add(key)
                out.appeared.append(s)
            elif key in was and not now:
                reason = s.closed_reason(day)
                self.closed[key] = (s, reason, day)
                out.closed.append((s, reason))
        return out
