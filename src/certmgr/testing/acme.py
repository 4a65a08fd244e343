"""Real ACME test servers on loopback: pebble 2.10 (the CA) and BIND 9 ``named`` (its DNS).

``named`` serves the zone ``example.test`` (every name -> 127.0.0.1, dynamic updates
signed with a TSIG key); pebble resolves through it (``-dnsserver``), so HTTP-01
validation connects to 127.0.0.1 on pebble's ``httpPort`` and DNS-01 validation
reads the TXT records certmgr writes by RFC 2136. Both are started by the tests and
stopped by pid. Pebble comes from Debian sid, unpacked by ``.ci/install-packages``
into :data:`PEBBLE_DIR`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["PEBBLE_DIR", "Named", "Pebble", "RateLimitProxy", "find_named", "find_pebble",
           "free_port", "run_named", "run_pebble", "run_rate_limit_proxy"]

PEBBLE_DIR = Path(os.environ.get("CERTMGR_TEST_PEBBLE_DIR", "/var/cache/certmgr-test/pebble"))
ZONE = "example.test"
TSIG_NAME = "certmgr"


def find_pebble() -> Path | None:
    """pebble 2.10's binary, or None (then run ``.ci/install-packages`` as root)."""
    path = PEBBLE_DIR / "usr" / "bin" / "pebble"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def find_named() -> Path | None:
    for candidate in (shutil.which("named"), "/usr/sbin/named"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def free_port() -> int:
    """A TCP and UDP port free on 127.0.0.1 right now."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


@dataclass
class Named:
    """A running BIND 9 for ``example.test`` on 127.0.0.1:``port``."""

    port: int
    tsig_key_file: Path
    zone: str = ZONE
    zones: tuple[str, ...] = (ZONE,)
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def zone_file(self, zone: str) -> Path:
        assert self.workdir is not None
        return self.workdir / f"{zone}.zone"

    def reload(self) -> None:
        """Have named read its zone files again (SIGHUP to the one we started)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set_address(self, fqdn: str, address: str) -> None:
        """Point ``fqdn`` (in the zone) at ``address`` by an RFC 2136 update (A record)."""
        import dns.query
        import dns.rcode
        import dns.tsigkeyring
        import dns.update

        from certmgr.issuers.acme_challenges import parse_tsig_key

        name, algorithm, secret = parse_tsig_key(self.tsig_key_file.read_text(), "test key")
        fqdn = fqdn.rstrip(".")
        zone = max((z for z in self.zones if fqdn == z or fqdn.endswith("." + z)), key=len)
        update = dns.update.UpdateMessage(zone, keyring=dns.tsigkeyring.from_text(
            {name: secret}), keyalgorithm=algorithm)
        update.replace(fqdn + ".", 1, "A", address)
        reply = dns.query.tcp(update, "127.0.0.1", port=self.port, timeout=10)
        assert reply.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(reply.rcode())


@contextlib.contextmanager
def run_named(workdir: Path, zones: tuple[str, ...] = (ZONE,),
              static_zones: tuple[str, ...] = ()) -> Iterator[Named]:
    """Start ``named`` in the foreground on a free loopback port, primary for ``zones``
    (every name 127.0.0.1 until updated by RFC 2136) and for ``static_zones`` (zone files
    edited in place, read again on :meth:`Named.reload`); stop it by pid at the end."""
    binary = find_named()
    assert binary is not None, "named is not installed (apt-get install bind9)"
    workdir.mkdir(parents=True, exist_ok=True)
    key_file = workdir / "tsig.key"
    keygen = shutil.which("tsig-keygen") or str(binary.parent / "tsig-keygen")  # /usr/sbin
    key_text = subprocess.run([keygen, "-a", "hmac-sha256", TSIG_NAME], check=True,
                              capture_output=True, text=True).stdout
    key_file.write_text(key_text)
    key_file.chmod(0o600)
    for zone in (*zones, *static_zones):
        (workdir / f"{zone}.zone").write_text(
            f"$TTL 1\n@ IN SOA ns.{zone}. admin.{zone}. 1 60 60 600 1\n"
            f"@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n@ IN A 127.0.0.1\n* IN A 127.0.0.1\n")
    port = free_port()
    (workdir / "named.conf").write_text(
        f'include "{key_file}";\ncontrols {{ }};\n'
        f'options {{ directory "{workdir}"; listen-on port {port} {{ 127.0.0.1; }}; '
        f'listen-on-v6 {{ none; }}; pid-file "{workdir}/named.pid"; recursion no; '
        'dnssec-validation no; };\n'
        + "".join(f'zone "{zone}" {{ type primary; file "{workdir}/{zone}.zone"; '
                  f'allow-update {{ key "{TSIG_NAME}"; }}; }};\n' for zone in zones)
        + "".join(f'zone "{zone}" {{ type primary; file "{workdir}/{zone}.zone"; }};\n'
                  for zone in static_zones))
    log = (workdir / "named.log").open("wb")
    proc = subprocess.Popen([str(binary), "-c", str(workdir / "named.conf"), "-g"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_dns(port, proc, workdir / "named.log")
        yield Named(port, key_file, zones[0], zones, workdir, proc)
    finally:
        _stop(proc)
        log.close()


def _wait_dns(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    import dns.message
    import dns.query

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"named exited: {log.read_text()[-2000:]}")
        try:
            dns.query.udp(dns.message.make_query(f"ns.{ZONE}", "A"), "127.0.0.1", timeout=0.2,
                          port=port)
            return
        except (OSError, dns.exception.Timeout):
            time.sleep(0.05)
    raise RuntimeError(f"named did not answer on port {port}: {log.read_text()[-2000:]}")


@dataclass
class Pebble:
    """A running pebble: its directory URL, the CA bundle of its HTTPS listener, the port
    its validator uses for HTTP-01, its management URL."""

    directory: str
    ca_bundle: Path
    http_port: int
    management: str
    log: Path | None = None

    def _get(self, path: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(self.management + path, context=context,  # noqa: S310
                                    timeout=10) as response:
            return bytes(response.read())

    def root_pem(self, index: int = 0) -> bytes:
        """A root of the chains pebble issues (new at every start; 0: the default chain's)."""
        return self._get(f"/roots/{index}")

    def set_renewal_window(self, cert_pem: str, start: str, end: str,
                           explanation: str | None = None) -> None:
        """Override the ARI answer for a certificate (management ``/set-renewal-info/``)."""
        answer: dict[str, object] = {"suggestedWindow": {"start": start, "end": end}}
        if explanation:
            answer["explanationURL"] = explanation
        body = json.dumps({"Certificate": cert_pem, "ARIResponse": json.dumps(answer)}).encode()
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        request = urllib.request.Request(  # noqa: S310 - our https test server
            self.management + "/set-renewal-info/", data=body, method="POST")
        with urllib.request.urlopen(request, context=context, timeout=10):  # noqa: S310
            pass

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


@contextlib.contextmanager
def run_pebble(workdir: Path, dns_server: str, *, nonce_reject: int = 0,
               alternate_roots: int = 0, http_port: int | None = None,
               eab_keys: dict[str, str] | None = None) -> Iterator[Pebble]:
    """Start pebble 2.10 on free loopback ports with its own TLS certificate (made here),
    no validation sleeps, no nonce rejection (unless ``nonce_reject`` percent), retry waits
    0 (``eab_keys``: External Account Binding required, kid -> base64url HMAC key); stop it
    by pid at the end. ``http_port``: the port its validator fetches http-01 tokens from
    (80 for a real web server; a free loopback port by default)."""
    import trustme

    binary = find_pebble()
    assert binary is not None, f"pebble 2.10 is not in {PEBBLE_DIR} (run .ci/install-packages)"
    workdir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(workdir / "cert.pem"))
    server.private_key_pem.write_to_path(str(workdir / "key.pem"))
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    listen, manage = free_port(), free_port()
    http_port = http_port or free_port()
    config = {"pebble": {
        "listenAddress": f"127.0.0.1:{listen}",
        "managementListenAddress": f"127.0.0.1:{manage}",
        "certificate": str(workdir / "cert.pem"), "privateKey": str(workdir / "key.pem"),
        "httpPort": http_port, "tlsPort": free_port(), "ocspResponderURL": "",
        "externalAccountBindingRequired": eab_keys is not None,
        "externalAccountMACKeys": eab_keys or {},
        "retryAfter": {"authz": 0, "order": 0}, "keyAlgorithm": "ecdsa",
        "profiles": {
            "default": {"description": "90 days", "validityPeriod": 7776000},
            "shortlived": {"description": "6 days", "validityPeriod": 518400}}}}
    (workdir / "pebble.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": str(nonce_reject),
           "PEBBLE_ALTERNATE_ROOTS": str(alternate_roots),
           "PEBBLE_VA_ALWAYS_VALID": "0"}
    log = (workdir / "pebble.log").open("wb")
    proc = subprocess.Popen([str(binary), "-config", str(workdir / "pebble.json"),
                             "-dnsserver", dns_server, "-strict=false"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    pebble = Pebble(f"https://127.0.0.1:{listen}/dir", workdir / "ca.pem", http_port,
                    f"https://127.0.0.1:{manage}", workdir / "pebble.log")
    try:
        _wait_https(pebble, proc, workdir / "pebble.log")
        yield pebble
    finally:
        _stop(proc)
        log.close()


def _wait_https(pebble: Pebble, proc: subprocess.Popen[bytes], log: Path) -> None:
    context = ssl.create_default_context(cafile=str(pebble.ca_bundle))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pebble exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(pebble.directory, context=context,  # noqa: S310
                                        timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pebble did not answer at {pebble.directory}: {log.read_text()[-2000:]}")


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        proxy = self.server
        if self.command == "POST" and self.path == proxy.limited_path:
            proxy.new_orders.append(time.monotonic())
            if len(proxy.new_orders) <= proxy.limit_count:
                problem = json.dumps({"type": "urn:ietf:params:acme:error:rateLimited",
                                      "detail": "too many new orders (test proxy)",
                                      "status": 429}).encode()
                self.send_response(429)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Retry-After", str(proxy.retry_after))
                self.send_header("Content-Length", str(len(problem)))
                self.end_headers()
                self.wfile.write(problem)
                return
        upstream = http.client.HTTPSConnection("127.0.0.1", proxy.upstream_port,
                                               context=proxy.client_context, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_HEAD = _forward  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: object) -> None:
        pass


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream_port: int
    client_context: ssl.SSLContext
    limited_path: str
    limit_count: int
    retry_after: int
    new_orders: list[float]


@dataclass
class RateLimitProxy:
    """A TLS proxy in front of pebble (pebble cannot answer ``rateLimited``): the first
    ``limit_count`` newOrder requests get RFC 8555's rateLimited problem with
    ``Retry-After``; everything else goes through unchanged (Host kept, so pebble's URLs
    point at the proxy)."""

    directory: str
    new_orders: list[float]


@contextlib.contextmanager
def run_rate_limit_proxy(pebble: Pebble, workdir: Path, *, limit_count: int,
                         retry_after: int) -> Iterator[RateLimitProxy]:
    port = free_port()
    server = _ProxyServer(("127.0.0.1", port), _ProxyHandler)
    server.upstream_port = int(pebble.directory.split(":")[2].split("/")[0])
    server.client_context = ssl.create_default_context(cafile=str(pebble.ca_bundle))
    server.limited_path = "/order-plz"
    server.limit_count, server.retry_after, server.new_orders = limit_count, retry_after, []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pebble_dir = pebble.ca_bundle.parent
    tls.load_cert_chain(str(pebble_dir / "cert.pem"), str(pebble_dir / "key.pem"))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield RateLimitProxy(f"https://127.0.0.1:{port}/dir", server.new_orders)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
