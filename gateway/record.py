"""The case record: an append-only, hash-chained log per case.

Every entry stores the hash of the entry before it in the same case, and its own hash covers its
content and that previous hash, so changing or deleting any entry breaks the chain from there on.
`verify_chain` recomputes it and names the first entry that does not match.

Appends are serialised per case by the unique (case_id, seq) constraint: two writers that race
for the same `seq` see an IntegrityError and the loser retries on top of the winner's entry.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import RecordEntry
from gateway.db.base import utcnow
from gateway.domain import RecordKind

GENESIS = "0" * 64
MAX_ATTEMPTS = 20
HASHED = ("case_id", "seq", "at", "kind", "actor", "summary", "data", "notification_id", "inbound_id", "prev_hash")


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 over a canonical JSON of the entry's `HASHED` fields (which include the previous hash)."""
    canonical = {name: fields[name] for name in HASHED}
    canonical["at"] = fields["at"].isoformat(timespec="microseconds")
    for name in ("case_id", "notification_id", "inbound_id"):
        canonical[name] = str(fields[name]) if fields[name] else None
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


# Built once (Core, not ORM): the inbound path appends an entry for every message.
_ENTRIES = cast(Table, RecordEntry.__table__)
_LAST_ENTRY = (
    select(_ENTRIES.c.seq, _ENTRIES.c.hash)
    .where(_ENTRIES.c.case_id == bindparam("case_id"))
    .order_by(_ENTRIES.c.seq.desc())
    .limit(1)
)
_INSERT_ENTRY = insert(_ENTRIES)


async def append_in_session(
    session: AsyncSession,
    case_id: uuid.UUID,
    kind: RecordKind,
    actor: str,
    summary: str,
    data: dict[str, Any] | None = None,
    *,
    notification_id: uuid.UUID | None = None,
    inbound_id: uuid.UUID | None = None,
) -> int:
    """Append one entry inside the caller's transaction, so it commits with the caller's other writes.

    Returns its seq. The caller commits, and retries its whole transaction on IntegrityError
    (another writer took the same seq), or holds a lock that serialises writers of this case first.
    `summary` and `data` must not hold message bodies or contact details: they say what happened
    and point at the notification or inbound message by id.
    """
    last = (await session.execute(_LAST_ENTRY, {"case_id": case_id})).first()
    seq, prev = (1, GENESIS) if last is None else (last.seq + 1, last.hash)
    row: dict[str, Any] = {
        "case_id": case_id,
        "seq": seq,
        # Microsecond precision survives the database round trip, so the hash recomputes exactly.
        "at": utcnow(),
        "kind": kind.value,
        "actor": actor,
        "summary": summary,
        "data": data or {},
        "notification_id": notification_id,
        "inbound_id": inbound_id,
        "prev_hash": prev,
    }
    row["hash"] = entry_hash(row)
    await session.execute(_INSERT_ENTRY, row)
    return seq


@dataclass(frozen=True)
class NewEntry:
    """One entry for `append_many`: no message bodies or contact details (see `append_in_session`)."""

    case_id: uuid.UUID
    kind: RecordKind
    actor: str
    summary: str
    data: dict[str, Any]


_LAST_ENTRIES = (
    select(_ENTRIES.c.case_id, func.max(_ENTRIES.c.seq).label("seq"))
    .where(_ENTRIES.c.case_id.in_(bindparam("case_ids", expanding=True)))
    .group_by(_ENTRIES.c.case_id)
    .subquery()
)
_LAST_HASHES = select(_ENTRIES.c.case_id, _ENTRIES.c.seq, _ENTRIES.c.hash).join(
    _LAST_ENTRIES, and_(_ENTRIES.c.case_id == _LAST_ENTRIES.c.case_id, _ENTRIES.c.seq == _LAST_ENTRIES.c.seq)
)
BULK_CHUNK = 1000


async def append_many(session: AsyncSession, entries: Sequence[NewEntry], *, fresh: Collection[uuid.UUID] = ()) -> int:
    """Append many entries (any cases, several per case in order) inside the caller's transaction.

    The same chain as `append_in_session`, for bulk work (the directory import): the last entry of
    every case involved is read in one query per chunk of cases, and the entries are written with
    one Core insert per chunk. Returns how many were written. Same rules on concurrency: the caller
    retries on IntegrityError or holds a lock that serialises writers. `fresh`: cases just created in
    this transaction, known to have no entries (not looked up).
    """
    if not entries:
        return 0
    case_ids = [case_id for case_id in dict.fromkeys(e.case_id for e in entries) if case_id not in fresh]
    last: dict[uuid.UUID, tuple[int, str]] = {}
    for start in range(0, len(case_ids), BULK_CHUNK):
        chunk = case_ids[start : start + BULK_CHUNK]
        for case_id, seq, hash_ in await session.execute(_LAST_HASHES, {"case_ids": chunk}):
            last[case_id] = (seq, hash_)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        seq, prev = last.get(entry.case_id, (0, GENESIS))
        row: dict[str, Any] = {
            "case_id": entry.case_id,
            "seq": seq + 1,
            "at": utcnow(),
            "kind": entry.kind.value,
            "actor": entry.actor,
            "summary": entry.summary,
            "data": entry.data,
            "notification_id": None,
            "inbound_id": None,
            "prev_hash": prev,
        }
        row["hash"] = entry_hash(row)
        last[entry.case_id] = (seq + 1, row["hash"])
        rows.append(row)
    for start in range(0, len(rows), BULK_CHUNK):
        await session.execute(_INSERT_ENTRY, rows[start : start + BULK_CHUNK])
    return len(rows)


async def append_entry(
    sessions: async_sessionmaker[AsyncSession],
    case_id: uuid.UUID,
    kind: RecordKind,
    actor: str,
    summary: str,
    data: dict[str, Any] | None = None,
    *,
    notification_id: uuid.UUID | None = None,
    inbound_id: uuid.UUID | None = None,
) -> int:
    """Append one entry in its own transaction, retrying if another writer took the same seq; returns it."""
    for attempt in range(MAX_ATTEMPTS):
        async with sessions() as session:
            try:
                seq = await append_in_session(
                    session,
                    case_id,
                    kind,
                    actor,
                    summary,
                    data,
                    notification_id=notification_id,
                    inbound_id=inbound_id,
                )
                await session.commit()
                return seq
            except IntegrityError:
                await session.rollback()
                if attempt == MAX_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_bad_seq: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


async def verify_chain(session: AsyncSession, case_id: uuid.UUID) -> ChainReport:
    """Recompute every hash of a case's record; report the first entry that does not match."""
    rows = (
        await session.scalars(select(RecordEntry).where(RecordEntry.case_id == case_id).order_by(RecordEntry.seq))
    ).all()
    prev = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq:
            return ChainReport(len(rows), expected_seq, f"entry {expected_seq} is missing (found {row.seq})")
        if row.prev_hash != prev:
            return ChainReport(len(rows), row.seq, f"entry {row.seq} does not follow entry {row.seq - 1}")
        recomputed = entry_hash({name: getattr(row, name) for name in HASHED})
        if recomputed != row.hash:
            return ChainReport(len(rows), row.seq, f"entry {row.seq} was changed after it was written")
        prev = row.hash
    return ChainReport(len(rows), None, None)
