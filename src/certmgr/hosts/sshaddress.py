"""``ssh://user@host[:port]`` addresses and the files an SSH login needs, checked at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncssh

from certmgr.errors import InputError, UsageError
from certmgr.inputs import PORT, control_characters, printable, read_user_file

__all__ = ["MAX_KNOWN_HOSTS", "SSHAddress", "check_login_files", "known_hosts_lines",
           "parse_ssh_url"]


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


MAX_KNOWN_HOSTS = 16 * 1024  # a few lines of host keys


def known_hosts_lines(lines: str, address: SSHAddress) -> str:
    """The server's known_hosts line(s) given as text (``ssh-keyscan`` output), checked:
    bounded, printable, parsed by asyncssh, and holding a key for ``address``.

    Returns:
        The lines, comments and blanks dropped, one per line.

    Raises:
        UsageError: the message says what is wrong and what to give instead.
    """
    if len(lines) > MAX_KNOWN_HOSTS:
        raise UsageError(f"known_hosts: {len(lines)} characters, over {MAX_KNOWN_HOSTS}: "
                         "give the server's lines only")
    wanted = [ln.strip() for ln in lines.replace("\r\n", "\n").split("\n")
              if ln.strip() and not ln.strip().startswith("#")]
    if not wanted or not all(ln.isascii() and ln.isprintable() for ln in wanted):
        raise UsageError("known_hosts: give the server's line(s) as `ssh-keyscan HOST` prints "
                         "them (HOST KEYTYPE KEY), printable text only")
    text = "\n".join(wanted) + "\n"
    try:
        known = asyncssh.import_known_hosts(text)
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise UsageError(f"known_hosts: not a known_hosts line ({exc}); give HOST KEYTYPE "
                         "KEY") from None
    name = address.host if address.port == 22 else f"[{address.host}]:{address.port}"
    if not known.match(address.host, "", address.port)[0]:
        raise UsageError(f"known_hosts: no line holds a key for {name}; the line must start "
                         f"with the host as certmgr dials it ({name})")
    return text
