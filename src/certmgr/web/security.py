"""Authorization in one place, sign-in sessions, CSRF, throttling, security headers.

Every route of the console is in :data:`POLICY` with the role it needs (None: open) and
where its host scope comes from; :func:`authorize` runs before every route and applies
it with :func:`certmgr.app.users.may`, the one rule. A route missing from the table is
refused (and a test walks the router to keep the table complete).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from certmgr.app import users as uc
from certmgr.app.audit import act_for, acting_as
from certmgr.app.users import UserRecord

__all__ = ["POLICY", "ApiError", "LoginRedirect", "Rule", "Security", "Session",
           "authorize", "require_hosts"]

SESSION_COOKIE = "__Host-certmgr-session"
LOGIN_COOKIE = "__Host-certmgr-login"
IDLE_TIMEOUT = 15 * 60.0
ABSOLUTE_TIMEOUT = 12 * 3600.0
THROTTLE_WINDOW = 15 * 60.0
THROTTLE_LIMIT = 10  # the 10th failure within the window answers 429
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class Rule:
    """What a route needs: ``role`` (None: open to anyone), whether its ``host`` path
    parameter or the hosts of its body's targets (``hosts="body"``, checked by the route
    with :func:`require_hosts`) must be within the user's patterns."""

    role: str | None
    hosts: str | None = None  # "path" or "body"
    page: bool = False  # HTML: no session -> redirect to /login; forms carry a CSRF token


def _api(role: str | None, hosts: str | None = None) -> Rule:
    return Rule(role, hosts)


def _page(role: str | None, hosts: str | None = None) -> Rule:
    return Rule(role, hosts, page=True)


