"""The REST API of the admin settings: issuers (without their secrets; add an ACME
issuer with the CLI's validation) and the monitor's notification channels (read-only:
they live in monitor.toml) with a test notice as a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from certmgr.app import issuers as iss
from certmgr.app import users as uc
from certmgr.app.audit import acting_as
from certmgr.app.notifications import notification_settings, send_test_notice
from certmgr.errors import UsageError
from certmgr.web.api import _ERRORS, JobOut, Limit, Offset, PageOut, page_out
from certmgr.web.console import Console
from certmgr.web.jobs import Job, Reporter

__all__ = ["add_issuer", "router", "test_job"]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)
Text = Annotated[str, Field(min_length=1, max_length=2048)]


class IssuerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=128)]
    directory: Text
    contacts: list[Annotated[str, Field(min_length=3, max_length=320)]] = Field(
        default_factory=list, max_length=10)
    agree_tos: bool = False
    eab_kid: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    eab_hmac_key: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    profile: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    ca_bundle: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    staging_directory: Text | None = None
    ari: bool = True
    preferred_chain: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class IssuerChange(BaseModel):
    """An ACME issuer's local settings; absent: unchanged, "": cleared."""

    model_config = ConfigDict(extra="forbid")
    profile: Annotated[str, Field(max_length=64)] | None = None
    staging_directory: Annotated[str, Field(max_length=2048)] | None = None
    ari: bool | None = None
    preferred_chain: Annotated[str, Field(max_length=200)] | None = None
    ca_bundle: Annotated[str, Field(max_length=4096)] | None = None


IssuerName = Annotated[str, Field(min_length=1, max_length=128)]


def add_issuer(request: Request, body: IssuerIn) -> dict[str, Any]:
    """``certmgr issuer add NAME --acme URL ...``: the account registered at the CA."""
    from pathlib import Path

    console: Console = request.app.state.console
    view = iss.add_acme(console.repository(), body.name, body.directory,
                        contacts=body.contacts, agree_tos=body.agree_tos,
                        eab_kid=body.eab_kid, eab_hmac_key=body.eab_hmac_key,
                        profile=body.profile,
                        ca_bundle=Path(body.ca_bundle) if body.ca_bundle else None,
                        staging_directory=body.staging_directory, ari=body.ari,
                        preferred_chain=body.preferred_chain)
    return view.to_json()


def test_job(request: Request) -> Job:
    """``certmgr notify test`` as a job: one item per channel."""
    console: Console = request.app.state.console
    user: uc.UserRecord = request.state.user
    settings = notification_settings(console.home)
    if not settings.channels:  # said now, not as a failed job
        raise UsageError(f"{settings.source}: no notification channel configured; add "
                         "[[notify.email]] or [[notify.webhook]] (see docs/monitoring.md)")

    def work(reporter: Reporter) -> Any:
        with acting_as(user.name):
            reporter.event("sending a test notice on every channel")
            return send_test_notice(console.home)

    job = console.jobs.submit("notify-test", "notifications", user.name, work)
    console.repository().record_event("job.notify-test", "notifications",
                                       {"job": job.id, "user": user.name})
    return job


@router.get("/issuers", response_model=PageOut)
def issuers(request: Request, offset: Offset = 0, limit: Limit = 50) -> PageOut:
    """The issuers (built-in CA, ACME accounts, external) by name with their settings; keys
    and other secrets only named as ``stored`` (admins only)."""
    console: Console = request.app.state.console
    p = console.issuers(offset, limit)
    return page_out(p, list(p.items))


@router.post("/issuers", status_code=201, response_model=dict[str, Any])
def create_issuer(request: Request, body: IssuerIn) -> dict[str, Any]:
    """Add an ACME issuer: the account key is made here and registered at the CA."""
    return add_issuer(request, body)


@router.put("/issuers/{name}", response_model=dict[str, Any])
def edit_issuer(request: Request, name: IssuerName, body: IssuerChange) -> dict[str, Any]:
    """Change an ACME issuer's local settings (the account stays as registered)."""
    console: Console = request.app.state.console
    return iss.edit_acme(console.repository(), name, **body.model_dump()).to_json()


@router.get("/settings/notifications", response_model=dict[str, Any])
def notifications(request: Request) -> dict[str, Any]:
    """The monitor's notification channels (read-only: edit the file ``source``), with
    URLs cut to scheme, host and port and credentials shown as ``stored``."""
    console: Console = request.app.state.console
    return notification_settings(console.home).to_json()


@router.post("/settings/notifications/test", status_code=202, response_model=JobOut)
def notification_test(request: Request) -> dict[str, Any]:
    """Send a test notice on every channel, as a job."""
    return test_job(request).to_json()
