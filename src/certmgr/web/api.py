"""The REST API under ``/api/v1``: what the screens do, as JSON, for Bearer tokens.

Each route calls the application layer only; long operations answer 202 with a job.
Errors are ``{"error": {"code", "message"}}`` (see :mod:`certmgr.web.app`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from certmgr.app import users as uc
from certmgr.app.definitions import definition_view
from certmgr.app.views import Page
from certmgr.errors import InputError
from certmgr.web.console import Console
from certmgr.web.security import ApiError, require_hosts

__all__ = ["router"]

Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.*:@-]+$")]
DnsName = Annotated[str, Field(min_length=1, max_length=253)]
Target = Annotated[str, Field(min_length=1, max_length=512)]
Duration = Annotated[str, Field(min_length=2, max_length=8, pattern=r"^[0-9]{1,7}[smhd]$")]
StateFilter = Literal["expired", "renew", "valid", "none", "revoked"]
KeyType = Literal["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096", "ed25519"]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in ((400, "Bad request"), (401, "No valid token"),
                         (403, "Not allowed"), (404, "Not found"), (409, "Conflict"),
                         (422, "Invalid input"))}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)


class DefinitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    cn: DnsName
    sans: list[DnsName] = Field(default_factory=list, max_length=100)
    key: KeyType = "ec256"
    validity: Duration = "397d"
    renew_before: Duration = "30d"
    issuer: Name = "builtin"
    targets: list[Target] = Field(default_factory=list, max_length=200)


class DefinitionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cn: DnsName | None = None
    sans: list[DnsName] | None = Field(default=None, max_length=100)
    key: KeyType | None = None
    validity: Duration | None = None
    renew_before: Duration | None = None
    issuer: Name | None = None
    targets: list[Target] | None = Field(default=None, max_length=200)


class DeploymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: Name
    targets: list[Target] | None = Field(default=None, max_length=200)
    dry_run: bool = False


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_.-]*$")]
    role: Literal["viewer", "operator", "admin"]
    hosts: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=32)


class JobOut(BaseModel):
    id: str
    kind: str
    subject: str
    user: str
    state: Literal["queued", "running", "succeeded", "failed"]
    created: str
    finished: str | None
    items: list[dict[str, Any]]
    error: str | None


class PageOut(BaseModel):
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


class ListOut(BaseModel):
    items: list[dict[str, Any]]


def page_out(p: Page, items: list[dict[str, Any]] | None = None) -> PageOut:
    """The API's answer for a page (``items``: the page's items as JSON by default)."""
    return PageOut(items=[i.to_json() for i in p.items] if items is None else items,
                   total=p.total, offset=p.offset, limit=p.limit)


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _user(request: Request) -> uc.UserRecord:
    user: uc.UserRecord = request.state.user
    return user


Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/status", response_model=dict[str, Any])
def status(request: Request) -> dict[str, Any]:
    """Problems first, then every certificate's state (``certmgr status --json``)."""
    return _console(request).status().to_json()


@router.get("/certificates", response_model=PageOut)
def certificates(request: Request, offset: Offset = 0, limit: Limit = 50,
                 state: Annotated[StateFilter | None, Query()] = None) -> PageOut:
    """Current certificates (and definitions without one), soonest expiry first; with
    ``state`` only those in it (``none``: no certificate; ``revoked``: the newest one was
    revoked and none replaced it)."""
    p = _console(request).certificates(offset, limit, state=state)
    return PageOut(items=[r.to_json() for r in p.items], total=p.total, offset=p.offset,
                   limit=p.limit)


@router.get("/certificates/{name}", response_model=dict[str, Any])
def certificate(request: Request, name: Name) -> dict[str, Any]:
    """A definition's current certificate with its chain described, and its versions."""
    detail: dict[str, Any] = _console(request).certificate(name).to_json()
    return detail


PEM_CHAIN = "application/pem-certificate-chain"  # RFC 8555's media type


@router.get("/certificates/{name}/chain.pem", response_class=Response,
            responses={200: {"content": {PEM_CHAIN: {"schema": {"type": "string"}}},
                             "description": "The certificate, then its chain, in PEM"}})
