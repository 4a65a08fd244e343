"""AppArmor: does an enforced profile of the program allow it to read a file?

The profiles under ``/etc/apparmor.d`` are read through the host: the profile
whose attachment is the program's binary, its ``#include``s (abstractions,
``local/`` overrides, tunables for ``@{VAR}`` values), file rules with their
``r`` permission and ``deny`` rules. A profile in ``complain`` mode, or
listed in ``disable/`` or ``force-complain/``, does not deny anything.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from functools import cache

from certmgr.errors import ConfigError, HostError
from certmgr.hosts.base import Host
from certmgr.programs import ServiceKind
from certmgr.programs.base import MAX_INCLUDE_DEPTH

__all__ = ["Profile", "find_profile"]

APPARMOR_DIR = "/etc/apparmor.d"
_MAX_PROFILE_BYTES = 1024 * 1024

_HEADER = re.compile(r"^\s*(?:profile\s+(\S+)\s+)?(/[^\s{]+)?\s*(?:flags\s*=\s*\(([^)]*)\))?\s*\{")
_INCLUDE = re.compile(r"^\s*#?include\s+(?:if\s+exists\s+)?[<\"]([^>\"]+)[>\"]")
_VARDEF = re.compile(r"^\s*@\{([A-Za-z0-9_]+)\}\s*(\+?=)\s*(.*)$")
_PERMS = re.compile(r"^[rwaklmixpucPUCD]+$")


@dataclass
class Profile:
    """An enforced profile's file rules: (glob, perms, deny)."""

    path: str
    attachment: str
    rules: list[tuple[str, str, bool]] = field(default_factory=list)
    variables: dict[str, list[str]] = field(default_factory=dict)

    def allows_read(self, path: str) -> bool:
        allowed = denied = False
        for glob, perms, deny in self.rules:
            if "r" not in perms:
                continue
            if any(_glob_regex(g).fullmatch(path) for g in self._expand(glob)):
                if deny:
                    denied = True
                else:
                    allowed = True
        return allowed and not denied

    def _expand(self, glob: str, depth: int = 0) -> list[str]:
        m = re.search(r"@\{([A-Za-z0-9_]+)\}", glob)
        if m is None or depth > 8:
            return [glob]
        values = self.variables.get(m.group(1), ["*"])
        out: list[str] = []
        for value in values:
            out.extend(self._expand(glob[:m.start()] + value + glob[m.end():], depth + 1))
        return out


@cache
def _glob_regex(glob: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            out.append("(?:")
        elif c == "}":
            out.append(")")
        elif c == "," and "{" in glob[:i]:
            out.append("|")
        elif c == "[":
            end = glob.find("]", i)
            if end > i:
                out.append(glob[i:end + 1])  # AppArmor's [...] is a regex class too
                i = end + 1
                continue
            out.append(re.escape(c))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def _enforced(host: Host, name: str, flags: str | None) -> bool:
    if flags and ("complain" in flags or "unconfined" in flags):
        return False
    return not any(host.exists(posixpath.join(APPARMOR_DIR, d, name))
                   for d in ("disable", "force-complain"))


def find_profile(host: Host, kind: ServiceKind) -> Profile | None:
    """The enforced profile attached to the program's binary, or None.

    Raises:
        ConfigError: a profile (or a file it includes) cannot be read.
    """
    # The binaries the program's profile attaches to (what reads the certificate files).
    binaries = kind.spec.apparmor_binaries
    if not binaries or host.stat(APPARMOR_DIR) is None:
        return None
    try:
        names = host.listdir(APPARMOR_DIR)
    except HostError:
        return None
    for name in names:
        path = posixpath.join(APPARMOR_DIR, name)
        st = host.stat(path)
        if st is None or not st.is_file:
            continue
        text = _read(host, path)
        for line in text.splitlines():
            m = _HEADER.match(line)
            if m and m.group(2) in binaries:
                if not _enforced(host, name, m.group(3)):
                    return None
                profile = Profile(path, m.group(2))
                _collect(host, profile, path, text, 0, set())
                return profile
    return None


def _read(host: Host, path: str) -> str:
    try:
        data = host.read_bytes(path, limit=_MAX_PROFILE_BYTES)
    except HostError as exc:
        raise ConfigError(f"cannot read AppArmor profile {path}: {exc.message}",
                          path=path) from None
    return data.decode("utf-8", errors="replace")


def _collect(host: Host, profile: Profile, path: str, text: str, depth: int,
             seen: set[str]) -> None:
    if depth > MAX_INCLUDE_DEPTH or path in seen:
        return
    seen.add(path)
    for raw in text.splitlines():
        inc = _INCLUDE.match(raw)
        if inc:
            _include(host, profile, inc.group(1), depth, seen)
            continue
        line = raw.split("#", 1)[0].strip().rstrip(",").strip()
        var = _VARDEF.match(line)
        if var:
            values = var.group(3).split()
            if var.group(2) == "+=":
                profile.variables.setdefault(var.group(1), []).extend(values)
            else:
                profile.variables[var.group(1)] = values
            continue
        _rule(profile, line)


def _rule(profile: Profile, line: str) -> None:
    words = line.split()
    deny = False
    while words and words[0] in ("deny", "audit", "owner", "allow", "file", "other"):
        deny = deny or words[0] == "deny"
        words = words[1:]
    if len(words) != 2:
        return
    a, b = words
    if (a.startswith(("/", "@{", '"'))) and _PERMS.match(b):
        profile.rules.append((a.strip('"'), b, deny))
    elif (b.startswith(("/", "@{", '"'))) and _PERMS.match(a):
        profile.rules.append((b.strip('"'), a, deny))


def _include(host: Host, profile: Profile, target: str, depth: int, seen: set[str]) -> None:
    path = target if target.startswith("/") else posixpath.join(APPARMOR_DIR, target)
    st = host.stat(path)
    if st is None:
        return
    if st.is_dir:
        for name in host.listdir(path):
            child = posixpath.join(path, name)
            child_st = host.stat(child)
            if child_st is not None and child_st.is_file:
                _collect(host, profile, child, _read(host, child), depth + 1, seen)
        return
    _collect(host, profile, path, _read(host, path), depth + 1, seen)
