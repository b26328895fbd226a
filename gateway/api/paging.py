"""Notify's list paging, shared by every list route: newest first, 250 a page, `older_than=<id>`.

Keyset paging on (time, id) descending: the anchor row's time and id bound the next page, so a page
never repeats or skips rows that share a timestamp. An anchor outside the caller's scope (another
service's id, or one that does not exist) gives an empty page, never a leak.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gateway.errors import ApiError

PAGE_SIZE = 250


def parse_id(value: str, name: str) -> uuid.UUID:
    """A UUID from the request, or Notify's 400 naming the field."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "ValidationError", f"{name} is not a valid UUID") from None


async def newest_first(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    when: InstrumentedAttribute[Any],
    ident: InstrumentedAttribute[Any],
    scope: Sequence[ColumnElement[bool]],
    older_than: str | None,
) -> list[Any]:
    """One page of `stmt`'s rows, newest first, starting after the `older_than` row (if given)."""
    if older_than:
        anchor = (
            await session.execute(select(when, ident).where(ident == parse_id(older_than, "older_than"), *scope))
        ).first()
        if anchor is None:
            return []
        stmt = stmt.where(or_(when < anchor[0], and_(when == anchor[0], ident < anchor[1])))
    return list((await session.scalars(stmt.order_by(when.desc(), ident.desc()).limit(PAGE_SIZE))).all())
