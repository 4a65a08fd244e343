"""Import of existing certificates, and export in the formats server programs read.

Import reads any format :func:`certmgr.pki.load_bundle` knows, insists that the
key (if any) matches a certificate and that the chain links up in order, and
creates a definition from the certificate; nothing is stored unless all of it
is right. Export returns files as bytes with a flag for secret ones, which the
caller writes 0600 from creation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.errors import InputError, NotFound, PKIError, WrongPassword
from certmgr.issuers.acquisition import chain_for_storage
from certmgr.issuers.base import EXPORT_FORMATS
from certmgr.issuers.definitions import check_name, make_definition
from certmgr.issuers.store import BUILTIN, EXTERNAL, CARepository, ca_certificates
from certmgr.pki import (
    Bundle,
    KeyType,
    PrivateKey,
    certificate_pem,
    certificates_pem,
    combined_pem,
    describe,
    is_ca,
    jks_keystore,
    key_pem,
    key_type_of,
    keys_match,
    load_bundle,
    order_problems,
    pkcs12_keystore,
    signing_key,
)
from certmgr.repository.records import CertificateRecord, DefinitionRecord, IssuerKind

__all__ = ["EXPORT_FORMATS", "ExportFile", "export_files", "import_certificate"]


@dataclass(frozen=True)
class ExportFile:
    """One file to write: its name, bytes, and whether it holds a private key."""

    name: str
    data: bytes
    secret: bool = False


# -- import -------------------------------------------------------------------------

def import_certificate(repo: CARepository, files: Sequence[tuple[bytes, str]], *,
                       key_file: tuple[bytes, str] | None = None, password: str | None = None,
                       name: str | None = None) -> tuple[DefinitionRecord, CertificateRecord]:
    """Take an existing certificate (with its chain and key) under management.

    Args:
        files: (bytes, source) of each file given: certificates, chains, keystores.
        key_file: a separate key file, if any.
        password: opens encrypted keys and keystores.
        name: the definition's name (default: the certificate's CN or first SAN).

    Raises:
        PKIError: no certificate, a key matching none, a chain in the wrong order or
            with a missing link, an encrypted key without password, an invalid name.
        WrongPassword: the password does not open a file.
        InputError: the definition exists already.
    """
    bundles = [load_bundle(data, password, source=src) for data, src in files]
    key_bundle = load_bundle(key_file[0], password, source=key_file[1]) if key_file else None
    for bundle in bundles:
        _check_order(bundle)
    certs = [c for b in bundles for c in b.certificates]
    if not certs:
        raise PKIError(f"{', '.join(s for _, s in files)}: no certificate to import")
    key, key_source = _one_key([*bundles, *([key_bundle] if key_bundle else [])])
    leaf = _pick_leaf(certs, key, key_source, files)
    others = list(dict.fromkeys(c for c in certs if c != leaf))
    try:
        chain = chain_for_storage(leaf, others)
    except PKIError as exc:
        raise PKIError(f"{files[0][1]}: {exc.message}") from None
    definition = _definition_from(leaf, key, name)
    _refuse_existing(repo, definition.name)
    stored = repo.save_definition(definition)
    record = repo.add_certificate(stored.name, certificate_pem(leaf).decode("ascii"),
                                  chain_pem=certificates_pem(chain).decode("ascii"),
                                  key=key, issuer=EXTERNAL)
    return stored, record


def _check_order(bundle: Bundle) -> None:
    if len(bundle.certificates) < 2:
        return
    problems = order_problems(bundle.certificates)
    if problems:
        raise PKIError(f"{bundle.source}: {problems[0].message}", path=bundle.source)


def _one_key(bundles: Sequence[Bundle]) -> tuple[PrivateKey | None, str | None]:
    with_key = [b for b in bundles if b.has_key]
    if len(with_key) > 1:
        raise PKIError(f"private keys in {', '.join(b.source for b in with_key)}: give one key")
    if not with_key:
        return None, None
    bundle = with_key[0]
    if bundle.key is None:
        raise WrongPassword(f"{bundle.source}: the private key is encrypted: give its "
                            "password with --password", path=bundle.source)
    return bundle.key, bundle.source


def _pick_leaf(certs: list[x509.Certificate], key: PrivateKey | None, key_source: str | None,
               files: Sequence[tuple[bytes, str]]) -> x509.Certificate:
    if key is not None:
        leaf = next((c for c in certs if keys_match(c, key)), None)
        if leaf is None:
            raise PKIError(f"{key_source}: the private key matches no certificate in "
                           f"{', '.join(s for _, s in files)}", path=key_source)
        return leaf
    leaves = [c for c in certs if not is_ca(c)]
    issuers = {c.issuer for c in certs if c.subject != c.issuer}
    candidates = [c for c in leaves if c.subject not in issuers] or leaves
    if not candidates:
        raise PKIError(f"{files[0][1]}: only CA certificates in it; import a server certificate")
    return candidates[0]


def _definition_from(leaf: x509.Certificate, key: PrivateKey | None,
                     name: str | None) -> DefinitionRecord:
    info = describe(leaf)
    names = [*info.dns_names, *info.ip_addresses]
    cn = info.common_name if info.common_name and (not names or info.common_name in names) \
        else (names[0] if names else info.common_name)
    if not cn:
        raise PKIError(f"certificate {info.subject!r} names no host: nothing to define")
    key_type = key_type_of(key if key is not None else leaf.public_key())
    validity = max(info.not_after - info.not_before, dt.timedelta(days=1))
    renew = min(dt.timedelta(days=30), validity / 3)
    data = {"imported": {"subject": info.subject, "issuer": info.issuer, "serial": info.serial,
                         "key": info.key}}
    return make_definition(check_name(name or cn.replace("*", "wildcard")), cn, names,
                           key=(key_type or _closest(leaf)).value, validity=validity,
                           renew_before=renew, issuer=EXTERNAL, data=data)


def _closest(leaf: x509.Certificate) -> KeyType:
    # A key type certmgr does not issue (RSA 1024...): renewals use the nearest one it does.
    return KeyType.RSA2048 if "RSA" in describe(leaf).key else KeyType.EC256


def _refuse_existing(repo: CARepository, name: str) -> None:
    try:
        repo.get_definition(name)
    except NotFound:
        return
    raise InputError(f"definition {name!r} exists already: choose another with --name")


# -- export -------------------------------------------------------------------------

def export_files(repo: CARepository, name: str, fmt: str, *, password: str | None = None,
                 alias: str | None = None) -> list[ExportFile]:
    """The files of ``name``'s current certificate in format ``fmt``.

    ``pem``: NAME.crt, NAME-chain.crt, NAME.key (and NAME-ca.crt, the root, when
    certmgr's CA issued it); ``fullchain``: NAME-fullchain.crt, NAME.key;
    ``combined``: NAME.pem (cert, chain, key: haproxy); ``p12``/``jks``: a keystore
    with one entry ``alias`` (default: NAME) protected by ``password``.

    Raises:
        InputError: unknown format, no password for a keystore.
        NotFound: no such definition or no certificate issued yet.
        PKIError: no private key stored for a format that needs one.
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if fmt in ("p12", "jks") and not password:
        raise InputError(f"a {fmt} keystore needs a password: give --password")
    record = repo.current_certificate(name)
    if record is None:
        repo.get_definition(name)  # NotFound if the definition itself is missing
        raise NotFound(f"definition {name!r} has no certificate yet: run `certmgr issue {name}`")
    cert, chain = _record_certs(record)
    key = _record_key(repo, record, fmt)
    return _render(name, fmt, cert, chain, key, _root_of(repo, record), password or "",
                   alias or name)


def _record_certs(record: CertificateRecord) -> tuple[x509.Certificate, list[x509.Certificate]]:
    cert = load_bundle(record.cert_pem.encode(), source=f"{record.definition} v{record.version}")
    chain = load_bundle(record.chain_pem.encode(), source=f"{record.definition} chain") \
        .certificates if record.chain_pem.strip() else ()
    return cert.certificates[0], list(chain)


def _record_key(repo: CARepository, record: CertificateRecord, fmt: str) -> PrivateKey | None:
    if record.key_ref is None:
        if fmt != "pem" and fmt != "fullchain":
            raise PKIError(f"{record.definition}: no private key is stored for it, so it "
                           f"cannot be exported as {fmt}")
        return None
    der = repo.load_private_key(record.key_ref, reason=f"export {record.definition} as {fmt}")
    try:
        key = serialization.load_der_private_key(der, None)
    except (ValueError, TypeError):
        key_found = load_bundle(der, source=f"stored key of {record.definition}").key
        if key_found is None:
            raise PKIError(f"the stored key of {record.definition} is unreadable") from None
        return key_found
    return signing_key(key, f"stored key of {record.definition}")


def _root_of(repo: CARepository, record: CertificateRecord) -> x509.Certificate | None:
    try:
        issuer = repo.get_issuer(record.issuer or BUILTIN)
    except NotFound:
        return None
    if issuer.kind is not IssuerKind.BUILTIN:
        return None
    return ca_certificates(issuer)[1]


def _render(name: str, fmt: str, cert: x509.Certificate, chain: list[x509.Certificate],
            key: PrivateKey | None, root: x509.Certificate | None, password: str,
            alias: str) -> list[ExportFile]:
    files: list[ExportFile] = []
    if fmt == "pem":
        files.append(ExportFile(f"{name}.crt", certificate_pem(cert)))
        if chain:
            files.append(ExportFile(f"{name}-chain.crt", certificates_pem(chain)))
        if root is not None:
            files.append(ExportFile(f"{name}-ca.crt", certificate_pem(root)))
    elif fmt == "fullchain":
        files.append(ExportFile(f"{name}-fullchain.crt", certificates_pem([cert, *chain])))
    elif key is not None and fmt == "combined":
        files.append(ExportFile(f"{name}.pem", combined_pem(cert, chain, key), secret=True))
    elif key is not None and fmt == "p12":
        files.append(ExportFile(f"{name}.p12", pkcs12_keystore(
            cert, chain, key, alias=alias, password=password), secret=True))
    elif key is not None:
        files.append(ExportFile(f"{name}.jks", jks_keystore(
            cert, chain, key, alias=alias, password=password), secret=True))
    if key is not None and fmt in ("pem", "fullchain"):
        files.append(ExportFile(f"{name}.key", key_pem(key), secret=True))
    return files
