"""Answering ACME challenges: http-01 by a webroot (through the hosts layer) or a standalone
responder, dns-01 by RFC 2136 dynamic update signed with TSIG (dnspython).

Every solver publishes with :meth:`publish` and takes everything back with
:meth:`cleanup`, which the issuer calls also when the order fails.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from acme import challenges
from josepy.jwk import JWK

from certmgr.errors import HostError, InputError, IssuanceError

__all__ = ["DnsHook", "DnsUpdate", "Solver", "Standalone", "Webroot", "parse_tsig_key",
           "standalone"]

CHALLENGE_DIR = ".well-known/acme-challenge"


class Solver(Protocol):
    kind: str

    def publish(self, name: str, challenge: Any, key: JWK) -> Any:
        """Make the challenge answerable; return the response to send to the CA."""
        ...

    def ready(self) -> None:
        """Block until everything published can be seen by the CA."""
        ...

    def cleanup(self) -> None:
        ...


# -- http-01: standalone responder ----------------------------------------------------

class _Responder(ThreadingHTTPServer):
    daemon_threads = True
    tokens: dict[str, bytes]
    users: int


class _Handler(BaseHTTPRequestHandler):
    server: _Responder

    def do_GET(self) -> None:
        prefix = "/" + CHALLENGE_DIR + "/"
        body = (self.server.tokens.get(self.path[len(prefix):])
                if self.path.startswith(prefix) else None)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are not logged to stderr


_RESPONDERS: dict[tuple[str, int], _Responder] = {}
_LOCK = threading.Lock()


@contextlib.contextmanager
def standalone(address: str, port: int) -> Iterator[_Responder]:
    """The one responder on ``address:port`` for every concurrent order (started on first
    use, stopped when the last order using it is done)."""
    with _LOCK:
        server = _RESPONDERS.get((address, port))
        if server is None:
            try:
                server = _Responder((address, port), _Handler)
            except OSError as exc:
                raise IssuanceError(f"http-01 standalone responder: cannot listen on "
                                    f"{address or '*'}:{port}: {exc.strerror}") from None
            server.tokens, server.users = {}, 0
            threading.Thread(target=server.serve_forever, daemon=True,
                             kwargs={"poll_interval": 0.01}).start()  # stops within 10 ms
            _RESPONDERS[(address, port)] = server
        server.users += 1
    try:
        yield server
    finally:
        with _LOCK:
            server.users -= 1
            if server.users == 0:
                del _RESPONDERS[(address, port)]
                server.shutdown()
                server.server_close()


@dataclass
class Standalone:
    """http-01 answered by certmgr's own responder on ``address:port``."""

    address: str
    port: int
    kind: str = "http-01"
    _published: list[str] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _server: _Responder | None = None

    def publish(self, name: str, challenge: Any, key: JWK) -> Any:
        if self._server is None:
            self._server = self._stack.enter_context(standalone(self.address, self.port))
        response, validation = challenge.response_and_validation(key)
        self._server.tokens[challenge.encode("token")] = validation.encode("ascii")
        self._published.append(challenge.encode("token"))
        return response

    def ready(self) -> None:
        pass

    def cleanup(self) -> None:
        if self._server is not None:
            for token in self._published:
                self._server.tokens.pop(token, None)
        self._stack.close()
        self._server = None


# -- http-01: webroot through the hosts layer ------------------------------------------

