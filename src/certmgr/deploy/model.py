"""The values a deployment works with: what goes out, where, and what came of it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cryptography import x509

from certmgr.models import Endpoint, FileSpec
from certmgr.programs import ServiceKind
from certmgr.programs.slapd import LdapChange

__all__ = [
    "ConfigEdit",
    "DeployPlan",
    "LdapChange",
    "Material",
    "Outcome",
    "PlannedFile",
    "SettingRef",
    "SlotOutcome",
    "SlotTarget",
]


@dataclass(frozen=True)
class Material:
    """The certificate to deploy, as the repository holds it.

    ``key_pem`` is the private key exactly as it would be written (PEM); preflight
    refuses it if it is encrypted or does not match ``cert``. ``chain`` holds the
    intermediates (leaf first excluded, root excluded); ``trusted`` the slot's
    trust anchors (the issuing root).
    """

    definition: str
    cert: x509.Certificate
    key_pem: bytes = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()
    trusted: tuple[x509.Certificate, ...] = ()
    version: int | None = None


@dataclass(frozen=True)
class SettingRef:
    """Where a slot setting is written: file, 1-based line, directive (as discovery saw it).

    ``index``: which value of a list-valued setting (0: the first, or the only one).
    """

    path: str
    line: int
    directive: str
    index: int = 0


@dataclass(frozen=True)
class SlotTarget:
    """One slot on one host, with what deploy needs to know about its program.

    ``user`` reads the key; ``group`` is the group it shares the key with (Table
    1's ``root:openldap 0640``), None when the program reads keys as root.
    ``shared`` are the slot's paths that another program (or slot) also reads:
    those are never overwritten, the seed layout is used instead. ``shared_lines``
    maps each of its setting lines (``path:line``) that other slots also read (an
    nginx snippet two sites include) to those slots' ids. ``also`` are the further
    places its files are set (one per listener: haproxy's dual-stack ``bind``
    pair), changed together with ``settings``.
    """

    host: str
    kind: ServiceKind
    slot_id: str
    config: str
    user: str = "root"
    group: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    names: tuple[str, ...] = ()
    names_from: str = "config"
    cert: str | None = None
    key: str | None = None
    chain: str | None = None
    ca: str | None = None
    keystore: str | None = None
    keystore_type: str | None = None
    key_alias: str | None = None
    password: str | None = field(default=None, repr=False)
    settings: Mapping[str, SettingRef] = field(default_factory=dict)
    shared: frozenset[str] = frozenset()
    shared_lines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    also: tuple[Mapping[str, SettingRef], ...] = ()

    @property
    def target(self) -> str:
        """``HOST/SLOT-ID``, as the repository names deployments."""
        return f"{self.host}/{self.slot_id}"

    def paths(self) -> dict[str, str]:
        """role -> path of every file the slot reads now."""
        return {role: path for role in ("cert", "key", "chain", "ca", "keystore")
                if (path := getattr(self, role))}


@dataclass(frozen=True)
class PlannedFile:
    """A file deploy writes: where, with which owner/group/mode, and its bytes."""

    role: str
    spec: FileSpec
    data: bytes = field(repr=False)
    secret: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "path": self.spec.path, "owner": self.spec.owner,
                "group": self.spec.group, "mode": f"{self.spec.mode:04o}",
                "bytes": len(self.data), "secret": self.secret}


@dataclass(frozen=True)
class ConfigEdit:
    """A program configuration file rewritten to point at the new files.

    ``old`` and ``new`` are the whole file; only the named lines differ.
    """

    spec: FileSpec
    old: bytes = field(repr=False)
    new: bytes = field(repr=False)
    secret: bool = False

    def diff(self) -> str:
        """A unified diff of the edit (empty for a secret file)."""
        if self.secret:
            return f"(edit of {self.spec.path} not shown: it holds passwords)\n"
        return "".join(difflib.unified_diff(
            self.old.decode(errors="replace").splitlines(keepends=True),
            self.new.decode(errors="replace").splitlines(keepends=True),
            fromfile=f"{self.spec.path} (now)", tofile=f"{self.spec.path} (after deploy)"))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.spec.path, "owner": self.spec.owner, "group": self.spec.group,
                "mode": f"{self.spec.mode:04o}", "diff": self.diff()}


@dataclass(frozen=True)
class DeployPlan:
    """Everything one slot's deployment will change, computed before anything changes.

    ``layout`` is ``in-place`` (the slot's own files are replaced) or ``seed``
    (per-program files under the program's config directory, with config edits).
    """

    target: SlotTarget
    material: Material
    layout: str
    dirs: tuple[FileSpec, ...]
    files: tuple[PlannedFile, ...]
    edits: tuple[ConfigEdit, ...] = ()
    ldap: LdapChange | None = None
    reload: str = ""
    notes: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        from cryptography.hazmat.primitives import hashes

        return self.material.cert.fingerprint(hashes.SHA256()).hex()

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target.target, "kind": self.target.kind.value,
            "definition": self.material.definition, "version": self.material.version,
            "sha256": self.fingerprint, "layout": self.layout,
            "dirs": [{"path": d.path, "owner": d.owner, "group": d.group,
                      "mode": f"{d.mode:04o}"} for d in self.dirs],
            "files": [f.to_json() for f in self.files],
            "edits": [e.to_json() for e in self.edits],
            "ldap": self.ldap.to_json() if self.ldap else None,
            "reload": self.reload, "notes": list(self.notes),
        }


class Outcome(str, Enum):
    """How a slot's deployment ended."""

    PLANNED = "planned"          # dry run: nothing changed
    UNCHANGED = "unchanged"      # the new certificate was already in place and served
    VERIFIED = "verified"        # deployed, reloaded, served: done
    REFUSED = "refused"          # preflight failed: nothing changed
    ROLLED_BACK = "rolled_back"  # failed after apply; the old state is back and served
    FAILED = "failed"            # failed and the rollback failed too: needs a human


@dataclass(frozen=True)
class SlotOutcome:
    """The result of one slot's deployment (failures are data, see STYLE.md point 6)."""

    target: str
    outcome: Outcome
    reason: str = ""
    plan: DeployPlan | None = None
    served: Mapping[str, str | None] = field(default_factory=dict)
    deployment_id: int | None = None
    detail: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.PLANNED, Outcome.UNCHANGED, Outcome.VERIFIED)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "outcome": self.outcome.value, "reason": self.reason,
                "deployment": self.deployment_id, "served": dict(self.served),
                "detail": list(self.detail),
                "plan": self.plan.to_json() if self.plan else None}
