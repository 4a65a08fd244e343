"""Checks made before anything changes; each one able to refuse the deployment.

The checks: the key is readable and not encrypted, it matches the certificate,
the chain verifies to the slot's trusted CA, the certificate covers the slot's
names (names that are only the host's name warn), and the program's user can
read every new file through every directory on the way. The program's own
configuration test runs later, on the applied files and before any reload
(``engine``), because it reads the files where they will be.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from certmgr.deploy.model import DeployPlan
from certmgr.errors import CertmgrError
from certmgr.hosts.base import WritableHost, stat_many
from certmgr.models import FileSpec
from certmgr.pki import certificate_covers, keys_match, load_bundle, verify_chain

__all__ = ["PreflightReport", "preflight"]


@dataclass(frozen=True)
class PreflightReport:
    """Problems refuse the deployment; warnings are shown and recorded."""

    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def preflight(host: WritableHost, plan: DeployPlan) -> PreflightReport:
    """Run every check of ``plan`` against ``host``; never changes anything."""
    problems: list[str] = []
    warnings: list[str] = []
    problems += _key_checks(plan)
    problems += _chain_checks(plan)
    for name in plan.target.names:
        if not certificate_covers(plan.material.cert, name):
            line = f"the certificate does not cover {name}"
            if plan.target.names_from == "host":
                warnings.append(line + " (only the host's name: not blocking)")
            else:
                problems.append(line)
    problems += _readable(host, plan)
    return PreflightReport(tuple(problems), tuple(warnings))


def _key_checks(plan: DeployPlan) -> list[str]:
    material = plan.material
    try:
        bundle = load_bundle(material.key_pem, source=f"the key of {material.definition}")
    except CertmgrError as exc:
        return [f"the key cannot be read: {exc.message}"]
    if bundle.key_encrypted:
        return [f"the key is encrypted and {plan.target.kind.value} is given no password "
                "for it (it would fail to start or to handshake)"]
    if bundle.key is None:
        return ["the key data holds no private key"]
    if not keys_match(material.cert, bundle.key):
        return ["the key does not match the certificate (the program would refuse it or "
                "fail every handshake)"]
    return []


def _chain_checks(plan: DeployPlan) -> list[str]:
    material = plan.material
    if not material.trusted:
        return ["the slot has no trusted CA to verify the chain against; give the issuer's "
                "root certificate"]
    report = verify_chain(material.cert, material.chain, material.trusted)
    return [] if report.ok else [f"the chain does not verify: {report.reason}"]


def _readable(host: WritableHost, plan: DeployPlan) -> list[str]:
    """The program's user must traverse every directory and read every new file."""
    user = plan.target.user
    if user == "root":
        return []
    groups = {g for g in host.groups().values() if user in host.group_members(g)}
    planned = {d.path: d for d in plan.dirs} | {f.spec.path: f.spec for f in plan.files}
    planned |= _current(host, [d for f in plan.files for d in _parents(f.spec.path)
                               if d not in planned])
    out: list[str] = []
    for f in plan.files:
        for directory in _parents(f.spec.path):
            spec = planned.get(directory)
            if spec is not None and not _allows(spec, user, groups, 0o1):
                out.append(f"{user} cannot enter {directory} ({spec.owner}:{spec.group} "
                           f"{spec.mode:04o}), so {plan.target.kind.value} cannot read "
                           f"{f.spec.path}")
                break
        else:
            if not _allows(f.spec, user, groups, 0o4):
                out.append(f"{user} cannot read {f.spec.path} ({f.spec.owner}:{f.spec.group} "
                           f"{f.spec.mode:04o})")
    return sorted(set(out))


def _parents(path: str) -> list[str]:
    out = []
    while (path := posixpath.dirname(path)) != "/":
        out.append(path)
    return list(reversed(out))


def _current(host: WritableHost, paths: list[str]) -> dict[str, FileSpec]:
    """Owner, group and mode of the existing ones of ``paths``, in one round trip."""
    unique = list(dict.fromkeys(paths))
    return {path: FileSpec(path, st.owner, st.group, st.mode)
            for path, st in zip(unique, stat_many(host, unique), strict=True)
            if st is not None}


def _allows(spec: FileSpec, user: str, groups: set[str], bit: int) -> bool:
    if spec.owner == user:
        return bool(spec.mode & (bit << 6))
    if spec.group in groups:
        return bool(spec.mode & (bit << 3))
    return bool(spec.mode & bit)
