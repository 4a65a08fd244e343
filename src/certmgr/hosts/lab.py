"""``lab:NAME``: a certmgr lab test host (see ``certmgr lab up``).

A lab host is a directory tree plus namespaces on this machine. Inside it,
``/etc``, ``/var/lib``, ``/var/spool``, ``/var/log``, ``/var/cache`` and
``/var/tmp`` are the tree's (bind mounts), ``/run`` and ``/tmp`` are its own
tmpfs, and everything else (``/usr``...) is this machine's. So:

* files under the bind directories are read from the tree, directly;
* files under ``/run`` and ``/tmp`` exist only inside the host: read through nsenter;
* any other path is this machine's own file;
* commands run through ``nsenter`` in the host's network, mount and UTS namespaces;
* probes go to its address (198.18.x.y).

The write methods inherited from :class:`LocalHost` write into the tree, which
is where a lab host's ``/etc`` really is.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from certmgr.errors import CommandFailed, HostError
from certmgr.hosts.base import CommandResult, FileStat, normalize
from certmgr.hosts.local import LocalHost

__all__ = ["BIND_DIRS", "LabHost", "LabHostInfo", "in_own_dirs", "open_lab_host"]

BIND_DIRS = ("/etc", "/var/lib", "/var/spool", "/var/log", "/var/cache",
             "/var/tmp", "/root")  # noqa: S108 - the host's own /var/tmp, not ours
"""Directories of a lab host that are its own: the tree's copies, bind-mounted over these."""


def in_own_dirs(path: str, dirs: tuple[str, ...] = BIND_DIRS) -> bool:
    """Whether ``path`` (normalized) is one of ``dirs`` or lies below one."""
    return any(path == d or path.startswith(d + "/") for d in dirs)


_NAMESPACE_ONLY = ("/run", "/tmp", "/var/run", "/var/lock")  # noqa: S108 - the host's own tmpfs
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class LabHostInfo:
    """Where a lab host lives: its tree, namespaces and address."""

    name: str
    address: str
    root: Path
    netns: str

    @property
    def mntns(self) -> Path:
        return self.root / "mntns"

    @property
    def utsns(self) -> Path:
        return self.root / "utsns"

    def nsenter(self) -> list[str]:
        """The command prefix that runs a program inside the host, with a clean environment."""
        return ["nsenter", f"--net=/run/netns/{self.netns}", f"--mount={self.mntns}",
                f"--uts={self.utsns}", "--wd=/", "--",
                "env", "-i", f"PATH={_PATH}", "LANG=C.UTF-8", "HOME=/root", "USER=root"]


