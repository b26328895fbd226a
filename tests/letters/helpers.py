"""Shared pieces of the letter tests: the agency's letter templates, a good request, settling the queue, bbox."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from gateway import keys
from gateway.jobs.queue import LocalQueue

LETTER_EN = "1c7d521d-3e40-4bc5-931b-86080dae94f6"  # victim_offender_released (letter, en)
LETTER_ES = "f6b09691-577f-4fb2-b40c-f73babd01e6e"
LETTER_PATH = "/v2/notifications/letter"
FIELDS = {
    "victim_name": "Alex Example",
    "offender_name": "J. Doe",
    "facility": "Central Facility",
    "release_date": "December 1, 2026",
    "advocate_name": "Sam Rivera",
    "advocate_phone": "(217) 555-0101",
}
ADDRESS = {
    "address_line_1": "Alex Example",
    "address_line_2": "12 Elm Street Apt 4",
    "address_line_3": "Springfield, IL 62704",
}


def letter(template: str = LETTER_EN, address: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "template_id": template,
        "personalisation": {**FIELDS, **(ADDRESS if address is None else address)},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def settle(client: TestClient) -> None:  # type: ignore[type-arg]
    """Wait until the app's in-process queue has run the delivery jobs (the letter channel)."""
    queue = client.app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
_PAGE = re.compile(r"<page ")


def words(pdf: bytes, tmp: Path) -> list[list[tuple[float, float, float, float, str]]]:
    """Every word on every page with its box (points from the top-left), read back by `pdftotext -bbox`."""
    path = tmp / "letter.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True, text=True).stdout
    pages: list[list[tuple[float, float, float, float, str]]] = []
    for chunk in _PAGE.split(html)[1:]:
        pages.append([(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in _WORD.findall(chunk)])
    return pages
