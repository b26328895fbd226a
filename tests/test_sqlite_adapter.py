"""The SQLite cursor that runs each statement in one hand-off (gateway.db.sqlite_adapter) behaves as a
DBAPI cursor: rows, RETURNING, rowcount, lastrowid, executemany, errors, transactions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from gateway.db.engine import make_engine
from gateway.db.sqlite_adapter import OneHopCursor

META = MetaData()
ITEMS = Table(
    "items",
    META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50), unique=True, nullable=False),
)


async def test_statements_rows_counts_and_errors(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    try:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.dbapi_connection.cursor(), OneHopCursor)  # type: ignore[union-attr]
            await conn.run_sync(META.create_all)
            first = await conn.execute(insert(ITEMS).values(name="a"))
            assert first.inserted_primary_key == (1,)  # lastrowid
            await conn.execute(insert(ITEMS), [{"name": "b"}, {"name": "c"}, {"name": "d"}])  # executemany
            returned = await conn.execute(insert(ITEMS).values(name="e").returning(ITEMS.c.id, ITEMS.c.name))
            assert returned.all() == [(5, "e")]
            changed = await conn.execute(update(ITEMS).where(ITEMS.c.id > 3).values(name=ITEMS.c.name + "!"))
            assert changed.rowcount == 2
            rows = (await conn.execute(select(ITEMS.c.name).order_by(ITEMS.c.id))).scalars().all()
            assert rows == ["a", "b", "c", "d!", "e!"]
            assert (await conn.execute(text("SELECT 1 WHERE 0"))).all() == []
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(ITEMS).values(name="z"))
                await conn.execute(insert(ITEMS).values(name="a"))  # unique: the transaction rolls back
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(ITEMS)) == 5  # "z" went with it
            streamed = await conn.stream(select(ITEMS.c.id).order_by(ITEMS.c.id))  # server-side cursor
            assert [row.id async for row in streamed] == [1, 2, 3, 4, 5]
    finally:
        await engine.dispose()
