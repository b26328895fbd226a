"""What a request knows about the browser in front of it: its session and, once signed in, the staff member."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from gateway.domain import Role, ServiceKind


class Stage(StrEnum):
    """How far a session has got through sign-in."""

    TOTP = "totp"  # password checked; a code from the authenticator app is next
    ENROL = "enrol"  # password checked; no authenticator yet, so one is set up first
    FULL = "full"  # signed in


@dataclass(frozen=True, slots=True)
class WebSession:
    """A session row as a request sees it. `csrf_token` is derived from the id the browser holds."""

    id_hash: str
    staff_id: uuid.UUID
    service_id: uuid.UUID
    stage: Stage
    csrf_token: str
    pending_totp_secret_enc: str | None


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """The service a signed-in staff member belongs to: every page is scoped to it."""

    id: uuid.UUID
    name: str
    kind: ServiceKind
    timezone: str = "UTC"  # IANA name: pages show times on this wall clock (gateway.localtime)


@dataclass(frozen=True, slots=True)
class StaffContext:
    """The signed-in staff member of a request (only for sessions at the `FULL` stage)."""

    session: WebSession
    user_id: uuid.UUID
    name: str
    email: str
    roles: frozenset[Role]
    service: ServiceInfo

    @property
    def service_id(self) -> uuid.UUID:
        return self.service.id

    @property
    def actor(self) -> str:
        """How the audit log names this person: by id, never by name or email."""
        return f"staff:{self.user_id}"

    def has_role(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles


def parse_roles(values: list[str]) -> frozenset[Role]:
    """Roles stored on a user; names this version does not know are ignored, never trusted."""
    known = {role.value: role for role in Role}
    return frozenset(known[v] for v in values if v in known)
