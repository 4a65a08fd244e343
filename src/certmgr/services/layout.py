"""The seed's migration plan: from the shared ``/etc/ssl`` snakeoil pair to per-program files.

:func:`plan_layout` is pure: it returns the directories and files to create
(Table 1 paths, owner, group, mode, and the file each is copied from) and the
configuration edits (whole old and new text of each file, or for slapd's
cn=config the seed's ldapmodify LDIF) as values. ``layout`` prints them;
deployment applies them.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from certmgr.errors import ConfigError, DiscoveryError, UsageError
from certmgr.hosts.base import Host
from certmgr.models import FileSpec, ServiceKind
from certmgr.services import Discovery, Service, Slot
from certmgr.services.base import DiscoveryContext
from certmgr.services.defaults import KEY_GROUP, SEED_DIRS

__all__ = ["SHARED_PREFIXES", "ConfigEdit", "LayoutPlan", "PlannedFile", "plan_layout"]

# Where distributions keep the one machine-wide certificate the seed moves away from.
SHARED_PREFIXES = ("/etc/ssl/", "/etc/pki/tls/")

# How to add a setting the config does not have yet (role -> line), per program.
_NEW_LINE: dict[ServiceKind, dict[str, str]] = {
    ServiceKind.APACHE2: {"key": "SSLCertificateKeyFile {path}",
                          "chain": "SSLCertificateChainFile {path}",
                          "ca": "SSLCACertificateFile {path}"},
    ServiceKind.VSFTPD: {"key": "rsa_private_key_file={path}", "ca": "ca_certs_file={path}"},
    ServiceKind.POSTFIX: {"key": "smtpd_tls_key_file = {path}", "ca": "smtpd_tls_CAfile = {path}"},
    ServiceKind.DOVECOT: {"key": "ssl_key = <{path}", "ca": "ssl_ca = <{path}"},
    ServiceKind.NGINX: {"key": "ssl_certificate_key {path};"},
}
_SLAPD_ATTRS = {"cert": "olcTLSCertificateFile", "key": "olcTLSCertificateKeyFile",
                "ca": "olcTLSCACertificateFile"}


@dataclass(frozen=True)
class PlannedFile:
    """A directory or file of the new layout and where its content comes from."""

    spec: FileSpec
    role: str  # dir, cert, key, chain, ca, keystore, combined
    source: str | None = None

    def describe(self) -> str:
        if self.role == "dir":
            return "directory"
        return f"{self.role}: copy of {self.source}" if self.source else self.role

    def to_json(self) -> dict[str, Any]:
        return {"path": self.spec.path, "owner": self.spec.owner, "group": self.spec.group,
                "mode": f"{self.spec.mode:04o}", "role": self.role, "source": self.source}


@dataclass(frozen=True)
class ConfigEdit:
    """One configuration change: a file's whole old and new text, or an LDIF to apply."""

    path: str
    old: str
    new: str
    ldif: str | None = None

    @property
    def title(self) -> str:
        return f"ldapmodify -Y EXTERNAL -H ldapi:/// (cn=config of {self.path})" if self.ldif \
            else f"edit {self.path}"

    def text(self) -> str:
        """The unified diff (or the LDIF for slapd's cn=config)."""
        if self.ldif is not None:
            return self.ldif
        return "".join(difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"a{self.path}", tofile=f"b{self.path}"))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": "ldif" if self.ldif else "file", "text": self.text()}


@dataclass(frozen=True)
class LayoutPlan:
    """Files to create and config edits for one slot; empty with a note when nothing to do."""

    service: ServiceKind
    slot: str
    name: str
    files: tuple[PlannedFile, ...]
    edits: tuple[ConfigEdit, ...]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service.value, "slot": self.slot, "name": self.name,
                "files": [f.to_json() for f in self.files],
                "edits": [e.to_json() for e in self.edits], "note": self.note}


def _shared(host: Host, path: str) -> bool:
    """True if the file is (or links to) the machine-wide certificate store."""
    return path.startswith(SHARED_PREFIXES) or host.realpath(path).startswith(SHARED_PREFIXES)


