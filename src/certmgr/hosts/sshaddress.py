"""``ssh://user@host[:port]`` addresses and the files an SSH login needs, checked at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncssh

from certmgr.errors import InputError, UsageError
from certmgr.inputs import PORT, control_characters, printable, read_user_file

__all__ = ["SSHAddress", "check_login_files", "parse_ssh_url"]


@dataclass(frozen=True)
class SSHAddress:
    """``ssh://user@host:port`` taken apart."""

    user: str
    host: str
    port: int = 22

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == 22 else f":{self.port}"
        return f"ssh://{self.user}@{host}{port}"


def parse_ssh_url(url: str) -> SSHAddress:
    """Parse ``ssh://[user@]host[:port]`` (user defaults to root).

    Raises:
        UsageError: not an ssh:// URL, or it has a path, password or bad port.
    """
    # urlsplit drops tabs and newlines silently: a host with one is refused, not "fixed".
    if control_characters(url):
        raise UsageError(f"'{printable(url)}': an address must not contain control characters "
                         f"({', '.join(control_characters(url))})")
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname:
        raise UsageError(f"{url!r} is not an ssh://[user@]host[:port] address")
    if parts.password is not None or parts.path not in ("", "/") or parts.query:
        raise UsageError(f"{url!r}: give only ssh://user@host:port (no password or path); "
                         "authenticate with --key")
    try:
        port = parts.port if parts.port is not None else 22
    except ValueError:
        port = 0
    if port not in PORT:
        raise UsageError(f"{url!r}: the port must be a number {PORT.describe()}")
    return SSHAddress(parts.username or "root", parts.hostname, port)


def check_login_files(key: Path | None, known_hosts: Path) -> None:
    """Refuse, before anything is saved or dialled, a private key asyncssh cannot use
    (read without following a symlink) or a known_hosts file that is not text.

    Raises:
        UsageError: the message names the file and what to give instead.
    """
    try:
        if key is not None:
            data = read_user_file(key, name=f"--key {key}", secret=True, limit=1024 * 1024)
            try:
                asyncssh.import_private_key(data)
            except (asyncssh.KeyImportError, ValueError) as exc:
                raise UsageError(f"--key {key}: not a private key certmgr can log in with "
                                 f"({exc}); give an unencrypted OpenSSH or PEM key file"
                                 ) from None
        text = read_user_file(known_hosts, name=f"--known-hosts {known_hosts}")
        try:
            asyncssh.import_known_hosts(text.decode("utf-8"))
        except ValueError:
            raise UsageError(f"--known-hosts {known_hosts}: not a known_hosts file (lines of "
                             "'HOST KEYTYPE KEY', as ssh-keyscan prints)") from None
    except InputError as exc:
        raise UsageError(exc.message) from None
