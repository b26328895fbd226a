"""Administrative actions shared by the CLI, the demo and (later) the admin pages."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import ApiKey, AuditEntry, Service
from gateway.domain import KeyType, ServiceKind
from gateway.localtime import UnknownZone, zone
from gateway.recipients import InvalidRecipient, normalise_email, normalise_phone
from gateway.sendtime.quiet_hours import BadWindow, parse_window

_KEY_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


class AdminError(ValueError):
    """A request an administrator can fix; the message says how."""


async def create_service(
    session: AsyncSession, name: str, kind: ServiceKind = ServiceKind.SUPERVISION, actor: str = "cli"
) -> Service:
    name = name.strip()
    if not name or len(name) > 255:
        raise AdminError("service name must be 1 to 255 characters")
    service = Service(id=uuid.uuid4(), name=name, kind=kind.value)
    session.add(service)
    await session.flush()  # the audit row refers to it
    session.add(AuditEntry(service_id=service.id, actor=actor, action="service.create", target=str(service.id)))
    return service


async def create_api_key(
    session: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    name: str,
    key_type: KeyType,
    actor: str = "cli",
) -> str:
    """Create a key and return it whole, `{name}-{service_id}-{secret}`: it is shown only once."""
    if not _KEY_NAME.match(name):
        raise AdminError("key name must be 1 to 64 letters, digits or underscores (no hyphens or spaces)")
    if await session.get(Service, service_id) is None:
        raise AdminError(f"no service with id {service_id}")
    taken = await session.scalar(select(ApiKey.id).where(ApiKey.service_id == service_id, ApiKey.name == name))
    if taken is not None:
        raise AdminError(f"this service already has a key named {name!r}")
    secret = str(uuid.uuid4())
    key = ApiKey(
        service_id=service_id, name=name, key_type=key_type.value, secret_enc=vault.seal(secret), created_by=actor
    )
    session.add(key)
    session.add(
        AuditEntry(
            service_id=service_id,
            actor=actor,
            action="api_key.create",
            target=name,
            detail={"key_type": key_type.value},
        )
    )
    return f"{name}-{service_id}-{secret}"


def _https_url(name: str, value: str) -> str:
    """Callback URLs must be https, as in Notify; plain http only to this machine (development)."""
    parsed = urlsplit(value)
    local = parsed.hostname in ("localhost", "127.0.0.1", "::1")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and local):
        raise AdminError(f"{name} must be an https:// URL (http only for localhost)")
    if not parsed.hostname:
        raise AdminError(f"{name} has no host")
    return value


async def update_service(
    session: AsyncSession, vault: Vault, service_id: uuid.UUID, *, actor: str = "cli", **changes: Any
) -> list[str]:
    """Set a service's senders, limits and callbacks; returns the names changed (never their values)."""
    service = await session.get(Service, service_id)
    if service is None:
        raise AdminError(f"no service with id {service_id}")
    for name, value in changes.items():
        if name == "sms_sender":
            if not MESSAGING_SERVICE_SID.match(value):
                try:
                    value = normalise_phone(value)
                except InvalidRecipient as exc:
                    raise AdminError(f"sms sender: {exc} (give +E.164 or a Messaging Service SID)") from None
            # Inbound texts find their service by the number they were sent to: one number, one service,
            # or a victim's reply could land in another unit's inbox.
            taken = await session.scalar(
                select(Service.name).where(Service.sms_sender == value, Service.id != service_id).limit(1)
            )
            if taken is not None:
                raise AdminError(f"sms sender {value} is already used by the service {taken!r}")
            service.sms_sender = value
        elif name == "email_from":
            try:
                service.email_from = normalise_email(value)
            except InvalidRecipient as exc:
                raise AdminError(f"email from: {exc}") from None
        elif name == "reply_domain":
            if not _DOMAIN.match(value):
                raise AdminError("reply domain must be a domain name such as replies.agency.example")
            service.email_reply_domain = value.lower()
        elif name == "contact_text":
            service.contact_text = value.strip() or None
        elif name in ("sms_per_second", "daily_limit", "broadcast_approval_threshold"):
            if value < 1:
                raise AdminError(f"{name.replace('_', ' ')} must be at least 1")
            setattr(service, name, value)
        elif name == "timezone":
            try:
                service.timezone = str(zone(value))
            except UnknownZone as exc:
                raise AdminError(f"timezone: {exc}") from None
        elif name == "quiet_hours":
            try:
                parse_window(value)
            except BadWindow as exc:
                raise AdminError(f"quiet hours: {exc}") from None
            service.quiet_hours = value.strip().lower()
        elif name in ("callback_url", "inbound_callback_url", "returned_letter_callback_url"):
            setattr(service, name, _https_url(name.replace("_", " "), value))
        elif name in ("callback_token", "inbound_callback_token", "returned_letter_callback_token"):
            if len(value) < 10:
                raise AdminError(f"{name.replace('_', ' ')} must be at least 10 characters")
            setattr(service, f"{name}_enc", vault.seal(value))
        elif name == "letter_contact_block":  # the return address and letterhead lines ("\n" between lines)
            lines = [line.strip() for line in value.replace("\\n", "\n").splitlines() if line.strip()]
            service.letter_contact_block = "\n".join(lines) or None
        elif name == "letter_logo":  # the file's bytes (gateway.letters.logo)
            from gateway.letters.logo import check_logo, store_logo

            if (problem := check_logo(value)) is not None:
                raise AdminError(f"letter logo: {problem}")
            await store_logo(session, service, value)
        else:
            raise AdminError(f"unknown setting {name}")
    session.add(
        AuditEntry(
            service_id=service_id,
            actor=actor,
            action="service.update",
            target=str(service_id),
            detail={"changed": sorted(changes)},
        )
    )
    return sorted(changes)
