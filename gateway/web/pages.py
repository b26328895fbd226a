"""The Jinja environment for staff pages (templates/pages/): autoescaped HTML, strict about missing values.

This is not the message-template sandbox (`gateway.templating`): pages are our own code, and
the data shown in them (names, messages) is escaped on the way in, so a staff name such as
``<script>`` is shown as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

PAGES_DIR = Path(__file__).resolve().parents[2] / "templates" / "pages"


class PageRenderer:
    """Renders one page template with a context."""

    def __init__(self, directory: Path = PAGES_DIR) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self._env.get_template(name).render(context)
