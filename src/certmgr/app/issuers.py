"""Issuers as records: add an ACME issuer (account made and registered), list, show, remove.

Inputs are checked here, before anything is written or sent; the faces print.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from certmgr.errors import InputError, NotFound
from certmgr.inputs import printable
from certmgr.repository.records import IssuerKind, IssuerRecord

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = [
    "REASONS",
    "IssuerView",
    "add_acme",
    "check_url",
    "edit_acme",
    "issuer_setting",
    "issuer_view",
    "issuer_views",
    "remove",
    "revoke",
    "show",
]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,127}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_KID = re.compile(r"[\x21-\x7e]{1,256}")
_PROFILE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ROOT_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_HMAC = re.compile(r"[A-Za-z0-9_=+/-]{16,512}")
RESERVED = {"builtin", "external"}


def check_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if (len(value) > 2048 or parts.scheme not in ("https", "http") or not parts.hostname
            or any(c.isspace() for c in value)):
        raise InputError(f"{what} {value!r} is not an http(s) URL: give the CA's directory URL "
                         "(https://.../directory)")
    return value


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name:
        raise InputError(f"issuer name {name!r}: use 1-128 letters, digits and . _ @ + - "
                         "(not starting with . or -)")
    if name in RESERVED:
        raise InputError(f"issuer name {name!r} is reserved; choose another")
    return name


def check_profile_name(value: str, what: str = "--profile") -> str:
    if not _PROFILE.fullmatch(value):
        raise InputError(f"{what} {value!r}: a profile name is 1-64 letters, digits, . _ -")
    return value


def add_acme(repo: Repository, name: str, directory: str, *, contacts: Sequence[str] = (),
             agree_tos: bool = False, eab_kid: str | None = None,
             eab_hmac_key_file: Path | None = None, profile: str | None = None,
             ca_bundle: Path | None = None, staging_directory: str | None = None,
             ari: bool = True, preferred_chain: str | None = None,
             roots: Sequence[Path] = (), eab_hmac_key: str | None = None) -> IssuerView:
    """Register an ACME account and store it as issuer ``name``.

    ``eab_hmac_key``: the EAB HMAC key itself (the console's form) instead of its file.

    ``roots``: files of the CA's root certificate(s) (PEM, self-signed, CA:TRUE), kept
    in the issuer record: deploy trusts them for the issuer's chains instead of the
    system store (a private or test CA such as pebble).

    Raises:
        InputError: a value is invalid, the issuer exists, terms not agreed, unknown profile.
        IssuanceError: the CA refused or is unreachable (nothing is stored).
    """
    _check_name(name)
    check_url(directory, "--acme")
    if staging_directory is not None:
        check_url(staging_directory, "--staging-directory")
    for contact in contacts:
        if not _EMAIL.fullmatch(contact):
            raise InputError(f"--contact {contact!r} is not an e-mail address")
    if profile is not None:
        check_profile_name(profile)
    if preferred_chain is not None and not _ROOT_NAME.fullmatch(preferred_chain):
        raise InputError(f"--preferred-chain {preferred_chain!r}: give a root's common name "
                         "(1-200 printable characters)")
    if eab_hmac_key_file is not None and eab_hmac_key is not None:
        raise InputError("give the EAB HMAC key once: as a file or as a value, not both")
    if (eab_kid is None) != (eab_hmac_key_file is None and eab_hmac_key is None):
        raise InputError("--eab-kid and --eab-hmac-key-file go together: give both")
    eab = None
    if eab_kid is not None:
        if not _KID.fullmatch(eab_kid):
            raise InputError(f"--eab-kid {eab_kid!r}: 1-256 printable characters, no spaces")
        if eab_hmac_key is not None:
            if not _HMAC.fullmatch(eab_hmac_key):
                raise InputError("the EAB HMAC key is not a base64url key (the CA's EAB HMAC "
                                 "key, 16-512 characters)")
            eab = (eab_kid, eab_hmac_key)
        elif eab_hmac_key_file is not None:
            eab = (eab_kid, _read_hmac(eab_hmac_key_file))
    roots_pem = read_roots(roots)
    bundle = None
    if ca_bundle is not None:
        bundle = str(ca_bundle.resolve())
        if not ca_bundle.is_file():
            raise InputError(f"--ca-bundle {ca_bundle}: no such file")
    try:
        repo.get_issuer(name)
        raise InputError(f"issuer {name!r} exists already (remove it first: "
                         f"`certmgr issuer remove {name}`)")
    except NotFound:
        pass
    from certmgr.issuers.acme import create_issuer

    record, info = create_issuer(repo, name, directory, contacts=contacts,
                                 agree_tos=agree_tos, eab=eab, profile=profile,
                                 ca_bundle=bundle, staging_directory=staging_directory, ari=ari,
                                 preferred_chain=preferred_chain, roots_pem=roots_pem)
    return issuer_view(record, profiles=info.profiles)


def edit_acme(repo: Repository, name: str, *, profile: str | None = None,
              staging_directory: str | None = None, ari: bool | None = None,
              preferred_chain: str | None = None, ca_bundle: str | None = None) -> IssuerView:
    """Change the local settings of ACME issuer ``name`` (None: unchanged; "": cleared),
    with ``add``'s checks. The account (its key, contacts, terms agreed) stays as it was
    registered; the profile is checked against the CA's directory at the next issue.

    Raises:
        NotFound: no such issuer. InputError: not an ACME issuer, or a value is invalid.
    """
    record = repo.get_issuer(name)
    if record.kind is not IssuerKind.ACME:
        raise InputError(f"issuer {name} is the {record.kind.value} issuer: only an ACME "
                         "issuer's settings can be changed")
    config = dict(record.config)
    if profile is not None:
        config["profile"] = check_profile_name(profile) if profile else None
    if staging_directory is not None:
        config["staging_directory"] = (check_url(staging_directory, "--staging-directory")
                                       if staging_directory else None)
    if preferred_chain is not None:
        if preferred_chain and not _ROOT_NAME.fullmatch(preferred_chain):
            raise InputError(f"--preferred-chain {preferred_chain!r}: give a root's common "
                             "name (1-200 printable characters)")
        config["preferred_chain"] = preferred_chain or None
    if ca_bundle is not None:
        if ca_bundle and not Path(ca_bundle).is_file():
            raise InputError(f"--ca-bundle {printable(ca_bundle)}: no such file")
        config["ca_bundle"] = str(Path(ca_bundle).resolve()) if ca_bundle else None
    if ari is not None:
        config["ari"] = ari
    saved = repo.save_issuer(name, record.kind, config=config,
                             certificates_pem=record.certificates_pem)
    return issuer_view(saved)


def read_roots(paths: Sequence[Path]) -> str:
    """The root certificates in ``paths`` as one PEM text (each root once, in order).

    Raises:
        InputError: a file is not a regular file, holds no PEM certificate, or one of
            its certificates is not a self-signed CA certificate (CA:TRUE).
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization

    from certmgr.inputs import read_user_file

    found: dict[bytes, str] = {}
    for path in paths:
        label = f"--root-cert {printable(str(path))}"
        try:
            certs = x509.load_pem_x509_certificates(read_user_file(path, name=label))
        except ValueError:
            raise InputError(f"{label}: no PEM certificate in it; give the CA's root "
                             "certificate (-----BEGIN CERTIFICATE-----)") from None
        for cert in certs:
            subject = printable(cert.subject.rfc4514_string()) or "(empty subject)"
            try:
                ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                ca = False
            if not ca:
                raise InputError(f"{label}: {subject} is not a CA certificate (no CA:TRUE); "
                                 "give the CA's root")
            try:
                cert.verify_directly_issued_by(cert)
            except (ValueError, TypeError, InvalidSignature):
                raise InputError(f"{label}: {subject} is not self-signed (an intermediate?); "
                                 "give the root its chain ends at") from None
            found.setdefault(cert.fingerprint(hashes.SHA256()),
                             cert.public_bytes(serialization.Encoding.PEM).decode())
    return "".join(found.values())


def _read_hmac(path: Path) -> str:
    try:
        if path.stat().st_size > 4096:
            raise InputError(f"--eab-hmac-key-file {path}: larger than 4 KiB; give the key file")
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--eab-hmac-key-file {path}: cannot read: {exc}") from None
    if not _HMAC.fullmatch(text):
        raise InputError(f"--eab-hmac-key-file {path}: not a base64url HMAC key "
                         "(the CA's EAB HMAC key, 16-512 characters)")
    return text


@dataclass(frozen=True)
class IssuerView:
    """What ``issuer list|show`` prints (never a key)."""

    name: str
    kind: str
    config: dict[str, Any]
    profiles: dict[str, str] | None = None
    roots: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        keep = ("directory", "account_url", "contacts", "tos_agreed", "tos_url",
                "tos_agreed_at", "profile", "ca_bundle", "staging_directory", "ari", "eab_kid",
                "preferred_chain")
        out.update({k: self.config.get(k) for k in keep} if self.kind == "acme" else {})
        if self.kind == "acme":
            out["roots"] = list(self.roots)
        if self.profiles is not None:
            out["profiles"] = self.profiles
        return out


def issuer_view(record: IssuerRecord, profiles: dict[str, str] | None = None) -> IssuerView:
    roots: tuple[str, ...] = ()
    if record.kind is IssuerKind.ACME and record.certificates_pem.strip():
        roots = _describe(record.certificates_pem)
    return IssuerView(record.name, record.kind.value, dict(record.config), profiles, roots)


def _describe(pem: str) -> tuple[str, ...]:
    """``SUBJECT sha256:FINGERPRINT`` per stored root."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return tuple(f"{printable(c.subject.rfc4514_string())} "
                 f"sha256:{c.fingerprint(hashes.SHA256()).hex()}"
                 for c in x509.load_pem_x509_certificates(pem.encode()))


def issuer_views(repo: Repository) -> tuple[IssuerView, ...]:
    return tuple(issuer_view(r) for r in repo.list_issuers())


def issuer_setting(record: IssuerRecord) -> dict[str, Any]:
    """An issuer as the console's settings show it: ``issuer show`` without going
    online, its certificates described, and each stored key (root, intermediate, ACME
    account) named with ``stored``: never a key, an HMAC or a secret."""
    view = issuer_view(record).to_json()
    if record.kind is IssuerKind.BUILTIN and record.certificates_pem.strip():
        view["certificates"] = list(_describe(record.certificates_pem))
    view["keys"] = {role: "stored" for role in sorted(record.keys)}
    return view


def show(repo: Repository, name: str, *, online: bool = True) -> IssuerView:
    """One issuer; for an ACME issuer also the profiles its directory offers now."""
    record = repo.get_issuer(name)
    if record.kind is not IssuerKind.ACME or not online:
        return issuer_view(record)
    from cryptography.hazmat.primitives.asymmetric import ec

    from certmgr.issuers.acme_client import AcmeConnection, account_jwk

    # The directory is public: a throwaway key reads it, the account key stays closed.
    conn = AcmeConnection(record.config["directory"], account_jwk(
        ec.generate_private_key(ec.SECP256R1())), ca_bundle=record.config.get("ca_bundle"),
        name=f"issuer {name}")
    return issuer_view(record, profiles=conn.directory().profiles)


def remove(repo: Repository, name: str) -> None:
    """Remove an issuer and its account key; refused while a definition names it."""
    repo.get_issuer(name)
    users = [d.name for d in repo.list_definitions()
             if d.issuer == name or name in ((d.data.get("acme") or {}).get("issuers") or ())]
    if users:
        raise InputError(f"issuer {name} is used by definition(s) {', '.join(users[:5])}: "
                         "change them first (`certmgr definitions edit NAME --issuer ...`)")
    repo.delete_issuer(name)


#: RFC 5280 reason codes an ACME CA accepts (RFC 8555 7.6).
REASONS = {"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3, "superseded": 4,
           "cessationOfOperation": 5}


def revoke(repo: Repository, name: str, reason: str = "unspecified") -> dict[str, Any]:
    """Revoke the current certificate of ACME definition ``name`` at its CA and mark it
    revoked. ``keyCompromise`` signs with the certificate's own key (audited read), any
    other reason with the account.

    Raises:
        InputError: unknown reason, no certificate, or not issued by an ACME issuer.
        IssuanceError: the CA refused (its problem document in one line).
    """
    if reason not in REASONS:
        raise InputError(f"--reason {reason!r}: use one of {', '.join(REASONS)}")
    repo.get_definition(name)
    cert = repo.current_certificate(name)
    if cert is None:
        raise InputError(f"definition {name} has no certificate to revoke")
    record = repo.get_issuer(cert.issuer) if cert.issuer else None
    if record is None or record.kind is not IssuerKind.ACME:
        raise InputError(f"the certificate of {name} is from issuer {cert.issuer}, not an ACME "
                         "issuer (the built-in CA revokes with `certmgr ca revoke SERIAL`)")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from certmgr.issuers.acme import connect

    leaf = x509.load_pem_x509_certificate(cert.cert_pem.encode())
    conn = connect(repo, record, reason=f"revoke {name}")
    if reason == "keyCompromise" and cert.key_ref:
        key = serialization.load_der_private_key(
            repo.load_private_key(cert.key_ref, reason=f"revoke {name} (keyCompromise)"), None)
        conn.revoke_with_key(leaf, REASONS[reason], key)
        how = "certificate key"
    else:
        conn.revoke(leaf, REASONS[reason])
        how = "account"
    repo.revoke_certificate(name, cert.version, reason=reason)
    return {"definition": name, "version": cert.version, "serial": cert.serial,
            "issuer": record.name, "reason": reason, "signed_by": how}
