"""Signing in over HTTP: password then code, failures, lockout, enrolment, and the audit trail.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
from datetime import timedelta
from typing import Any

import pyotp
import segno
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault, sha256_hex
from gateway.db import Service, StaffSession, StaffUser
from gateway.db.base import utcnow
from gateway.web import totp
from gateway.web.passwords import Passwords
from gateway.web.signin import FAILED, SignIn
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.staff import StaffUnderTest, audit_rows, csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]


async def post_password(client: Client, email: str, password: str, **extra: str) -> Any:
    token = await csrf_from(client, "/login")
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, **extra}, allow_redirects=False
    )


async def post_code(client: Client, code: str) -> Any:
    token = await csrf_from(client, "/login/totp")
    return await client.post("/login/totp", data={"code": code, "csrf_token": token}, allow_redirects=False)


async def user_row(sessions: Sessions, staff: StaffUnderTest) -> StaffUser:
    async with sessions() as db:
        user = await db.get(StaffUser, staff.id)
    assert user is not None
    return user


async def test_password_then_code_signs_in(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id, name="Olive Officer")
    response = await post_password(client, staff.email.upper(), staff.password)
    assert response.status == 303 and response.headers["Location"].startswith("/login/totp")
    partial_cookie = response.cookies["gw_session"]
    assert partial_cookie["httponly"] and partial_cookie["samesite"] == "Lax" and not partial_cookie["secure"]

    # The password alone signs nobody in: pages send the browser back to the code step.
    inbox = await client.get("/inbox", allow_redirects=False)
    assert inbox.status == 303 and inbox.headers["Location"] == "/login/totp"

    response = await post_code(client, staff.code())
    assert response.status == 303 and response.headers["Location"] == "/inbox"
    full_cookie = response.cookies["gw_session"].value
    assert full_cookie != partial_cookie.value  # a new session id once signed in

    inbox = await client.get("/inbox")
    assert inbox.status == 200
    text = await inbox.text()
    assert "Olive Officer" in text and service.name in text and "Inbox" in text

    async with sessions() as db:
        rows = (await db.scalars(select(StaffSession).where(StaffSession.staff_id == staff.id))).all()
    assert [(r.id_hash, r.stage) for r in rows] == [(sha256_hex(full_cookie.encode()), "full")]
    assert rows[0].expires_at - rows[0].created_at == timedelta(hours=12)

    logins = await audit_rows(sessions, service.id, actor=f"staff:{staff.id}")
    assert [(r.action, r.outcome, r.source_ip) for r in logins] == [
        ("login.password", "ok", "127.0.0.1"),
        ("login.totp", "ok", "127.0.0.1"),
    ]


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, vault: Vault
) -> None:
    staff = await staff_factory(service.id)
    wrong = await post_password(client, staff.email, staff.password + "x")
    unknown_email = f"nobody.{staff.id.hex[:8]}@agency.example"
    unknown = await post_password(client, unknown_email, staff.password)
    assert wrong.status == unknown.status == 400
    for response in (wrong, unknown):
        text = await response.text()
        assert FAILED.split(",")[0] in text.replace("&#39;", "'")
        assert "gw_session" not in response.cookies
    assert (await user_row(sessions, staff)).failed_logins == 1

    [failure] = await audit_rows(sessions, service.id, action="login.password")
    assert (failure.outcome, failure.actor, failure.detail) == ("failure", f"staff:{staff.id}", {"failures": 1})
    anonymous = [
        r
        for r in await audit_rows(sessions, None, actor="anonymous")
        if r.detail and r.detail.get("email_index") == vault.blind_index(unknown_email)
    ]
    assert [(r.action, r.outcome) for r in anonymous] == [("login.password", "unknown_user")]
    assert unknown_email not in repr(anonymous[0].__dict__)  # the address itself is not kept


async def test_five_failures_lock_the_account_for_fifteen_minutes(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    for _ in range(5):
        response = await post_password(client, staff.email, "not the password at all")
        assert response.status == 400
    user = await user_row(sessions, staff)
    assert user.locked_until is not None
    assert timedelta(minutes=14) < user.locked_until - utcnow() <= timedelta(minutes=15)

    # Locked: even the right password gets the generic answer and no session.
    response = await post_password(client, staff.email, staff.password)
    assert response.status == 400 and "gw_session" not in response.cookies

    rows = await audit_rows(sessions, service.id, actor=f"staff:{staff.id}")
    assert [(r.action, r.outcome) for r in rows] == [("login.password", "failure")] * 5 + [
        ("login.lockout", "locked"),
        ("login.password", "locked"),
    ]
    assert [r.detail["failures"] for r in rows[:5] if r.detail] == [1, 2, 3, 4, 5]

    # When the lock runs out, the right password works again.
    async with sessions() as db:
        await db.execute(
            update(StaffUser).where(StaffUser.id == staff.id).values(locked_until=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    await sign_in(client, staff)
    assert (await client.get("/inbox")).status == 200


async def test_wrong_codes_count_towards_the_lockout(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    assert (await post_password(client, staff.email, staff.password)).status == 303
    assert staff.totp_secret
    wrong = f"{(int(pyotp.TOTP(staff.totp_secret).now()) + 1) % 1_000_000:06d}"
    for _ in range(4):
        response = await post_code(client, wrong)
        assert response.status == 400
        assert "That code is not right" in await response.text()
    response = await post_code(client, wrong)
    assert response.status == 400 and FAILED.split(",")[0] in (await response.text()).replace("&#39;", "'")
    # the half-finished session is gone: back to the start
    assert (await client.get("/login/totp", allow_redirects=False)).headers["Location"] == "/login"
    assert (await user_row(sessions, staff)).locked_until is not None
    rows = await audit_rows(sessions, service.id, actor=f"staff:{staff.id}")
    assert [(r.action, r.outcome) for r in rows][-2:] == [("login.totp", "failure"), ("login.lockout", "locked")]


async def test_a_code_is_accepted_only_once(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    await sign_in(client, staff)
    assert staff.totp_secret
    used = pyotp.TOTP(staff.totp_secret).generate_otp(staff.used_steps[-1])
    token = await csrf_from(client, "/account")
    assert (await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)).status == 303

    assert (await post_password(client, staff.email, staff.password)).status == 303
    response = await post_code(client, used)
    assert response.status == 400
    [replay] = await audit_rows(sessions, service.id, action="login.totp", outcome="replayed")
    assert replay.actor == f"staff:{staff.id}"


async def test_first_sign_in_sets_up_the_authenticator(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, vault: Vault
) -> None:
    staff = await staff_factory(service.id, enrolled=False)
    response = await post_password(client, staff.email, staff.password)
    assert response.status == 303 and response.headers["Location"].startswith("/account/totp/enrol")
    # Not signed in yet: every page leads back to enrolment.
    assert (await client.get("/templates", allow_redirects=False)).headers["Location"] == "/account/totp/enrol"

    page = await client.get("/account/totp/enrol")
    text = await page.text()
    secret = text.split('data-testid="totp-secret"><code>')[1].split("</code>")[0].replace(" ", "")
    assert "otpauth://totp/" in text and f"secret={secret}" in text
    # Reloading shows the same secret: it is kept on the session until confirmed.
    assert secret in (await (await client.get("/account/totp/enrol")).text()).replace(" ", "")

    token = await csrf_from(client, "/account/totp/enrol")
    bad = await client.post("/account/totp/enrol", data={"code": "000000", "csrf_token": token})
    assert bad.status == 400 and (await user_row(sessions, staff)).totp_secret_enc is None

    code = pyotp.TOTP(secret).now()
    response = await client.post("/account/totp/enrol", data={"code": code, "csrf_token": token}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/inbox?done=enrolled"
    inbox = await client.get(response.headers["Location"])
    assert inbox.status == 200 and "Two-factor sign-in is set up" in await inbox.text()

    user = await user_row(sessions, staff)
    assert user.totp_secret_enc is not None and vault.open(user.totp_secret_enc) == secret
    assert user.totp_last_step == totp.matching_step(secret, code)
    rows = await audit_rows(sessions, service.id, action="login.totp_enrol")
    assert [r.outcome for r in rows] == ["failure", "ok"]


QR_SVG = re.compile(r'data-testid="totp-qr">(<svg .*?</svg>)</p>', re.S)
QR_PATH = re.compile(r'<path class="qr-modules" stroke="#000" d="([^"]+)"/>')
PATH_STEP = re.compile(r"([Mm])(-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)|h(\d+)")
HOSTILE_SERVICE = '<script>alert(1)</script> & "Co"'
HOSTILE_EMAIL = "o'<svg/onload=alert(1)>@agency.example"


def drawn_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules (row, column, quiet zone included) that segno's one SVG path draws."""
    found = QR_PATH.search(svg)
    assert found, "no QR path in the SVG"
    path = found.group(1)
    assert PATH_STEP.sub("", path) == "", f"unexpected path commands in {path[:80]}"
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for step in PATH_STEP.finditer(path):
        move, dx, dy, length = step.groups()
        if move == "M":
            x, y = float(dx), float(dy)
        elif move == "m":
            x, y = x + float(dx), y + float(dy)
        else:
            dark.update((int(y), int(x) + i) for i in range(int(length)))
            x += int(length)
    return dark