def certificate_chain(request: Request, name: Name) -> Response:
    """The current certificate and its chain in PEM (public material only)."""
    return Response(_console(request).chain_pem(name), media_type=PEM_CHAIN, headers={
        "content-disposition": f'attachment; filename="{name}.pem"'})


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class KeyOut(BaseModel):
    definition: str
    key_pem: str


@router.post("/certificates/{name}/key", response_model=KeyOut)
def certificate_key(request: Request, name: Name, body: KeyRequest) -> KeyOut:
    """The current private key (admins only, with their password entered again; audited)."""
    from certmgr.app.console import certificate_key as key_of

    try:
        pem = key_of(_console(request).repository(), name, user=_user(request).name,
                     password=body.password)
    except InputError as exc:
        raise ApiError(403, "forbidden", exc.message) from None
    return KeyOut(definition=name, key_pem=pem.decode())


class AcmeOut(BaseModel):
    """An ACME definition's challenge settings (stored secrets shown as ``stored``)."""

    challenge: str | None = None
    webroot: str | None = None
    standalone_port: int | None = None
    dns_server: str | None = None
    tsig_key: Literal["stored"] | None = None
    dns_hook: str | None = None
    dns_provider: str | None = None
    dns_credentials: Literal["stored"] | None = None
    profile: str | None = None


class DefinitionOut(BaseModel):
    """A definition as the CLI shows it (``app.definitions.definition_view``): durations
    as ``90d``; for ACME the lifetime and renew-before are null unless given."""

    name: str
    cn: str
    sans: list[str]
    key: str
    validity: str | None
    renew_before: str | None
    issuer: str | None
    targets: list[str]
    issuers: list[str] | None = None
    acme: AcmeOut | None = None


class DefinitionsOut(BaseModel):
    items: list[DefinitionOut]
    total: int
    offset: int
    limit: int


NamePart = Annotated[str | None, Query(max_length=255,
                                       description="only definitions whose name holds this "
                                                   "(any case)")]


@router.get("/definitions", response_model=DefinitionsOut, response_model_exclude_unset=True)
def definitions(request: Request, offset: Offset = 0, limit: Limit = 50,
                q: NamePart = None) -> dict[str, Any]:
    """Definitions by name, a page at a time."""
    p = _console(request).definitions(offset, limit, q=q)
    return {"items": [definition_view(d) for d in p.items], "total": p.total,
            "offset": p.offset, "limit": p.limit}


@router.get("/definitions/{name}", response_model=DefinitionOut,
            response_model_exclude_unset=True)
def definition(request: Request, name: Name) -> dict[str, Any]:
    return definition_view(_console(request).definition(name))


@router.post("/definitions", status_code=201, response_model=dict[str, Any])
def define(request: Request, body: DefinitionIn) -> dict[str, Any]:
    """Create a definition with the CLI's validation (409 if it exists)."""
    saved = _console(request).define(**body.model_dump())
    return {"definition": definition_view(saved.definition), "warnings": list(saved.warnings)}


@router.put("/definitions/{name}", response_model=dict[str, Any])
def edit(request: Request, name: Name, body: DefinitionChange) -> dict[str, Any]:
    saved = _console(request).edit(name, **body.model_dump())
    return {"definition": definition_view(saved.definition), "status": saved.status,
            "warnings": list(saved.warnings)}


@router.delete("/definitions/{name}", status_code=204)
def delete(request: Request, name: Name,
           with_certificates: Annotated[bool, Query()] = False) -> None:
    """Delete a definition (with certificates: only ``with_certificates=true``, else 409)."""
    _console(request).delete(name, with_certificates=with_certificates)


@router.post("/definitions/{name}/issue", status_code=202, response_model=JobOut)
def issue(request: Request, name: Name) -> dict[str, Any]:
    """Issue (or renew) a definition's certificate, as a job."""
    return _console(request).issue_job(name, _user(request).name).to_json()


@router.get("/hosts", response_model=PageOut)
def hosts(request: Request, offset: Offset = 0, limit: Limit = 50) -> PageOut:
    """Hosts (``local`` first, then by name) with their discovered slots."""
    p = _console(request).hosts(offset, limit)
    return page_out(p, list(p.items))


@router.post("/hosts/{host:path}/discover", status_code=202,  # SSH names hold "/"
             response_model=JobOut)
