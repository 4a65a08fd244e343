"""The server-rendered screens: sign-in, first password, dashboard, certificates,
definitions, hosts, audit, job progress. Every form carries the session's CSRF token
(checked by :func:`certmgr.web.security.authorize`); the login form one bound to a
pre-session cookie."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from certmgr.app import users as uc
from certmgr.app.ldap_signin import Outcome, sign_in
from certmgr.errors import CertmgrError
from certmgr.web.console import Console
from certmgr.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ApiError,
    Security,
    Session,
    require_hosts,
)

__all__ = ["hosts_context", "render_error", "render_users", "router"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
Field = Annotated[str, Form(max_length=1024)]
ShortField = Annotated[str, Form(max_length=255)]


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _security(request: Request) -> Security:
    security: Security = request.app.state.security
    return security


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    session: Session | None = getattr(request.state, "session", None)
    user = getattr(request.state, "user", None)
    context.setdefault("csrf", session.csrf if session else "")
    context.update(user=user, may_act=bool(user and uc.may(user, "operator")),
                   is_admin=bool(user and uc.may(user, "admin")))
    return templates.TemplateResponse(request, name, context, status_code=status)


def render_error(request: Request, status: int, message: str,
                 headers: dict[str, str] | None = None) -> Response:
    response = _render(request, "error.html", status, status_code=status, message=message)
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def _cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True,
                        samesite="strict")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- sign-in ----------------------------------------------------------------------------

@router.get("/login")
def login_form(request: Request) -> Response:
    if _security(request).session(request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse("/", status_code=303)
    return _login_page(request)


def _login_page(request: Request, status: int = 200, error: str = "",
                headers: dict[str, str] | None = None) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = _render(request, "login.html", status, csrf=_security(request).login_token(nonce),
                       error=error)
    _cookie(response, LOGIN_COOKIE, nonce, max_age=3600)
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


@router.post("/login")
def login(request: Request, username: ShortField, password: Field,
          csrf: Annotated[str, Form(max_length=128)] = "",
          code: Annotated[str, Form(max_length=16)] = "") -> Response:
    security = _security(request)
    if not security.check_login_token(request.cookies.get(LOGIN_COOKIE), csrf):
        raise ApiError(403, "csrf", "the sign-in form's CSRF token is missing or wrong: "
                                    "reload the page and try again")
    keys = [f"user:{username[:64]}", f"address:{_client(request)}"]
    wait = security.throttle.retry_after(keys)
    repo = _console(request).repository()
    if wait is not None:
        repo.record_event("login.throttled", f"user:{username[:64]}",
                          {"address": _client(request)}, actor="anonymous")
        return _throttled(request, wait)
    got = sign_in(repo, username, password, address=_client(request), code=code.strip(),
                  ldap=request.app.state.ldap)
    user = got.user
    if user is None:
        if got.outcome is Outcome.UNAVAILABLE:  # the directory's trouble, not the user's
            return _login_page(request, 503, got.message)
        security.throttle.fail(keys)
        wait = security.throttle.retry_after(keys)
        if wait is not None:
            return _throttled(request, wait)
        return _login_page(request, 401 if got.outcome is Outcome.FAILED else 403,
                           got.message)
    security.throttle.clear(keys[0])
    session = security.new_session(user.name, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/password" if user.must_change else "/", status_code=303)
    _cookie(response, SESSION_COOKIE, session.sid)
    response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")
    return response


def _throttled(request: Request, wait: int) -> Response:
    return _login_page(request, 429, f"Too many failed sign-ins: try again in {wait} s.",
                       {"retry-after": str(wait)})


@router.post("/logout")
def logout(request: Request) -> Response:
    session: Session | None = request.state.session
    _security(request).end(session.sid if session else None)
    _console(request).repository().record_event("logout", f"user:{request.state.user.name}",
                                                {"address": _client(request)})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")
    return response


@router.get("/password")
def password_form(request: Request) -> Response:
    return _render(request, "password.html", first=request.state.user.must_change)


@router.post("/password")
def change_password(request: Request, current: Field, new: Field, confirm: Field) -> Response:
    user = request.state.user
    if new != confirm:
        return _render(request, "password.html", 422, first=user.must_change,
                       error="The new password and its confirmation differ.")
    try:
        uc.change_password(_console(request).repository(), user.name, current, new)
    except CertmgrError as exc:
        return _render(request, "password.html", 422, first=user.must_change,
                       error=exc.message)
    # a new session id after a password change, as after a sign-in
    security = _security(request)
    session = security.new_session(user.name, request.state.session.sid)
    response = RedirectResponse("/", status_code=303)
    _cookie(response, SESSION_COOKIE, session.sid)
    return response


# -- screens -----------------------------------------------------------------------------

@router.get("/")
def dashboard(request: Request) -> Response:
    from certmgr.web.chart import timeline_chart

    board = _console(request).dashboard()
    return _render(request, "dashboard.html", board=board,
                   chart=timeline_chart(board.timeline))


@router.get("/certificates")
def certificates(request: Request, offset: int = 0, q: str = "", state: str = "") -> Response:
    from certmgr.app.views import STATE_FILTERS

    if state and state not in STATE_FILTERS:
        raise ApiError(422, "invalid", f"state {state[:40]!r} is not one of "
                                       f"{', '.join(STATE_FILTERS)}")
    page = _console(request).certificates(max(0, min(offset, 10_000_000)), 50,
                                          state=state or None)
    rows = [r for r in page.items if q[:255].lower() in r.name.lower()] if q else page.items
    return _render(request, "certificates.html", page=page, rows=rows, q=q[:255], state=state,
                   states=list(STATE_FILTERS))


@router.get("/certificates/{name}")
def certificate(request: Request, name: str) -> Response:
    return _render(request, "certificate.html", detail=_console(request).certificate(name[:255]))


@router.get("/certificates/{name}/chain.pem")
def certificate_chain(request: Request, name: str) -> Response:
    return Response(_console(request).chain_pem(name[:255]),
                    media_type="application/pem-certificate-chain",
                    headers={"content-disposition": "attachment; filename=\"chain.pem\""})


def _offset(offset: int) -> int:
    return max(0, min(offset, 10_000_000))


def _definitions(request: Request, status: int = 200, *, offset: int = 0, q: str = "",
                 **context: Any) -> Response:
    """The definitions page: a page of 50 by name, those whose name holds ``q``."""
    q = q.strip()[:255]
    found = _console(request).definitions(_offset(offset), 50, q=q or None)
    context.setdefault("form", {})
    context.setdefault("error", "")
    return _render(request, "definitions.html", status, page=found, definitions=found.items,
                   q=q, query=f"q={quote(q)}" if q else "", **context)


@router.get("/definitions")
def definitions(request: Request, offset: int = 0, q: str = "") -> Response:
    return _definitions(request, offset=offset, q=q)


@router.post("/definitions")
def define(request: Request, name: ShortField, cn: ShortField,
           sans: Annotated[str, Form(max_length=8192)] = "",
           key: Annotated[str, Form(max_length=16)] = "ec256",
           validity: Annotated[str, Form(max_length=16)] = "397d",
           issuer: ShortField = "builtin",
           targets: Annotated[str, Form(max_length=8192)] = "") -> Response:
    console = _console(request)
    form = {"name": name, "cn": cn, "sans": sans, "key": key, "validity": validity,
            "issuer": issuer, "targets": targets}
    try:
        console.define(name=name.strip(), cn=cn.strip(), sans=sans.split(), key=key,
                       validity=validity.strip(), renew_before="30d", issuer=issuer.strip(),
                       targets=targets.split())
    except (CertmgrError, ApiError) as exc:
        return _definitions(request, 422, form=form, error=getattr(exc, "message", str(exc)))
    return RedirectResponse(f"/definitions?q={quote(name.strip()[:255])}#def-{quote(name)}",
                            status_code=303)


@router.post("/definitions/apply")
def apply(request: Request, toml: Annotated[str, Form(max_length=1_000_000)]) -> Response:
    """Create or update definitions from a TOML document (``certmgr apply``)."""
    console = _console(request)
    try:
        batch, warnings = console.apply(toml, "the uploaded TOML")
    except CertmgrError as exc:
        return _definitions(request, 422, error=exc.message)
    return _definitions(request, applied=list(batch), warnings=warnings)


@router.get("/definitions/{name}/edit")
def edit_form(request: Request, name: str) -> Response:
    d = _console(request).definition(name[:255])
    return _render(request, "definition_edit.html", d=d, error="",
                   form={"cn": d.cn, "sans": " ".join(d.sans), "key": d.key_type,
                         "issuer": d.issuer or "", "targets": " ".join(d.targets)})


@router.post("/definitions/{name}/edit")
def edit(request: Request, name: str, cn: ShortField,
         sans: Annotated[str, Form(max_length=8192)] = "",
         key: Annotated[str, Form(max_length=16)] = "ec256",
         issuer: ShortField = "builtin",
         targets: Annotated[str, Form(max_length=8192)] = "") -> Response:
    console = _console(request)
    form = {"cn": cn, "sans": sans, "key": key, "issuer": issuer, "targets": targets}
    try:
        console.edit(name[:255], cn=cn.strip(), sans=sans.split(), key=key,
                     issuer=issuer.strip(), targets=targets.split())
    except CertmgrError as exc:
        return _render(request, "definition_edit.html", 422, d=console.definition(name[:255]),
                       form=form, error=exc.message)
    return RedirectResponse(f"/definitions?q={quote(name[:255])}#def-{quote(name[:255])}",
                            status_code=303)


@router.post("/definitions/{name}/issue")
def issue(request: Request, name: str) -> Response:
    job = _console(request).issue_job(name[:255], request.state.user.name)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/definitions/{name}/delete")
def delete(request: Request, name: str) -> Response:
    _console(request).delete(name[:255], with_certificates=True)
    return RedirectResponse("/definitions", status_code=303)


def hosts_context(request: Request, offset: int = 0) -> dict[str, Any]:
    """The hosts page's page of hosts, each marked whether the user may act on it."""
    user = request.state.user
    found = _console(request).hosts(_offset(offset), 50)
    return {"page": found, "hosts": [{**h, "allowed": uc.host_allowed(user, h["name"])}
                                     for h in found.items]}