def plan_layout(host: Host, discovery: Discovery, kind: ServiceKind, *,
                slot_id: str | None = None, name: str | None = None) -> LayoutPlan:
    """Plan the seed's per-program layout for one slot of ``kind``.

    Args:
        host: where the configuration files are read (for the edits' old text).
        discovery: what discovery found on ``host``.
        kind: the program.
        slot_id: which slot (default: the first one on shared files).
        name: the certificate name used in file names (default: the slot's first name).

    Raises:
        DiscoveryError: the program or slot is not there.
    """
    service = discovery.service(kind)
    if service is None:
        raise DiscoveryError(f"no {kind.value} configuration found on {discovery.host}; "
                             "nothing to plan")
    slot = _pick(host, service, slot_id)
    name = name or slot.names[0]
    if not re.fullmatch(r"[A-Za-z0-9*._-]+", name) or name.startswith("."):
        raise UsageError(f"--name {name!r}: use a host-name-like name for the files")
    name = name.replace("*", "wildcard")
    if not any(_shared(host, p) for _r, p in slot.files()):
        return LayoutPlan(kind, slot.id, name, (), (),
                          f"{slot.id} already reads its own files: "
                          + ", ".join(p for _r, p in slot.files()))
    files, new_paths = _files(service, slot, name)
    note = "Copy the files first, then apply the edit and reload the program."
    elsewhere = sorted({s.path for s in slot.settings.values() if s.path != slot.config})
    if elsewhere and kind is not ServiceKind.SLAPD:
        note += (f" The settings are in {', '.join(elsewhere)}, not in {slot.config}: other "
                 "parts of the configuration that include it change too.")
    return LayoutPlan(kind, slot.id, name, tuple(files),
                      tuple(_edits(host, service, slot, new_paths)), note)


def _pick(host: Host, service: Service, slot_id: str | None) -> Slot:
    if slot_id is not None:
        for slot in service.slots:
            if slot.id == slot_id:
                return slot
        known = ", ".join(s.id for s in service.slots) or "none"
        raise DiscoveryError(f"{service.kind.value} has no slot {slot_id!r} (slots: {known})")
    if not service.slots:
        raise DiscoveryError(f"{service.kind.value} ({service.config}) has no TLS slot "
                             "configured: enable TLS in its configuration first")
    return next((s for s in service.slots if any(_shared(host, p) for _r, p in s.files())),
                service.slots[0])


def _files(service: Service, slot: Slot, name: str) -> tuple[list[PlannedFile], dict[str, str]]:
    kind = service.kind
    base = SEED_DIRS.get(kind) or posixpath.dirname(service.config)
    group = (service.group or "root") if kind in KEY_GROUP else "root"
    key_mode, dir_mode = (0o640, 0o750) if group != "root" else (0o600, 0o700)
    certs, private = f"{base}/ssl/certs", f"{base}/ssl/private"
    files = [PlannedFile(FileSpec(f"{base}/ssl", mode=0o755), "dir"),
             PlannedFile(FileSpec(certs, mode=0o755), "dir"),
             PlannedFile(FileSpec(private, group=group, mode=dir_mode), "dir")]
    new: dict[str, str] = {}
    if slot.keystore:
        ext = "p12" if (slot.keystore_type or "").upper() == "PKCS12" else "jks"
        new["keystore"] = f"{private}/{name}.{ext}"
        files.append(PlannedFile(FileSpec(new["keystore"], group=group, mode=key_mode),
                                 "keystore", slot.keystore))
        return files, new
    if kind is ServiceKind.HAPROXY:
        new["cert"] = new["key"] = f"{private}/{name}.pem"
        files.append(PlannedFile(FileSpec(new["cert"], mode=0o600), "combined", slot.cert))
        return files, new
    new["cert"] = f"{certs}/{name}.crt"
    new["key"] = f"{private}/{name}.key"
    files.append(PlannedFile(FileSpec(new["cert"], mode=0o644), "cert", slot.cert))
    files.append(PlannedFile(FileSpec(new["key"], group=group, mode=key_mode), "key", slot.key))
    if slot.chain:
        new["chain"] = f"{certs}/{name}-chain.crt"
        files.append(PlannedFile(FileSpec(new["chain"], mode=0o644), "chain", slot.chain))
    if slot.ca or kind is ServiceKind.SLAPD:
        # slapd needs a trusted-CA file even without client certificates (the seed's note);
        # for a self-signed certificate that is the certificate itself.
        new["ca"] = f"{certs}/trusted-ca.crt"
        files.append(PlannedFile(FileSpec(new["ca"], mode=0o644), "ca", slot.ca or slot.cert))
    return files, new


