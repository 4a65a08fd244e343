"""A throwaway OpenSSH server on 127.0.0.1 for ssh:// host tests (needs root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from certmgr.testing import skip_or_fail

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    key: Path          # the client's private key, accepted for root
    known_hosts: Path  # holds the server's host key for [127.0.0.1]:port
    workdir: Path      # a private scratch directory for test files

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "certmgr-test",
                    "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@contextlib.contextmanager
def running_sshd() -> Iterator[Sshd]:
    """Start sshd -D on a free high port with keys in a temp dir; stop it by pid after."""
    if os.geteuid() != 0 or not Path(SSHD).exists() or not shutil.which("ssh-keygen"):
        skip_or_fail("an sshd test server needs root and openssh-server")
    base = Path(tempfile.mkdtemp(prefix="certmgr-sshd-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        host_pub = _keygen(base / "host_ed25519")
        client_pub = _keygen(base / "client_ed25519")
        (base / "authorized_keys").write_text(client_pub + "\n")
        port = _free_port()
        (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
        config = base / "sshd_config"
        config.write_text("\n".join([
            f"Port {port}", "ListenAddress 127.0.0.1",
            f"HostKey {base / 'host_ed25519'}",
            f"AuthorizedKeysFile {base / 'authorized_keys'}",
            f"PidFile {base / 'sshd.pid'}",
            "StrictModes no", "UsePAM no", "PermitRootLogin prohibit-password",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_listening(port, proc)
        work = base / "work"
        work.mkdir()
        yield Sshd(port, base / "client_ed25519", base / "known_hosts", work)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
            if proc.stderr is not None:
                proc.stderr.close()
        shutil.rmtree(base, ignore_errors=True)


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"sshd exited {proc.returncode}: {err}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port}")
