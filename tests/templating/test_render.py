"""The renderer: personalisation as data, Notify's missing-personalisation rule, the sandbox, HTML."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.db.models import Template
from gateway.domain import Channel
from gateway.errors import BadRequest
from gateway.templating import (
    MissingPersonalisation,
    Renderer,
    TemplateFile,
    TemplateRenderError,
    load_catalog,
)

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class Source:
    """The smallest thing the renderer accepts: channel, subject and body."""

    channel: str
    body: str
    subject: str | None = None


@dataclass(frozen=True)
class EmailSource:
    channel: str
    subject: str
    body: str
    language: str


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def sms(body: str) -> Source:
    return Source(channel="sms", body=body)


def email(body: str, subject: str = "Hello") -> Source:
    return Source(channel="email", body=body, subject=subject)


# --- substitution and missing values ---------------------------------------------------------------


def test_sms_substitutes_and_counts(renderer: Renderer) -> None:
    rendered = renderer.render(sms("Hi {{ name }}, see you at {{ time }}."), {"name": "Ana", "time": "10:00"})
    assert rendered.body == "Hi Ana, see you at 10:00."
    assert (rendered.encoding, rendered.characters, rendered.fragments) == ("GSM-7", 25, 1)
    assert rendered.subject is None
    assert rendered.html is None


def test_missing_personalisation_uses_notifys_message_sorted(renderer: Renderer) -> None:
    template = email("{{ zed }} {{ alpha }} {{ given }}", subject="About {{ middle }}")
    with pytest.raises(MissingPersonalisation) as caught:
        renderer.render(template, {"given": "yes"})
    assert str(caught.value) == "Missing personalisation: alpha, middle, zed"
    assert caught.value.missing == ["alpha", "middle", "zed"]


def test_missing_personalisation_is_a_notify_400(renderer: Renderer) -> None:
    with pytest.raises(BadRequest) as caught:
        renderer.render(sms("{{ a }}"), {})
    assert caught.value.body() == {
        "status_code": 400,
        "errors": [{"error": "BadRequestError", "message": "Missing personalisation: a"}],
    }


def test_missing_is_checked_before_rendering(renderer: Renderer) -> None:
    # The template would fail at render time; the caller's omission is reported first.
    with pytest.raises(MissingPersonalisation):
        renderer.render(sms("{{ 1 / 0 }} {{ name }}"), {})


@pytest.mark.parametrize("value", [None, "", "   \n", [], [None, ""]])
def test_empty_values_count_as_missing(renderer: Renderer, value: object) -> None:
    with pytest.raises(MissingPersonalisation, match="Missing personalisation: name"):
        renderer.render(sms("Hi {{ name }}"), {"name": value})


def test_extra_personalisation_is_ignored(renderer: Renderer) -> None:
    rendered = renderer.render(sms("Hi {{ name }}"), {"name": "Ana", "unused": "x", "other": object()})
    assert rendered.body == "Hi Ana"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42, "42"), (2.5, "2.5"), (True, "True"), ("text", "text")],
)
def test_scalar_values_become_text(renderer: Renderer, value: object, expected: str) -> None:
    assert renderer.render(sms("[{{ v }}]"), {"v": value}).body == f"[{expected}]"


def test_lists_become_bullet_lines(renderer: Renderer) -> None:
    rendered = renderer.render(sms("Bring:\n{{ items }}"), {"items": ["ID", None, "pay stub"]})
    assert rendered.body == "Bring:\n* ID\n* pay stub"


def test_mapping_value_is_refused(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match="'v' must be text, a number or a list"):
        renderer.render(sms("{{ v }}"), {"v": {"a": 1}})


# --- values are data, never template code ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["{{ 7*7 }}", "{% for x in range(3) %}x{% endfor %}", "{{ ''.__class__.__mro__ }}", "{# hidden #}"],
)
def test_template_syntax_in_values_comes_out_literally(renderer: Renderer, value: str) -> None:
    assert renderer.render(sms("Message: {{ message }}"), {"message": value}).body == f"Message: {value}"


def test_template_code_in_the_template_itself_does_run(renderer: Renderer) -> None:
    # The contrast with the test above: the same text in the template is evaluated.
    assert renderer.render(sms("{{ 7*7 }}"), {}).body == "49"


@pytest.mark.parametrize(
    "body",
    [
        "{{ name.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% set items = [1] %}{{ items.append(2) }}",
        "{{ '{0.__class__}'.format(name) }}",
    ],
)
def test_sandbox_refuses_unsafe_templates(renderer: Renderer, body: str) -> None:
    with pytest.raises(TemplateRenderError):
        renderer.render(sms(body), {"name": "Ana"})


def test_runtime_error_in_template_is_a_render_error(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match="division by zero"):
        renderer.render(sms("{{ 1 / 0 }}"), {})


def test_undefined_attribute_is_a_render_error_not_a_blank(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError):
        renderer.render(sms("Hi {{ person.name }}"), {"person": "Ana"})


def test_syntax_error_is_a_render_error_with_line(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match="line 2"):
        renderer.render(sms("ok\n{{ broken"), {})


# --- placeholders --------------------------------------------------------------------------------


def test_placeholders_exclude_locals_and_jinja_globals(renderer: Renderer) -> None:
    source = (
        '{% set kinds = {"a": "A"} %}{{ kinds.get(kind, kind) }} '
        "{% for i in range(2) %}{{ i }}{{ item }}{% endfor %} {{ first_name|upper }}"
    )
    assert renderer.placeholders(source) == frozenset({"kind", "item", "first_name"})


def test_placeholders_are_cached(renderer: Renderer) -> None:
    source = "{{ cached_one }}"
    assert renderer.placeholders(source) is renderer.placeholders(source)


# --- normalisation -------------------------------------------------------------------------------


def test_sms_body_is_stripped_and_blank_lines_collapsed(renderer: Renderer) -> None:
    rendered = renderer.render(sms("  {{ a }}  \n\n\n\n{{ b }}   \n\n"), {"a": "one", "b": "two"})
    assert rendered.body == "one\n\ntwo"


def test_email_body_loses_trailing_whitespace_and_extra_blank_lines(renderer: Renderer) -> None:
    rendered = renderer.render(email("Dear {{ n }},   \n\n\n\nThanks.\r\nBye  "), {"n": "Ana"})
    assert rendered.body == "Dear Ana,\n\nThanks.\nBye"


def test_subject_is_one_line_whatever_the_values(renderer: Renderer) -> None:
    # A newline in a subject would let a value add mail headers.
    rendered = renderer.render(email("Body", subject="Re: {{ s }}"), {"s": "hi\r\nBcc: evil@example.com"})
    assert rendered.subject == "Re: hi Bcc: evil@example.com"


def test_block_tags_leave_no_blank_lines(renderer: Renderer) -> None:
    body = "Line one\n{% if extra == 'yes' %}\nExtra line\n{% endif %}\nLine two"
    assert renderer.render(sms(body), {"extra": "no"}).body == "Line one\nLine two"
    assert renderer.render(sms(body), {"extra": "yes"}).body == "Line one\nExtra line\nLine two"


def test_empty_result_is_refused(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match="empty"):
        renderer.render(sms("{% if flag == 'on' %}text{% endif %}"), {"flag": "off"})


# --- channels ------------------------------------------------------------------------------------


def test_email_needs_a_subject(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match="need a subject"):
        renderer.render(Source(channel="email", body="x"), {})


def test_unknown_channel_is_refused(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match="Unknown template type"):
        renderer.render(Source(channel="fax", body="x"), {})


def test_letter_has_subject_and_no_html(renderer: Renderer) -> None:
    letter = Source(channel="letter", subject="About {{ topic }}", body="Dear {{ name }},\n\nText.")
    rendered = renderer.render(letter, {"topic": "your case", "name": "Ana"})
    assert rendered.subject == "About your case"
    assert rendered.body == "Dear Ana,\n\nText."
    assert (rendered.html, rendered.fragments, rendered.encoding) == (None, 0, None)
    assert rendered.characters == len("Dear Ana,\n\nText.")


def test_renders_a_template_table_row(renderer: Renderer) -> None:
    row = Template(id=uuid.uuid4(), channel="sms", subject=None, body="Hi {{ first_name }}", language="en")
    assert renderer.render(row, {"first_name": "Ana"}).body == "Hi Ana"


# --- email HTML ----------------------------------------------------------------------------------


def test_email_html_escapes_values(renderer: Renderer) -> None:
    rendered = renderer.render(email("Note: {{ v }}", subject="{{ v }}"), {"v": '<script>alert("x")</script> & co'})
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in rendered.html
    assert rendered.body == 'Note: <script>alert("x")</script> & co'  # plain text stays as written


def test_email_html_paragraphs_and_line_breaks(renderer: Renderer) -> None:
    rendered = renderer.render(email("One\ntwo\n\nThree"), {})
    assert rendered.html is not None
    assert "<p>One<br>\ntwo</p>\n<p>Three</p>" in rendered.html


def test_email_html_links_urls_without_trailing_punctuation(renderer: Renderer) -> None:
    rendered = renderer.render(email("See {{ url }}."), {"url": "https://example.org/a?b=1&c=2"})
    assert rendered.html is not None
    assert 'See <a href="https://example.org/a?b=1&amp;c=2">https://example.org/a?b=1&amp;c=2</a>.' in rendered.html


def test_email_html_does_not_link_other_schemes(renderer: Renderer) -> None:
    rendered = renderer.render(email("{{ u }}"), {"u": "javascript:alert(1)"})
    assert rendered.html is not None
    assert "<a " not in rendered.html


def test_email_html_bullets_become_a_list(renderer: Renderer) -> None:
    rendered = renderer.render(email("Bring:\n{{ items }}"), {"items": ["ID", "letter"]})
    assert rendered.html is not None
    assert "<p>Bring:</p>\n<ul>\n<li>ID</li>\n<li>letter</li>\n</ul>" in rendered.html


def test_email_html_language_and_title(renderer: Renderer) -> None:
    spanish = EmailSource(channel="email", subject="Hola {{ n }}", body="Texto", language="es")
    rendered = renderer.render(spanish, {"n": "<Ana>"})
    assert rendered.html is not None
    assert rendered.html.startswith('<!DOCTYPE html>\n<html lang="es">')
    assert "<title>Hola &lt;Ana&gt;</title>" in rendered.html
    default = renderer.render(email("Text"), {})
    assert default.html is not None
    assert '<html lang="en">' in default.html


# --- the shipped templates -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> dict[tuple[Channel, str, str], TemplateFile]:
    return {(t.channel, t.language, t.slug): t for t in load_catalog(REPO_TEMPLATES)}


APPOINTMENT = {
    "first_name": "Ana",
    "appointment_type": "court_hearing",
    "appointment_date": "Tuesday 4 June",
    "appointment_time": "9:30am",
    "location": "County Courthouse, Room 2",
}


def test_appointment_reminder_translates_appointment_codes(
    renderer: Renderer, shipped: dict[tuple[Channel, str, str], TemplateFile]
) -> None:
    english = renderer.render(shipped[(Channel.SMS, "en", "appointment_reminder")], APPOINTMENT)
    spanish = renderer.render(shipped[(Channel.SMS, "es", "appointment_reminder")], APPOINTMENT)
    assert "your court hearing: Tuesday 4 June, 9:30am, at County Courthouse, Room 2." in english.body
    assert "su audiencia en el tribunal:" in spanish.body
    assert english.fragments == 2
    free_words = renderer.render(
        shipped[(Channel.SMS, "en", "appointment_reminder")],
        {**APPOINTMENT, "appointment_type": "meeting with your mentor"},
    )
    assert "your meeting with your mentor:" in free_words.body


def test_free_text_passes_the_message_through(
    renderer: Renderer, shipped: dict[tuple[Channel, str, str], TemplateFile]
) -> None:
    message = "Call me back on 555-0100 {{ not code }}\n\nThanks"
    rendered = renderer.render(shipped[(Channel.SMS, "en", "free_text")], {"message": message})
    assert rendered.body == message
    mail = renderer.render(
        shipped[(Channel.EMAIL, "es", "free_text")],
        {"subject": "Su cita", "message": message},
    )
    assert (mail.subject, mail.body) == ("Su cita", message)
    assert mail.html is not None
    assert '<html lang="es">' in mail.html


def test_victim_notification_needs_every_detail(
    renderer: Renderer, shipped: dict[tuple[Channel, str, str], TemplateFile]
) -> None:
    with pytest.raises(MissingPersonalisation) as caught:
        renderer.render(
            shipped[(Channel.EMAIL, "en", "victim_offender_released")],
            {"victim_name": "Sam", "offender_name": "J. Doe"},
        )
    assert caught.value.missing == ["advocate_name", "advocate_phone", "facility", "release_date"]
