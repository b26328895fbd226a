"""The print batch uploaded to a real SFTP server (asyncssh's, in process): PDF first, manifest last,
each under a temporary name renamed into place; the mail house's host key checked, and a batch whose
upload failed (an unknown host key) uploaded by the next run, once."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.utils import CryptographyDeprecationWarning
from sqlalchemy import select

from gateway.db import LetterBatch
from gateway.db.base import utcnow
from gateway.jobs.context import close_job_context, open_job_context
from gateway.letters import batch as batches
from tests.conftest import test_settings as settings_for
from tests.letters.helpers import settle
from tests.letters.test_batch import send

with warnings.catch_warnings():  # asyncssh still imports DSA support, deprecated by cryptography
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import asyncssh

USER, PASSWORD = "mailhouse", "sftp-password-for-tests"


class MailHouse(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return (username, password) == (USER, PASSWORD)


@pytest.fixture
async def mail_house(tmp_path: Path) -> AsyncIterator[tuple[Path, list[tuple[str, ...]], int, asyncssh.SSHKey]]:
    """An SFTP server rooted at tmp/mailhouse, recording each file opened for writing and each rename."""
    root = tmp_path / "mailhouse"
    (root / "inbox").mkdir(parents=True)
    operations: list[tuple[str, ...]] = []

    class Recording(asyncssh.SFTPServer):
        def __init__(self, chan: asyncssh.SSHServerChannel) -> None:  # type: ignore[type-arg]
            super().__init__(chan, chroot=str(root).encode())

        def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
            if pflags & asyncssh.FXF_WRITE:
                operations.append(("write", path.decode()))
            return super().open(path, pflags, attrs)

        def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
            operations.append(("rename", oldpath.decode(), newpath.decode()))
            super().posix_rename(oldpath, newpath)

    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.listen(
        "127.0.0.1", 0, server_factory=MailHouse, server_host_keys=[key], sftp_factory=Recording
    )
    port = server.sockets[0].getsockname()[1]
    yield root, operations, port, key
    server.close()
    await server.wait_closed()


async def test_batch_is_uploaded_pdf_first_manifest_last(  # type: ignore[no-untyped-def]
    client, service, sessions, database_url: str, tmp_path: Path, mail_house: Any
) -> None:
    root, operations, port, key = mail_house
    known = tmp_path / "known_hosts"
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    known.write_text(f"[127.0.0.1]:{port} {other_key.export_public_key().decode()}")  # not the server's key yet
    settings = settings_for(
        database_url,
        letters_dir=tmp_path / "batches",
        letters_sftp_host="127.0.0.1",
        letters_sftp_port=port,
        letters_sftp_username=USER,
        letters_sftp_password=PASSWORD,
        letters_sftp_known_hosts=known,
        letters_sftp_path="/inbox",
    )
    ctx = await open_job_context(settings)
    try:
        ids = [await send(client, service, postage="certified"), await send(client, service)]
        await settle(client)
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            await batches.run_batch(ctx, service.id, now=utcnow())
        assert operations == [] and list((root / "inbox").iterdir()) == []
        async with sessions() as db:
            [batch] = (await db.scalars(select(LetterBatch).where(LetterBatch.service_id == service.id))).all()
        assert batch.state == batches.WRITTEN and batch.uploaded_at is None  # written here, not yet sent

        known.write_text(f"[127.0.0.1]:{port} {key.export_public_key().decode()}")
        [report] = await batches.run_batch(ctx, service.id, now=utcnow())
    finally:
        await close_job_context(ctx)
    assert report.batch_id == batch.id and report.letters == 2  # the same batch, finished
    pdf, manifest = Path(report.pdf_path).name, Path(report.manifest_path).name
    assert operations == [
        ("write", f"/inbox/{pdf}.part"),
        ("rename", f"/inbox/{pdf}.part", f"/inbox/{pdf}"),
        ("write", f"/inbox/{manifest}.part"),
        ("rename", f"/inbox/{manifest}.part", f"/inbox/{manifest}"),
    ]
    assert sorted(p.name for p in (root / "inbox").iterdir()) == sorted([pdf, manifest])
    assert (root / "inbox" / pdf).read_bytes() == await asyncio.to_thread(Path(report.pdf_path).read_bytes)
    uploaded = (root / "inbox" / manifest).read_text()
    assert all(str(i) in uploaded for i in ids)
    async with sessions() as db:
        done = await db.get(LetterBatch, batch.id)
    assert done is not None and done.state == batches.SENT and done.uploaded_at is not None
    assert uuid.UUID(str(done.id)) == batch.id
