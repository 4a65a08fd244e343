"""Where one slot's files go and what in its configuration changes: decided once, here.

The rule (the seed's Part 2): a slot whose files are read by this program alone
gets those files replaced in place; a slot reading shared files (Debian's
snakeoil pair in ``/etc/ssl``, or a file another program also reads) gets the
per-program layout under the program's config directory, and its configuration
is edited to point there (slapd with cn=config: through ``ldapmodify``).

:func:`decide_layout` makes that decision as values (paths, owners, modes,
the edited configuration text, the cn=config attributes) without reading any
certificate; what differs between programs is asked of the program's spec
(:mod:`certmgr.programs`), never decided here by its name. :func:`plan_slot`
adds the bytes of one certificate for deploy, and
``certmgr layout`` (:mod:`certmgr.deploy.layout_plan`) prints the same decision.
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
from certmgr.errors import CertmgrError, PreflightFailed
from certmgr.hosts.base import Host, WritableHost
from certmgr.models import FileSpec
from certmgr.pki import load_bundle
from certmgr.pki.write import certificates_pem, jks_keystore, pkcs12_keystore
from certmgr.programs import ProgramSpec
from certmgr.programs.policy import cert_dir_spec, cert_spec, key_dir_spec, key_spec
from certmgr.programs.spec import KeyFormat, ServiceControlView

__all__ = ["SHARED_PREFIXES", "Placement", "SlotLayout", "decide_layout", "in_shared_store",
           "plan_slot"]

# Files there belong to the whole system (the snakeoil pair): never overwritten per program.
SHARED_PREFIXES = ("/etc/ssl/", "/etc/pki/tls/")

_ROLES = ("cert", "chain", "ca", "key", "keystore")  # the order files are written in
_SECRET = ("key", "keystore")


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


def decide_layout(host: Host, target: SlotTarget, program: ProgramSpec, name: str) -> SlotLayout:
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
    ldap = program.live_change(target.config, paths, current)
    if not shared:
        return SlotLayout(target, "in-place", paths, files, ldap=ldap)
    edits: tuple[ConfigEdit, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    if ldap is None:
        edits, links = _edits(host, target, program, current, paths)
    return SlotLayout(target, "seed", paths, files, _dirs(target, program, files), edits,
                      ldap, shared, links)


def plan_slot(host: WritableHost, target: SlotTarget, material: Material, program: ProgramSpec,
              control: ServiceControlView) -> DeployPlan:
    """The plan for deploying ``material`` to ``target``: :func:`decide_layout` plus bytes.

    Raises:
        PreflightFailed: the slot cannot be deployed as configured (said why).
    """
    decided = decide_layout(host, target, program, material.definition)
    files = tuple(PlannedFile(f.role, f.spec, _content(target, program, material, f, decided.paths),
                              secret=f.secret) for f in decided.files)
    where = {True: "shared with other programs", False: "in the machine-wide certificate store"}
    notes = [f"{p} is {where[p in target.shared]}: {program.kind.value} gets its own copies"
             for p in decided.shared]
    notes += program.plan_notes
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


def _seed_paths(target: SlotTarget, program: ProgramSpec, name: str) -> dict[str, str]:
    # A program without a fixed directory (Tomcat): its files go next to the config it reads.
    base = program.seed_dir or posixpath.dirname(target.config)
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
    if target.ca or program.needs_ca_file:
        out["ca"] = f"{certs}/trusted-ca.crt"
    return out


def _placements(target: SlotTarget, program: ProgramSpec,
                paths: Mapping[str, str]) -> tuple[Placement, ...]:
    if paths.get("cert") is not None and paths.get("cert") == paths.get("key"):
        spec = key_spec(program.reads_key_as_user, paths["cert"], target.group)
        return (Placement("cert", spec, True),)
    out = []
    for role in _ROLES:
        if role in paths:
            spec = (key_spec(program.reads_key_as_user, paths[role], target.group)
                    if role in _SECRET else cert_spec(paths[role]))
            out.append(Placement(role, spec))
    return tuple(out)


def _dirs(target: SlotTarget, program: ProgramSpec,
          files: tuple[Placement, ...]) -> tuple[FileSpec, ...]:
    out: dict[str, FileSpec] = {}
    for f in files:
        directory = posixpath.dirname(f.spec.path)
        if f.secret:
            out.setdefault(directory, key_dir_spec(program.reads_key_as_user, directory,
                                                   target.group))
        else:
            out.setdefault(directory, cert_dir_spec(directory))
    return tuple(sorted(out.values(), key=lambda s: s.path))


def _edits(host: Host, target: SlotTarget, program: ProgramSpec, old: Mapping[str, str],
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
            # Every place the file is set: one per listener when a credential is
            # written once per listener (a dual-stack pair of haproxy bind lines).
            for where in (ref, *(a[role] for a in target.also if role in a)):
                _refuse_shared_line(target, where)
                changed[where.path].append((where, path))
        elif role == "key" and new.get("cert") == path:
            continue  # one combined file: the certificate's setting names it
        elif role in program.new_lines and anchor is not None and anchor.line >= 1:
            added[anchor.path].append(program.new_line(role, path, anchor.directive))
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
        before = _read_config(host, target, path, link)
        text = before.decode("utf-8", errors="surrogateescape")
        for ref, value in changed[link]:
            text = edit_setting(text, ref, value, program.line_style(ref.directive))
        if added[link] and anchor is not None:
            text = insert_setting(text, anchor, added[link])
        edits.append(ConfigEdit(FileSpec(path, st.owner, st.group, st.mode), before,
                                text.encode("utf-8", errors="surrogateescape"),
                                secret=program.config_holds_secrets))
        if path != link:
            links.append((link, path))
    return tuple(edits), tuple(links)


def _content(target: SlotTarget, program: ProgramSpec, material: Material,
             placement: Placement, paths: Mapping[str, str]) -> bytes:
    """The bytes of one placed file: PEM, the combined PEM, or the keystore."""
    leaf = certificates_pem([material.cert])
    chain = certificates_pem(list(material.chain)) if material.chain else b""
    role = placement.role
    if role == "keystore":
        return _keystore(target, program, material)
    if placement.combined:
        return program.combined_pem(material.key_pem, leaf, chain)
    if role == "cert":  # without a chain setting the intermediates go into the certificate file
        return leaf if "chain" in paths else leaf + chain
    if role == "chain":
        return chain or certificates_pem(list(material.trusted))
    if role == "ca":
        return certificates_pem(list(material.trusted))
    return material.key_pem


def _keystore(target: SlotTarget, program: ProgramSpec, material: Material) -> bytes:
    if not target.password:
        raise _refuse(target, "the keystore has no password in the program's configuration")
    try:
        bundle = load_bundle(material.key_pem, source=f"the key of {material.definition}")
    except CertmgrError as exc:
        raise _refuse(target, f"its key cannot be read ({exc.message})") from None
    if bundle.key is None:
        raise _refuse(target, "the key to put into the keystore is encrypted")
    alias = target.key_alias or program.default_key_alias or program.name
    try:
        if (target.keystore_type or "JKS").upper() in ("PKCS12", "P12"):
            return pkcs12_keystore(material.cert, material.chain, bundle.key, alias=alias,
                                   password=target.password)
        return jks_keystore(material.cert, material.chain, bundle.key, alias=alias,
                            password=target.password)
    except CertmgrError as exc:
        raise _refuse(target, f"cannot build its keystore: {exc.message}") from None


def _read_config(host: Host, target: SlotTarget, path: str, link: str) -> bytes:
    """A configuration file about to be edited, read with no symlink followed where the host
    can (a file swapped for a link after the lstat is never edited into the config)."""
    if not isinstance(host, WritableHost):
        return host.read_bytes(path)
    found = host.read_link_free(path)
    if found is None or not found[1].is_file:
        raise _refuse(target, f"its configuration file {link} is not a regular file")
    return found[0]
