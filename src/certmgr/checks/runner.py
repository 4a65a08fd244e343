"""Run every check on every slot of a discovery: files, keys, access, AppArmor, certificates."""

from __future__ import annotations

import datetime as dt
import posixpath
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certmgr.checks.access import can_read
from certmgr.checks.apparmor import Profile, find_profile
from certmgr.checks.certificate import Where, check_certificates
from certmgr.checks.native import native_config_errors
from certmgr.errors import ConfigError, HostError, PKIError, WrongPassword
from certmgr.hosts.base import Host
from certmgr.models import Finding, Severity
from certmgr.pki import Bundle, PrivateKey, load_bundle, sort_chain
from certmgr.programs import Discovery, Service, ServiceKind, Slot
from certmgr.programs.policy import policy_problems

__all__ = ["SYSTEM_STORE", "run_checks"]

SYSTEM_STORE = "/etc/ssl/certs/ca-certificates.crt"
_MAX_CERT_BYTES = 4 * 1024 * 1024


@dataclass
class _Run:
    host: Host
    now: dt.datetime
    warn_days: int
    extra_trust: Sequence[x509.Certificate]
    findings: list[Finding] = field(default_factory=list)
    system_store: list[x509.Certificate] | None = None
    profiles: dict[ServiceKind, Profile | None] = field(default_factory=dict)
    key_users: dict[str, set[ServiceKind]] = field(default_factory=dict)
    key_slots: dict[str, list[tuple[Service, Slot, str]]] = field(default_factory=dict)


def run_checks(host: Host, discovery: Discovery, *, warn_days: int = 30,
               now: dt.datetime | None = None,
               extra_trust: Sequence[x509.Certificate] = (),
               native: bool = True) -> list[Finding]:
    """Every check on every slot; discovery's CONFIG_ERRORs come first.

    Args:
        host: where the files are (the host discovery read).
        discovery: what :func:`certmgr.programs.discover_host` found.
        warn_days: EXPIRING_SOON window.
        now: the time of the check (default: now).
        extra_trust: more trust anchors beside the system store (certmgr's own CA).
        native: also run the programs' own configuration tests where the host can.

    Returns:
        Findings in service and slot order. One bad slot never stops the others.
    """
    run = _Run(host, now or dt.datetime.now(dt.UTC), warn_days, extra_trust,
               list(discovery.findings))
    if native:
        known = {(f.path, f.line) for f in run.findings}
        for service in discovery.services:
            run.findings.extend(f for f in native_config_errors(host, service)
                                if (f.path, f.line) not in known)
    for service, slot in discovery.slots():
        _check_slot(run, service, slot)
    _key_shared(run)
    return run.findings


def _finding(run: _Run, code: str, severity: Severity, service: Service, slot: Slot,
             path: str | None, message: str) -> None:
    run.findings.append(Finding(code, severity, message, service=service.kind.value,
                                slot=slot.id, path=path))


def _check_slot(run: _Run, service: Service, slot: Slot) -> None:
    present: dict[str, str] = {}
    for role, path in slot.files():
        if run.host.stat(path) is None:
            what = "dangling symlink" if run.host.stat(path, follow_symlinks=False) else \
                "file does not exist"
            _finding(run, "FILE_MISSING", Severity.ERROR, service, slot, path,
                     f"{path}: the {role} file {service.kind.value} is configured to read "
                     f"({slot.id}): {what}; install it or fix the path in {slot.config}")
        else:
            present[role] = path
    key_path = slot.keystore or slot.key
    if key_path and key_path in present.values():
        _key_access(run, service, slot, key_path)
        real = run.host.realpath(key_path)
        run.key_users.setdefault(real, set()).add(service.kind)
        run.key_slots.setdefault(real, []).append((service, slot, key_path))
    _apparmor(run, service, slot, list(present.values()))
    chain, key = _load(run, service, slot, present)
    if chain:
        trust = _trust(run, service, slot, present)
        run.findings.extend(check_certificates(
            chain, key=key, names=slot.names, names_authoritative=slot.names_from != "host",
            trust=trust, now=run.now, warn_days=run.warn_days,
            where=Where(service.kind.value, slot.id, slot.cert or slot.keystore,
                        chain_path=slot.chain, key_path=slot.key or slot.keystore)))


def _read_bundle(run: _Run, path: str, password: str | None = None) -> Bundle:
    try:
        data = run.host.read_bytes(path, limit=_MAX_CERT_BYTES)
    except HostError as exc:
        raise PKIError(exc.message, path=path) from None
    return load_bundle(data, password, source=path)


