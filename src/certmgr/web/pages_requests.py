"""Screens for requests to an outside CA (pending CSRs to download, the CA's answer to
upload), a certificate's downloads in every format, adding an SSH host and one host's
page. Each route calls the application layer; forms carry the session's CSRF token."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from certmgr.app import downloads, requests
from certmgr.app import hosts as hosts_uc
from certmgr.app import users as uc
from certmgr.errors import CertmgrError, InputError, PKIError
from certmgr.web.console import Console
from certmgr.web.pages import _render, hosts_context, templates

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
# the certificate page's download buttons (certificate_downloads.html) list these
templates.env.globals.update(public_formats=downloads.PUBLIC_FORMATS,
                             key_formats=downloads.KEY_FORMATS)
Short = Annotated[str, Form(max_length=255)]


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _file(found: downloads.Download) -> Response:
    return Response(found.data, media_type=found.media_type, headers={
        "content-disposition": f'attachment; filename="{found.filename}"'})


# -- requests ---------------------------------------------------------------------------

def _requests_page(request: Request, status: int = 200, error: str = "",
                   received: Any = None, offset: int = 0) -> Response:
    """Pending requests, 50 at a time; a new request names its definition in a text field
    (checked by the server: a select of 100,000 definitions is no form)."""
    found = _console(request).requests(max(0, min(offset, 10_000_000)), 50)
    return _render(request, "requests.html", status, pending=found.items, page=found,
                   error=error, received=received, max_answer=requests.MAX_ANSWER)


@router.get("/requests")
def pending(request: Request, offset: int = 0) -> Response:
    return _requests_page(request, offset=offset)


@router.post("/requests")
def new_request(request: Request, definition: Short) -> Response:
    try:
        made = requests.new_request(_console(request).repository(), definition.strip())
    except CertmgrError as exc:
        return _requests_page(request, 422, exc.message)
    return RedirectResponse(f"/requests#request-{made.id}", status_code=303)


@router.get("/requests/{name}/csr.pem")
def csr(request: Request, name: str) -> Response:
    return Response(requests.pending_csr(_console(request).repository(), name[:255]),
                    media_type="application/pkcs10",
                    headers={"content-disposition": 'attachment; filename="request.csr"'})


@router.post("/requests/{name}/receive")
async def receive(request: Request, name: str,
                  certificate: Annotated[str, Form(max_length=requests.MAX_ANSWER)] = "",
                  file: UploadFile | None = None) -> Response:
    """The CA's answer pasted (``certificate``) or as a PEM file (``file``)."""
    text = certificate
    if file is not None and file.filename:
        data = await file.read(requests.MAX_ANSWER + 1)
        await file.close()
        if len(data) > requests.MAX_ANSWER:
            return await run_in_threadpool(
                _requests_page, request, 413,
                f"{file.filename[:100]}: over {requests.MAX_ANSWER} bytes: give the "
                "certificate and its chain only")
        text = data.decode("latin-1")  # anything not ASCII is refused as not PEM text
    return await run_in_threadpool(_receive, request, name[:255], text)


def _receive(request: Request, name: str, text: str) -> Response:
    try:
        record = requests.receive_answer(_console(request).repository(), name, text)
    except CertmgrError as exc:
        return _requests_page(request, 422, exc.message)
    return _requests_page(request, 201, received=record)


# -- downloads ---------------------------------------------------------------------------

@router.get("/certificates/{name}/export/{fmt}")
def public_export(request: Request, name: str, fmt: str) -> Response:
    return _file(downloads.public_download(_console(request).repository(), name[:255],
                                           fmt[:16]))


@router.post("/certificates/{name}/export")
def key_export(request: Request, name: str, format: Annotated[str, Form(max_length=16)],
               password: Annotated[str, Form(max_length=1024)],
               keystore_password: Annotated[str, Form(
                   max_length=downloads.MAX_KEYSTORE_PASSWORD)] = "",
               alias: Annotated[str, Form(max_length=64)] = "") -> Response:
    """A download with the private key: the admin's password again; audited."""
    console = _console(request)
    try:
        found = downloads.key_download(
            console.repository(), name[:255], format, user=request.state.user.name,
            password=password, keystore_password=keystore_password or None,
            alias=alias.strip() or None)
    except (PKIError, InputError) as exc:
        wrong = "password is not right" in exc.message
        return _render(request, "certificate.html", 403 if wrong else 422,
                       detail=console.certificate(name[:255]), key_error=exc.message)
    return _file(found)


# -- hosts ------------------------------------------------------------------------------

@router.post("/hosts")
def add_host(request: Request, url: Annotated[str, Form(max_length=512)],
             key: Annotated[str, Form(max_length=4096)],
             known_hosts: Annotated[str, Form(max_length=16 * 1024)],
             check: Annotated[str, Form(max_length=8)] = "") -> Response:
    console = _console(request)
    try:
        record = hosts_uc.add_ssh_host_line(console, url.strip(), key=key.strip(),
                                            known_hosts_line=known_hosts,
                                            check=check == "on")
    except CertmgrError as exc:
        return _render(request, "hosts.html", 422, **hosts_context(request),
                       add_error=exc.message,
                       add_form={"url": url, "key": key, "known_hosts": known_hosts})
    return RedirectResponse(f"/hosts/{quote(record.name)}", status_code=303)


@router.get("/hosts/{host:path}")
def host(request: Request, host: str) -> Response:
    detail = hosts_uc.host_detail(_console(request).repository(), host[:255])
    allowed = uc.host_allowed(request.state.user, detail.name)
    return _render(request, "host.html", host=detail, allowed=allowed)
