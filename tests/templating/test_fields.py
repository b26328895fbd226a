"""Field lines in template front matter: parsed, and checked against the placeholders both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.domain import Channel
from gateway.templating import TemplateFileError
from gateway.templating.catalog import load_template_file
from gateway.templating.render import make_environment

HEAD = "---\nid: 5a5efae2-030e-4567-be82-818832040c99\nname: Test\n"


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "sample.txt"
    path.write_text(text)
    return load_template_file(path, Channel.SMS, "en", make_environment())


def test_fields_are_read_in_file_order(tmp_path: Path) -> None:
    template = _load(
        tmp_path,
        HEAD
        + "field.b: Bee | example: 2\n"
        + "field.a: Ay | hint: first | example: 1 | required: yes\n---\n{{ a }} {{ b }}",
    )
    assert template.fields_json == {  # type: ignore[attr-defined]
        "b": {"required": True, "label": "Bee", "hint": None, "example": "2"},
        "a": {"required": True, "label": "Ay", "hint": "first", "example": "1"},
    }


@pytest.mark.parametrize(
    ("front", "body", "reason"),
    [
        ("field.x: X\n", "{{ x }} {{ first_name }}", "placeholders without a field line: first_name"),
        ("field.x: X\n", "Hello", "fields declared but not used in the template: x"),
        ("field.x: X | required: no\n", "{{ x }}", "every placeholder is required"),
        ("field.x: X | colour: red\n", "{{ x }}", "expected 'hint: ...'"),
        ("field.x:  | hint: h\n", "{{ x }}", "has no label"),
    ],
)
def test_a_mismatch_names_the_file_and_what_to_write(tmp_path: Path, front: str, body: str, reason: str) -> None:
    with pytest.raises(TemplateFileError) as caught:
        _load(tmp_path, HEAD + front + "---\n" + body)
    assert reason in str(caught.value) and "sample.txt" in str(caught.value)
