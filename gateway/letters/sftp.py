"""Upload a written print batch to the mail house by SFTP (asyncssh), when GATEWAY_LETTERS_SFTP_HOST is set.

Without it the batch stays in GATEWAY_LETTERS_DIR (embedded mode: the sandbox mailroom page lists it).
The PDF goes first and the manifest last, each under a temporary name renamed into place, so the mail
house never picks up a manifest whose PDF is still arriving. Uploading again overwrites the same
names: safe after a crash. The host key is checked against GATEWAY_LETTERS_SFTP_KNOWN_HOSTS.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from gateway.db import LetterBatch
from gateway.db.base import utcnow
from gateway.settings import Settings


async def upload_batch(settings: Settings, batch: LetterBatch) -> datetime | None:
    """Upload the batch's two files; when they were uploaded, or None when no mail house is configured."""
    if not settings.letters_sftp_host or not batch.pdf_path or not batch.manifest_path:
        return None
    import asyncssh

    known_hosts = str(settings.letters_sftp_known_hosts) if settings.letters_sftp_known_hosts else None
    async with (
        asyncssh.connect(
            settings.letters_sftp_host,
            port=settings.letters_sftp_port,
            username=settings.letters_sftp_username,
            password=settings.letters_sftp_password,
            known_hosts=known_hosts,
            client_keys=None,
        ) as connection,
        connection.start_sftp_client() as sftp,
    ):
        for local in (Path(batch.pdf_path), Path(batch.manifest_path)):
            remote = f"{settings.letters_sftp_path.rstrip('/')}/{local.name}"
            await sftp.put(str(local), remote + ".part")
            await sftp.posix_rename(remote + ".part", remote)
    return utcnow()