@router.get("/hosts")
def hosts(request: Request, offset: int = 0) -> Response:
    return _render(request, "hosts.html", **hosts_context(request, offset))


@router.get("/audit")
def audit(request: Request, action: str = "", actor: str = "", subject: str = "",
          since: str = "", until: str = "", result: str = "", offset: int = 0) -> Response:
    from certmgr.app.audit import AuditPage, audit_filter, audit_page

    form = {"action": action[:64], "actor": actor[:64], "subject": subject[:255],
            "since": since[:32], "until": until[:32], "result": result[:16]}
    try:
        where = audit_filter(**form)
    except CertmgrError as exc:
        return _render(request, "audit.html", 422, form=form, error=exc.message,
                       found=AuditPage((), 0, 100, False), query="")
    found = audit_page(_console(request).repository(), where, offset=offset, limit=100)
    query = "&".join(f"{k}={quote(v)}" for k, v in form.items() if v)
    return _render(request, "audit.html", form=form, error="", found=found, query=query)


@router.get("/jobs/{job_id}")
def job(request: Request, job_id: str) -> Response:
    found = _console(request).jobs.get(job_id[:64])
    if found is None:
        raise ApiError(404, "not_found", f"no job {job_id[:64]}")
    return _render(request, "job.html", job=found)