def _edits(host: Host, service: Service, slot: Slot, new: dict[str, str]) -> list[ConfigEdit]:
    if service.kind is ServiceKind.SLAPD and slot.config.endswith(".ldif"):
        return [_slapd_ldif(slot, new)]
    ctx = DiscoveryContext(host)
    texts: dict[str, list[str]] = {}
    anchor: tuple[str, int] | None = None
    for role, path in new.items():
        setting = slot.settings.get(role)
        if setting is None:
            continue
        lines = texts.setdefault(setting.path, _lines(ctx, setting.path))
        old = getattr(slot, role) or ""
        index = _find_line(lines, setting.line, setting.directive)
        lines[index] = _replace_value(lines[index], setting.directive, old, path)
        if role in ("cert", "keystore"):
            anchor = (setting.path, index)
    if anchor is not None:
        _insert_missing(service.kind, slot, new, texts, anchor)
    # Edit the file a symlink points at: replacing the link would detach the config.
    return [ConfigEdit(host.realpath(path), ctx.read_text(path), "".join(lines))
            for path, lines in texts.items()]


def _lines(ctx: DiscoveryContext, path: str) -> list[str]:
    try:
        return ctx.read_text(path).splitlines(keepends=True)
    except ConfigError as exc:
        raise DiscoveryError(f"cannot plan the edit of {path}: {exc.message}",
                             path=path) from None


def _find_line(lines: list[str], line: int, directive: str) -> int:
    """The 0-based index of the line holding ``directive`` at or just after ``line``."""
    start = max(line - 1, 0)
    for index in range(start, min(start + 30, len(lines))):
        if directive.lower() in lines[index].lower():
            return index
    return min(start, len(lines) - 1)


def _replace_value(line: str, directive: str, old: str, new: str) -> str:
    at = line.lower().find(directive.lower())
    head, rest = (line[:at + len(directive)], line[at + len(directive):]) if at >= 0 \
        else ("", line)
    if old and old in rest:
        return head + rest.replace(old, new, 1)
    # The config wrote the value differently (relative path, variable): replace the token.
    m = re.match(r'^([\s=:<"]*)([^\s";]+)', rest)
    if m is None:
        return line
    return head + m.group(1) + new + rest[m.end():]


def _insert_missing(kind: ServiceKind, slot: Slot, new: dict[str, str],
                    texts: dict[str, list[str]], anchor: tuple[str, int]) -> None:
    templates = _NEW_LINE.get(kind, {})
    lines = texts[anchor[0]]
    at = anchor[1]
    indent = re.match(r"^\s*", lines[at])
    prefix = indent.group(0) if indent else ""
    for role in ("key", "chain", "ca"):
        if role in new and role not in slot.settings and role in templates:
            at += 1
            lines.insert(at, prefix + templates[role].format(path=new[role]) + "\n")


def _slapd_ldif(slot: Slot, new: dict[str, str]) -> ConfigEdit:
    blocks = []
    for role in ("cert", "key", "ca"):
        if role in new:
            attr = _SLAPD_ATTRS[role]
            blocks.append(f"dn: cn=config\nchangetype: modify\nreplace: {attr}\n"
                          f"{attr}: {new[role]}\n")
    return ConfigEdit(slot.config, "", "", ldif="\n".join(blocks))
