"""Group commit: many callers, one writer task, one transaction per group.

Each caller hands its item to a `GroupWriter` and waits. One writer task takes whatever items are
waiting (up to `max_batch`), lets `commit_group` write them in one transaction and settle every
caller's future, and only then takes the next group. A caller's answer therefore always means
"committed", while the database sees one transaction per group, not one per caller (the API's
`IntakeWriter`, the Twilio webhook's `InboundWriter`). How a failed group is retried, and what each
caller gets back, is the subclass's business; a caller whose future `commit_group` left unsettled
gets the error it raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger()

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass
class Pending(Generic[ItemT, ResultT]):
    """One caller's item and the future it waits on."""

    item: ItemT
    done: asyncio.Future[ResultT] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupWriter(Generic[ItemT, ResultT]):
    """Commits items in groups; `write` returns once its item is committed (or raises why not)."""

    def __init__(self, name: str, max_batch: int) -> None:
        self._name = name
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Pending[ItemT, ResultT]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.join()  # what was accepted is committed before shutdown: nothing is lost
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def write(self, item: ItemT) -> ResultT:
        """Queue `item` and wait until its group is committed."""
        if self._task is None:
            raise RuntimeError(f"{self._name} is not running")
        pending: Pending[ItemT, ResultT] = Pending(item)
        self._queue.put_nowait(pending)
        return await pending.done

    async def commit_group(self, group: list[Pending[ItemT, ResultT]]) -> None:
        """Write the group and settle each future (result or exception)."""
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self._max_batch and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                await self.commit_group(group)
            except Exception as exc:  # keep the writer alive; every waiter learns what happened
                log.exception("group_commit_failed", writer=self._name, size=len(group))
                for pending in group:
                    if not pending.done.done():
                        pending.done.set_exception(exc)
            finally:
                for _ in group:
                    self._queue.task_done()
