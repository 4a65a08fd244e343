"""``POST /api/v1/tokens`` (admin): a bearer token for a user, in the answer once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from certmgr.app import users as uc
from certmgr.errors import NotFound
from certmgr.web.api import _ERRORS, _console
from certmgr.web.security import ApiError

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_.-]*$")]
    name: Annotated[str, Field(min_length=1, max_length=64,
                               pattern=r"^[A-Za-z0-9 _.:@/-]+$")] = "token"
    expires: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}d$",
                                  description="lifetime, 1d to 3650d (as `token create "
                                              "--expires`)")] = "90d"


class TokenOut(BaseModel):
    token: str = Field(description="the bearer token: shown in this answer only")
    record: dict[str, Any]


@router.post("/tokens", status_code=201, response_model=TokenOut)
def create_token(request: Request, body: TokenIn) -> TokenOut:
    """Create a token acting as ``user`` with its role and host patterns; the token is in
    this answer once, the repository keeps its hash."""
    try:
        new = uc.create_token(_console(request).repository(), body.user,
                              expires=uc.parse_expiry(body.expires), name=body.name)
    except NotFound:
        raise ApiError(404, "not_found", f"no user {body.user}: add it first") from None
    return TokenOut(token=new.token, record=new.record.to_json())
