"""Plan one slot's deployment: which files, which bytes, owners, modes, config edits.

Nothing here changes anything; it only reads the host's current configuration.
The rule (the seed's Part 2): a slot whose files are read by this program alone
gets those files replaced in place; a slot reading shared files (Debian's
snakeoil pair in ``/etc/ssl``, or a file another program also reads) gets the
per-program layout under the program's config directory, and its configuration
is edited to point there (slapd: through cn=config).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from certmgr.deploy.configedit import edit_setting
from certmgr.deploy.model import (
    ConfigEdit,
    DeployPlan,
    LdapChange,
    Material,
    PlannedFile,
    SlotTarget,
)
from certmgr.deploy.programs import KeyFormat, Program, ServiceControl
from certmgr.deploy.programs.base import key_dir_spec, key_spec
from certmgr.deploy.programs.slapd import ATTRIBUTES, uses_cn_config
from certmgr.deploy.programs.vsftpd import NOTE as VSFTPD_NOTE
from certmgr.errors import CertmgrError, PreflightFailed
from certmgr.hosts.base import WritableHost
from certmgr.models import FileSpec, ServiceKind
from certmgr.pki import load_bundle
from certmgr.pki.write import certificates_pem, jks_keystore, pkcs12_keystore

# Files there belong to the whole system (the snakeoil pair): never overwritten per program.
from certmgr.services.layout import SHARED_PREFIXES

__all__ = ["SHARED_PREFIXES", "current_alias", "plan_slot"]

_DEFAULT_ALIAS = "tomcat"


def plan_slot(host: WritableHost, target: SlotTarget, material: Material, program: Program,
              control: ServiceControl) -> DeployPlan:
    """The plan for deploying ``material`` to ``target``.

    Raises:
        PreflightFailed: the slot cannot be deployed as configured (said why).
    """
    paths = target.paths()
    if "cert" not in paths and "keystore" not in paths:
        raise _refuse(target, "the slot names no certificate file or keystore")
    shared = [p for p in paths.values()
              if p in target.shared or p.startswith(SHARED_PREFIXES)]
    seed = bool(shared)
    new_paths = _seed_paths(target, material, program) if seed else dict(paths)
    files = _files(target, material, program, new_paths)
    dirs = _dirs(target, program, files) if seed else ()
    notes = [f"{p} is shared with other programs: {program.kind.value} gets its own copies"
             for p in dict.fromkeys(shared)]
    if program.kind is ServiceKind.VSFTPD:
        notes.append(VSFTPD_NOTE)
    edits: tuple[ConfigEdit, ...] = ()
    ldap = None
    if program.kind is ServiceKind.SLAPD and uses_cn_config(target.config):
        ldap = LdapChange("cn=config",
                          {ATTRIBUTES[r]: p for r, p in new_paths.items() if r in ATTRIBUTES},
                          {ATTRIBUTES[r]: p for r, p in paths.items() if r in ATTRIBUTES})
    elif seed:
        edits = _edits(host, target, program, paths, new_paths)
        notes += [f"{ref.path} is a link: the edit goes to {real}"
                  for ref in {r.path: r for r in target.settings.values()}.values()
                  if (real := host.realpath(ref.path)) != ref.path
                  and any(e.spec.path == real for e in edits)]
    return DeployPlan(target=target, material=material, layout="seed" if seed else "in-place",
                      dirs=dirs, files=tuple(files), edits=edits, ldap=ldap,
                      reload=program.reload_method(control), notes=tuple(notes))


def _refuse(target: SlotTarget, why: str) -> PreflightFailed:
    return PreflightFailed(f"{target.target}: {why}; nothing was changed",
                           service=target.kind.value, slot=target.slot_id)


def _seed_paths(target: SlotTarget, material: Material, program: Program) -> dict[str, str]:
    base = program.config_dir
    name = material.definition
    certs, private = f"{base}/ssl/certs", f"{base}/ssl/private"
    if target.keystore:
        ext = ".p12" if (target.keystore_type or "").upper() in ("PKCS12", "P12") else ".jks"
        return {"keystore": f"{private}/{name}{ext}"}
    if program.key_format == KeyFormat.COMBINED:
        return {"cert": f"{private}/{name}.pem", "key": f"{private}/{name}.pem"}
    out = {"cert": f"{certs}/{name}.crt", "key": f"{private}/{name}.key"}
    if target.chain:
        out["chain"] = f"{certs}/{name}-chain.crt"
    if target.ca:
        out["ca"] = f"{certs}/trusted-ca.crt"
    return out


def _files(target: SlotTarget, material: Material, program: Program,
           paths: dict[str, str]) -> list[PlannedFile]:
    group = target.group
    if "keystore" in paths:
        return [PlannedFile("keystore", key_spec(program, paths["keystore"], group),
                            _keystore(target, material), secret=True)]
    leaf = certificates_pem([material.cert])
    chain = certificates_pem(list(material.chain)) if material.chain else b""
    if paths.get("cert") == paths.get("key"):  # one combined file: cert, chain, key
        return [PlannedFile("cert", key_spec(program, paths["cert"], group),
                            leaf + chain + material.key_pem, secret=True)]
    # Without a chain setting the intermediates go into the certificate file.
    cert_data = leaf if "chain" in paths else leaf + chain
    out = [PlannedFile("cert", FileSpec(paths["cert"], "root", "root", 0o644), cert_data)]
    if "chain" in paths:
        out.append(PlannedFile("chain", FileSpec(paths["chain"], "root", "root", 0o644),
                               chain or certificates_pem(list(material.trusted))))
    if "ca" in paths:
        out.append(PlannedFile("ca", FileSpec(paths["ca"], "root", "root", 0o644),
                               certificates_pem(list(material.trusted))))
    if "key" in paths:
        out.append(PlannedFile("key", key_spec(program, paths["key"], group), material.key_pem,
                               secret=True))
    return out


def _keystore(target: SlotTarget, material: Material) -> bytes:
    if not target.password:
        raise _refuse(target, "the keystore has no password in the program's configuration")
    try:
        bundle = load_bundle(material.key_pem, source=f"the key of {material.definition}")
    except CertmgrError as exc:
        raise _refuse(target, f"its key cannot be read ({exc.message})") from None
    if bundle.key is None:
        raise _refuse(target, "the key to put into the keystore is encrypted")
    alias = target.key_alias or _DEFAULT_ALIAS
    try:
        if (target.keystore_type or "JKS").upper() in ("PKCS12", "P12"):
            return pkcs12_keystore(material.cert, material.chain, bundle.key, alias=alias,
                                   password=target.password)
        return jks_keystore(material.cert, material.chain, bundle.key, alias=alias,
                            password=target.password)
    except CertmgrError as exc:
        raise _refuse(target, f"cannot build its keystore: {exc.message}") from None


def _dirs(target: SlotTarget, program: Program,
          files: list[PlannedFile]) -> tuple[FileSpec, ...]:
    out: dict[str, FileSpec] = {}
    for f in files:
        directory = posixpath.dirname(f.spec.path)
        if f.secret:
            out.setdefault(directory, key_dir_spec(program, directory, target.group))
        else:
            out.setdefault(directory, FileSpec(directory, "root", "root", 0o755))
    return tuple(sorted(out.values(), key=lambda s: s.path))


def _edits(host: WritableHost, target: SlotTarget, program: Program, old: dict[str, str],
           new: dict[str, str]) -> tuple[ConfigEdit, ...]:
    per_file: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for role, path in new.items():
        if old.get(role) == path:
            continue
        ref = target.settings.get(role)
        if ref is None or ref.line < 1:
            raise _refuse(target, f"discovery did not record where its {role} file is set, so "
                                  "its configuration cannot be pointed at per-program files")
        per_file[ref.path].append((role, path))
    edits = []
    for link, changes in sorted(per_file.items()):
        # Debian enables sites and modules through links (sites-enabled/x -> ../sites-
        # available/x): the edit goes to the file the link names, never through it.
        path = host.realpath(link)
        st = host.stat(path, follow_symlinks=False)
        if st is None or not st.is_file:
            raise _refuse(target, f"its configuration file {link} is not a regular file")
        before = host.read_bytes(path)
        text = before.decode("utf-8", errors="surrogateescape")
        for role, value in changes:
            text = edit_setting(text, target.settings[role], value, program.style)
        after = text.encode("utf-8", errors="surrogateescape")
        edits.append(ConfigEdit(FileSpec(path, st.owner, st.group, st.mode), before, after,
                                secret=program.kind is ServiceKind.TOMCAT))
    return tuple(edits)


def current_alias(host: WritableHost, target: SlotTarget) -> str | None:
    """The alias of the key entry in the slot's current keystore, if it opens."""
    if not target.keystore or not target.password:
        return None
    try:
        data = host.read_bytes(target.keystore)
        return load_bundle(data, target.password, source=target.keystore).alias
    except CertmgrError:
        return None

