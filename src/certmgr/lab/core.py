"""Bring a lab up, look at it, take it down.

``up`` builds each host's tree (programs' configuration and TLS files, sshd,
service table), creates its namespaces and veth, starts every program from the
service table and waits until each TLS endpoint completes a handshake with
the certificate the lab gave it. ``down`` stops every process of the lab's
hosts by pid, unmounts and deletes namespaces and veths, and removes the lab
directory. Progress is reported through a callback; nothing here prints.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from certmgr import atomicfile
from certmgr.errors import CertmgrError, HostError, LabError, ProbeError
from certmgr.hosts.lab import LabHost
from certmgr.hosts.servicetable import (
    SERVICE_TABLE_PATH,
    ServiceEntry,
    ServiceTable,
    load_service_table,
    read_pid_file,
    write_service_table,
)
from certmgr.lab import netns
from certmgr.lab.certs import SshKey, self_signed, ssh_key
from certmgr.lab.probe import served_sha256
from certmgr.lab.programs import (
    DEFAULT_PROGRAMS,
    LAYOUTS,
    PROGRAMS,
    SEED_NAMES,
    SNAKEOIL_CERT,
    SNAKEOIL_KEY,
    HostContext,
    LabProgram,
)
from certmgr.lab.state import STATE_FILE, LabHostState, LabState, load_state, save_state
from certmgr.lab.tree import BIND_DIRS, HostTree, template
from certmgr.models import Endpoint

__all__ = ["Progress", "lab_down", "lab_up", "start_timeout"]

Progress = Callable[[str], None]
"""Called with a short description before each step of ``up``/``down``."""

_FILES_ONLY_SUBNET = "198.18.255.0/24"


def _quiet(_: str) -> None:
    """The default progress callback: says nothing."""


def start_timeout(name: str) -> float:
    """Seconds a program may take until its TLS endpoints answer (its lab part says)."""
    return next((p.start_timeout for p in PROGRAMS if p.name == name), LabProgram.start_timeout)


# -- up ------------------------------------------------------------------------------

def lab_up(lab_dir: Path, *, hosts: int = 1, layout: str = "seed",
           programs: Sequence[str] | None = None, files_only: bool = False,
           progress: Progress = _quiet) -> LabState:
    """Create a lab of ``hosts`` hosts in ``lab_dir`` and (unless ``files_only``) start it.

    Raises:
        UsageError-like LabError: bad arguments, a lab already there, no root.
        LabError: a program did not come up (the message holds its own log lines);
            everything started is stopped again and the namespaces removed.
    """
    names = _check_args(hosts, layout, programs)
    if not files_only:
        netns.check_tools()
    state = _new_state(lab_dir, layout, names, files_only)
    key = _lab_ssh_key(state)
    try:
        if not files_only:
            progress("creating network namespaces")
            state = _plumb(state, hosts)
        else:
            state = _plan_hosts(state, _FILES_ONLY_SUBNET, hosts)
        for host in state.hosts:
            progress(f"building host {host.name}")
            state = _build_host(state, host, key, files_only=files_only)
            save_state(state)
        if files_only:
            for host in state.hosts:
                tree = HostTree(Path(host.root), files_only=True)
                for prog in PROGRAMS:
                    if prog.name in state.programs:
                        prog.files_only(tree)
            state = replace(state, status="files")
            save_state(state)
            return state
        layers = _usr_layers(state.programs)
        for host in state.hosts:
            progress(f"creating mount namespace of {host.name}")
            root = Path(host.root)
            netns.create_mount_namespace(root, root / "mntns", root / "utsns",
                                         "server.example.com", BIND_DIRS, layers)
        state = replace(state, status="starting")
        save_state(state)
        _start_all(state, progress)
        _write_known_hosts(state)
    except BaseException:
        _stop_and_unplumb(state, progress)
        save_state(replace(state, status="failed"))
        raise
    state = replace(state, status="up")
    save_state(state)
    return state


def _usr_layers(names: tuple[str, ...]) -> tuple[Path, ...]:
    """The unpacked packages the hosts' programs need beneath their /usr."""
    return tuple(layer for prog in PROGRAMS if prog.name in names
                 if (layer := prog.usr_layer()) is not None)