def _load(run: _Run, service: Service, slot: Slot,
          present: dict[str, str]) -> tuple[list[x509.Certificate], PrivateKey | None]:
    """The slot's chain (leaf first) and key, reporting what cannot be read."""
    if slot.keystore:
        return _load_keystore(run, service, slot, present)
    certs: list[x509.Certificate] = []
    cert_bundle: Bundle | None = None
    if "cert" in present:
        try:
            cert_bundle = _read_bundle(run, present["cert"])
            if not cert_bundle.certificates:
                raise PKIError(f"{present['cert']}: holds no certificate")
            leaf = cert_bundle.leaf or cert_bundle.certificates[0]
            certs = [leaf, *[c for c in sort_chain(cert_bundle.certificates) if c != leaf]]
        except PKIError as exc:
            _finding(run, "CERT_UNPARSABLE", Severity.ERROR, service, slot, present["cert"],
                     f"{present['cert']}: not a usable certificate: {_msg(exc)}")
    if "chain" in present and certs:
        try:
            certs.extend(c for c in _read_bundle(run, present["chain"]).certificates
                         if c not in certs)
        except PKIError as exc:
            _finding(run, "CERT_UNPARSABLE", Severity.ERROR, service, slot, present["chain"],
                     f"{present['chain']}: not a usable chain file: {_msg(exc)}")
    key = _load_key(run, service, slot, present, cert_bundle)
    return certs, key


def _load_key(run: _Run, service: Service, slot: Slot, present: dict[str, str],
              cert_bundle: Bundle | None) -> PrivateKey | None:
    path = present.get("key")
    if path is None:
        return None
    try:
        bundle = cert_bundle if path == present.get("cert") and cert_bundle else \
            _read_bundle(run, path, slot.password)
        if bundle.key_encrypted and slot.password is None:
            return _encrypted_key(run, service, slot, path)
        if path == present.get("cert") and bundle.key_encrypted:
            bundle = _read_bundle(run, path, slot.password)
        if bundle.key is None:
            raise PKIError(f"{path}: holds no private key")
        return bundle.key
    except WrongPassword:
        _finding(run, "KEY_ENCRYPTED", Severity.ERROR, service, slot, path,
                 f"{path}: the private key is encrypted and the passphrase in "
                 f"{service.kind.value}'s configuration does not open it")
    except PKIError as exc:
        _finding(run, "KEY_UNPARSABLE", Severity.ERROR, service, slot, path,
                 f"{path}: not a usable private key: {_msg(exc)}")
    return None


def _encrypted_key(run: _Run, service: Service, slot: Slot, path: str) -> PrivateKey | None:
    """An encrypted key with no password in the config: try the program's passphrase file."""
    source = slot.password_source or ""
    if source.startswith("file:"):
        try:
            lines = run.host.read_bytes(source[5:], limit=64 * 1024).decode(errors="replace")
        except HostError as exc:
            _finding(run, "KEY_ENCRYPTED", Severity.ERROR, service, slot, path,
                     f"{path}: the private key is encrypted and its passphrase file cannot be "
                     f"read: {exc.message}")
            return None
        for password in (line for line in lines.splitlines() if line):
            try:
                key = _read_bundle(run, path, password).key
            except PKIError:
                continue
            if key is not None:
                return key
        _finding(run, "KEY_ENCRYPTED", Severity.ERROR, service, slot, path,
                 f"{path}: the private key is encrypted and no passphrase in {source[5:]} "
                 "opens it")
        return None
    if source:
        _finding(run, "KEY_ENCRYPTED", Severity.WARNING, service, slot, path,
                 f"{path}: the private key is encrypted; {service.kind.value} asks {source} "
                 "for the passphrase, so certmgr cannot check it, and a reload without a "
                 "terminal may fail: prefer an unencrypted key (mode 0600/0640)")
        return None
    _finding(run, "KEY_ENCRYPTED", Severity.ERROR, service, slot, path,
             f"{path}: the private key is encrypted and {service.kind.value} has no "
             "passphrase for it: install an unencrypted key (mode 0600/0640)")
    return None


