"""Kernel plumbing of lab hosts: network namespaces, veth pairs, mount namespaces, processes.

Every function takes the exact names and paths of what it creates or removes;
nothing here looks for things by pattern, so a lab only ever touches its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from certmgr.errors import LabError

__all__ = [
    "LAB_NETWORK",
    "add_veth",
    "address_lock",
    "create_mount_namespace",
    "delete_netns",
    "delete_veth",
    "mounts_under",
    "namespace_inode",
    "netns_exists",
    "pick_subnet",
    "pids_in_mount_namespace",
    "process_alive",
    "stop_pid",
    "stop_pids",
    "unmount",
    "veth_exists",
]

LAB_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
"""RFC 2544's benchmarking range: the only non-loopback addresses a lab uses."""

_HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _run(argv: list[str], what: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={"PATH": _HOST_PATH, "LANG": "C.UTF-8"})
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise LabError(f"{what} failed: {' '.join(argv)}: {detail[0]}")
    return proc.stdout


def check_tools() -> None:
    """Raise LabError unless we are root with ip, nsenter, unshare and setsid available."""
    if os.geteuid() != 0:
        raise LabError("lab up needs root (network and mount namespaces); run it as root, "
                       "or use --files-only for the same host trees without running programs")
    missing = [t for t in ("ip", "nsenter", "unshare", "setsid", "mount", "umount")
               if shutil.which(t, path=_HOST_PATH) is None]
    if missing:
        raise LabError(f"lab up needs {', '.join(missing)}: install iproute2 and util-linux")


# -- addresses -----------------------------------------------------------------

def _addresses_in_use() -> set[ipaddress.IPv4Address]:
    out = _run(["ip", "-4", "-o", "addr", "show"], "listing addresses")
    used = set()
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            used.add(ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).ip)
    return used


def pick_subnet() -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 with no address of this machine in it (one per lab).

    Chosen at random among the free ones, so that even a lab that claims its
    addresses late (outside :func:`address_lock`) is unlikely to pick the same.

    Raises:
        LabError: all of them are taken.
    """
    used = _addresses_in_use()
    free = [net for net in LAB_NETWORK.subnets(new_prefix=24)
            # 198.18.0.0/24 is left to people's own experiments
            if net.network_address.packed[1:3] != b"\x12\x00"
            and not any(a in net for a in used)]
    if not free:
        raise LabError("no free /24 left in 198.18.0.0/15 for a lab; bring other labs down")
    return random.choice(free)


@contextlib.contextmanager
def address_lock(timeout: float = 120.0) -> Iterator[None]:
    """Hold the machine-wide lock under which labs pick and claim their addresses.

    The lock is an abstract Unix socket name (only one process can bind it;
    the kernel frees it when the holder exits), so no lock file is left
    anywhere. Not an flock on /run/netns: ``ip netns add`` takes that one.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                sock.bind("\0certmgr-lab-address-lock")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise LabError("another lab has been choosing its addresses for "
                                   f"{timeout:g}s; try again when it is up") from None
                time.sleep(0.05)
        yield
    finally:
        sock.close()


def host_addresses(subnet: ipaddress.IPv4Network, index: int) -> tuple[str, str]:
    """(peer address on this machine, host address) of host number ``index`` (1-based): a /30."""
    base = int(subnet.network_address) + 4 * index
    return str(ipaddress.IPv4Address(base + 1)), str(ipaddress.IPv4Address(base + 2))


# -- network namespaces and veths ------------------------------------------------

def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def create_netns(name: str) -> None:
    _run(["ip", "netns", "add", name], f"creating network namespace {name}")
    _run(["ip", "-n", name, "link", "set", "lo", "up"], f"bringing up lo in {name}")


def delete_netns(name: str) -> None:
    if netns_exists(name):
        _run(["ip", "netns", "delete", name], f"removing network namespace {name}")


def veth_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def add_veth(name: str, netns: str, peer_address: str, host_address: str) -> None:
    """A veth pair: ``name`` here with ``peer_address``/30, ``eth0`` in ``netns`` with the
    host's address."""
    _run(["ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", netns],
         f"creating veth {name}")
    _run(["ip", "addr", "add", f"{peer_address}/30", "dev", name], f"addressing {name}")
    _run(["ip", "link", "set", name, "up"], f"bringing up {name}")
    _run(["ip", "-n", netns, "addr", "add", f"{host_address}/30", "dev", "eth0"],
         f"addressing eth0 in {netns}")
    _run(["ip", "-n", netns, "link", "set", "eth0", "up"], f"bringing up eth0 in {netns}")


