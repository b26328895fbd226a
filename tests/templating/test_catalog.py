"""Template files: parsing and its errors, the shipped set, `check_templates`, and sync to the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.appointments.notices import SLUGS as APPOINTMENT_SLUGS
from gateway.db.engine import make_engine, session_factory
from gateway.db.migrate import upgrade_async
from gateway.db.models import Service, Template, TemplateVersion
from gateway.domain import Channel
from gateway.templating import (
    TemplateFile,
    TemplateFileError,
    check_templates,
    load_catalog,
    scan_catalog,
    sync_templates,
)
from gateway.victims.kinds import KINDS

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

SMS_ID = "0b7f3c52-9a51-4e8e-8f43-6d7f0c1f2a01"
EMAIL_ID = "5c0e7f7e-3a3b-4b51-9c0e-2f1d8d6e7a02"
LETTER_ID = "9d1a2b3c-4d5e-4f60-8a7b-1c2d3e4f5a03"


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def template_text(body: str, **fields: str) -> str:
    front = "\n".join(f"{key}: {value}" for key, value in fields.items())
    return f"---\n{front}\n---\n{body}\n"


def sms_file(body: str = "Hi {{ first_name }}", id: str = SMS_ID, name: str = "Hello") -> str:
    return template_text(body, id=id, name=name)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    write(directory, "sms/en/hello.txt", sms_file())
    write(
        directory,
        "email/en/notice.txt",
        template_text("Dear {{ name }},\n\nText.", id=EMAIL_ID, name="Notice", subject="About {{ topic }}"),
    )
    write(
        directory,
        "letter/es/carta.txt",
        template_text("Estimado/a {{ name }}:", id=LETTER_ID, name="Carta", subject="Aviso"),
    )
    return directory


# --- parsing -------------------------------------------------------------------------------------


def test_loads_every_field_sorted(root: Path) -> None:
    catalog = load_catalog(root)
    assert [(t.channel, t.language, t.slug) for t in catalog] == [
        (Channel.EMAIL, "en", "notice"),
        (Channel.LETTER, "es", "carta"),
        (Channel.SMS, "en", "hello"),
    ]
    email, letter, sms = catalog
    assert email.id == uuid.UUID(EMAIL_ID)
    assert (email.name, email.subject, email.body, email.postage) == (
        "Notice",
        "About {{ topic }}",
        "Dear {{ name }},\n\nText.",
        None,
    )
    assert letter.postage == "second"  # Notify's default when a letter does not say
    assert sms.subject is None
    assert sms.path == root / "sms/en/hello.txt"
    assert sms.source_path == "sms/en/hello.txt"
    assert len(sms.content_hash) == 64


def test_front_matter_tolerates_crlf_comments_and_blank_lines(tmp_path: Path) -> None:
    text = f"---\r\n# a comment\r\n\r\nid: {SMS_ID}\r\nname:  Spaced name  \r\n---\r\n\r\nBody line   \r\n\r\n"
    write(tmp_path, "sms/en/x.txt", text)
    (template,) = load_catalog(tmp_path)
    assert (template.name, template.body) == ("Spaced name", "Body line")


def test_content_hash_follows_content_not_place(tmp_path: Path) -> None:
    def hash_of(text: str, where: str = "sms/en/x.txt") -> str:
        root = tmp_path / uuid.uuid4().hex
        write(root, where, text)
        return load_catalog(root)[0].content_hash

    base = hash_of(sms_file())
    assert hash_of(sms_file()) == base
    assert hash_of(sms_file(), where="sms/es/renamed.txt") == base
    assert hash_of(sms_file(id=str(uuid.uuid4()))) == base
    assert hash_of(sms_file(body="Hi {{ first_name }}!")) != base
    assert hash_of(sms_file(name="Other")) != base


def test_content_hash_covers_subject_and_postage(tmp_path: Path) -> None:
    def letter_hash(subject: str, postage: str) -> str:
        root = tmp_path / uuid.uuid4().hex
        write(
            root,
            "letter/en/x.txt",
            template_text("Body", id=LETTER_ID, name="L", subject=subject, postage=postage),
        )
        return load_catalog(root)[0].content_hash

    base = letter_hash("S", "first")
    assert letter_hash("S", "first") == base
    assert letter_hash("T", "first") != base
    assert letter_hash("S", "second") != base


@pytest.mark.parametrize(
    ("relative", "text", "reason"),
    [
        ("sms/en/x.txt", "id: x\n---\nBody\n", "line 1: a template file must start with a '---'"),
        ("sms/en/x.txt", f"---\nid: {SMS_ID}\nname: N\nBody\n", "front matter is not closed"),
        ("sms/en/x.txt", f"---\nid: {SMS_ID}\njust words\n---\nBody\n", "line 3: expected 'key: value'"),
        (
            "sms/en/x.txt",
            f"---\nid: {SMS_ID}\nname: N\nsubjet: S\n---\nB\n",
            "line 4: unknown front-matter key 'subjet'",
        ),
        ("sms/en/x.txt", f"---\nid: {SMS_ID}\nname: N\nname: M\n---\nB\n", "line 4: 'name' is given twice"),
        ("sms/en/x.txt", f"---\nid: {SMS_ID}\nname:\n---\nB\n", "line 3: 'name' has no value"),
        ("sms/en/x.txt", "---\nname: N\n---\nB\n", "front matter has no 'id'"),
        ("sms/en/x.txt", f"---\nid: {SMS_ID}\n---\nB\n", "front matter has no 'name'"),
        ("sms/en/x.txt", "---\nid: 1234\nname: N\n---\nB\n", "line 2: id '1234' is not a UUID"),
        (
            "sms/en/x.txt",
            f"---\nid: {SMS_ID}\nname: N\nsubject: S\n---\nB\n",
            "line 4: SMS templates have no subject",
        ),
        (
            "email/en/x.txt",
            f"---\nid: {SMS_ID}\nname: N\n---\nB\n",
            "no 'subject' (email templates need one)",
        ),
        (
            "letter/en/x.txt",
            f"---\nid: {SMS_ID}\nname: N\n---\nB\n",
            "no 'subject' (letter templates need one)",
        ),
        (
            "email/en/x.txt",
            f"---\nid: {SMS_ID}\nname: N\nsubject: S\npostage: first\n---\nB\n",
            "line 5: only letter templates have postage",
        ),
        (
            "letter/en/x.txt",
            f"---\nid: {SMS_ID}\nname: N\nsubject: S\npostage: express\n---\nB\n",
            "line 5: postage must be one of first, marketing, certified, second, economy, europe, rest-of-world",
        ),
        ("sms/en/x.txt", f"---\nid: {SMS_ID}\nname: N\n---\n\n   \n", "the template has no body"),
        ("sms/en/Bad Name.txt", sms_file(), "file name 'Bad Name' must be lower case"),
        ("sms/en/x.md", sms_file(), "not a template file"),
        ("sms/english/x.txt", sms_file(), "language folder must be a language tag"),
        ("fax/en/x.txt", sms_file(), "unknown channel folder (expected one of sms, email, letter)"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, relative: str, text: str, reason: str) -> None:
    path = write(tmp_path, relative, text)
    with pytest.raises(TemplateFileError) as caught:
        load_catalog(tmp_path)
    assert reason in caught.value.reason
    assert caught.value.path in (path, path.parent, path.parent.parent)
    assert str(caught.value).startswith(str(caught.value.path))


def test_body_syntax_error_names_the_file_line(tmp_path: Path) -> None:
    # Front matter is lines 1-4, a blank line 5, so the body's second line is line 7 of the file.
    path = write(tmp_path, "sms/en/x.txt", f"---\nid: {SMS_ID}\nname: N\n---\n\nFirst line\nSecond {{{{ oops\n")
    with pytest.raises(TemplateFileError) as caught:
        load_catalog(tmp_path)
    assert caught.value.path == path
    assert caught.value.reason.startswith("line 7: the body is not a valid template")


def test_subject_syntax_error_names_the_subject_line(tmp_path: Path) -> None:
    write(tmp_path, "email/en/x.txt", f"---\nid: {SMS_ID}\nname: N\nsubject: Hi {{% if %}}\n---\nBody\n")
    with pytest.raises(TemplateFileError, match="line 4: the subject is not a valid template"):
        load_catalog(tmp_path)


def test_duplicate_id_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "sms/en/a.txt", sms_file())
    second = write(tmp_path, "sms/es/a.txt", sms_file())
    with pytest.raises(TemplateFileError) as caught:
        load_catalog(tmp_path)
    assert caught.value.path == second
    assert caught.value.reason == f"id {SMS_ID} is already used by {first}"


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateFileError, match="does not exist"):
        load_catalog(tmp_path / "nope")


def test_scan_reports_every_bad_file_and_keeps_the_good_ones(root: Path) -> None:
    write(root, "sms/en/bad_id.txt", "---\nid: nope\nname: N\n---\nB\n")
    write(root, "sms/es/no_body.txt", f"---\nid: {uuid.uuid4()}\nname: N\n---\n")
    templates, errors = scan_catalog(root)
    assert len(templates) == 3
    assert sorted(e.path.name for e in errors) == ["bad_id.txt", "no_body.txt"]


# --- the shipped templates -----------------------------------------------------------------------


# victim notification (gateway.victims): a notice template per event kind and channel, and the staff alert
VICTIM_NOTICES = {(c, f"victim_notice_{k}") for c in Channel for k in (*KINDS, "vis_reminder", "unregistered")} | {
    (Channel.EMAIL, "staff_victim_notice_alert")
}


def test_shipped_templates_cover_both_languages() -> None:
    catalog = load_catalog(REPO_TEMPLATES)
    slugs = {(t.channel, t.slug) for t in catalog}
    assert (
        slugs
        == {
            (Channel.SMS, "appointment_reminder"),
            (Channel.SMS, "office_closure"),
            (Channel.SMS, "free_text"),
            (Channel.SMS, "call_your_officer"),
            (Channel.EMAIL, "appointment_reminder"),
            (Channel.EMAIL, "victim_offender_released"),
            (Channel.EMAIL, "victim_hearing_scheduled"),
            (Channel.EMAIL, "free_text"),
            (Channel.EMAIL, "staff_new_message_alert"),
            (Channel.EMAIL, "staff_returned_letter_alert"),
            (Channel.EMAIL, "staff_daily_digest"),
            (Channel.LETTER, "victim_offender_released"),
            (Channel.LETTER, "precompiled"),
            # appointment messages the gateway sends on its own (gateway.appointments.notices)
            *((channel, slug) for channel in (Channel.SMS, Channel.EMAIL) for slug in APPOINTMENT_SLUGS),
            (Channel.EMAIL, "staff_appointment_alert"),
        }
        | VICTIM_NOTICES
    )
    for channel, slug in slugs:
        assert {t.language for t in catalog if (t.channel, t.slug) == (channel, slug)} == {"en", "es"}
    assert all(t.id.version == 4 for t in catalog)


def test_shipped_templates_pass_the_check() -> None:
    result = check_templates(REPO_TEMPLATES)
    assert result.problems == []
    assert result.warnings == []
    assert result.ok


# --- check_templates -----------------------------------------------------------------------------


def test_check_reports_render_failures_by_path(root: Path) -> None:
    broken = write(root, "sms/es/hello.txt", sms_file(body="Hola {{ first_name }} {{ 1 / 0 }}", id=str(uuid.uuid4())))
    result = check_templates(root)
    assert result.problems == [f"{broken}: Template could not be rendered: division by zero"]
    assert not result.ok


def test_check_refuses_address_lines_in_letters(root: Path) -> None:
    letter = write(
        root,
        "letter/es/carta.txt",
        template_text("{{ address_line_1 }}\n\nEstimado/a {{ name }}:", id=LETTER_ID, name="Carta", subject="Aviso"),
    )
    problems = check_templates(root).problems
    assert problems == [f"{letter}: letters get their address block from the letter renderer; remove address_line_1"]


def test_check_compares_placeholders_across_languages(root: Path) -> None:
    spanish = write(root, "sms/es/hello.txt", sms_file(body="Hola {{ nombre }}", id=str(uuid.uuid4())))
    problems = check_templates(root).problems
    assert problems == [
        f"{spanish}: placeholders differ from {root / 'sms/en/hello.txt'} (only here: nombre; missing here: first_name)"
    ]


def test_check_warns_about_missing_languages_and_long_sms(root: Path) -> None:
    long = write(root, "sms/en/long.txt", sms_file(body="word " * 100 + "{{ first_name }}", id=str(uuid.uuid4())))
    result = check_templates(root)
    assert result.problems == []
    assert f"{root / 'email/en/notice.txt'}: email/notice has no es version" in result.warnings
    assert f"{root / 'letter/es/carta.txt'}: letter/carta has no en version" in result.warnings
    assert any(w.startswith(f"{long}: with sample data this SMS is 4 fragments") for w in result.warnings)
    assert not any(w.startswith(f"{root / 'sms/en/hello.txt'}: with sample") for w in result.warnings)


def test_check_lists_file_errors_as_problems(root: Path) -> None:
    write(root, "sms/en/bad.txt", "no front matter\n")
    result = check_templates(root)
    assert len(result.problems) == 1
    assert result.problems[0].startswith(str(root / "sms/en/bad.txt"))


# --- sync to the database ------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'templates.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    yield session_factory(engine)
    await engine.dispose()


async def sync(db: async_sessionmaker[AsyncSession], catalog: list[TemplateFile]) -> tuple[int, int, int, int]:
    async with db() as session:
        report = await sync_templates(session, catalog)
        await session.commit()
    return report.added, report.changed, report.unchanged, report.archived


async def versions(db: async_sessionmaker[AsyncSession], template_id: str) -> list[tuple[int, str]]:
    async with db() as session:
        rows = await session.execute(
            select(TemplateVersion.version, TemplateVersion.body)
            .where(TemplateVersion.template_id == uuid.UUID(template_id))
            .order_by(TemplateVersion.version)
        )
        return [(version, body) for version, body in rows]


async def template_row(db: async_sessionmaker[AsyncSession], template_id: str) -> Template:
    async with db() as session:
        row = await session.get(Template, uuid.UUID(template_id))
        assert row is not None
        return row


async def test_sync_adds_then_is_idempotent(db: async_sessionmaker[AsyncSession], root: Path) -> None:
    catalog = load_catalog(root)
    assert await sync(db, catalog) == (3, 0, 0, 0)
    row = await template_row(db, EMAIL_ID)
    assert (row.service_id, row.version, row.channel, row.language, row.slug) == (
        None,
        1,
        "email",
        "en",
        "notice",
    )
    assert (row.subject, row.source_path, row.archived) == ("About {{ topic }}", "email/en/notice.txt", False)
    assert (await template_row(db, LETTER_ID)).postage == "second"
    assert await versions(db, EMAIL_ID) == [(1, "Dear {{ name }},\n\nText.")]

    assert await sync(db, load_catalog(root)) == (0, 0, 3, 0)
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(TemplateVersion)) == 3
    assert (await template_row(db, EMAIL_ID)).updated_at == row.updated_at


async def test_sync_versions_changed_content(db: async_sessionmaker[AsyncSession], root: Path) -> None:
    await sync(db, load_catalog(root))
    write(root, "sms/en/hello.txt", sms_file(body="Hello {{ first_name }}, new words"))
    assert await sync(db, load_catalog(root)) == (0, 1, 2, 0)
    row = await template_row(db, SMS_ID)
    assert (row.version, row.body) == (2, "Hello {{ first_name }}, new words")
    assert await versions(db, SMS_ID) == [
        (1, "Hi {{ first_name }}"),
        (2, "Hello {{ first_name }}, new words"),
    ]
    # A second change goes on to version 3; syncing again adds nothing.
    write(root, "sms/en/hello.txt", sms_file(body="Third {{ first_name }}"))
    assert await sync(db, load_catalog(root)) == (0, 1, 2, 0)
    assert await sync(db, load_catalog(root)) == (0, 0, 3, 0)
    assert [v for v, _ in await versions(db, SMS_ID)] == [1, 2, 3]


async def test_sync_moves_a_renamed_file_without_a_new_version(
    db: async_sessionmaker[AsyncSession], root: Path
) -> None:
    await sync(db, load_catalog(root))
    (root / "sms/en/hello.txt").rename(root / "sms/en/greeting.txt")
    assert await sync(db, load_catalog(root)) == (0, 0, 3, 0)
    row = await template_row(db, SMS_ID)
    assert (row.slug, row.source_path, row.version) == ("greeting", "sms/en/greeting.txt", 1)


async def test_sync_archives_removed_files_and_restores_them(db: async_sessionmaker[AsyncSession], root: Path) -> None:
    await sync(db, load_catalog(root))
    letter = root / "letter/es/carta.txt"
    saved = letter.read_text(encoding="utf-8")
    letter.unlink()
    assert await sync(db, load_catalog(root)) == (0, 0, 2, 1)
    assert (await template_row(db, LETTER_ID)).archived is True
    assert await sync(db, load_catalog(root)) == (0, 0, 2, 0)  # already archived: not counted again

    letter.write_text(saved, encoding="utf-8")
    assert await sync(db, load_catalog(root)) == (0, 0, 3, 0)
    row = await template_row(db, LETTER_ID)
    assert (row.archived, row.version) == (False, 1)


async def test_sync_leaves_service_templates_alone(db: async_sessionmaker[AsyncSession], root: Path) -> None:
    async with db() as session:
        service = Service(name="Eastside Parole")
        session.add(service)
        await session.flush()
        own_id = uuid.uuid4()
        session.add(
            Template(
                id=own_id,
                service_id=service.id,
                name="Own",
                slug="own",
                channel="sms",
                language="en",
                body="Own {{ x }}",
                content_hash="0" * 64,
                source_path="service",
            )
        )
        await session.commit()
    assert await sync(db, load_catalog(root)) == (3, 0, 0, 0)
    assert (await template_row(db, str(own_id))).archived is False

    # A file may not take over a service's template by reusing its id.
    write(root, "sms/es/hello.txt", sms_file(id=str(own_id)))
    with pytest.raises(TemplateFileError, match="already belongs to a service"):
        await sync(db, load_catalog(root))


async def test_sync_refuses_a_channel_change(db: async_sessionmaker[AsyncSession], root: Path) -> None:
    await sync(db, load_catalog(root))
    (root / "sms/en/hello.txt").unlink()
    write(root, "email/en/hello.txt", template_text("Hi {{ first_name }}", id=SMS_ID, name="Hello", subject="S"))
    with pytest.raises(TemplateFileError, match="is a sms template; a template's channel cannot change"):
        await sync(db, load_catalog(root))


async def test_sync_of_the_shipped_templates(db: async_sessionmaker[AsyncSession]) -> None:
    catalog = load_catalog(REPO_TEMPLATES)
    assert await sync(db, catalog) == (len(catalog), 0, 0, 0)
    assert await sync(db, load_catalog(REPO_TEMPLATES)) == (0, 0, len(catalog), 0)
