"""API for requests to an outside CA and certificate downloads (issue 17: "Requests",
"downloads in every export format"): each route calls :mod:`certmgr.app.requests` or
:mod:`certmgr.app.downloads`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from certmgr.app import downloads, requests
from certmgr.errors import InputError, PKIError
from certmgr.web.api import _ERRORS, Limit, Name, Offset, PageOut, page_out
from certmgr.web.console import Console
from certmgr.web.security import ApiError

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)

PKCS10 = "application/pkcs10"
PublicFormat = Literal["pem", "der", "chain", "fullchain", "p7b"]
KeyFormat = Literal["pem", "fullchain", "combined", "p12", "jks"]


def _repo(request: Request) -> Any:
    console: Console = request.app.state.console
    return console.repository()


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: Name


class RequestOut(BaseModel):
    id: int
    definition: str
    created: str
    csr_pem: str


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    certificate: Annotated[str, Field(min_length=1, max_length=requests.MAX_ANSWER,
                                      description="The CA's certificate, then its chain, PEM")]


@router.get("/requests", response_model=PageOut)
def pending(request: Request, offset: Offset = 0, limit: Limit = 50) -> PageOut:
    """Requests waiting for an outside CA's certificate, oldest first."""
    console: Console = request.app.state.console
    return page_out(console.requests(offset, limit))


@router.post("/requests", status_code=201, response_model=RequestOut)
def new_request(request: Request, body: RequestIn) -> RequestOut:
    """A new key and CSR for a definition (``certmgr request``), pending until received."""
    made = requests.new_request(_repo(request), body.definition)
    return RequestOut(id=made.id, definition=made.definition, created=made.created.isoformat(),
                      csr_pem=made.csr_pem)


@router.get("/requests/{name}/csr.pem", response_class=Response,
            responses={200: {"content": {PKCS10: {"schema": {"type": "string"}}},
                             "description": "The newest pending request's CSR, PEM"}})
def csr(request: Request, name: Name) -> Response:
    """The CSR of a definition's newest pending request, to send to the CA."""
    return Response(requests.pending_csr(_repo(request), name), media_type=PKCS10,
                    headers={"content-disposition": f'attachment; filename="{name}.csr"'})


@router.post("/requests/{name}/receive", status_code=201, response_model=dict[str, Any])
def receive(request: Request, name: Name, body: AnswerIn) -> dict[str, Any]:
    """Store the CA's answer under the definition's pending request with its key
    (``certmgr receive``); the certificate's names must be the definition's."""
    try:
        record = requests.receive_answer(_repo(request), name, body.certificate)
    except PKIError as exc:
        raise ApiError(422, "invalid", exc.message) from None
    return {"definition": record.definition, "version": record.version,
            "serial": record.serial, "not_after": record.not_after.isoformat()}


def _file(found: downloads.Download) -> Response:
    return Response(found.data, media_type=found.media_type, headers={
        "content-disposition": f'attachment; filename="{found.filename}"'})


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_FILE: dict[int | str, dict[str, Any]] = {200: {
    "content": {media: _BINARY for media in sorted(set(downloads.MEDIA_TYPES.values()))},
    "description": "The file"}}


@router.get("/certificates/{name}/export/{fmt}", response_class=Response, responses=_FILE)
def public_export(request: Request, name: Name, fmt: PublicFormat) -> Response:
    """The current certificate without its key: ``pem``, ``der``, ``chain`` (the
    intermediates), ``fullchain``, ``p7b`` (PKCS#7)."""
    return _file(downloads.public_download(_repo(request), name, fmt))


class KeyExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: KeyFormat
    password: Annotated[str, Field(min_length=1, max_length=1024,
                                   description="Your own password, entered again")]
    keystore_password: Annotated[str, Field(
        min_length=1, max_length=downloads.MAX_KEYSTORE_PASSWORD)] | None = None
    alias: Annotated[str, Field(min_length=1, max_length=64,
                                pattern=r"^[A-Za-z0-9_.@-]+$")] | None = None

    @model_validator(mode="after")
    def _keystore_password(self) -> KeyExportIn:
        if self.format in ("p12", "jks") and not self.keystore_password:
            raise ValueError(f"a {self.format} keystore needs keystore_password")
        return self


@router.post("/certificates/{name}/export", response_class=Response, responses=_FILE)
def key_export(request: Request, name: Name, body: KeyExportIn) -> Response:
    """The current certificate with its private key in a ``certmgr export`` format (admins
    only, with their password entered again; audited; several files come as a zip)."""
    try:
        found = downloads.key_download(
            _repo(request), name, body.format, user=request.state.user.name,
            password=body.password, keystore_password=body.keystore_password,
            alias=body.alias)
    except PKIError as exc:
        raise ApiError(409, "no_key", exc.message) from None
    except InputError as exc:
        raise ApiError(403, "forbidden", exc.message) from None
    return _file(found)