@router.get("/jobs/{job_id}/events")
async def job_events(request: Request, job_id: str) -> Response:
    """Server-sent events: one ``data:`` line per progress event, ``event: done`` at the end."""
    from certmgr.web.streams import job_stream

    return job_stream(request, _console(request), job_id[:64])


# -- hosts, deploy ---------------------------------------------------------------------------

@router.post("/hosts/{host:path}/discover")  # SSH host names hold "/"
def discover(request: Request, host: str) -> Response:
    job = _console(request).discover_job(host[:255], request.state.user.name)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/deploy")
def deploy_form(request: Request, offset: int = 0, q: str = "", history: int = 0) -> Response:
    """Definitions to deploy, 20 at a time, those whose name holds ``q``; the history of
    deployments, 50 at a time (``history``: its offset)."""
    user, console, q = request.state.user, _console(request), q.strip()[:255]
    page = console.definitions(_offset(offset), 20, q=q or None)
    definitions = [(d, [(t, uc.host_allowed(user, host)) for t, host in
                        console.deployment_targets(d.name, None)]) for d in page.items]
    past = console.deployments(_offset(history), 50)
    return _render(request, "deploy.html", definitions=definitions, page=page, q=q,
                   query=f"q={quote(q)}" if q else "", past=past,
                   history=[(d, uc.host_allowed(user, d.host)) for d in past.items])