def qr_modules(uri: str, border: int = 4) -> set[tuple[int, int]]:
    """The dark modules of a full QR code of `uri` with error correction M (what the page should show)."""
    qr = segno.make_qr(uri, error="m")
    return {(r + border, c + border) for r, row in enumerate(qr.matrix) for c, bit in enumerate(row) if bit}


async def test_the_setup_key_is_also_shown_as_a_qr_code(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id, enrolled=False)
    # Markup in the service name or the email address (both are in the otpauth URI) stays text.
    async with sessions() as db:
        await db.execute(update(Service).where(Service.id == service.id).values(name=HOSTILE_SERVICE))
        await db.execute(update(StaffUser).where(StaffUser.id == staff.id).values(email=HOSTILE_EMAIL))
        await db.commit()
    response = await post_password(client, HOSTILE_EMAIL, staff.password)
    assert response.status == 303 and response.headers["Location"].startswith("/account/totp/enrol")

    page = await client.get("/account/totp/enrol")
    text = await page.text()
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"  # the QR code is the secret
    assert "<script>alert" not in text and "<svg/onload" not in text and text.count("<svg") == 1
    found = QR_SVG.search(text)
    assert found, "no QR code on the enrolment page"
    svg = found.group(1)
    assert svg.startswith(f'<svg role="img" aria-label="{totp.QR_LABEL}" ')
    assert f"<title>{totp.QR_LABEL}</title>" in svg
    assert "<script" not in svg and " on" not in svg.split(">")[0]  # no script, no event handlers

    # The text alternative is still there, and it is the secret inside the URI the QR code holds.
    secret = text.split('data-testid="totp-secret"><code>')[1].split("</code>")[0].replace(" ", "")
    uri = html.unescape(text.split('<p class="uri"><code>')[1].split("</code>")[0])
    shown = pyotp.parse_uri(uri)
    assert isinstance(shown, pyotp.TOTP) and shown.secret == secret and shown.digits == totp.DIGITS
    assert shown.name == HOSTILE_EMAIL and shown.issuer == f"CJ Gateway ({HOSTILE_SERVICE})"
    drawn = drawn_modules(svg)
    assert drawn == qr_modules(uri)
    assert drawn != qr_modules(uri.replace(secret, totp.new_secret()))  # the comparison can tell codes apart
    assert '<path fill="#fff"' in svg  # a white quiet zone behind the dark modules, whatever the page colour

    # A wrong code shows the same QR code again (the secret is kept until confirmed).
    token = await csrf_from(client, "/account/totp/enrol")
    bad = await client.post("/account/totp/enrol", data={"code": "000000", "csrf_token": token})
    again = QR_SVG.search(await bad.text())
    assert bad.status == 400 and again and drawn_modules(again.group(1)) == drawn

    # Once the authenticator is set up, the QR code is gone: the enrolment page is no longer reachable.
    response = await client.post(
        "/account/totp/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/inbox?done=enrolled"
    for path in ("/inbox?done=enrolled", "/account/totp/enrol", "/account"):
        after = await client.get(path)
        after_text = await after.text()
        assert after.status == 200 and "qr-modules" not in after_text and totp.QR_LABEL not in after_text, path
        assert secret not in after_text.replace(" ", ""), path


async def test_old_hashes_are_upgraded_at_sign_in(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: Sessions,
    passwords: Passwords,
) -> None:
    staff = await staff_factory(service.id)
    older = Passwords(time_cost=2, memory_kib=8192, parallelism=1)
    async with sessions() as db:
        await db.execute(
            update(StaffUser).where(StaffUser.id == staff.id).values(password_hash=await older.hash(staff.password))
        )
        await db.commit()
    await sign_in(client, staff)
    stored = (await user_row(sessions, staff)).password_hash
    assert stored is not None and "t=1," in stored and (await passwords.verify(stored, staff.password)).ok
    [row] = await audit_rows(sessions, service.id, action="login.password", outcome="ok")
    assert row.detail == {"rehashed": True}


async def test_after_sign_in_only_local_paths_are_followed(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory
) -> None:
    staff = await staff_factory(service.id)
    redirect = await client.get("/templates", allow_redirects=False)
    assert redirect.headers["Location"] == "/login?next=/templates"
    response = await post_password(client, staff.email, staff.password, next="//evil.example/x")
    assert response.headers["Location"] == "/login/totp?next=%2Finbox"
    response = await post_password(client, staff.email, staff.password, next="/templates")
    assert response.headers["Location"] == "/login/totp?next=%2Ftemplates"
    token = await csrf_from(client, "/login/totp")
    response = await client.post(
        "/login/totp", data={"code": staff.code(), "next": "/templates", "csrf_token": token}, allow_redirects=False
    )
    assert response.headers["Location"] == "/templates"


class CountingPasswords(Passwords):
    """Counts real argon2 checks and notes the thread each ran on."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8192, parallelism=1)
        self.threads: list[str] = []

    def _verify_blocking(self, stored: str, password: str) -> bool:
        self.threads.append(threading.current_thread().name)
        return super()._verify_blocking(stored, password)


async def test_unknown_and_locked_accounts_cost_a_real_check_off_the_loop(
    service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, vault: Vault
) -> None:
    counting = CountingPasswords()
    signin = SignIn(sessions, counting, vault)
    staff = await staff_factory(service.id)
    assert await signin.check_password(f"nobody.{staff.id.hex[:6]}@agency.example", staff.password, None) is None
    assert len(counting.threads) == 1
    async with sessions() as db:
        await db.execute(
            update(StaffUser).where(StaffUser.id == staff.id).values(locked_until=utcnow() + timedelta(minutes=5))
        )
        await db.commit()
    assert await signin.check_password(staff.email, staff.password, None) is None
    assert len(counting.threads) == 2
    # argon2 never runs on the event loop's thread
    assert threading.current_thread().name not in counting.threads


async def test_parallel_password_attempts_check_at_most_five_passwords(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    """Attempts are counted before the password is checked, atomically: 40 at once cannot get more
    than five passwords checked before the lock (it was 30-60 per window)."""
    staff = await staff_factory(service.id)
    answers = await asyncio.gather(*(post_password(client, staff.email, f"guess number {i}") for i in range(40)))
    assert {a.status for a in answers} == {400}
    rows = await audit_rows(sessions, service.id, actor=f"staff:{staff.id}")
    checked = [r for r in rows if (r.action, r.outcome) == ("login.password", "failure")]
    assert len(checked) == 5
    assert [r for r in rows if r.action == "login.lockout"] != []
    assert (await user_row(sessions, staff)).locked_until is not None