def delete_veth(name: str) -> None:
    if veth_exists(name):
        _run(["ip", "link", "delete", name], f"removing veth {name}")


# -- mount and UTS namespaces ----------------------------------------------------------

def create_mount_namespace(tree: Path, mntns: Path, utsns: Path, hostname: str,
                           binds: tuple[str, ...], usr_layers: tuple[Path, ...] = ()) -> None:
    """A persistent mount + UTS namespace, held by bind mounts on ``mntns`` and ``utsns``.

    Inside it each of ``binds`` (``/etc``...) is the tree's copy, ``/run`` and
    ``/tmp`` are fresh tmpfs, and the hostname is ``hostname``; each of
    ``usr_layers`` (unpacked packages) adds its ``usr/`` beneath ``/usr`` (a
    read-only overlay). Propagation is private, so none of these mounts is seen
    outside.
    """
    _private_mount_for(tree)
    for f in (mntns, utsns):
        f.touch(mode=0o600, exist_ok=True)
    script = [f"hostname {hostname}"]
    if usr_layers:  # before the binds: a layer may sit in a directory they cover
        lower = ":".join(["/usr", *(shlex.quote(str(layer / "usr")) for layer in usr_layers)])
        script.append(f"mount -t overlay -o ro,lowerdir={lower} certmgr-lab-usr /usr")
    script += [f"mount --bind {tree}{d} {d}" for d in binds]
    script += ["mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run",
               "mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp",
               "mkdir -p -m 1777 /run/lock"]
    _run(["unshare", f"--mount={mntns}", f"--uts={utsns}", "--propagation", "private",
          "sh", "-e", "-c", "; ".join(script)], f"creating the namespaces of {tree}")


def _private_mount_for(tree: Path) -> None:
    """Make sure the namespace files can be bind-mounted in ``tree``.

    A namespace file cannot be bind-mounted in a shared mount (systemd makes
    ``/`` shared): the mount would propagate into the namespace it holds. Then
    the tree becomes a private bind mount of itself (removed by ``lab down``).
    """
    proc = subprocess.run(["findmnt", "-n", "-o", "PROPAGATION", "--target", str(tree)],
                          capture_output=True, text=True, check=False)
    if proc.returncode == 0 and proc.stdout.strip() == "private":
        return
    _run(["mount", "--bind", str(tree), str(tree)], f"bind-mounting {tree}")
    _run(["mount", "--make-private", str(tree)], f"making {tree} private")


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this namespace, deepest first."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(set(found), key=len, reverse=True)


def unmount(point: str) -> None:
    """Unmount one mount point (lazily if busy: the namespace files of a lab host)."""
    proc = subprocess.run(["umount", point], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        _run(["umount", "-l", point], f"unmounting {point}")


# -- processes -----------------------------------------------------------------------

def process_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (``kill -0`` succeeds on zombies)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def stop_pids(pids: list[int], *, timeout: float = 30.0) -> None:
    """SIGTERM every pid at once, wait until all are gone; SIGKILL what is left at ``timeout``.

    Zombies count as gone: an orphan's zombie waits for PID 1 to reap it.
    """
    def signal_all(sig: signal.Signals) -> None:
        for pid in pids:
            if process_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while any(process_alive(p) for p in pids):
        if time.monotonic() > deadline:
            if killed:
                return
            signal_all(signal.SIGKILL)
            killed, deadline = True, time.monotonic() + 5
        time.sleep(0.02)


def stop_pid(pid: int, *, timeout: float = 30.0) -> None:
    """SIGTERM ``pid`` and wait until it is gone (SIGKILL after ``timeout``)."""
    stop_pids([pid], timeout=timeout)


def namespace_inode(ns_file: Path) -> int | None:
    """The inode of the namespace held by a bind-mounted ns file, or None if it holds none."""
    try:
        st = os.stat(ns_file)
    except OSError:
        return None
    # An unmounted placeholder file is a regular file on the lab's own filesystem.
    return st.st_ino if st.st_dev != os.stat(ns_file.parent).st_dev else None


def pids_in_mount_namespace(inode: int) -> list[int]:
    """Pids of every process whose mount namespace has this inode (those a lab host started)."""
    found = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry.name}/ns/mnt").st_ino == inode:
                    found.append(int(entry.name))
            except OSError:
                continue
    return sorted(found)
