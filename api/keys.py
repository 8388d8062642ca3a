"""API keys over HTTP, for the admin key: create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import Principal, principal, require_admin
from api.errors import ApiError
from api.services import Services, services

router = APIRouter(prefix="/v1/keys", tags=["keys"])
Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]


class NewKey(BaseModel):
    kbs: list[str] = Field(min_length=1, description="The knowledge bases the key may use")
    write: bool = Field(False, description="Also upload and delete documents")


@router.post("", status_code=201)
def create_key(body: NewKey, caller: Caller, found: Found) -> dict[str, Any]:
    """A new key for existing KBs; `key` is in this response only (just its hash is stored)."""
    require_admin(caller, "managing keys")
    missing = [kb for kb in body.kbs if not found.stores.sql.kb_exists(kb)]
    if missing:
        raise ApiError(404, "kb_not_found", f"no knowledge base named {', '.join(map(repr, missing))}")
    key_id, secret = found.keys.create(body.kbs, can_write=body.write)
    return {"id": key_id, "key": secret, "kbs": sorted(set(body.kbs)), "write": body.write}


@router.get("")
def list_keys(caller: Caller, found: Found) -> dict[str, Any]:
    """Every key's id, KBs and access (never a key or its hash)."""
    require_admin(caller, "managing keys")
    return {"keys": found.keys.list()}


@router.delete("/{key_id}")
def revoke_key(key_id: str, caller: Caller, found: Found) -> dict[str, str]:
    """Revoke a key: requests with it are refused at once."""
    require_admin(caller, "managing keys")
    if not found.keys.revoke(key_id):
        raise ApiError(404, "key_not_found", f"no key with id {key_id!r}")
    return {"revoked": key_id}
