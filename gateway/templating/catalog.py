"""The template catalog: template files under `templates/<channel>/<language>/<slug>.txt`, parsed and checked.

A template file is a front-matter block of `key: value` lines between two `---` lines,
then the body::

    ---
    id: 6f1c1a8e-...      (a UUID4, fixed forever once written)
    name: Appointment reminder
    subject: ...          (email and letter only)
    postage: first        (letter only: first, marketing or certified; Notify's second, economy too)
    field.first_name: First name | hint: ... | example: Jordan   (one per placeholder: see `fields`)
    ---
    Body text with {{ placeholders }}.

Everything wrong with a file is a `TemplateFileError` naming the file, so a bad template
stops start-up with a message someone can act on, instead of surfacing at send time.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import jinja2

from gateway.domain import Channel
from gateway.letters.postage import ACCEPTED_NAMES
from gateway.templating.fields import FIELD_KEY, FieldSpec, FieldSyntaxError, check_fields, parse_field
from gateway.templating.render import make_environment, placeholders_of

POSTAGE = ACCEPTED_NAMES  # gateway.letters.postage: ours, and Notify's names for them
DEFAULT_POSTAGE = "second"  # Notify's default when a template does not say (USPS Marketing Mail here)

_FIELDS = frozenset({"id", "name", "subject", "postage"})
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DELIMITER = "---"


class TemplateFileError(Exception):
    """A template file that cannot be used, and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TemplateFile:
    """One parsed template file."""

    id: uuid.UUID
    name: str
    slug: str
    channel: Channel
    language: str
    subject: str | None
    body: str
    postage: str | None
    path: Path
    content_hash: str
    fields: tuple[FieldSpec, ...] = ()

    @property
    def fields_json(self) -> dict[str, dict[str, object]]:
        """The declared fields as stored in `templates.fields`, in the file's order."""
        return {spec.name: spec.as_json() for spec in self.fields}

    @property
    def source_path(self) -> str:
        """Where the file lives inside the templates folder, the same on every machine."""
        return f"{self.channel.value}/{self.language}/{self.path.name}"