V, OP, A = "viewer", "operator", "admin"
API = "/api/v1"
POLICY: dict[tuple[str, str], Rule] = {
    # the one API route open without credentials
    ("GET", f"{API}/openapi.json"): _api(None),
    ("GET", f"{API}/status"): _api(V),
    ("GET", f"{API}/certificates"): _api(V),
    ("GET", f"{API}/certificates/{{name}}"): _api(V),
    ("GET", f"{API}/certificates/{{name}}/chain.pem"): _api(V),
    ("POST", f"{API}/certificates/{{name}}/key"): _api(A),
    ("GET", f"{API}/definitions"): _api(V),
    ("GET", f"{API}/definitions/{{name}}"): _api(V),
    ("POST", f"{API}/definitions"): _api(OP),
    ("PUT", f"{API}/definitions/{{name}}"): _api(OP),
    ("DELETE", f"{API}/definitions/{{name}}"): _api(OP),
    ("POST", f"{API}/definitions/{{name}}/issue"): _api(OP),
    ("GET", f"{API}/hosts"): _api(V),
    ("POST", f"{API}/hosts/{{host:path}}/discover"): _api(OP, "path"),
    ("GET", f"{API}/deployments"): _api(V),
    ("POST", f"{API}/deployments"): _api(OP, "body"),
    ("POST", f"{API}/rollbacks"): _api(OP, "body"),
    ("GET", f"{API}/jobs/{{job_id}}"): _api(V),
    ("GET", f"{API}/audit"): _api(V),
    ("GET", f"{API}/users"): _api(A),
    ("POST", f"{API}/users"): _api(A),
    ("DELETE", f"{API}/users/{{name}}"): _api(A),
    ("GET", f"{API}/tokens"): _api(A),
    ("DELETE", f"{API}/tokens/{{token_id}}"): _api(A),
    # pages
    ("GET", "/login"): _page(None),
    ("POST", "/login"): _page(None),
    ("POST", "/logout"): _page(V),
    ("GET", "/password"): _page(V),
    ("POST", "/password"): _page(V),
    ("GET", "/"): _page(V),
    ("GET", "/certificates"): _page(V),
    ("GET", "/certificates/{name}"): _page(V),
    ("GET", "/certificates/{name}/chain.pem"): _page(V),
    ("GET", "/definitions"): _page(V),
    ("POST", "/definitions"): _page(OP),
    ("GET", "/definitions/{name}/edit"): _page(OP),
    ("POST", "/definitions/{name}/edit"): _page(OP),
    ("POST", "/definitions/apply"): _page(OP),
    ("POST", "/definitions/{name}/issue"): _page(OP),
    ("POST", "/definitions/{name}/delete"): _page(OP),
    ("GET", "/hosts"): _page(V),
    ("POST", "/hosts/{host:path}/discover"): _page(OP, "path"),
    ("GET", "/deploy"): _page(V),
    ("POST", "/deploy/plan"): _page(OP, "body"),
    ("POST", "/deploy/run"): _page(OP, "body"),
    ("POST", "/deploy/rollback"): _page(OP, "body"),
    ("GET", "/users"): _page(A),
    ("POST", "/users"): _page(A),
    ("POST", "/users/{name}/delete"): _page(A),
    ("POST", "/tokens/{token_id}/revoke"): _page(A),
    ("GET", "/audit"): _page(V),
    ("GET", "/jobs/{job_id}"): _page(V),
    ("GET", "/jobs/{job_id}/events"): _page(V),
    # requests, downloads, hosts, job event stream (issue 17: Requests, Certificates'
    # downloads, Hosts, API job events): web/api_requests.py, api_hosts.py, pages_requests.py
    ("GET", f"{API}/requests"): _api(V),
    ("POST", f"{API}/requests"): _api(OP),
    ("GET", f"{API}/requests/{{name}}/csr.pem"): _api(V),
    ("POST", f"{API}/requests/{{name}}/receive"): _api(OP),
    ("GET", f"{API}/certificates/{{name}}/export/{{fmt}}"): _api(V),
    ("POST", f"{API}/certificates/{{name}}/export"): _api(A),
    ("POST", f"{API}/hosts"): _api(A),
    ("GET", f"{API}/hosts/{{host:path}}"): _api(V),  # SSH host names hold "/"
    ("GET", f"{API}/jobs/{{job_id}}/events"): _api(V),
    ("GET", "/requests"): _page(V),
    ("POST", "/requests"): _page(OP),
    ("GET", "/requests/{name}/csr.pem"): _page(V),
    ("POST", "/requests/{name}/receive"): _page(OP),
    ("GET", "/certificates/{name}/export/{fmt}"): _page(V),
    ("POST", "/certificates/{name}/export"): _page(A),
    ("POST", "/hosts"): _page(A),
    ("GET", "/hosts/{host:path}"): _page(V),
    # monitoring (endpoints, history, scan now) and the admin's settings (issuers,
    # notification channels): web/api_monitor.py, api_settings.py, pages_monitor.py,
    # pages_settings.py. A scan's endpoints are checked against the user's hosts.
    ("GET", f"{API}/endpoints"): _api(V),
    ("GET", f"{API}/endpoints/{{endpoint_id}}"): _api(V),
    ("POST", f"{API}/scans"): _api(OP, "body"),
    ("GET", f"{API}/issuers"): _api(A),
    ("POST", f"{API}/issuers"): _api(A),
    ("PUT", f"{API}/issuers/{{name}}"): _api(A),
    ("GET", f"{API}/settings/notifications"): _api(A),
    ("POST", f"{API}/settings/notifications/test"): _api(A),
    ("GET", "/monitoring"): _page(V),
    ("GET", "/monitoring/{endpoint_id}"): _page(V),
    ("POST", "/monitoring/scan"): _page(OP, "body"),
    ("GET", "/settings/issuers"): _page(A),
    ("POST", "/settings/issuers"): _page(A),
    ("POST", "/settings/issuers/{name}/edit"): _page(A),
    ("GET", "/settings/notifications"): _page(A),
    ("POST", "/settings/notifications/test"): _page(A),
    # self-service account (own TOTP; the password stays at /password), token creation
    # (admin, page and API): web/pages_account.py, web/api_tokens.py
    ("GET", "/account"): _page(V),
    ("POST", "/account/totp"): _page(V),
    ("POST", "/account/totp/confirm"): _page(V),
    ("POST", "/account/totp/remove"): _page(V),
    ("POST", "/tokens"): _page(A),
    ("POST", f"{API}/tokens"): _api(A),
    # speed (issue 17): the dashboard's aggregates as JSON
    ("GET", f"{API}/dashboard"): _api(V),
}
# Pages a user whose password is a one-time one may see before changing it.
_FIRST_LOGIN = {"/password", "/logout"}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` (or a page saying it)."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class LoginRedirect(Exception):
    """A page asked for without a session: go to ``location``."""

    def __init__(self, location: str = "/login") -> None:
        super().__init__(location)
        self.location = location


@dataclass
class Session:
    sid: str
    user: str
    csrf: str
    created: float
    seen: float
    pending_totp: Any = None  # a PendingTotp of the user's own enrolment (in memory only)


@dataclass
class Throttle:
    """Failed sign-ins per key (a user name, an address) within a sliding window."""

    window: float = THROTTLE_WINDOW
    limit: int = THROTTLE_LIMIT
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, keys: Iterable[str], now: float | None = None) -> int | None:
        """Seconds to wait when a key has reached the limit, else None."""
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = [int(q[-self.limit] + self.window - now) + 1 for k in keys
                     if len(q := self._recent(k, now)) >= self.limit]
        return max(waits) if waits else None

    def fail(self, keys: Iterable[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for k in keys:
                q = self._recent(k, now)
                q.append(now)
                while len(q) > self.limit * 4:  # bounded memory per key
                    q.popleft()

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class Security:
    """Sessions (in memory: a restart signs everyone out), the login CSRF key, throttle."""

    def __init__(self, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.idle_timeout = idle_timeout
        self.throttle = Throttle()
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)

    def new_session(self, user: str, old_sid: str | None = None) -> Session:
        """A fresh session id at every sign-in (the old one, if any, is dropped)."""
        now = time.monotonic()
        s = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            if old_sid:
                self._sessions.pop(old_sid, None)
            for sid in [k for k, v in self._sessions.items()  # ended ones go (bounded memory)
                        if now - v.seen > self.idle_timeout or now - v.created > ABSOLUTE_TIMEOUT]:
                del self._sessions[sid]
            self._sessions[s.sid] = s
        return s

    def session(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 64:
            return None
        now = time.monotonic()
        with self._lock:
            s = self._sessions.get(sid)
            if s is None:
                return None
            if now - s.seen > self.idle_timeout or now - s.created > ABSOLUTE_TIMEOUT:
                del self._sessions[sid]
                return None
            s.seen = now
            return s

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def end_user(self, user: str) -> None:
        with self._lock:
            for sid in [k for k, s in self._sessions.items() if s.user == user]:
                del self._sessions[sid]

    def login_token(self, nonce: str) -> str:
        """The login form's CSRF token: bound to the pre-session cookie's nonce."""
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def check_login_token(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token or len(nonce) > 64 or len(token) > 128:
            return False
        return hmac.compare_digest(self.login_token(nonce), token)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _deny(request: Request, user: UserRecord, why: str) -> ApiError:
    console = request.app.state.console
    with acting_as(user.name):
        console.repository().record_event(
            "access.denied", f"route:{request.method} {request.url.path}"[:1000],
            {"role": user.role, "reason": why, "address": _client(request)})
    return ApiError(403, "forbidden", why)


async def authorize(request: Request) -> None:
    """The one place every request is authorized (a dependency of the whole app)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    rule = POLICY.get((request.method, path or ""))
    if rule is None:
        raise ApiError(403, "forbidden", "this route has no authorization rule")
    if rule.role is None:
        return
    console = request.app.state.console
    security: Security = request.app.state.security
    session: Session | None = None
    if rule.page:
        session = security.session(request.cookies.get(SESSION_COOKIE))
        user = _user(console, session.user) if session else None
        if user is None:
            raise LoginRedirect()
        if user.must_change and path not in _FIRST_LOGIN:
            raise LoginRedirect("/password")
    else:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        user = None
        if scheme.lower() == "bearer" and token:
            user = await _in_thread(uc.user_for_token, console.repository(), token.strip())
        if user is None:
            raise ApiError(401, "unauthorized", "give a valid API token: "
                           "Authorization: Bearer TOKEN (certmgr token create USER)",
                           {"www-authenticate": "Bearer"})
    hosts = [request.path_params["host"]] if rule.hosts == "path" else []
    if not uc.may(user, rule.role):
        raise _deny(request, user, f"this needs the {rule.role} role; {user.name} is "
                                   f"{user.role}")
    if hosts and not uc.may(user, rule.role, hosts):
        raise _deny(request, user, f"{user.name} may not act on host {hosts[0]}")
    if rule.page and request.method not in ("GET", "HEAD"):
        form = await request.form()
        sent = form.get("csrf")
        if session is None or not isinstance(sent, str) or \
                not hmac.compare_digest(sent, session.csrf):
            raise ApiError(403, "csrf", "the form's CSRF token is missing or wrong: reload "
                                        "the page and try again")
    request.state.user = user
    request.state.session = session
    act_for(user.name)  # audit events of this request name the user


def require_hosts(request: Request, hosts: Iterable[str]) -> None:
    """For a route whose rule says ``hosts="body"``: every host must be the user's."""
    user: UserRecord = request.state.user
    for host in hosts:
        if not uc.host_allowed(user, host):
            raise _deny(request, user, f"{user.name} may not act on host {host}")


def _user(console: Any, name: str) -> UserRecord | None:
    from certmgr.errors import NotFound

    try:
        user: UserRecord = console.repository().get_user(name)
    except NotFound:
        return None
    return None if user.disabled else user


async def _in_thread(func: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func, *args)