def _deploy(request: Request, definition: str, targets: list[str], *, dry_run: bool
            ) -> Response:
    console = _console(request)
    chosen = console.deployment_targets(definition[:255], [t[:512] for t in targets[:200]])
    require_hosts(request, [host for _, host in chosen])
    if not chosen:
        raise ApiError(422, "invalid", "choose at least one target to deploy to")
    job = console.deploy_job(definition, [t for t, _ in chosen], request.state.user.name,
                             dry_run=dry_run)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/deploy/plan")
def deploy_plan(request: Request, definition: ShortField,
                targets: Annotated[list[str], Form(max_length=200)]) -> Response:
    """The dry run: the plan of every slot (files, owners, modes), nothing changed."""
    return _deploy(request, definition, targets, dry_run=True)


@router.post("/deploy/run")
def deploy_run(request: Request, definition: ShortField,
               targets: Annotated[list[str], Form(max_length=200)]) -> Response:
    """The deployment itself, once its plan was seen."""
    return _deploy(request, definition, targets, dry_run=False)


@router.post("/deploy/rollback")
def deploy_rollback(request: Request, target: Annotated[str, Form(max_length=512)],
                    to: Annotated[int, Form(ge=1, le=2**31 - 1)]) -> Response:
    """Go back to the certificate of an earlier deployment of a slot."""
    job = _console(request).rollback_job(target, to, request.state.user.name,
                                         lambda hosts: require_hosts(request, hosts))
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


# -- users and tokens (admin) -------------------------------------------------------------

def render_users(request: Request, status: int = 200, *, users: int = 0, tokens: int = 0,
           created: Any = None, error: str = "") -> Response:
    console = _console(request)
    user_page = console.users(_offset(users), 50)
    token_page = console.tokens(_offset(tokens), 50)
    return _render(request, "users.html", status, users=user_page.items, user_page=user_page,
                   tokens=token_page.items, token_page=token_page, created=created,
                   error=error)


@router.get("/users")
def users(request: Request, users: int = 0, tokens: int = 0) -> Response:
    return render_users(request, users=users, tokens=tokens)


@router.post("/users")
def add_user(request: Request, name: ShortField,
             role: Annotated[str, Form(max_length=16)],
             hosts: Annotated[str, Form(max_length=8192)] = "") -> Response:
    console = _console(request)
    try:
        created = console.add_user(name.strip(), role, hosts.split())
    except (CertmgrError, ApiError) as exc:
        return render_users(request, 422, error=getattr(exc, "message", str(exc)))
    return render_users(request, 201, created=created)


@router.post("/users/{name}/delete")
def remove_user(request: Request, name: str) -> Response:
    _console(request).remove_user(name[:64])
    _security(request).end_user(name[:64])
    return RedirectResponse("/users", status_code=303)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int) -> Response:
    if not 1 <= token_id <= 2**31 - 1:
        raise ApiError(404, "not_found", f"no API token {token_id}")
    _console(request).revoke_token(token_id)
    return RedirectResponse("/users", status_code=303)
