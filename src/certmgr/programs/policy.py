"""Table 1, once: who owns a key, which group shares it, and the modes of key and ``private/``.

A key is ``root:root 0600`` in a ``0700`` ``private/`` directory, or
``root:<service group> 0640`` in a ``0750`` one for programs that read keys as
their own user after dropping privileges (slapd, Tomcat: the spec's
``reads_key_as_user``). Certificates and their directories are
``root:root 0644``/``0755``.

Used by deploy (what it writes, and its preflight), by ``check``
(KEY_PERMISSIONS: anything broader) and by the lab (what its seed layout
installs).
"""

from __future__ import annotations

from certmgr.hosts.base import FileStat
from certmgr.models import FileSpec

__all__ = [
    "CERT_DIR_MODE",
    "CERT_MODE",
    "cert_dir_spec",
    "cert_spec",
    "key_dir_mode",
    "key_dir_spec",
    "key_mode",
    "key_spec",
    "policy_problems",
]

CERT_MODE = 0o644
CERT_DIR_MODE = 0o755


def key_mode(shared: bool) -> int:
    """0640 for a key shared with the program's group, else 0600."""
    return 0o640 if shared else 0o600


def key_dir_mode(shared: bool) -> int:
    """0750 for a ``private/`` shared with the program's group, else 0700."""
    return 0o750 if shared else 0o700


def key_spec(reads_key_as_user: bool, path: str, group: str | None) -> FileSpec:
    """root:root 0600, or root:<group> 0640 for programs reading keys as their user."""
    if reads_key_as_user and group:
        return FileSpec(path, "root", group, key_mode(True))
    return FileSpec(path, "root", "root", key_mode(False))


def key_dir_spec(reads_key_as_user: bool, path: str, group: str | None) -> FileSpec:
    """``private/``: 0700 root:root, or 0750 root:<group>."""
    if reads_key_as_user and group:
        return FileSpec(path, "root", group, key_dir_mode(True))
    return FileSpec(path, "root", "root", key_dir_mode(False))


def cert_spec(path: str) -> FileSpec:
    return FileSpec(path, "root", "root", CERT_MODE)


def cert_dir_spec(path: str) -> FileSpec:
    return FileSpec(path, "root", "root", CERT_DIR_MODE)


def policy_problems(st: FileStat, *, service_group: str | None, directory: bool) -> list[str]:
    """What about this key (or its ``private/`` directory) is broader than Table 1 allows."""
    problems: list[str] = []
    allowed_groups = {"root"} | ({service_group} if service_group else set())
    if st.owner != "root":
        problems.append(f"owner is {st.owner}, not root")
    if st.group not in allowed_groups:
        problems.append(f"group is {st.group}, not {' or '.join(sorted(allowed_groups))}")
    shared = st.group != "root" and st.group in allowed_groups
    allowed = key_dir_mode(shared) if directory else key_mode(shared)
    if st.mode & ~allowed & 0o7777:
        problems.append(f"mode is {st.mode:04o}, broader than {allowed:04o}")
    return problems
