"""Who may read a key: the seed's Table 1 policy, and a user's access from owner/group/mode.

Policy (Table 1, written once in :mod:`certmgr.programs.policy`): a key is
``root:root 0600``, or ``root:<service group> 0640`` for programs that read keys
as their own user (slapd, Tomcat); its ``private/`` directory is ``0700``, or
``0750`` with that group. Anything broader is
KEY_PERMISSIONS. KEY_UNREADABLE_BY_SERVICE evaluates the program's user
against owner, group membership (``/etc/group`` and primary groups) and mode
bits of the key and of every directory above it.
"""

from __future__ import annotations

from certmgr.hosts.base import FileStat, Host, prefixes, stat_many
from certmgr.programs.policy import policy_problems

__all__ = ["can_read", "policy_problems"]


def _has(st: FileStat, user: str, host: Host, bit: int) -> bool:
    """True if ``user`` has permission ``bit`` (4 read, 1 search) on the file."""
    if user == "root":
        return True  # root bypasses file modes (CAP_DAC_OVERRIDE)
    if st.owner == user:
        return bool(st.mode & (bit << 6))
    if user in host.group_members(st.group):
        return bool(st.mode & (bit << 3))
    return bool(st.mode & bit)


def can_read(host: Host, path: str, user: str) -> tuple[bool, str]:
    """Whether ``user`` can read ``path`` on ``host``, and if not, the first obstacle.

    Symlinks are resolved first; every directory from ``/`` down needs search
    permission for the user, and the file needs read permission.
    """
    real = host.realpath(path)
    walk = prefixes(real) or ["/"]
    # Every component's status in one round trip (SSH hosts pipeline them).
    found = stat_many(host, walk)
    for current, st in zip(walk[:-1], found, strict=False):
        if st is None:
            return False, f"{current} does not exist"
        if not _has(st, user, host, 1):
            return False, (f"directory {current} ({st.owner}:{st.group} {st.mode:04o}) "
                           f"cannot be entered by {user}")
    st = found[-1]
    if st is None:
        return False, f"{real} does not exist"
    if not _has(st, user, host, 4):
        return False, f"{real} is {st.owner}:{st.group} {st.mode:04o}"
    return True, ""