class LabHost(LocalHost):
    """A lab test host, addressed by the paths its programs use."""

    def __init__(self, info: LabHostInfo) -> None:
        super().__init__(root=info.root, name=f"lab:{info.name}")
        self.info = info
        self.address = info.address
        self.can_run = True

    def __repr__(self) -> str:
        return f"LabHost({self.info.name!r}, address={self.address!r})"

    # -- path mapping ----------------------------------------------------------

    def local_path(self, path: str) -> Path:
        path = normalize(path)
        if in_own_dirs(path):
            return self.info.root / path.lstrip("/")
        return Path(path)

    # Every write and removal opens its directory through these two. Outside the
    # host's own directories a path would land on this machine (/usr) or beside
    # the namespace-only tmpfs that really holds it (/run, /tmp): refused, nothing
    # is touched.

    def _refuse_foreign(self, path: str) -> None:
        path = normalize(path)
        if not in_own_dirs(path):
            raise HostError(f"{path} is not in a directory {self.name} owns "
                            f"({', '.join(BIND_DIRS)}); certmgr writes only there on a "
                            "lab host", path=path, host=self.name)

    def _open_dir(self, path: str) -> int:
        self._refuse_foreign(path)
        return super()._open_dir(path)

    def _open_parent(self, parent: str) -> int | None:
        self._refuse_foreign(parent)
        return super()._open_parent(parent)

    @staticmethod
    def _namespace_only(path: str) -> bool:
        return in_own_dirs(path, _NAMESPACE_ONLY)

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        if not self._namespace_only(normalize(path)):
            return super().read_bytes(path, limit=limit)
        proc = self._proc(["cat", "--", normalize(path)], input=None, timeout=60.0)
        if proc.returncode != 0:
            raise HostError(f"{path} cannot be read on {self.name}: "
                            f"{proc.stderr.decode(errors='replace').strip()}",
                            path=path, host=self.name)
        return proc.stdout if limit is None else proc.stdout[:limit]

    def stat(self, path: str, *, follow_symlinks: bool = True) -> FileStat | None:
        if not self._namespace_only(normalize(path)):
            return super().stat(path, follow_symlinks=follow_symlinks)
        flag = ["-L"] if follow_symlinks else []
        result = self._inside(["stat", *flag, "-c", "%f %u %g %s %Y", "--", normalize(path)])
        if not result.ok:
            return None
        raw_mode, uid, gid, size, mtime = result.stdout.split()
        return FileStat.from_st_mode(normalize(path), int(raw_mode, 16), int(uid), int(gid),
                                     int(size), float(mtime), self.users(), self.groups())

    def listdir(self, path: str) -> list[str]:
        if not self._namespace_only(normalize(path)):
            return super().listdir(path)
        result = self._inside(["ls", "-A1", "--", normalize(path)])
        if not result.ok:
            raise HostError(f"cannot list {path} on {self.name}: {result.stderr.strip()}",
                            path=path, host=self.name)
        return sorted(line for line in result.stdout.splitlines() if line)

    # -- commands ------------------------------------------------------------------

    def _proc(self, argv: list[str], *, input: bytes | None,
              timeout: float) -> subprocess.CompletedProcess[bytes]:
        full = [*self.info.nsenter(), *argv]
        try:
            return subprocess.run(full, input=input, capture_output=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise HostError(f"{' '.join(argv)} did not finish within {timeout:g}s on "
                            f"{self.name}", host=self.name) from None

    def _inside(self, argv: list[str], *, input: bytes | None = None,
                timeout: float = 60.0) -> CommandResult:
        proc = self._proc(argv, input=input, timeout=timeout)
        return CommandResult(tuple(argv), proc.returncode, proc.stdout.decode(errors="replace"),
                             proc.stderr.decode(errors="replace"))

    def run(
        self,
        argv: list[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        if not self.info.mntns.exists() or not Path("/run/netns", self.info.netns).exists():
            raise HostError(f"{self.name} is not running (its namespaces are gone); "
                            "run certmgr lab up", host=self.name)
        result = self._inside(argv, input=input, timeout=timeout)
        if check and not result.ok:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
            raise CommandFailed(
                f"{argv[0]} exited {result.returncode} on {self.name}: "
                f"{last[0] if last else '(no output)'}",
                command=list(argv), returncode=result.returncode, stderr=result.stderr,
                host=self.name,
            )
        return result


def open_lab_host(lab_dir: Path, name: str) -> LabHost:
    """The lab host ``name`` of the lab in ``lab_dir`` (``lab:NAME``).

    Raises:
        HostError: there is no lab there, or it has no such host.
    """
    state_file = lab_dir / "lab.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        raise HostError(f"no lab in {lab_dir} (no readable lab.json); run certmgr lab up",
                        path=state_file, host=f"lab:{name}") from None
    for host in state.get("hosts", ()):
        if host.get("name") == name:
            return LabHost(LabHostInfo(name=name, address=host["address"],
                                       root=Path(host["root"]), netns=host["netns"]))
    names = ", ".join(h.get("name", "?") for h in state.get("hosts", ())) or "none"
    raise HostError(f"the lab in {lab_dir} has no host {name} (it has: {names})",
                    host=f"lab:{name}")
