"""The Jinja environment for staff pages (templates/pages/): autoescaped HTML, strict about missing values.

This is not the message-template sandbox (`gateway.templating`): pages are our own code, and
the data shown in them (names, messages) is escaped on the way in, so a staff name such as
``<script>`` is shown as text. Times go through the `local` filter: the service's wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from gateway.localtime import DEFAULT_ZONE, local_format


@jinja2.pass_context
def _local(context: jinja2.runtime.Context, when: datetime | None, fmt: str = "%d %b %Y %H:%M %Z") -> str:
    """`{{ when | local }}`: a stored time on the service's wall clock (the page's `tz`; UTC without one)."""
    return local_format(when, str(context.get("tz") or DEFAULT_ZONE), fmt)


class PageRenderer:
    """Renders one page template with a context."""

    def __init__(self, directory: Path) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["local"] = _local

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self._env.get_template(name).render(context)