def content_hash(name: str, subject: str | None, body: str, postage: str | None) -> str:
    """SHA-256 (hex) of a template's content: what a recipient would see, plus postage.

    JSON with sorted keys keeps the fields apart, so moving text between subject and body
    changes the hash.
    """
    canonical = json.dumps(
        {"name": name, "subject": subject, "body": body, "postage": postage},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class _Parsed:
    fields: dict[str, tuple[str, int]]  # key -> (value, line number)
    body: str
    body_line: int


def _parse(path: Path, text: str) -> _Parsed:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or lines[0].strip() != _DELIMITER:
        raise TemplateFileError(path, "line 1: a template file must start with a '---' front-matter line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _DELIMITER)
    except StopIteration:
        raise TemplateFileError(path, "front matter is not closed with a '---' line") from None

    fields: dict[str, tuple[str, int]] = {}
    for index in range(1, end):
        line, lineno = lines[index].strip(), index + 1
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep:
            raise TemplateFileError(path, f"line {lineno}: expected 'key: value', got {line!r}")
        if key not in _FIELDS and not FIELD_KEY.match(key):
            raise TemplateFileError(
                path,
                f"line {lineno}: unknown front-matter key {key!r} "
                f"(allowed: {', '.join(sorted(_FIELDS))}, field.<placeholder>)",
            )
        if key in fields:
            raise TemplateFileError(path, f"line {lineno}: {key!r} is given twice")
        if not value:
            raise TemplateFileError(path, f"line {lineno}: {key!r} has no value")
        fields[key] = (value, lineno)

    body_lines = [line.rstrip() for line in lines[end + 1 :]]
    first = next((i for i, line in enumerate(body_lines) if line), len(body_lines))
    body = "\n".join(body_lines[first:]).strip("\n")
    # Line numbers in the file are 1-based; the body starts after the closing delimiter.
    return _Parsed(fields=fields, body=body, body_line=end + 2 + first)


def _check_syntax(env: jinja2.Environment, path: Path, source: str, what: str, first_line: int) -> None:
    try:
        env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        lineno = first_line + (exc.lineno or 1) - 1
        raise TemplateFileError(path, f"line {lineno}: {what} is not a valid template: {exc.message}") from None


def load_template_file(path: Path, channel: Channel, language: str, env: jinja2.Environment) -> TemplateFile:
    """Parse and check one template file whose place in the tree gave `channel` and `language`."""
    slug = path.stem
    if not _SLUG.match(slug):
        raise TemplateFileError(path, f"file name {slug!r} must be lower case letters, digits, '_' or '-'")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TemplateFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    parsed = _parse(path, text)

    if "id" not in parsed.fields:
        raise TemplateFileError(path, "front matter has no 'id'")
    if "name" not in parsed.fields:
        raise TemplateFileError(path, "front matter has no 'name'")
    raw_id, id_line = parsed.fields["id"]
    try:
        template_id = uuid.UUID(raw_id)
    except ValueError:
        raise TemplateFileError(path, f"line {id_line}: id {raw_id!r} is not a UUID") from None

    subject_field = parsed.fields.get("subject")
    if channel is Channel.SMS and subject_field is not None:
        raise TemplateFileError(path, f"line {subject_field[1]}: SMS templates have no subject")
    if channel is not Channel.SMS and subject_field is None:
        raise TemplateFileError(path, f"front matter has no 'subject' ({channel} templates need one)")

    postage_field = parsed.fields.get("postage")
    postage: str | None = None
    if postage_field is not None:
        if channel is not Channel.LETTER:
            raise TemplateFileError(path, f"line {postage_field[1]}: only letter templates have postage")
        if postage_field[0] not in POSTAGE:
            raise TemplateFileError(path, f"line {postage_field[1]}: postage must be one of {', '.join(POSTAGE)}")
        postage = postage_field[0]
    elif channel is Channel.LETTER:
        postage = DEFAULT_POSTAGE

    if not parsed.body:
        raise TemplateFileError(path, "the template has no body")
    subject = subject_field[0] if subject_field is not None else None
    if subject_field is not None:
        _check_syntax(env, path, subject_field[0], "the subject", subject_field[1])
    _check_syntax(env, path, parsed.body, "the body", parsed.body_line)

    fields: list[FieldSpec] = []
    for key, (value, lineno) in parsed.fields.items():
        if found := FIELD_KEY.match(key):
            try:
                fields.append(parse_field(found.group(1), value))
            except FieldSyntaxError as exc:
                raise TemplateFileError(path, f"line {lineno}: {exc}") from None
    needed = placeholders_of(env, parsed.body) | (placeholders_of(env, subject) if subject else frozenset())
    # A file with no field lines is accepted (labels are then made from the names); once it
    # describes one, it must describe them all, so a half-described form never reaches staff.
    if fields and (mismatch := check_fields((f.name for f in fields), needed)) is not None:
        raise TemplateFileError(path, mismatch)

    name = parsed.fields["name"][0]
    return TemplateFile(
        id=template_id,
        name=name,
        slug=slug,
        channel=channel,
        language=language,
        subject=subject,
        body=parsed.body,
        postage=postage,
        path=path,
        content_hash=content_hash(name, subject, parsed.body, postage),
        fields=tuple(fields),
    )


# templates/pages/ holds the staff web interface's page templates, not message templates
PAGES_FOLDER = "pages"


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def scan_catalog(root: Path) -> tuple[list[TemplateFile], list[TemplateFileError]]:
    """Load every good template under `root` and collect an error for each bad file or folder.

    Templates come back sorted by channel, language and slug; a file reusing an id that
    an earlier file (in that order) holds is an error and is left out.
    """
    if not root.is_dir():
        return [], [TemplateFileError(root, "the templates folder does not exist")]
    env = make_environment()
    channels = {channel.value: channel for channel in Channel}
    templates: list[TemplateFile] = []
    errors: list[TemplateFileError] = []
    seen: dict[uuid.UUID, Path] = {}
    for channel_dir in sorted(filter(_visible, root.iterdir())):
        if not channel_dir.is_dir() or channel_dir.name == PAGES_FOLDER:
            continue  # a README beside the channel folders is fine; pages/ holds the staff web pages
        channel = channels.get(channel_dir.name)
        if channel is None:
            expected = ", ".join(channels)
            errors.append(TemplateFileError(channel_dir, f"unknown channel folder (expected one of {expected})"))
            continue
        for language_dir in sorted(filter(_visible, channel_dir.iterdir())):
            if not language_dir.is_dir():
                errors.append(TemplateFileError(language_dir, "template files go in a language folder, e.g. en/"))
                continue
            if not _LANGUAGE.match(language_dir.name):
                errors.append(
                    TemplateFileError(language_dir, "language folder must be a language tag such as en or es")
                )
                continue
            for path in sorted(filter(_visible, language_dir.iterdir())):
                if path.is_dir() or path.suffix != ".txt":
                    errors.append(TemplateFileError(path, "not a template file (template files end in .txt)"))
                    continue
                try:
                    template = load_template_file(path, channel, language_dir.name, env)
                except TemplateFileError as exc:
                    errors.append(exc)
                    continue
                if template.id in seen:
                    errors.append(TemplateFileError(path, f"id {template.id} is already used by {seen[template.id]}"))
                    continue
                seen[template.id] = path
                templates.append(template)
    templates.sort(key=lambda t: (t.channel.value, t.language, t.slug))
    return templates, errors


def load_catalog(root: Path) -> list[TemplateFile]:
    """Load every template under `root`, sorted by channel, language and slug.

    Raises `TemplateFileError` for the first bad file or folder (including two files
    sharing an id); use `scan_catalog` to see every problem at once.
    """
    templates, errors = scan_catalog(root)
    if errors:
        raise errors[0]
    return templates
