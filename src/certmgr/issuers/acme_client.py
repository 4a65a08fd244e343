"""One ACME conversation, on certbot's ``acme`` library (JWS, messages, client).

What the library lacks is added here, not hand-written in JOSE: ``replaces`` in
newOrder (RFC 9773), polling that honours ``Retry-After`` instead of the
library's fixed sleeps, ``badNonce`` retried more than once, and one-line errors
naming the CA's problem document (type, detail, subproblems).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from josepy import errors as jose_errors
from josepy.json_util import field as jose_field
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from certmgr.errors import IssuanceError

__all__ = ["AcmeConnection", "AlreadyReplaced", "Directory", "RateLimited", "Window", "account_jwk",
           "problem_text"]

T = TypeVar("T")
USER_AGENT = "certmgr (acme)"
POLL_FIRST = 0.005  # without Retry-After: first poll after 5 ms, doubling up to 2 s
POLL_MAX = 2.0
DEADLINE = 120.0    # seconds an order may take before it counts as failed
NONCE_RETRIES = 4


class NewOrderReplacing(messages.NewOrder):
    """newOrder with RFC 9773's ``replaces`` (the ARI id of the certificate renewed)."""

    replaces: str | None = jose_field("replaces", omitempty=True)


class RateLimited(IssuanceError):
    """The CA answered ``rateLimited``: not to be asked again before ``retry_at``."""

    def __init__(self, message: str, retry_at: dt.datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class AlreadyReplaced(IssuanceError):
    """RFC 9773: the certificate named in ``replaces`` was replaced already."""


class _RateLimitedProblem(Exception):
    def __init__(self, problem: messages.Error, seconds: float) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.seconds = seconds


class _Network(acme_client.ClientNetwork):
    """The library's network, except that a 409 carrying a problem document (RFC 9773's
    ``alreadyReplaced``) raises that problem instead of a bare ConflictError."""

    @classmethod
    def _check_response(cls, response: requests.Response,
                        content_type: str | None = None) -> requests.Response:
        if response.status_code == 409:
            try:
                problem = response.json()
            except ValueError:
                problem = None
            if isinstance(problem, dict) and "type" in problem:
                raise messages.Error.from_json(problem)
        if response.status_code == 429 or (not response.ok and "rateLimited" in response.text):
            try:
                problem = messages.Error.from_json(response.json())
            except (ValueError, jose_errors.DeserializationError):
                problem = None
            if problem is not None and problem.code == "rateLimited":
                # RFC 8555 6.6: the problem's Retry-After says when to ask again
                raise _RateLimitedProblem(problem, _retry_after(response, 3600))
        return super()._check_response(response, content_type)


def account_jwk(key: ec.EllipticCurvePrivateKey) -> JWKEC:
    return JWKEC(key=key)


def problem_text(error: BaseException, where: str) -> str:
    """One line: the CA's problem type, detail and subproblems, or the network failure."""
    if isinstance(error, messages.Error):
        kind = error.typ.rsplit(":", 1)[-1] if error.typ else "error"
        text = f"{where}: {kind}: {error.detail or error.title or 'no detail'}"
        subs = [f"{s.identifier.value if s.identifier else '?'}: "
                f"{(s.typ or '').rsplit(':', 1)[-1]}: {s.detail}"
                for s in (error.subproblems or ())]
        return text + (f" ({'; '.join(subs)})" if subs else "")
    if isinstance(error, requests.RequestException):
        return f"{where}: cannot reach the CA: {type(error).__name__}: {error}"
    return f"{where}: {type(error).__name__}: {error}"


@dataclass(frozen=True)
class Window:
    """The CA's suggested renewal window for a certificate, and when to ask again."""

    start: dt.datetime
    end: dt.datetime
    retry_after: dt.datetime
    explanation: str | None = None


@dataclass(frozen=True)
class Directory:
    url: str
    profiles: dict[str, str]
    terms_of_service: str | None
    eab_required: bool
    ari: bool


def _retry_after(response: requests.Response, default: float) -> float:
    """Seconds the server asks us to wait (``Retry-After``: seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return default
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class AcmeConnection:
    """A client bound to one directory and (once registered) one account."""

    _taken: bool = False  # handed to an order by take()

    def __init__(self, directory_url: str, key: JWKEC, *, account_url: str | None = None,
                 ca_bundle: str | None = None, name: str = "ACME CA") -> None:
        self.name = name
        self.url = directory_url
        self._key = key
        self.net = _Network(key, alg=ES256, user_agent=USER_AGENT,
                                             verify_ssl=ca_bundle or True)  # type: ignore[arg-type]
        if account_url:
            self.net.account = messages.RegistrationResource(uri=account_url,
                                                             body=messages.Registration())
        directory = self._call("directory", lambda: acme_client.ClientV2.get_directory(
            directory_url, self.net))
        self.client = acme_client.ClientV2(directory, self.net)

    def take(self) -> AcmeConnection:
        """This connection for the first order (its HTTP session and nonce are warm from
        the directory fetch), a :meth:`fork` for every later one. Call from one thread."""
        if not self._taken:
            self._taken = True
            return self
        return self.fork()

    def fork(self) -> AcmeConnection:
        """A connection of its own (nonces, HTTP session) for another thread; the
        directory and account are shared, nothing is fetched."""
        twin = object.__new__(AcmeConnection)
        twin.name, twin.url, twin._key = self.name, self.url, self._key
        twin.net = _Network(self._key, alg=ES256, user_agent=USER_AGENT,
                                             verify_ssl=self.net.verify_ssl)
        twin.net.account = self.net.account
        twin.client = acme_client.ClientV2(self.client.directory, twin.net)
        return twin

    @property
    def key(self) -> JWKEC:
        """The account key (signs challenge responses' key authorizations)."""
        return self._key

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; retry ``badNonce``; turn library errors into one IssuanceError line."""
        for attempt in range(NONCE_RETRIES):
            try:
                return fn()
            except _RateLimitedProblem as exc:
                retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=exc.seconds)
                raise RateLimited(problem_text(exc.problem, f"{self.name} {what}")
                                  + f" (retry after {retry_at:%Y-%m-%d %H:%M:%S} UTC)",
                                  retry_at) from None
            except messages.Error as exc:
                if exc.code == "badNonce" and attempt + 1 < NONCE_RETRIES:
                    continue
                kind = AlreadyReplaced if exc.code == "alreadyReplaced" else IssuanceError
                raise kind(problem_text(exc, f"{self.name} {what}")) from None
            except (acme_errors.Error, requests.RequestException, ValueError) as exc:
                raise IssuanceError(problem_text(exc, f"{self.name} {what}")) from None
        raise AssertionError("unreachable")

    def _get(self, url: str) -> requests.Response:
        return self._call("request", lambda: self.client._post_as_get(url))

    def directory(self) -> Directory:
        d = self.client.directory
        meta = getattr(d, "meta", None)
        profiles = dict(getattr(meta, "profiles", None) or {})
        try:
            d["renewalInfo"]
            ari = True
        except KeyError:
            ari = False
        return Directory(self.url, profiles, getattr(meta, "terms_of_service", None),
                         bool(self.client.external_account_required()), ari)

    # -- account -----------------------------------------------------------------------

    def register(self, contacts: tuple[str, ...], agree_tos: bool,
                 eab: tuple[str, str] | None = None) -> str:
        """Create the account (or find the existing one for this key); return its URL."""
        binding = None
        if eab is not None:
            kid, hmac_key = eab
            binding = messages.ExternalAccountBinding.from_data(
                account_public_key=self._key.public_key(), kid=kid, hmac_key=hmac_key,
                directory=self.client.directory)
        registration = messages.NewRegistration.from_data(
            email=",".join(contacts) or None, terms_of_service_agreed=agree_tos,
            external_account_binding=binding)

        def create() -> str:
            try:
                return str(self.client.new_account(registration).uri)
            except acme_errors.ConflictError as exc:  # the key has an account already
                return str(exc.location)
        url = self._call("newAccount", create)
        self.net.account = messages.RegistrationResource(uri=url, body=messages.Registration())
        return url

    # -- orders ------------------------------------------------------------------------

    def new_order(self, csr_pem: bytes, identifiers: list[tuple[str, str]], *,
                  profile: str | None, replaces: str | None) -> messages.OrderResource:
        order = NewOrderReplacing(
            identifiers=[messages.Identifier(typ=messages.IdentifierType(t), value=v)
                         for t, v in identifiers],
            profile=profile or None, replaces=replaces)

        def post() -> messages.OrderResource:
            response = self.client._post(self.client.directory["newOrder"], order)
            body = messages.Order.from_json(response.json())
            authzs = [self.client._authzr_from_response(self.client._post_as_get(u), uri=u)
                      for u in body.authorizations]
            return messages.OrderResource(body=body, uri=response.headers.get("Location"),
                                          authorizations=authzs, csr_pem=csr_pem)
        return self._call("newOrder", post)

    def answer(self, challenge: messages.ChallengeBody, response: Any) -> None:
        self._call("challenge", lambda: self.client.answer_challenge(challenge, response))

    def wait_authorization(self, authz: messages.AuthorizationResource) -> None:
        """Poll until the authorization is valid (Retry-After honoured) or raise its problem."""
        deadline = time.monotonic() + DEADLINE
        pause = POLL_FIRST
        while True:
            response = self._get(authz.uri)
            body = messages.Authorization.from_json(response.json())
            if body.status == messages.STATUS_VALID:
                return
            if body.status != messages.STATUS_PENDING:
                errors = [c.error for c in body.challenges if c.error is not None]
                what = f"{self.name} authorization of {body.identifier.value}"
                if errors:
                    raise IssuanceError(problem_text(errors[0], what))
                raise IssuanceError(f"{what}: {body.status.name}")
            pause = self._sleep(response, pause, deadline, "authorization")

    def finalize(self, order: messages.OrderResource) -> tuple[str, list[str]]:
        """Finalize, poll the order, download the chain; return (fullchain PEM, alternates)."""
        deadline = time.monotonic() + DEADLINE
        csr = x509.load_pem_x509_csr(order.csr_pem)
        self._call("finalize", lambda: self.client._post(
            order.body.finalize, messages.CertificateRequest(csr=csr)))
        pause = POLL_FIRST
        while True:
            response = self._get(order.uri)
            body = messages.Order.from_json(response.json())
            if body.status == messages.STATUS_VALID and body.certificate:
                cert = self._get(body.certificate)
                alternates = [self._get(u).text
                              for u in self.client._get_links(cert, "alternate")]
                return cert.text, alternates
            if body.status == messages.STATUS_INVALID:
                if body.error is not None:
                    raise IssuanceError(problem_text(body.error, f"{self.name} order"))
                raise IssuanceError(f"{self.name} order: invalid, no reason given")
            pause = self._sleep(response, pause, deadline, "order")

    def _sleep(self, response: requests.Response, pause: float, deadline: float,
               what: str) -> float:
        wait = _retry_after(response, pause)
        if time.monotonic() + wait > deadline:
            raise IssuanceError(f"{self.name}: the {what} was not done after {DEADLINE:.0f} s")
        time.sleep(wait)
        return min(pause * 2, POLL_MAX)

    # -- ARI and revocation ------------------------------------------------------------

    def renewal_info(self, cert_id: str) -> Window | None:
        """The CA's window for the certificate (None when the CA has no renewalInfo)."""
        try:
            base = self.client.directory["renewalInfo"]
        except KeyError:
            return None
        response = self._call("renewalInfo", lambda: self.net.get(f"{base}/{cert_id}"))
        info = response.json()
        window = messages.RenewalInfo.from_json(info).suggested_window
        seconds = _retry_after(response, 6 * 3600)
        return Window(window.start.astimezone(dt.UTC), window.end.astimezone(dt.UTC),
                      dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds),
                      info.get("explanationURL"))

    def revoke(self, cert: x509.Certificate, reason: int) -> None:
        """Revoke by the account that ordered the certificate."""
        self._call("revokeCert", lambda: self.client.revoke(cert, reason))

    def revoke_with_key(self, cert: x509.Certificate, reason: int, key: Any) -> None:
        """Revoke by the certificate's own key (RFC 8555 7.6: the JWS carries its jwk)."""
        from cryptography.hazmat.primitives.asymmetric import rsa
        from josepy.jwa import ES384, ES512, RS256
        from josepy.jwk import JWKRSA

        if isinstance(key, rsa.RSAPrivateKey):
            jwk: Any = JWKRSA(key=key)
            alg = RS256
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            jwk = JWKEC(key=key)
            alg = {256: ES256, 384: ES384, 521: ES512}[key.curve.key_size]
        else:
            raise IssuanceError(f"{self.name} revokeCert: the certificate's key type cannot "
                                "sign an ACME request; revoke by account (another --reason)")
        net = _Network(jwk, alg=alg, user_agent=USER_AGENT, verify_ssl=self.net.verify_ssl)
        client = acme_client.ClientV2(self.client.directory, net)
        self._call("revokeCert", lambda: client.revoke(cert, reason))
