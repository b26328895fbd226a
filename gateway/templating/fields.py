"""Template fields in plain words: what each placeholder means, declared in the template's front matter.

A template declares one line per placeholder, so neither a member of staff nor an API caller has
to read Jinja to learn what to send::

    field.first_name: First name | hint: How they like to be addressed | example: Jordan | required: yes

The part before the first ``|`` is the label; `hint`, `example` and `required` follow in any
order. Every placeholder is required (``required: yes``, the default): the gateway never sends a
blank where a value belongs (DESIGN, "Template"), so ``required: no`` is refused rather than
promised and broken. The catalog checks that the declared fields and the placeholders match
exactly, both ways (`check_fields`), once a file declares any field; a file with none (a test's, or
one written before fields existed) is still accepted and its labels are made from the names.
Every agency template under templates/ describes all of its fields (tests/api/test_template_fields.py).

Fields travel as plain dicts (`FieldSpec.as_json`) in the `templates.fields` column and in the
API's `personalisation` extension.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FIELD_KEY = re.compile(r"^field\.([A-Za-z_][A-Za-z0-9_]*)$")
_ATTRIBUTES = frozenset({"hint", "example", "required"})
_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})


class FieldSyntaxError(ValueError):
    """A field line that cannot be read; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One placeholder, described for people: a label, a hint, an example value."""

    name: str
    label: str
    hint: str | None = None
    example: str | None = None
    required: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"required": self.required, "label": self.label, "hint": self.hint, "example": self.example}


def parse_field(name: str, value: str) -> FieldSpec:
    """Read the value of a `field.<name>:` line."""
    label, *rest = (part.strip() for part in value.split("|"))
    if not label:
        raise FieldSyntaxError(f"field {name!r} has no label (write 'field.{name}: Label | hint: ...')")
    attributes: dict[str, str] = {}
    for part in rest:
        key, sep, text = part.partition(":")
        key, text = key.strip(), text.strip()
        if not sep or key not in _ATTRIBUTES:
            raise FieldSyntaxError(
                f"field {name!r}: expected 'hint: ...', 'example: ...' or 'required: yes' after '|', got {part!r}"
            )
        if key in attributes:
            raise FieldSyntaxError(f"field {name!r}: {key!r} is given twice")
        if not text:
            raise FieldSyntaxError(f"field {name!r}: {key!r} has no value")
        attributes[key] = text
    required = attributes.get("required", "yes").lower()
    if required in _NO:
        raise FieldSyntaxError(
            f"field {name!r}: every placeholder is required (a message is never sent with a blank); "
            "remove 'required: no' or take the placeholder out of the template"
        )
    if required not in _YES:
        raise FieldSyntaxError(f"field {name!r}: required must be yes")
    return FieldSpec(name, label, attributes.get("hint"), attributes.get("example"), True)


def check_fields(declared: Iterable[str], placeholders: Iterable[str]) -> str | None:
    """Why the declared fields do not match the template's placeholders, or None when they do."""
    declared_set, needed = set(declared), set(placeholders)
    if missing := sorted(needed - declared_set):
        lines = ", ".join(f"'field.{name}: Label | hint: ... | example: ...'" for name in missing)
        return f"placeholders without a field line: {', '.join(missing)} (add {lines})"
    if unused := sorted(declared_set - needed):
        return f"fields declared but not used in the template: {', '.join(unused)}"
    return None


def humanise(name: str) -> str:
    """A label for a placeholder nobody described (a service's own template, an old version)."""
    return name.replace("_", " ").strip().capitalize() or name


def fields_json(
    declared: Mapping[str, Mapping[str, Any]] | None, placeholders: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The API's `personalisation` extension: one entry per placeholder, in the template's own words
    where it declares them, else a label made from the name."""
    declared = declared or {}
    needed = set(placeholders)
    # The template's own order first (it reads like the message), then anything it did not describe.
    names = [name for name in declared if name in needed] + sorted(needed - set(declared))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = declared.get(name)
        out[name] = dict(spec) if spec else {"required": True, "label": humanise(name), "hint": None, "example": None}
    return out
