"""Where one slot's files go and what in its configuration changes: decided once, here.

The rule (the seed's Part 2): a slot whose files are read by this program alone
gets those files replaced in place; a slot reading shared files (Debian's
snakeoil pair in ``/etc/ssl``, or a file another program also reads) gets the
per-program layout under the program's config directory, and its configuration
is edited to point there (slapd with cn=config: through ``ldapmodify``).

:func:`decide_layout` makes that decision as values (paths, owners, modes,
the edited configuration text, the cn=config attributes) without reading any
certificate; :func:`plan_slot` adds the bytes of one certificate for deploy, and
``certmgr layout`` (:mod:`certmgr.services.layout`) prints the same decision.
Nothing here changes anything; it only reads the host's current configuration.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from certmgr.deploy.configedit import edit_setting, insert_setting
from certmgr.deploy.model import (
    ConfigEdit,
    DeployPlan,
    LdapChange,
    Material,
    PlannedFile,
    SettingRef,
    SlotTarget,
)
from certmgr.deploy.programs import KeyFormat, Program, ServiceControl
from certmgr.deploy.programs.base import key_dir_spec, key_spec
from certmgr.deploy.programs.slapd import ATTRIBUTES, uses_cn_config
from certmgr.deploy.programs.vsftpd import NOTE as VSFTPD_NOTE
from certmgr.errors import CertmgrError, PreflightFailed
from certmgr.hosts.base import Host, WritableHost
from certmgr.models import FileSpec, ServiceKind
from certmgr.pki import load_bundle
from certmgr.pki.write import certificates_pem, jks_keystore, pkcs12_keystore
from certmgr.services.defaults import SEED_DIRS

__all__ = ["SHARED_PREFIXES", "Placement", "SlotLayout", "decide_layout", "in_shared_store",
           "plan_slot"]

# Files there belong to the whole system (the snakeoil pair): never overwritten per program.
SHARED_PREFIXES = ("/etc/ssl/", "/etc/pki/tls/")

# How to add a setting the configuration does not have yet (role -> line), per program.
# The line goes right after the certificate's own line, with its indentation.
_NEW_LINE: dict[ServiceKind, dict[str, str]] = {
    ServiceKind.APACHE2: {"key": "SSLCertificateKeyFile {path}",
                          "chain": "SSLCertificateChainFile {path}",
                          "ca": "SSLCACertificateFile {path}"},
    ServiceKind.SLAPD: {"key": "TLSCertificateKeyFile {path}",
                        "ca": "TLSCACertificateFile {path}"},
    ServiceKind.VSFTPD: {"key": "rsa_private_key_file={path}", "ca": "ca_certs_file={path}"},
    ServiceKind.POSTFIX: {"key": "smtpd_tls_key_file = {path}", "ca": "smtpd_tls_CAfile = {path}"},
    ServiceKind.DOVECOT: {"key": "ssl_key = <{path}", "ca": "ssl_ca = <{path}"},
    ServiceKind.NGINX: {"key": "ssl_certificate_key {path};"},
}
_ROLES = ("cert", "chain", "ca", "key", "keystore")  # the order files are written in
_SECRET = ("key", "keystore")
_DEFAULT_ALIAS = "tomcat"  # Tomcat's keyAlias default


@dataclass(frozen=True)
class Placement:
    """One file of the slot after deployment: its role, path, owner, group and mode.

    ``role`` is cert, chain, ca, key or keystore; a combined PEM (haproxy, or a
    slot whose certificate file holds its key) is one ``cert`` placement at the
    same path as the key, with the key's owner and mode (:attr:`combined`).
    """

    role: str
    spec: FileSpec
    combined: bool = False

    @property
    def secret(self) -> bool:
        """True when the file holds a private key."""
        return self.combined or self.role in _SECRET


@dataclass(frozen=True)
class SlotLayout:
    """The decision for one slot: ``seed`` (per-program files, config edits) or ``in-place``.

    ``paths`` maps each role to the file the program reads afterwards; ``shared``
    are the slot's current paths that made it move; ``links`` pairs a configuration
    file named through a symlink with the file actually edited.
    """

    target: SlotTarget
    layout: str
    paths: Mapping[str, str]
    files: tuple[Placement, ...]
    dirs: tuple[FileSpec, ...] = ()
    edits: tuple[ConfigEdit, ...] = ()
    ldap: LdapChange | None = None
    shared: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


def in_shared_store(host: Host, path: str) -> bool:
    """True if ``path`` is (or links into) the machine-wide certificate store."""
    return path.startswith(SHARED_PREFIXES) or host.realpath(path).startswith(SHARED_PREFIXES)


def decide_layout(host: Host, target: SlotTarget, program: Program, name: str) -> SlotLayout:
    """Decide where ``target``'s files go and how its configuration changes.

    Args:
        host: where the configuration is read (nothing is written).
        target: the slot, as discovery found it.
        program: deploy's strategy for the slot's program (formats, owners, syntax).
        name: the certificate's name, used for the per-program file names.

    Raises:
        PreflightFailed: the slot cannot be moved as configured (says why).
    """
    current = target.paths()
    if "cert" not in current and "keystore" not in current:
        raise _refuse(target, "the slot names no certificate file or keystore")
    shared = tuple(dict.fromkeys(p for p in current.values()
                                 if p in target.shared or in_shared_store(host, p)))
    paths = _seed_paths(target, program, name) if shared else current
    files = _placements(target, program, paths)
    ldap = None
    if program.kind is ServiceKind.SLAPD and uses_cn_config(target.config):
        ldap = LdapChange("cn=config",
                          {ATTRIBUTES[r]: p for r, p in paths.items() if r in ATTRIBUTES},
                          {ATTRIBUTES[r]: p for r, p in current.items() if r in ATTRIBUTES})
    if not shared:
        return SlotLayout(target, "in-place", paths, files, ldap=ldap)
    edits: tuple[ConfigEdit, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    if ldap is None:
        edits, links = _edits(host, target, program, current, paths)
    return SlotLayout(target, "seed", paths, files, _dirs(target, program, files), edits,
                      ldap, shared, links)


def plan_slot(host: WritableHost, target: SlotTarget, material: Material, program: Program,
              control: ServiceControl) -> DeployPlan:
    """The plan for deploying ``material`` to ``target``: :func:`decide_layout` plus bytes.

    Raises:
        PreflightFailed: the slot cannot be deployed as configured (said why).
    """
    decided = decide_layout(host, target, program, material.definition)
    files = tuple(PlannedFile(f.role, f.spec, _content(target, material, f, decided.paths),
                              secret=f.secret) for f in decided.files)
    where = {True: "shared with other programs", False: "in the machine-wide certificate store"}
    notes = [f"{p} is {where[p in target.shared]}: {program.kind.value} gets its own copies"
             for p in decided.shared]
    if program.kind is ServiceKind.VSFTPD:
        notes.append(VSFTPD_NOTE)
    notes += [f"{link} is a link: the edit goes to {real}" for link, real in decided.links]
    return DeployPlan(target=target, material=material, layout=decided.layout,
                      dirs=decided.dirs, files=files, edits=decided.edits, ldap=decided.ldap,
                      reload=program.reload_method(control), notes=tuple(notes))


def _refuse_shared_line(target: SlotTarget, ref: SettingRef) -> None:
    """Refuse to edit a line in an included file that other slots read too.

    Debian's nginx sites share ``snippets/snakeoil.conf`` by ``include``: editing it
    for one site would switch every site that includes it, silently. A line in
    the slot's own config file (Postfix's main.cf, which master.cf services
    inherit) is the slot's to change.
    """
    others = target.shared_lines.get(f"{ref.path}:{ref.line}")
    if others and ref.path != target.config:
        verb = "reads" if len(others) == 1 else "read"
        raise _refuse(target, f"its {ref.directive} is set in {ref.path} line {ref.line}, "
                              f"which {', '.join(others)} also {verb}; changing it there "
                              f"would switch them too. Give {target.config} its own "
                              f"{ref.directive} lines (in place of the include), then deploy "
                              "again")


def _refuse(target: SlotTarget, why: str) -> PreflightFailed:
    return PreflightFailed(f"{target.target}: {why}; nothing was changed",
                           service=target.kind.value, slot=target.slot_id)


def _seed_paths(target: SlotTarget, program: Program, name: str) -> dict[str, str]:
    # Tomcat has no fixed directory: its files go next to the server.xml it reads.
    base = SEED_DIRS.get(program.kind) or posixpath.dirname(target.config)
    name = name.replace("*", "wildcard")
    certs, private = f"{base}/ssl/certs", f"{base}/ssl/private"
    if target.keystore:
        ext = ".p12" if (target.keystore_type or "").upper() in ("PKCS12", "P12") else ".jks"
        return {"keystore": f"{private}/{name}{ext}"}
    key_ref = target.settings.get("key")
    if program.key_format == KeyFormat.COMBINED or (
            key_ref is not None and key_ref == target.settings.get("cert")):
        # One setting naming one file for both (haproxy's crt, Postfix's
        # smtpd_tls_chain_files) stays one file: splitting it would need a second setting.
        return {"cert": f"{private}/{name}.pem", "key": f"{private}/{name}.pem"}
    out = {"cert": f"{certs}/{name}.crt", "key": f"{private}/{name}.key"}
    if target.chain:
        out["chain"] = f"{certs}/{name}-chain.crt"
    if target.ca or program.kind is ServiceKind.SLAPD:
        # slapd needs a trusted-CA file even without client certificates (the seed's note).
        out["ca"] = f"{certs}/trusted-ca.crt"
    return out


def _placements(target: SlotTarget, program: Program,
                paths: Mapping[str, str]) -> tuple[Placement, ...]:
    if paths.get("cert") is not None and paths.get("cert") == paths.get("key"):
        return (Placement("cert", key_spec(program, paths["cert"], target.group), True),)
    out = []
    for role in _ROLES:
        if role in paths:
            spec = (key_spec(program, paths[role], target.group) if role in _SECRET
                    else FileSpec(paths[role], "root", "root", 0o644))
            out.append(Placement(role, spec))
    return tuple(out)


def _dirs(target: SlotTarget, program: Program,
          files: tuple[Placement, ...]) -> tuple[FileSpec, ...]:
    out: dict[str, FileSpec] = {}
    for f in files:
        directory = posixpath.dirname(f.spec.path)
        if f.secret:
            out.setdefault(directory, key_dir_spec(program, directory, target.group))
        else:
            out.setdefault(directory, FileSpec(directory, "root", "root", 0o755))
    return tuple(sorted(out.values(), key=lambda s: s.path))


def _edits(host: Host, target: SlotTarget, program: Program, old: Mapping[str, str],
           new: Mapping[str, str]) -> tuple[tuple[ConfigEdit, ...],
                                            tuple[tuple[str, str], ...]]:
    """Point the configuration at ``new``: change recorded lines, add the missing ones."""
    changed: dict[str, list[tuple[SettingRef, str]]] = defaultdict(list)
    added: dict[str, list[str]] = defaultdict(list)
    anchor = target.settings.get("keystore" if "keystore" in new else "cert")
    for role, path in new.items():
        ref = target.settings.get(role)
        if old.get(role) == path:
            continue
        if ref is not None and ref.line >= 1:
            _refuse_shared_line(target, ref)
            changed[ref.path].append((ref, path))
        elif role == "key" and new.get("cert") == path:
            continue  # one combined file: the certificate's setting names it
        elif role in _NEW_LINE.get(program.kind, {}) and anchor is not None and anchor.line >= 1:
            added[anchor.path].append(_new_line(program.kind, role, path, anchor))
        else:
            raise _refuse(target, f"discovery did not record where its {role} file is set, so "
                                  "its configuration cannot be pointed at per-program files")
    edits, links = [], []
    for link in sorted({*changed, *added}):
        # Debian enables sites and modules through links (sites-enabled/x -> ../sites-
        # available/x): the edit goes to the file the link names, never through it.
        path = host.realpath(link)
        st = host.stat(path, follow_symlinks=False)
        if st is None or not st.is_file:
            raise _refuse(target, f"its configuration file {link} is not a regular file")
        before = host.read_bytes(path)
        text = before.decode("utf-8", errors="surrogateescape")
        for ref, value in changed[link]:
            text = edit_setting(text, ref, value, program.style)
        if added[link] and anchor is not None:
            text = insert_setting(text, anchor, added[link])
        edits.append(ConfigEdit(FileSpec(path, st.owner, st.group, st.mode), before,
                                text.encode("utf-8", errors="surrogateescape"),
                                secret=program.kind is ServiceKind.TOMCAT))
        if path != link:
            links.append((link, path))
    return tuple(edits), tuple(links)


def _new_line(kind: ServiceKind, role: str, path: str, anchor: SettingRef) -> str:
    line = _NEW_LINE[kind][role].format(path=path)
    if anchor.directive.startswith("-o "):
        # Postfix master.cf: the service's own override, next to its other -o lines.
        setting, _eq, value = line.partition("=")
        return f"-o {setting.strip()}={value.strip()}"
    return line


def _content(target: SlotTarget, material: Material, placement: Placement,
             paths: Mapping[str, str]) -> bytes:
    """The bytes of one placed file: PEM, the combined PEM, or the keystore."""
    leaf = certificates_pem([material.cert])
    chain = certificates_pem(list(material.chain)) if material.chain else b""
    role = placement.role
    if role == "keystore":
        return _keystore(target, material)
    if placement.combined:
        # Postfix's smtpd_tls_chain_files wants each key right before its chain.
        if target.kind is ServiceKind.POSTFIX:
            return material.key_pem + leaf + chain
        return leaf + chain + material.key_pem
    if role == "cert":  # without a chain setting the intermediates go into the certificate file
        return leaf if "chain" in paths else leaf + chain
    if role == "chain":
        return chain or certificates_pem(list(material.trusted))
    if role == "ca":
        return certificates_pem(list(material.trusted))
    return material.key_pem


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