def _plan_hosts(state: LabState, subnet: str, hosts: int) -> LabState:
    planned = []
    for index in range(1, hosts + 1):
        name = f"lab{index}"
        peer, address = netns.host_addresses(ipaddress.IPv4Network(subnet), index)
        planned.append(LabHostState(name=name, address=address, peer=peer,
                                    netns=f"certmgr-{state.id}-{name}",
                                    veth=f"cm{state.id}-{index}",
                                    root=str(Path(state.dir) / name)))
    state = replace(state, subnet=subnet, hosts=tuple(planned))
    save_state(state)  # before anything exists, so down removes what a failed up made
    return state


def _plumb(state: LabState, hosts: int) -> LabState:
    """Pick the lab's /24 and create its network namespaces and veths, atomically.

    Two labs coming up at once must not pick the same /24: the choice and the
    veths that claim it are made under one machine-wide lock.
    """
    with netns.address_lock():
        state = _plan_hosts(state, str(netns.pick_subnet()), hosts)
        for host in state.hosts:
            netns.create_netns(host.netns)
            netns.add_veth(host.veth, host.netns, host.peer, host.address)
    return state


def _check_args(hosts: int, layout: str, programs: Sequence[str] | None) -> tuple[str, ...]:
    if not 1 <= hosts <= 16:
        raise LabError(f"--hosts {hosts}: give 1 to 16 hosts")
    if layout not in LAYOUTS:
        raise LabError(f"--layout {layout}: choose one of {', '.join(LAYOUTS)}")
    known = [p.name for p in PROGRAMS]
    wanted = list(programs) if programs else list(DEFAULT_PROGRAMS)
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise LabError(f"--programs: unknown program {unknown[0]}; the lab has "
                       f"{', '.join(sorted(known))}")
    names = tuple(p for p in known if p in wanted)
    _refuse_shared_ports(names)
    return names


def _refuse_shared_ports(names: tuple[str, ...]) -> None:
    """Two programs of one host cannot listen on one port (two mail servers on 25)."""
    owner: dict[int, str] = {}
    for prog in PROGRAMS:
        if prog.name not in names:
            continue
        for port in [p for p, _tls in prog.ports] + list(prog.http_ports):
            if port in owner:
                raise LabError(f"--programs: {owner[port]} and {prog.name} both listen on "
                               f"port {port}; a lab host runs one of them, choose one")
            owner[port] = prog.name


def _new_state(lab_dir: Path, layout: str, names: tuple[str, ...], files_only: bool) -> LabState:
    lab_dir = lab_dir.absolute()
    old = load_state(lab_dir)
    if old is not None:
        if old.status in ("up", "starting", "files"):
            raise LabError(f"a lab is already in {lab_dir} (status {old.status}); "
                           f"run certmgr lab down --dir {lab_dir} first")
        _remove_trees(old)  # a failed lab: its processes and namespaces are already gone
    elif lab_dir.exists() and any(lab_dir.iterdir()):
        raise LabError(f"{lab_dir} is not empty and holds no lab; give an empty or new --dir")
    lab_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
    lab_dir.chmod(0o711)  # the hosts' programs (openldap, postfix) traverse it
    ssh_dir = lab_dir / "ssh"
    state = LabState(dir=str(lab_dir), id=secrets.token_hex(3), layout=layout, programs=names,
                     subnet="", status="building", ssh_key=str(ssh_dir / "id_ed25519"),
                     known_hosts=str(ssh_dir / "known_hosts"))
    save_state(state)
    return state


def _lab_ssh_key(state: LabState) -> SshKey:
    key = ssh_key(f"certmgr-lab-{state.id}")
    path = Path(state.ssh_key)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    _write_new(path, key.private_openssh, 0o600)
    _write_new(path.with_name(path.name + ".pub"), (key.public_line + "\n").encode(), 0o644)
    return key


def _write_new(path: Path, data: bytes, mode: int) -> None:
    atomicfile.write_atomic(path, data, mode=mode)


def _build_host(state: LabState, host: LabHostState, key: SshKey, *,
                files_only: bool) -> LabState:
    root, address = Path(host.root), host.address
    tree = HostTree(root, files_only=files_only)
    tree.create(tuple(name for prog in PROGRAMS for name in prog.var_lib_copies))
    ctx = HostContext(tree=tree, address=address, layout=state.layout,
                      manager_password=secrets.token_urlsafe(12))
    _write_system_files(ctx, key)
    entries: list[ServiceEntry] = []
    for prog in PROGRAMS:
        if prog.name in state.programs:
            prog.install(ctx)
            entries.append(prog.service(ctx))
    entries.append(_sshd_entry())
    write_service_table(ServiceTable(host=f"lab:{host.name}", entries=tuple(entries)),
                        tree.path(SERVICE_TABLE_PATH))
    return state.with_host(replace(host, expected=dict(ctx.fingerprints)))


