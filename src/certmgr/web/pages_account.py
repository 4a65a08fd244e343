"""Self-service and token screens: the signed-in user's account (their own TOTP second
factor: enrol with a new key shown once, as text and as a QR code made here as SVG,
confirmed with a current code before it takes effect; removal after proving who they are
again), and an admin's creation of an API token for a user (shown once).

The pending key of an enrolment lives in the user's session (memory only), never in a
log or the repository until confirmed."""

from __future__ import annotations

import base64
import io
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from certmgr.app import users as uc
from certmgr.errors import CertmgrError, NotFound
from certmgr.web.pages import _console, _render, render_users
from certmgr.web.security import Session

__all__ = ["qr_svg", "router"]

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Form(max_length=16)]


def qr_svg(text: str) -> str:
    """``text`` as a QR code: an SVG document (``data:`` URI for an ``img``), dark modules
    on a white ground, with no script and no style attribute (the CSP allows neither)."""
    import segno

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=5, border=4, dark="#000",
                                     light="#fff", xmldecl=False, svgclass=None,
                                     lineclass=None)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def _session(request: Request) -> Session:
    session: Session = request.state.session
    return session


def _account(request: Request, status: int = 200, *, error: str = "", notice: str = "",
             pending: uc.PendingTotp | None = None) -> Response:
    user = _console(request).repository().get_user(request.state.user.name)
    return _render(request, "account.html", status, account=user, error=error,
                   notice=notice, pending=pending, qr=qr_svg(pending.uri) if pending else "")


@router.get("/account")
def account(request: Request) -> Response:
    return _account(request)


@router.post("/account/totp")
def start_totp(request: Request) -> Response:
    """A new key, held in the session until confirmed; shown in this answer only. A user
    with a second factor removes it first (proving who they are), so a session alone
    cannot swap it."""
    if _console(request).repository().get_user(request.state.user.name).totp:
        return _account(request, 409, error="A TOTP authenticator is enrolled already: "
                                            "remove it first to enrol another.")
    pending = uc.new_totp(request.state.user.name)
    _session(request).pending_totp = pending
    return _account(request, pending=pending)


@router.post("/account/totp/confirm")
def confirm_totp(request: Request, code: Code) -> Response:
    session = _session(request)
    pending = session.pending_totp
    if not isinstance(pending, uc.PendingTotp) or pending.user != request.state.user.name:
        return _account(request, 409, error="No enrolment is waiting for a code: start "
                                            "again with “Enrol a TOTP authenticator”.")
    try:
        uc.confirm_totp(_console(request).repository(), pending, code)
    except CertmgrError as exc:  # the same key again: the user may scan it once more
        return _account(request, 422, error=exc.message, pending=pending)
    session.pending_totp = None
    return _account(request, notice="Your TOTP authenticator is enrolled: from your next "
                                    "sign-in on, give its code with your password.")


@router.post("/account/totp/remove")
def remove_totp(request: Request, password: Annotated[str, Form(max_length=1024)] = "",
                code: Code = "") -> Response:
    try:
        uc.remove_own_totp(_console(request).repository(), request.state.user.name,
                           password=password, code=code)
    except CertmgrError as exc:
        return _account(request, 422, error=exc.message)
    return _account(request, notice="Your TOTP second factor is removed: you sign in with "
                                    "your password alone.")


# -- tokens (admin) ---------------------------------------------------------------------

@router.post("/tokens")
def create_token(request: Request, user: Annotated[str, Form(max_length=64)],
                 name: Annotated[str, Form(max_length=64)] = "token",
                 expires: Annotated[str, Form(max_length=8)] = "90d") -> Response:
    """A bearer token for ``user`` (label, lifetime 1d to 3650d as ``token create
    --expires``); the answer shows it once, the repository keeps its hash."""
    console = _console(request)
    repo = console.repository()
    try:
        new = uc.create_token(repo, user.strip(), expires=uc.parse_expiry(expires.strip()),
                              name=name.strip() or "token")
    except NotFound:
        error = f"no user {user.strip()[:64]} exists: add the user first"
    except CertmgrError as exc:
        error = exc.message
    else:
        return _render(request, "token_created.html", 201, new=new)
    return render_users(request, 422, error=error)

