"""A real SMTP server (aiosmtpd) for tests and benchmarks, run in the caller's event loop.

`FakeSmtpServer` records every accepted message (parsed `EmailMessage` + envelope), counts
connections, can speak implicit TLS or STARTTLS with a certificate made at run time (trust it with
`server.client_tls_context`), can require AUTH LOGIN/PLAIN with one username and password, and can
be scripted to answer the next MAIL / RCPT / DATA with a given reply ("451 4.3.0 Try later").
`stop()` also drops open connections, so a test can take it down and `start()` it again on the
same port.

Standalone (for benchmarks, in another process): `python -m tests.fakes.smtp_server --port 2525`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
import tempfile
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TlsMode = Literal["none", "starttls", "tls"]
DISCONNECT = "421 4.4.2 (connection dropped)"  # script() this to drop the connection instead


def make_test_tls(hostname: str = "localhost") -> tuple[ssl.SSLContext, ssl.SSLContext, str]:
    """A throwaway CA and a server certificate for localhost/127.0.0.1: (server ctx, client ctx, CA PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    names = [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain only reads files
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert.public_bytes(pem))
        key_file.write_bytes(key_pem)
        server.load_cert_chain(cert_file, key_file)
    ca_pem = ca.public_bytes(pem).decode()
    return server, ssl.create_default_context(cadata=ca_pem), ca_pem


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    peer: Any
    authenticated_as: str | None
    tls: bool  # the message came over TLS (implicit or STARTTLS)
    received_at: float = field(default_factory=time.time)


class FakeSmtpServer:
    """One aiosmtpd server on 127.0.0.1 (port 0 = an ephemeral port, kept across stop/start)."""

    def __init__(
        self,
        *,
        port: int = 0,
        tls: TlsMode = "none",
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        record: bool = True,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.username, self.password = username, password
        self.record = record  # False for long benchmark runs: count only
        self.messages: list[ReceivedMail] = []
        self.accepted = 0
        self.connections = 0
        self.auth_failures = 0
        self._replies: defaultdict[str, deque[str]] = defaultdict(deque)
        self._server: asyncio.AbstractServer | None = None
        self._protocols: list[SMTP] = []
        self.server_tls_context: ssl.SSLContext | None = None
        self.client_tls_context: ssl.SSLContext | None = None  # trusts the test CA
        self.ca_pem = ""
        if tls != "none":
            self.server_tls_context, self.client_tls_context, self.ca_pem = make_test_tls()

    def script(self, command: Literal["MAIL", "RCPT", "DATA"], *replies: str) -> None:
        """Answer the next `command`s with these replies ("550 5.1.1 No such user", DISCONNECT), not 250."""
        self._replies[command].extend(replies)

    # --- aiosmtpd handler hooks -------------------------------------------------------------
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.username and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if reply := self._next("MAIL", server):
            return reply
        envelope.mail_from, envelope.mail_options = address, list(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if reply := self._next("RCPT", server):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if reply := self._next("DATA", server):
            return reply
        self.accepted += 1
        if not self.record:
            return "250 2.0.0 Message accepted for delivery"
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.messages.append(
            ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), message, raw, session.peer, user, tls)
        )
        return "250 2.0.0 Message accepted for delivery"

    def _next(self, command: str, server: SMTP) -> str | None:
        queue = self._replies[command]
        reply = queue.popleft() if queue else None
        if reply == DISCONNECT and isinstance(server.transport, asyncio.Transport):
            server.transport.abort()  # drop the connection without a reply, as a dead peer would
        return reply

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
            self.username,
            self.password,
        )
        if not ok:
            self.auth_failures += 1
            return AuthResult(success=False, handled=False)  # handled=True would leave the client hanging
        return AuthResult(success=True, auth_data=data)

    # --- lifecycle ----------------------------------------------------------------------------
    def _factory(self) -> SMTP:
        self.connections += 1
        smtp = SMTP(
            self,
            hostname="fake-smtp.test",
            loop=asyncio.get_running_loop(),
            enable_SMTPUTF8=True,
            tls_context=self.server_tls_context if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            authenticator=self._authenticate if self.username else None,
            auth_require_tls=self.tls == "starttls",
        )
        self._protocols.append(smtp)
        return smtp

    async def start(self) -> FakeSmtpServer:
        ssl_context = self.server_tls_context if self.tls == "tls" else None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, self.host, self.port, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every open connection (as a crashed server would)."""
        if self._server is not None:
            self._server.close()
            for smtp in self._protocols:
                if smtp.transport is not None:
                    smtp.transport.close()
            self._protocols.clear()
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)

    async def __aenter__(self) -> FakeSmtpServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _serve(port: int, tls: TlsMode, ca_file: str | None) -> None:
    server = await FakeSmtpServer(port=port, tls=tls, record=False).start()
    if ca_file and server.ca_pem:
        await asyncio.to_thread(Path(ca_file).write_text, server.ca_pem)
    print(f"fake SMTP on 127.0.0.1:{server.port} ({tls})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a recording SMTP server (aiosmtpd)")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    parser.add_argument("--ca-file", help="write the test CA here (PEM) for a client to trust")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.tls, args.ca_file))


if __name__ == "__main__":
    main()