@dataclass
class Webroot:
    """http-01 answered by files under ``webroot/.well-known/acme-challenge/`` on ``host``
    (a :class:`certmgr.hosts.base.WritableHost`), readable by the web server's user and
    removed afterwards; ``roots`` gives a name its own web root (the one of the server
    discovery found answering it)."""

    host: Any
    webroot: str
    kind: str = "http-01"
    roots: dict[str, str] = field(default_factory=dict)  # name -> its server's web root
    _files: list[str] = field(default_factory=list)
    _dirs: list[str] = field(default_factory=list)

    def publish(self, name: str, challenge: Any, key: JWK) -> Any:
        response, validation = challenge.response_and_validation(key)
        root = (self.roots.get(name) or self.webroot).rstrip("/") or "/"
        top = self.host.stat(root)
        if top is None:
            source = "--webroot" if name not in self.roots else f"web root of {name}"
            raise IssuanceError(f"{source} {root}: no such directory on {self._where}")
        uid, gid = top.uid, top.gid
        path = root
        for part in CHALLENGE_DIR.split("/"):
            path = f"{path.rstrip('/')}/{part}"
            if self.host.stat(path) is None:
                self._mkdir(path, uid, gid)
        token = challenge.encode("token")
        target = f"{path}/{token}"
        try:
            self.host.write_file_atomic(target, validation.encode("ascii"), uid=uid, gid=gid,
                                        mode=0o644, temp_name=f".{token}.certmgr-tmp")
        except HostError as exc:
            raise IssuanceError(f"http-01 webroot {target} on {self._where}: {exc.message}") \
                from None
        self._files.append(target)
        return response

    @property
    def _where(self) -> str:
        return str(getattr(self.host, "name", "the host"))

    def _mkdir(self, path: str, uid: int, gid: int) -> None:
        try:
            self.host.make_dir(path, uid=uid, gid=gid, mode=0o755)
        except HostError as exc:
            raise IssuanceError(f"http-01 webroot {path} on {self._where}: {exc.message}") \
                from None
        self._dirs.append(path)

    def ready(self) -> None:
        pass

    def cleanup(self) -> None:
        for path in self._files:
            with contextlib.suppress(HostError):
                self.host.remove_file(path)
        for path in reversed(self._dirs):
            with contextlib.suppress(HostError):
                self.host.remove_dir(path)
        self._files, self._dirs = [], []


# -- dns-01: RFC 2136 + TSIG ------------------------------------------------------------

_KEY_BLOCK = re.compile(r'key\s+"?([A-Za-z0-9._-]+)"?\s*\{(.*?)\}\s*;', re.S)
_ALGORITHM = re.compile(r"algorithm\s+([A-Za-z0-9-]+)\s*;")
_SECRET = re.compile(r'secret\s+"([A-Za-z0-9+/=]+)"\s*;')
ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


def parse_tsig_key(text: str, source: str) -> tuple[str, str, str]:
    """(name, algorithm, secret) of a BIND ``key`` file as ``tsig-keygen`` writes it.

    Raises:
        InputError: not such a file, or an algorithm dnspython does not sign with.
    """
    block = _KEY_BLOCK.search(text)
    algorithm = _ALGORITHM.search(block.group(2)) if block else None
    secret = _SECRET.search(block.group(2)) if block else None
    if block is None or algorithm is None or secret is None:
        raise InputError(f"--tsig-key {source}: not a TSIG key file (key \"NAME\" {{ "
                         "algorithm ...; secret \"...\"; }}; as tsig-keygen writes)")
    if algorithm.group(1).lower() not in ALGORITHMS:
        raise InputError(f"--tsig-key {source}: algorithm {algorithm.group(1)} is not one of "
                         f"{', '.join(ALGORITHMS)}")
    return block.group(1), algorithm.group(1).lower(), secret.group(1)


