"""The FastAPI application: the API, the screens, the static files, the security
headers, the one authorization dependency and the error shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from certmgr import __version__
from certmgr.app.ldap_config import LdapConfig
from certmgr.errors import CertmgrError, InputError, NotFound, UsageError
from certmgr.web.console import Console
from certmgr.web.security import HEADERS, ApiError, LoginRedirect, Security, authorize

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
MAX_BODY = 2 * 1024 * 1024  # the largest form is a TOML file of definitions


def create_app(console: Console, *, security: Security | None = None,
               ldap: LdapConfig | None = None) -> FastAPI:
    """The console's app; with ``ldap``, users not known locally sign in through that
    directory (see :mod:`certmgr.app.ldap_signin`)."""
    from certmgr.web import (
        api,
        api_dashboard,
        api_hosts,
        api_monitor,
        api_requests,
        api_settings,
        api_tokens,
        pages,
        pages_account,
        pages_monitor,
        pages_requests,
        pages_settings,
    )

    app = FastAPI(title="certmgr", version=__version__, openapi_url="/api/v1/openapi.json",
                  docs_url=None, redoc_url=None, dependencies=[Depends(authorize)])
    app.state.console = console
    app.state.security = security or Security()
    app.state.ldap = ldap
    app.include_router(api.router)
    app.include_router(api_requests.router)  # requests, downloads
    app.include_router(api_hosts.router)  # adding a host, a host's page, job events
    app.include_router(api_dashboard.router)  # the dashboard's aggregates
    app.include_router(pages.router)
    app.include_router(pages_requests.router)  # requests, downloads, hosts
    app.include_router(api_monitor.router)  # monitoring: endpoints, scans
    app.include_router(api_settings.router)  # admin settings: issuers, notifications
    app.include_router(pages_monitor.router)  # monitoring screens
    app.include_router(pages_settings.router)  # issuers and notifications (admin)
    app.include_router(api_tokens.router)  # creating API tokens (admin)
    app.include_router(pages_account.router)  # own account (TOTP), token creation page
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def _headers(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            response: Response = _error(request, 413, "too_large",
                                        f"the request body is over {MAX_BODY} bytes")
        elif request.headers.get("transfer-encoding", "").lower() == "chunked":
            response = _error(request, 411, "length_required",
                              "send the body with a Content-Length")
        else:
            response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(("/api/", "/login", "/password")) or \
                "text/html" in response.headers.get("content-type", ""):
            response.headers.setdefault("cache-control", "no-store")
        return response

    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(LoginRedirect, _login)  # type: ignore[arg-type]
    app.add_exception_handler(CertmgrError, _certmgr_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    return app


def _error(request: Request, status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": {"code": code, "message": message}}, status,
                            headers=headers)
    from certmgr.web.pages import render_error

    return render_error(request, status, message, headers)


async def _api_error(request: Request, exc: ApiError) -> Response:
    return _error(request, exc.status, exc.code, exc.message, exc.headers)


async def _login(request: Request, exc: LoginRedirect) -> Response:
    return RedirectResponse(exc.location, status_code=303)


async def _certmgr_error(request: Request, exc: CertmgrError) -> Response:
    if isinstance(exc, NotFound):
        return _error(request, 404, "not_found", exc.message)
    if isinstance(exc, (InputError, UsageError)):
        return _error(request, 422, "invalid", exc.message)
    return _error(request, 409, type(exc).__name__.lower(), exc.message)


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
    if request.url.path.startswith("/api/") and first.get("type") == "json_invalid":
        return _error(request, 400, "bad_request", "the body is not valid JSON")
    return _error(request, 422, "invalid", message[:500])


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    codes = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
             405: "method_not_allowed", 409: "conflict", 422: "invalid"}
    return _error(request, exc.status_code, codes.get(exc.status_code, "error"),
                  str(exc.detail), dict(exc.headers or {}))


