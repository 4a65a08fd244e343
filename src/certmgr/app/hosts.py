"""Hosts: register an SSH host (``certmgr host add``, and the console's form with the
server's known_hosts line), and what discovery stored about one host.

Host key verification is never off: the CLI names a known_hosts file; the console takes
the line itself (as ``ssh-keyscan`` prints it), checks that it names the host, and keeps
it in a file of its own under the certmgr home.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certmgr.app.context import Context
from certmgr.errors import NotFound, UsageError

if TYPE_CHECKING:
    from certmgr.repository import Repository
    from certmgr.repository.records import HostRecord

__all__ = ["HostDetail", "add_ssh_host", "add_ssh_host_line", "host_detail"]

KNOWN_HOSTS_DIR = "known_hosts.d"


def add_ssh_host(ctx: Context, url: str, *, key: Path, known_hosts: Path,
                 check: bool = True) -> HostRecord:
    """Register ``ssh://[user@]host[:port]``, logging in with ``key``, the server's key in
    ``known_hosts``; with ``check``, connect once (host key verified) before saving.

    Raises:
        UsageError: a bad address, a key asyncssh cannot use, a known_hosts file that is
            not one. HostError: the check connection failed (nothing saved).
    """
    from certmgr.hosts.ssh import SSHHost, check_login_files, parse_ssh_url

    address = parse_ssh_url(url)
    check_login_files(key, known_hosts)
    if check:
        with SSHHost(address.url, key=key, known_hosts=known_hosts) as host:
            host.run(["true"], timeout=30)
    return ctx.repository().upsert_host(address.url, "ssh",
                                        address=f"{address.user}@{address.host}:"
                                                f"{address.port}",
                                        params={"key": str(key),
                                                "known_hosts": str(known_hosts)})


def add_ssh_host_line(ctx: Context, url: str, *, key: str,
                      known_hosts_line: str, check: bool = True) -> HostRecord:
    """As :func:`add_ssh_host` with the server's known_hosts line(s) given as text: they
    must name the host (its name or ``[name]:port``) and are kept in
    ``HOME/known_hosts.d/``; ``key`` is a file on the certmgr machine.

    Raises:
        UsageError: as :func:`add_ssh_host`, or the lines are too long, not known_hosts
            lines, or hold no key for this host. HostError: the check connection failed.
    """
    from certmgr.hosts.sshaddress import known_hosts_lines, parse_ssh_url

    address = parse_ssh_url(url)
    if not key or len(key) > 4096 or not Path(key).is_absolute():
        raise UsageError(f"key {key[:200]!r}: give the absolute path of the private key file "
                         "on the certmgr machine")
    text = known_hosts_lines(known_hosts_line, address)
    directory = ctx.home / KNOWN_HOSTS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / hashlib.sha256(address.url.encode()).hexdigest()[:32]
    from certmgr.app.files import write_file

    previous = path.read_bytes() if path.is_file() else None
    write_file(path, text.encode("ascii"), secret=False)
    try:
        return add_ssh_host(ctx, url, key=Path(key), known_hosts=path, check=check)
    except BaseException:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            write_file(path, previous, secret=False)
        raise


@dataclass(frozen=True)
class HostDetail:
    """One host: what it is, its services and its slots (files and endpoints)."""

    name: str
    kind: str
    address: str | None
    services: tuple[dict[str, Any], ...]
    slots: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "address": self.address,
                "services": list(self.services), "slots": list(self.slots)}


def host_detail(repo: Repository, name: str) -> HostDetail:
    """What discovery stored about host ``name`` (``local`` is always there).

    Raises:
        NotFound: no such host.
    """
    from certmgr.app.inventory import LOCAL_HOST

    if name == LOCAL_HOST:
        kind, address = "local", None
    else:
        record = repo.get_host(name)
        kind, address = record.kind.value, record.address
    try:
        services = repo.list_services(name)
        slots = repo.list_slots(name)
    except NotFound:
        services, slots = [], []
    # the definitions targeting each slot, from the targets' index: never every definition
    targets = {s.target: [d.name for d in repo.definitions_for_target(s.target)]
               for s in slots}
    return HostDetail(
        name, kind, address,
        tuple({"kind": s.kind, "config": s.config, "user": s.user} for s in services),
        tuple({"id": s.slot_id, "target": s.target, "service": s.service_kind,
               "config": s.config, "names": list(s.names),
               "files": {k: v for k, v in (("cert", s.cert), ("key", s.key),
                                           ("chain", s.chain), ("ca", s.ca),
                                           ("keystore", s.keystore)) if v},
               "endpoints": [e.to_json() for e in s.endpoints],
               "definitions": targets.get(s.target, [])} for s in slots))
