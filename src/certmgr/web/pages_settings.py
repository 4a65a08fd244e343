"""The admin's settings screens: issuers (their settings, secrets shown as ``stored``;
add an ACME issuer) and the notification channels (read-only, where they are
configured; send a test notice as a job)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from certmgr.app import issuers as iss
from certmgr.app.notifications import notification_settings
from certmgr.errors import CertmgrError, InputError, UsageError
from certmgr.web.api_settings import IssuerIn, add_issuer, test_job
from certmgr.web.console import Console
from certmgr.web.pages import _render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Short = Annotated[str, Form(max_length=255)]
Url = Annotated[str, Form(max_length=2048)]


def _issuers(request: Request, status: int = 200, error: str = "",
             added: str = "", changed: bool = False, offset: int = 0) -> Response:
    console: Console = request.app.state.console
    found = console.issuers(max(0, min(offset, 10_000_000)), 50)
    return _render(request, "issuers.html", status, issuers=found.items, page=found,
                   error=error, added=added, changed=changed)


@router.get("/settings/issuers")
def issuers(request: Request, added: str = "", changed: str = "", offset: int = 0
            ) -> Response:
    return _issuers(request, added=added[:128], changed=bool(changed), offset=offset)


@router.post("/settings/issuers")
def create_issuer(request: Request, name: Short, directory: Url, contacts: Url = "",
                  agree_tos: Annotated[str, Form(max_length=8)] = "",
                  eab_kid: Short = "", eab_hmac_key: Annotated[str, Form(max_length=512)] = "",
                  profile: Annotated[str, Form(max_length=64)] = "",
                  ca_bundle: Annotated[str, Form(max_length=4096)] = "",
                  staging_directory: Url = "",
                  no_ari: Annotated[str, Form(max_length=8)] = "",
                  preferred_chain: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The add form: the CLI's validation; an error shows the form again with it."""
    try:
        body = IssuerIn(name=name, directory=directory,
                        contacts=[c for c in contacts.replace(",", " ").split() if c],
                        agree_tos=bool(agree_tos), eab_kid=eab_kid or None,
                        eab_hmac_key=eab_hmac_key or None, profile=profile or None,
                        ca_bundle=ca_bundle or None,
                        staging_directory=staging_directory or None, ari=not no_ari,
                        preferred_chain=preferred_chain or None)
        add_issuer(request, body)
    except CertmgrError as exc:
        status = 422 if isinstance(exc, (InputError, UsageError)) else 409
        return _issuers(request, status, error=exc.message)
    except ValidationError as exc:  # the API's bounds on a field
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _issuers(request, 422, error=f"{where}: {first.get('msg', 'invalid')}"[:300])
    return RedirectResponse(f"/settings/issuers?added={name}", status_code=303)


@router.post("/settings/issuers/{name}/edit")
def edit_issuer(request: Request, name: str,
                profile: Annotated[str, Form(max_length=64)] = "",
                staging_directory: Url = "",
                preferred_chain: Annotated[str, Form(max_length=200)] = "",
                ca_bundle: Annotated[str, Form(max_length=4096)] = "",
                ari: Annotated[str, Form(max_length=8)] = "") -> Response:
    """The edit form of an ACME issuer: every field as shown (empty clears it)."""
    console: Console = request.app.state.console
    try:
        iss.edit_acme(console.repository(), name[:128], profile=profile,
                      staging_directory=staging_directory, ari=bool(ari),
                      preferred_chain=preferred_chain, ca_bundle=ca_bundle)
    except CertmgrError as exc:
        status = 422 if isinstance(exc, (InputError, UsageError)) else 404
        return _issuers(request, status, error=exc.message)
    return RedirectResponse(f"/settings/issuers?added={name[:128]}&changed=1",
                            status_code=303)


@router.get("/settings/notifications")
def notifications(request: Request) -> Response:
    console: Console = request.app.state.console
    return _render(request, "notifications.html",
                   settings=notification_settings(console.home))


@router.post("/settings/notifications/test")
def notification_test(request: Request) -> Response:
    job = test_job(request)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