@dataclass
class DnsUpdate:
    """dns-01 answered by TXT records added with RFC 2136 updates to ``server`` (the
    zone's primary), waiting until that authoritative server answers them."""

    host: str
    port: int
    key: tuple[str, str, str]
    kind: str = "dns-01"
    timeout: float = 60.0
    _records: list[tuple[str, str, str]] = field(default_factory=list)  # zone, fqdn, value

    def publish(self, name: str, challenge: Any, key: JWK) -> Any:
        response, validation = challenge.response_and_validation(key)
        fqdn = challenge.validation_domain_name(name.removeprefix("*.")).rstrip(".") + "."
        zone = self._zone(fqdn)
        self._update(zone, fqdn, validation, add=True)
        self._records.append((zone, fqdn, validation))
        return response

    def _keyring(self) -> tuple[Any, Any]:
        import dns.name
        import dns.tsigkeyring

        name, algorithm, secret = self.key
        return dns.tsigkeyring.from_text({name: secret}), dns.name.from_text(algorithm)

    def _query(self, fqdn: str, rdtype: str) -> Any:
        import dns.exception
        import dns.message
        import dns.query

        try:
            return dns.query.udp(dns.message.make_query(fqdn, rdtype), self.host,
                                 port=self.port, timeout=5)
        except (OSError, dns.exception.DNSException) as exc:
            raise IssuanceError(f"dns-01: DNS server {self.host}:{self.port} does not answer: "
                                f"{exc}") from None

    def _zone(self, fqdn: str) -> str:
        """The zone holding ``fqdn``: the owner of the SOA its authoritative server returns."""
        import dns.rdatatype

        answer = self._query(fqdn, "SOA")
        for section in (answer.answer, answer.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA:
                    return str(rrset.name)
        raise IssuanceError(f"dns-01: {self.host}:{self.port} is not authoritative for {fqdn} "
                            "(no SOA in its answer)")

    def _update(self, zone: str, fqdn: str, value: str, *, add: bool) -> None:
        import dns.exception
        import dns.query
        import dns.rcode
        import dns.update

        keyring, algorithm = self._keyring()
        update = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=algorithm)
        if add:
            update.add(fqdn, 1, "TXT", f'"{value}"')
        else:
            update.delete(fqdn, "TXT", f'"{value}"')
        try:
            reply = dns.query.tcp(update, self.host, port=self.port, timeout=10)
        except (OSError, dns.exception.DNSException) as exc:
            raise IssuanceError(f"dns-01: RFC 2136 update of {fqdn} at {self.host}:{self.port} "
                                f"failed: {exc}") from None
        if reply.rcode() != dns.rcode.NOERROR:
            raise IssuanceError(f"dns-01: {self.host}:{self.port} refused the update of {fqdn}: "
                                f"{dns.rcode.to_text(reply.rcode())} (check the TSIG key and "
                                "the zone's allow-update)")

    def ready(self) -> None:
        """Query the authoritative server until every TXT value is there (no blind sleep)."""
        deadline = time.monotonic() + self.timeout
        pause = 0.02
        for _zone, fqdn, value in self._records:
            while value not in self._txt(fqdn):
                if time.monotonic() > deadline:
                    raise IssuanceError(f"dns-01: {fqdn} TXT not served by {self.host}:"
                                        f"{self.port} after {self.timeout:.0f} s")
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def _txt(self, fqdn: str) -> set[str]:
        import dns.rdatatype

        out: set[str] = set()
        for rrset in self._query(fqdn, "TXT").answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                out |= {b"".join(r.strings).decode("ascii", "replace") for r in rrset}
        return out

    def cleanup(self) -> None:
        for zone, fqdn, value in self._records:
            with contextlib.suppress(IssuanceError):
                self._update(zone, fqdn, value, add=False)
        self._records = []


def challenge_of(authz_challenges: Any, kind: str) -> Any:
    """The challenge body of ``kind`` among an authorization's, or None."""
    wanted = challenges.HTTP01 if kind == "http-01" else challenges.DNS01
    return next((c for c in authz_challenges if isinstance(c.chall, wanted)), None)


@dataclass
class DnsHook:
    """dns-01 answered by an admin's command: ``CMD set FQDN VALUE`` before validation and
    ``CMD clear FQDN VALUE`` afterwards (also on failure); exit 0 means done."""

    command: str
    kind: str = "dns-01"
    timeout: float = 300.0
    _records: list[tuple[str, str]] = field(default_factory=list)

    def _run(self, action: str, fqdn: str, value: str) -> None:
        import shlex
        import subprocess

        argv = [*shlex.split(self.command), action, fqdn, value]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IssuanceError(f"dns-01 hook {argv[0]} {action} {fqdn}: {exc}") from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise IssuanceError(f"dns-01 hook {argv[0]} {action} {fqdn}: exit "
                                f"{done.returncode} {tail[0][:200]}".rstrip())

    def publish(self, name: str, challenge: Any, key: JWK) -> Any:
        response, validation = challenge.response_and_validation(key)
        fqdn = challenge.validation_domain_name(name.removeprefix("*."))
        self._run("set", fqdn, validation)
        self._records.append((fqdn, validation))
        return response

    def ready(self) -> None:
        pass  # the hook's exit 0 means the record is served

    def cleanup(self) -> None:
        for fqdn, value in self._records:
            with contextlib.suppress(IssuanceError):
                self._run("clear", fqdn, value)
        self._records = []