def _write_system_files(ctx: HostContext, key: SshKey) -> None:
    t = ctx.tree
    t.write("/etc/hosts", template("common/hosts", ADDRESS=ctx.address))
    t.write("/etc/hostname", "server.example.com\n")
    if ctx.layout == "debian":
        # What Debian's ssl-cert package makes: one self-signed pair for every program.
        ctx.snakeoil = self_signed("server.example.com", SEED_NAMES)
        t.mkdir("/etc/ssl/private", mode=0o710, group="ssl-cert")
        t.write(SNAKEOIL_CERT, ctx.snakeoil.cert_pem)
        t.write(SNAKEOIL_KEY, ctx.snakeoil.key_pem, mode=0o640, group="ssl-cert")
    host_key = ssh_key("root@server.example.com")
    t.write("/etc/ssh/sshd_config_lab", template("sshd/sshd_config_lab", ADDRESS=ctx.address))
    t.write("/etc/ssh/lab_host_ed25519_key", host_key.private_openssh, mode=0o600)
    t.write("/etc/ssh/lab_host_ed25519_key.pub", host_key.public_line + "\n")
    t.write("/etc/ssh/lab_authorized_keys", key.public_line + "\n", mode=0o600)


def _sshd_entry() -> ServiceEntry:
    log = "/var/log/sshd-lab.log"
    start = ("sh", "-c", f"exec >>{log} 2>&1 </dev/null; mkdir -p -m 0755 /run/sshd; "
             f"exec /usr/sbin/sshd -f /etc/ssh/sshd_config_lab -E {log}")
    return ServiceEntry(name="sshd", start=start, pid_file="/run/sshd-lab.pid", logs=(log,),
                        reload=("sh", "-c", "kill -HUP $(cat /run/sshd-lab.pid)"))


def _start_all(state: LabState, progress: Progress) -> None:
    """Run every start command (all hosts, all programs) at once, then wait for each endpoint.

    The start commands return at once except Postfix's (``postfix check``
    takes seconds), so running them side by side saves that time.
    """
    started: list[tuple[LabHostState, LabHost, ServiceEntry]] = []
    for host_state in state.hosts:
        host = host_state.host()
        started += [(host_state, host, entry) for entry in _table(host)]

    def start(item: tuple[LabHostState, LabHost, ServiceEntry]) -> str | None:
        _, host, entry = item
        try:
            host.run(list(entry.start), timeout=120)
        except CertmgrError as exc:
            return _failure(host, entry, str(exc))
        return None

    progress("starting " + ", ".join(dict.fromkeys(e.name for _, _, e in started)))
    with ThreadPoolExecutor(max_workers=8) as pool:
        failures = [f for f in pool.map(start, started) if f is not None]
    if failures:
        raise LabError("\n".join(failures))
    for host_state, host, entry in started:
        progress(f"waiting for {entry.name} on {host_state.name}")
        _wait_ready(host_state, host, entry)
    for host_state in state.hosts:
        _record_pids(host_state.host())


def _table(host: LabHost) -> ServiceTable:
    table = load_service_table(host)
    if table is None:
        raise LabError(f"{host.name} has no service table {SERVICE_TABLE_PATH}")
    return table


def _wait_ready(host_state: LabHostState, host: LabHost, entry: ServiceEntry) -> None:
    timeout = start_timeout(entry.name)
    try:
        if entry.name == "sshd":
            _wait_ssh(host_state.address, timeout)
        for endpoint in entry.endpoints:
            served = _wait_served(endpoint, timeout, host, entry)
            expected = host_state.expected.get(entry.name)
            if expected is not None and served != expected:
                raise ProbeError(f"{endpoint.address}:{endpoint.port} serves certificate "
                                 f"{served[:16]}..., not the lab's {expected[:16]}...")
    except ProbeError as exc:
        raise LabError(_failure(host, entry, exc.message)) from None


def _wait_served(endpoint: Endpoint, timeout: float, host: LabHost, entry: ServiceEntry) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return served_sha256(endpoint, timeout=2.0)
        except ProbeError:
            if time.monotonic() > deadline or not _may_still_come(host, entry):
                raise
            time.sleep(0.1)


def _may_still_come(host: LabHost, entry: ServiceEntry) -> bool:
    """False once the program's main process is known dead (no point waiting longer)."""
    pid = read_pid_file(host, entry)
    return pid is None or netns.process_alive(pid)


