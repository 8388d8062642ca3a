"""Who is calling: the admin key (a setting), an API key scoped to KBs, the local CLI, or nobody in
open mode.

The local CLI holds the credential `rag serve` wrote beside the data-folder lock
(`rag.stores.server_record`), readable only by the OS user the server runs as: it is the admin,
and it alone may have the server read files from its own disk (`api/local.py`), which no API key,
not even the admin key, may.

Open mode: with no admin key and no API key at all, every request may do everything, and
`rag serve` binds to 127.0.0.1 only and says so. As soon as one key exists, every route but the
health checks needs one. A key that may not read a KB is told the KB does not exist (404), the
same answer as for a KB that does not, so keys cannot probe for other teams' KB names.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.services import Services, services
from rag.stores.sql.keys import Grant


class AuthError(Exception):
    """No usable credentials; `kind` is "missing", "malformed" or "invalid"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an admin (the admin key, the local credential, or anyone in open mode) or the
    holder of a scoped key; `local` when it sent the local credential."""

    admin: bool
    grant: Grant | None = None
    local: bool = False

    def can_read(self, kb: str) -> bool:
        return self.admin or (self.grant is not None and kb in self.grant.kbs)

    def can_write(self, kb: str) -> bool:
        return self.admin or (self.grant is not None and self.grant.can_write and kb in self.grant.kbs)

    @property
    def key_id(self) -> str | None:
        """The id of the caller's key; None for the admin key and open mode, which share their
        conversations (`api/conversations.py`)."""
        return None if self.grant is None else self.grant.key_id


def open_mode(found: Services) -> bool:
    return not found.settings.admin_key.get_secret_value() and not found.keys.any()


def bearer_token(header: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header; AuthError when absent or malformed."""
    if not header:
        raise AuthError("missing", "missing API key: send the header Authorization: Bearer <key>")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise AuthError("malformed", "malformed Authorization header: expected Authorization: Bearer <key>")
    return token.strip()


def local_caller(found: Services, header: str | None) -> bool:
    """Whether `header` carries the local credential of this server's record."""
    expected = found.local_credential
    if expected is None or not header:
        return False
    scheme, _, token = header.strip().partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        token.strip().encode(), expected.get_secret_value().encode()
    )


def authenticate(found: Services, header: str | None) -> Principal:
    if local_caller(found, header):
        return Principal(admin=True, local=True)
    if open_mode(found):
        return Principal(admin=True)
    token = bearer_token(header)
    admin_key = found.settings.admin_key.get_secret_value()
    if admin_key and secrets.compare_digest(token.encode(), admin_key.encode()):
        return Principal(admin=True)
    grant = found.keys.verify(token)
    if grant is None:
        raise AuthError("invalid", "invalid API key")
    return Principal(admin=False, grant=grant)


def principal(request: Request, found: Annotated[Services, Depends(services)]) -> Principal:
    """The dependency of the service's own routes: 401 without a valid key."""
    try:
        return authenticate(found, request.headers.get("authorization"))
    except AuthError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None


def readable_kb(caller: Principal, found: Services, kb: str) -> str:
    """`kb` when it exists and the caller may read it; else 404, whichever of the two failed."""
    if not caller.can_read(kb) or not found.stores.sql.kb_exists(kb):
        raise ApiError(404, "kb_not_found", f"no knowledge base named {kb!r}")
    return kb


def require_local(caller: Principal, what: str) -> None:
    """403 unless the caller sent the local credential: open mode and the admin key do not do."""
    if not caller.local:
        raise ApiError(403, "forbidden", f"{what} is only for the rag command of the user running rag serve")


def require_admin(caller: Principal, what: str) -> None:
    """403 unless the caller holds the admin key (or the service is in open mode)."""
    if not caller.admin:
        raise ApiError(403, "forbidden", f"{what} needs the admin key (RAG_ADMIN_KEY)")
