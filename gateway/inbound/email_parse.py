"""Reading an inbound email safely: the reply text, without quoted history; attachments as metadata.

* Parsed with `email.parser.BytesParser(policy=policy.default)`; nothing in it is executed.
* The text is the `text/plain` part; failing that, the `text/html` part turned into plain text by
  keeping only its character data (script, style and quoted `<blockquote>`s dropped). The HTML is
  never stored or rendered.
* Quoted history is cut: the "On ... wrote:" line (English, or Spanish "El ... escribió:"),
  Outlook's "-----Original Message-----" and "____" + "From:/Sent:" header blocks, lines starting
  with ">", and a "-- " signature.
* Attachments become `{"kind": "attachment", "filename", "content_type", "size"}`; their bytes are
  counted and dropped.
* The Message-ID identifies the message for de-duplication; without one, a hash of the bytes does,
  and one holding a NUL or other control character (PostgreSQL cannot store a NUL; refusing would
  make the sender retry forever) becomes a hash of itself, so a resend still dedupes.
* NUL characters are dropped from the text and attachment metadata (`gateway.text_input`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from gateway.text_input import NUL

MAX_ATTACHMENTS = 20
_ON_WROTE = re.compile(r"^\s*(On\s.+\swrote|El\s.+\sescribi[oó])\s*:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Mensaje original|Forwarded message)\s*-{2,}\s*$", re.I)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_HEADER_FROM = re.compile(r"^\s*\*?(From|De)\s*:\*?\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(Sent|Date|To|Subject|Enviado|Fecha|Para|Asunto)\s*:", re.IGNORECASE)
_BLOCKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
_SKIP = frozenset({"script", "style", "head", "title", "blockquote"})


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    sender: str | None  # the From address (lower-cased), if it has one
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)


class _TextOnly(HTMLParser):
    """Character data of an HTML document, with line breaks where blocks end."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _starts_history(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _ON_WROTE.match(line) or _ORIGINAL.match(line) or line == "-- ":
        return True
    if line.strip().lower().startswith(("on ", "el ")) and i + 1 < len(lines):
        return bool(_ON_WROTE.match(f"{line} {lines[i + 1]}"))  # "On ..., Name <" / "a@b> wrote:"
    if _RULE.match(line) or _HEADER_FROM.match(line):  # Outlook: a header block follows
        return any(_HEADER_NEXT.match(following) for following in lines[i + 1 : i + 5])
    return False


def strip_quoted(text: str) -> str:
    """The new part of a reply: everything before the quoted history, without quoted lines."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = next((i for i in range(len(lines)) if _starts_history(lines, i)), len(lines))
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip()


def _decoded(part: EmailMessage) -> str:
    try:
        content = part.get_content()
        return content if isinstance(content, str) else ""
    except (LookupError, UnicodeError, ValueError, AssertionError):  # unknown or lying charset
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _filename(part: EmailMessage) -> str | None:
    raw = part.get_filename()
    if not raw:
        return None
    name = PureWindowsPath(PurePosixPath(raw).name).name  # no directories, either style
    return "".join(ch for ch in name if ch.isprintable())[:255] or None


def _sender(message: EmailMessage) -> str | None:
    try:
        header = message["From"]
        addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    except (ValueError, TypeError, IndexError):
        return None
    for address in addresses:
        if address.addr_spec and "@" in address.addr_spec and address.addr_spec.isprintable():
            return address.addr_spec.lower()
    return None


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one message; never raises for a malformed one (it just yields less)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    message_id = str(message.get("Message-ID", "") or "").strip()
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    elif not message_id.isprintable():
        message_id = "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()
    message_id = message_id[:250]
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if isinstance(body, EmailMessage):
        content = _decoded(body)
        text = html_to_text(content) if body.get_content_subtype() == "html" else content
    attachments: list[dict[str, Any]] = []
    for part in message.iter_attachments() if message.is_multipart() else ():
        if len(attachments) >= MAX_ATTACHMENTS:
            break
        payload = part.get_payload(decode=True)
        attachments.append(
            {
                "kind": "attachment",
                "filename": _filename(part),
                "content_type": "".join(ch for ch in part.get_content_type() if ch.isprintable())[:128],
                "size": len(payload) if isinstance(payload, bytes) else 0,
            }
        )
    return ParsedEmail(message_id, _sender(message), strip_quoted(text.replace(NUL, "")), attachments)