def discover(request: Request, host: Annotated[str, Field(min_length=1, max_length=255)]
             ) -> dict[str, Any]:
    """Read the server programs' configuration on a host and store its slots, as a job."""
    return _console(request).discover_job(host, _user(request).name).to_json()


@router.get("/deployments", response_model=PageOut)
def deployments(request: Request, offset: Offset = 0, limit: Limit = 50) -> PageOut:
    """Deployments, newest first."""
    return page_out(_console(request).deployments(offset, limit))


@router.post("/deployments", status_code=202, response_model=JobOut)
def deploy(request: Request, body: Annotated[DeploymentIn, Body()]) -> dict[str, Any]:
    """Deploy a definition to its targets (default: all of its own), as a job."""
    console = _console(request)
    chosen = console.deployment_targets(body.definition, body.targets)
    require_hosts(request, [host for _, host in chosen])
    return console.deploy_job(body.definition, [t for t, _ in chosen], _user(request).name,
                              dry_run=body.dry_run).to_json()


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Target
    to: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    dry_run: bool = False


@router.post("/rollbacks", status_code=202, response_model=JobOut)
def rollback(request: Request, body: RollbackIn) -> dict[str, Any]:
    """Go back on purpose to the certificate of an earlier deployment of a slot (``to``,
    or the verified one before the current), as a new deployment, as a job."""
    return _console(request).rollback_job(
        body.target, body.to, _user(request).name,
        lambda hosts: require_hosts(request, hosts), dry_run=body.dry_run).to_json()


@router.get("/jobs/{job_id}", response_model=JobOut)
def job(request: Request,
        job_id: Annotated[str, Field(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")]
        ) -> dict[str, Any]:
    found = _console(request).jobs.get(job_id)
    if found is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return found.to_json()


class AuditOut(BaseModel):
    items: list[dict[str, Any]]
    offset: int
    limit: int
    next_offset: int | None = Field(description="the offset of the next (older) page, "
                                                 "null on the last page")


AuditText = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:@/*-]*$")]
AuditDate = Annotated[str | None, Query(
    max_length=32, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]{5,15}([+-][0-9:]{5}|Z)?)?$",
    description="an ISO date (until: the whole day) or date and time, UTC when no zone")]


@router.get("/audit", response_model=AuditOut)
def audit(request: Request, limit: Limit = 100, offset: Annotated[int, Query(
              ge=0, le=1_000_000)] = 0,
          action: AuditText = None, actor: AuditText = None,
          subject: Annotated[str | None, Query(max_length=255,
                                               description="a part of the object")] = None,
          since: AuditDate = None, until: AuditDate = None,
          result: Annotated[Literal["ok", "refused"] | None, Query()] = None) -> AuditOut:
    """Audit events, newest first, filtered (every filter optional), a page at a time."""
    from certmgr.app.audit import audit_filter, audit_page

    where = audit_filter(action=action, actor=actor, subject=subject, since=since,
                         until=until, result=result)
    found = audit_page(_console(request).repository(), where, offset=offset, limit=limit)
    return AuditOut(items=[e.to_json() for e in found.events], offset=found.offset,
                    limit=found.limit,
                    next_offset=found.offset + found.limit if found.more else None)


@router.get("/users", response_model=PageOut)
def users(request: Request, offset: Offset = 0, limit: Limit = 50) -> PageOut:
    """Users by name."""
    return page_out(_console(request).users(offset, limit))


@router.post("/users", status_code=201, response_model=dict[str, Any])
def add_user(request: Request, body: UserIn) -> dict[str, Any]:
    """Add a user; its one-time password is in the answer, once."""
    new = _console(request).add_user(body.name, body.role, body.hosts)
    return {"user": new.user.to_json(), "one_time_password": new.one_time_password}


@router.delete("/users/{name}", status_code=204)
def remove_user(request: Request,
                name: Annotated[str, Field(min_length=1, max_length=64)]) -> None:
    _console(request).remove_user(name)


@router.get("/tokens", response_model=PageOut)
def tokens(request: Request, offset: Offset = 0, limit: Limit = 50) -> PageOut:
    """API tokens (never a token itself), oldest first."""
    return page_out(_console(request).tokens(offset, limit))


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(request: Request,
                 token_id: Annotated[int, Field(ge=1, le=2**31 - 1)]) -> None:
    _console(request).revoke_token(token_id)