def _load_keystore(run: _Run, service: Service, slot: Slot, present: dict[str, str],
                   ) -> tuple[list[x509.Certificate], PrivateKey | None]:
    path = present.get("keystore")
    if path is None or slot.keystore is None:
        return [], None
    try:
        bundle = _read_bundle(run, path, slot.password)
    except WrongPassword:
        _finding(run, "KEY_ENCRYPTED", Severity.ERROR, service, slot, path,
                 f"{path}: the keystore password in {slot.config} does not open it")
        return [], None
    except PKIError as exc:
        _finding(run, "KEY_UNPARSABLE", Severity.ERROR, service, slot, path,
                 f"{path}: not a usable {slot.keystore_type or ''} keystore: {_msg(exc)}")
        return [], None
    if bundle.key is None or not bundle.certificates:
        _finding(run, "KEY_UNPARSABLE", Severity.ERROR, service, slot, path,
                 f"{path}: the keystore holds no private key entry with a certificate")
        return [], None
    leaf = bundle.leaf or bundle.certificates[0]
    return [leaf, *[c for c in bundle.certificates if c != leaf]], bundle.key


def _trust(run: _Run, service: Service, slot: Slot,
           present: dict[str, str]) -> list[x509.Certificate] | None:
    if "ca" in present:
        try:
            return list(_read_bundle(run, present["ca"]).certificates)
        except PKIError as exc:
            _finding(run, "CERT_UNPARSABLE", Severity.ERROR, service, slot, present["ca"],
                     f"{present['ca']}: not a usable trusted-CA file: {_msg(exc)}")
            return None
    if run.system_store is None:
        try:
            # Distribution stores still carry old roots with a zero serial, on which
            # cryptography warns; they are the system's anchors, not ours to judge.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                run.system_store = list(_read_bundle(run, SYSTEM_STORE).certificates)
        except PKIError:
            run.system_store = []
    anchors = run.system_store + list(run.extra_trust)
    return anchors or None


def _key_access(run: _Run, service: Service, slot: Slot, path: str) -> None:
    st = run.host.stat(path)
    if st is None:
        return
    problems = policy_problems(st, service_group=service.group, directory=False)
    parent = posixpath.dirname(run.host.realpath(path))
    parent_st = run.host.stat(parent)
    if posixpath.basename(parent) == "private" and parent_st is not None:
        problems += [f"directory {parent}: {p}" for p in
                     policy_problems(parent_st, service_group=service.group, directory=True)]
    if problems:
        # Anyone on the host can read a world-readable key: that is an error, not a nit.
        severity = Severity.ERROR if st.mode & 0o004 else Severity.WARNING
        _finding(run, "KEY_PERMISSIONS", severity, service, slot, path,
                 f"{path}: {'; '.join(problems)}: set root:{service.group or 'root'} "
                 f"{'0640' if service.group else '0600'} (directory "
                 f"{'0750' if service.group else '0700'})")
    ok, why = can_read(run.host, path, service.user)
    if not ok:
        _finding(run, "KEY_UNREADABLE_BY_SERVICE", Severity.ERROR, service, slot, path,
                 f"{path}: {service.kind.value} reads its key as {service.user}, who cannot "
                 f"read it ({why}): set root:{service.group or service.user} 0640 and "
                 "directory 0750")


def _apparmor(run: _Run, service: Service, slot: Slot, paths: list[str]) -> None:
    if service.kind not in run.profiles:
        try:
            run.profiles[service.kind] = find_profile(run.host, service.kind)
        except ConfigError as exc:
            run.findings.append(Finding("CONFIG_ERROR", Severity.ERROR, exc.message,
                                        service=service.kind.value, path=exc.path))
            run.profiles[service.kind] = None
    profile = run.profiles[service.kind]
    if profile is None:
        return
    for path in paths:
        real = run.host.realpath(path)
        if not profile.allows_read(real):
            shown = path if real == path else f"{path} (-> {real})"
            _finding(run, "APPARMOR_DENIED", Severity.ERROR, service, slot, path,
                     f"{shown}: the enforced AppArmor profile {profile.path} does not let "
                     f"{profile.attachment} read it: add '{real} r,' to "
                     f"/etc/apparmor.d/local/{posixpath.basename(profile.path)} or move the "
                     "file where the profile allows")


def _key_shared(run: _Run) -> None:
    for real, kinds in run.key_users.items():
        if len(kinds) < 2:
            continue
        names = ", ".join(sorted(k.value for k in kinds))
        for service, slot, path in run.key_slots[real]:
            _finding(run, "KEY_SHARED", Severity.WARNING, service, slot, path,
                     f"{path}: the key file {real} is read by several programs ({names}): give "
                     f"{service.kind.value} its own copy under its own ssl/private directory")


def _msg(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text)