def _wait_ssh(address: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, 22), timeout=2.0) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ProbeError(f"sshd on {address}:22 does not answer: {exc}") from None
        time.sleep(0.1)


def _failure(host: LabHost, entry: ServiceEntry, reason: str) -> str:
    """The error message for a program that did not come up: the reason and its own log lines."""
    lines: list[str] = []
    for log in entry.logs:
        try:
            text = host.read_bytes(log).decode(errors="replace")
        except HostError:
            continue
        tail = [line for line in text.splitlines() if line.strip()][-8:]
        lines += [f"  {log}: {line}" for line in tail]
    logs = "\n".join(lines) if lines else "  (its logs are empty)"
    return f"{entry.name} did not come up on {host.name}: {reason}\n{logs}"


def _record_pids(host: LabHost) -> None:
    table = _table(host)
    for entry in table:
        table = table.with_pid(entry.name, read_pid_file(host, entry))
    write_service_table(table, host.local_path(SERVICE_TABLE_PATH))


def _write_known_hosts(state: LabState) -> None:
    lines = []
    for host in state.hosts:
        public = (Path(host.root) / "etc/ssh/lab_host_ed25519_key.pub").read_text().split()
        lines.append(f"{host.address} {public[0]} {public[1]}\n")
    _write_new(Path(state.known_hosts), "".join(lines).encode(), 0o644)


# -- down -------------------------------------------------------------------------------

def lab_down(lab_dir: Path, *, progress: Progress = _quiet) -> LabState | None:
    """Stop every process of the lab, remove its namespaces, veths, mounts and directory.

    Returns the lab that was removed, or None if there was none in ``lab_dir``.

    Raises:
        LabError: something could not be removed (the message says what; rerun down).
    """
    state = load_state(lab_dir.absolute())
    if state is None:
        return None
    _stop_and_unplumb(state, progress)
    _remove_trees(state)
    (Path(state.dir) / STATE_FILE).unlink(missing_ok=True)
    for leftover in ("ssh",):
        shutil.rmtree(Path(state.dir) / leftover, ignore_errors=True)
    Path(state.dir, f".{STATE_FILE}.tmp").unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # it holds files that are not the lab's: leave them
        Path(state.dir).rmdir()
    return state


def _stop_and_unplumb(state: LabState, progress: Progress) -> None:
    progress("stopping programs")
    _stop_hosts(state.hosts)
    for host_state in reversed(state.hosts):
        progress(f"removing namespaces of {host_state.name}")
        for point in netns.mounts_under(Path(host_state.root)):
            netns.unmount(point)
        netns.delete_veth(host_state.veth)
        netns.delete_netns(host_state.netns)


def _stop_hosts(hosts: Sequence[LabHostState]) -> None:
    """Stop the tables' programs (all hosts at once), then anything else left in the hosts.

    Only processes inside a host's own mount namespace are signalled, so a
    stale pid file can never make the lab kill a process that is not its own.
    """
    inodes = {h.name: netns.namespace_inode(Path(h.root) / "mntns") for h in hosts}
    mains: list[int] = []
    for host_state in hosts:
        inode = inodes[host_state.name]
        if inode is None:
            continue
        ours = set(netns.pids_in_mount_namespace(inode))
        host = host_state.host()
        try:
            table = load_service_table(host)
        except HostError:
            table = None
        for entry in table.entries if table else ():
            pid = read_pid_file(host, entry) or entry.pid
            if pid is not None and pid in ours:
                mains.append(pid)
    netns.stop_pids(mains)
    # Children, sessions and anything run with lab exec: all live in the hosts' namespaces.
    rest = [p for i in inodes.values() if i is not None for p in netns.pids_in_mount_namespace(i)]
    netns.stop_pids(rest, timeout=10.0)
    left = [p for i in inodes.values() if i is not None
            for p in netns.pids_in_mount_namespace(i) if netns.process_alive(p)]
    if left:
        raise LabError(f"lab processes {left} did not stop; run certmgr lab down again")


def _remove_trees(state: LabState) -> None:
    roots = []
    for host in state.hosts:
        root = Path(host.root)
        if netns.mounts_under(root):
            raise LabError(f"{root} still has mounts; run certmgr lab down again")
        if root.parent == Path(state.dir) and root.is_dir():
            roots.append(root)
    # Each tree is a copy of /etc and more: remove them side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(shutil.rmtree, roots))
