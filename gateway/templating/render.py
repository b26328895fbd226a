"""Rendering templates with personalisation: one sandboxed Jinja environment, one renderer.

Personalisation values are data. They are converted to text before rendering and Jinja
never evaluates its output again, so a value such as ``{{ 7*7 }}`` reaches the recipient
literally. A placeholder without a value is refused before anything is rendered
(`MissingPersonalisation`, Notify's 400), never sent as a blank.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from gateway.domain import Channel
from gateway.errors import BadRequest
from gateway.templating.fragments import sms_length
from gateway.text_input import is_visible


class MissingPersonalisation(BadRequest):
    """Placeholders the caller gave no value for; the message is Notify's."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = sorted(missing)
        super().__init__(f"Missing personalisation: {', '.join(self.missing)}")


class TemplateRenderError(BadRequest):
    """The template itself could not be rendered (a broken or unsafe template)."""


class RenderableTemplate(Protocol):
    """What the renderer needs: a parsed `TemplateFile` and the `Template` table row both fit.

    Read-only properties so that narrower types (a `Channel` for `str`) still match.
    """

    @property
    def channel(self) -> str: ...

    @property
    def subject(self) -> str | None: ...

    @property
    def body(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message. `html` is set for email only; `fragments` and `encoding` for SMS only.

    `characters` is the SMS length in encoding units (see `SmsLength`), otherwise the
    length of the plain-text body.
    """

    subject: str | None
    body: str
    html: str | None
    fragments: int
    encoding: str | None
    characters: int


def make_environment() -> ImmutableSandboxedEnvironment:
    """The Jinja environment every template goes through: sandboxed, strict, no autoescaping.

    Autoescaping is off because SMS and letters are plain text; the email HTML part is
    escaped as a whole by `email_html`. Block tags swallow their own line so that
    ``{% if %}`` lines in a plain-text template leave no blank lines behind.
    """
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def placeholders_of(env: jinja2.Environment, source: str) -> frozenset[str]:
    """The names a template source needs values for (Jinja's own globals are not placeholders)."""
    return frozenset(name for name in meta.find_undeclared_variables(env.parse(source)) if name not in env.globals)


_SCALARS = (str, int, float, Decimal, date, datetime)
_BLANK_LINES = re.compile(r"\n{3,}")
_URL = re.compile(r"https?://[^\s<>\"']+")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def _is_missing(value: object) -> bool:
    # Blank text counts as missing: the gateway never sends a blank where a value belongs.
    if value is None:
        return True
    if isinstance(value, str):
        return not is_visible(value)  # blank, or only zero-width and other invisible characters
    if isinstance(value, list | tuple):
        return all(_is_missing(item) for item in value)
    return False


def _as_text(name: str, value: object) -> str:
    if isinstance(value, list | tuple):
        # Lists become bullet lines, as Notify renders them.
        return "\n".join(f"* {_as_text(name, item).strip()}" for item in value if not _is_missing(item))
    if isinstance(value, _SCALARS):
        return str(value)
    raise TemplateRenderError(f"Personalisation '{name}' must be text, a number or a list")


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


def _linkify(line: str) -> str:
    """Escape one line of text, turning bare http(s) URLs into links."""
    out: list[str] = []
    position = 0
    for match in _URL.finditer(line):
        url = match.group(0)
        # Sentence punctuation after a URL is not part of it; a ')' is only if it closes a '('.
        while url and (url[-1] in ".,;:!?" or (url[-1] == ")" and url.count(")") > url.count("("))):
            url = url[:-1]
        end = match.start() + len(url)
        out.append(html.escape(line[position : match.start()]))
        escaped = html.escape(url, quote=True)
        out.append(f'<a href="{escaped}">{escaped}</a>')
        position = end
    out.append(html.escape(line[position:]))
    return "".join(out)


def _paragraph_html(paragraph: str) -> str:
    # Runs of "* " lines become a real list so screen readers announce them as one.
    parts: list[str] = []
    text_lines: list[str] = []
    items: list[str] = []

    def flush_text() -> None:
        if text_lines:
            parts.append("<p>" + "<br>\n".join(text_lines) + "</p>")
            text_lines.clear()

    def flush_items() -> None:
        if items:
            parts.append("<ul>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>")
            items.clear()

    for line in paragraph.split("\n"):
        if line.startswith("* "):
            flush_text()
            items.append(_linkify(line[2:]))
        else:
            flush_items()
            text_lines.append(_linkify(line))
    flush_text()
    flush_items()
    return "\n".join(parts)


def email_html(subject: str, body: str, language: str = "en") -> str:
    """Build the HTML part of an email from its rendered plain text (everything is escaped)."""
    lang = language if _LANGUAGE.match(language) else "en"
    paragraphs = "\n".join(_paragraph_html(p) for p in body.split("\n\n") if p.strip())
    title = html.escape(subject)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        "</head>\n"
        '<body style="margin:0;padding:16px;background:#ffffff;color:#0b0c0c;'
        'font-family:Helvetica,Arial,sans-serif;font-size:19px;line-height:1.5">\n'
        f'<div role="article" aria-label="{title}" lang="{lang}" style="max-width:600px">\n'
        f"{paragraphs}\n"
        "</div>\n"
        "</body>\n"
        "</html>\n"
    )


class Renderer:
    """Renders templates for every channel through one sandboxed environment.

    Compiled templates and placeholder sets are cached by source text, bounded, so a
    template is parsed once however many messages use it.
    """

    def __init__(self, cache_size: int = 512) -> None:
        self._env = make_environment()
        self._compile = functools.lru_cache(maxsize=cache_size)(self._compile_uncached)
        self._placeholders = functools.lru_cache(maxsize=cache_size)(self._placeholders_uncached)

    def _compile_uncached(self, source: str) -> jinja2.Template:
        try:
            return self._env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateRenderError(f"Template has an error on line {exc.lineno}: {exc.message}") from None

    def _placeholders_uncached(self, source: str) -> frozenset[str]:
        try:
            tree = self._env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateRenderError(f"Template has an error on line {exc.lineno}: {exc.message}") from None
        # Jinja's own globals (range, dict, ...) look undeclared to meta but are not placeholders.
        return frozenset(name for name in meta.find_undeclared_variables(tree) if name not in self._env.globals)

    def placeholders(self, source: str) -> frozenset[str]:
        """The placeholder names a template source needs values for."""
        return self._placeholders(source)

    def render(self, template: RenderableTemplate, personalisation: Mapping[str, object]) -> Rendered:
        """Render `template` with `personalisation` for its channel.

        Raises `MissingPersonalisation` when a placeholder has no value (None, blank text
        or an empty list) and `TemplateRenderError` when the template itself fails.
        Personalisation keys the template does not use are ignored.
        """
        try:
            channel = Channel(template.channel)
        except ValueError:
            raise TemplateRenderError(f"Unknown template type {template.channel!r}") from None
        subject_source = None if channel is Channel.SMS else template.subject
        if channel is not Channel.SMS and subject_source is None:
            raise TemplateRenderError(f"{channel} templates need a subject")

        needed = self.placeholders(template.body)
        if subject_source is not None:
            needed |= self.placeholders(subject_source)
        missing = [name for name in needed if _is_missing(personalisation.get(name))]
        if missing:
            raise MissingPersonalisation(missing)
        # Only the names the template uses go into the context: nothing else is reachable from it.
        context = {name: _as_text(name, personalisation[name]) for name in needed}

        body = self._render_source(template.body, context)
        subject = None
        if subject_source is not None:
            # A subject is one header line: newlines in values must not reach the mail headers.
            subject = " ".join(self._render_source(subject_source, context).split())
            if not subject:
                raise TemplateRenderError("The subject is empty once rendered")
        body = body.strip() if channel is Channel.SMS else _normalise(body)
        if not body:
            raise TemplateRenderError("The message is empty once rendered")
        if not is_visible(body):
            raise TemplateRenderError(
                "The message has no visible characters once rendered (only spaces or zero-width characters)"
            )

        if channel is Channel.SMS:
            length = sms_length(body)
            return Rendered(
                subject=None,
                body=body,
                html=None,
                fragments=length.fragments,
                encoding=length.encoding,
                characters=length.characters,
            )
        page = None
        if channel is Channel.EMAIL:
            assert subject is not None  # checked above; for the type checker
            language = getattr(template, "language", None)
            page = email_html(subject, body, language if isinstance(language, str) else "en")
        return Rendered(subject=subject, body=body, html=page, fragments=0, encoding=None, characters=len(body))

    def _render_source(self, source: str, context: Mapping[str, str]) -> str:
        compiled = self._compile(source)
        try:
            return _normalise(compiled.render(context))
        except Exception as exc:
            # Templates are edited by people; any failure inside one (a sandbox refusal, an
            # undefined attribute, a division by zero) is the template's fault, reported as such.
            raise TemplateRenderError(f"Template could not be rendered: {exc}") from exc


@functools.cache
def shared_renderer() -> Renderer:
    """The process's one Renderer for work outside a web request (jobs, the CLI); it caches compiled templates."""
    return Renderer()
