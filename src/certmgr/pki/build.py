"""Making CSRs, certificates and CRLs that strict RFC 5280 verifiers accept.

Server certificates always carry a subjectAltName (never CN-only), the
serverAuth extended key usage, a key usage fitting the key type,
basicConstraints CA:FALSE, and subject/authority key identifiers. CA
certificates carry keyCertSign and cRLSign with a path length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.errors import PKIError
from certmgr.pki.keys import PrivateKey
from certmgr.pki.names import normalize_san, parse_ip, san_entries

__all__ = [
    "Revoked",
    "build_crl",
    "build_csr",
    "issue_ca",
    "issue_server",
    "self_signed_root",
    "signature_hash",
    "subject_name",
]

# Leaves start a little in the past so a server whose clock runs behind accepts them.
_BACKDATE = dt.timedelta(minutes=5)


def signature_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    """The digest to sign with ``key``: None for EdDSA, SHA-384 for P-384 and up."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def subject_name(common_name: str | None, organization: str | None = None) -> x509.Name:
    """A subject with an optional O and a CN (CN omitted when None or longer than 64)."""
    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name and len(common_name) <= 64:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def build_csr(key: PrivateKey, names: Sequence[str],
              common_name: str | None = None) -> x509.CertificateSigningRequest:
    """A CSR for ``names`` (DNS names and IPs, validated) signed by ``key``.

    Raises:
        PKIError: no names, or a name that is not a valid DNS name or IP.
    """
    if not names:
        raise PKIError("a certificate request needs at least one DNS name or IP address")
    entries = san_entries(list(names))
    cn = common_name or _default_cn(names)
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(subject_name(cn))
               .add_extension(x509.SubjectAlternativeName(entries), critical=cn is None))
    return builder.sign(key, signature_hash(key))  # type: ignore[arg-type]


def _default_cn(names: Sequence[str]) -> str | None:
    first = normalize_san(names[0])
    return first if parse_ip(first) is None else None


def _validity_window(validity: dt.timedelta, issuer: x509.Certificate | None,
                     now: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    start = (now or dt.datetime.now(dt.UTC)) - _BACKDATE
    end = start + _BACKDATE + validity
    if issuer is not None:
        end = min(end, issuer.not_valid_after_utc)
    if end <= start:
        raise PKIError("the issuing CA has expired: renew the CA before issuing")
    return start, end


def _key_usage(public: CertificatePublicKeyTypes, *, ca: bool) -> x509.KeyUsage:
    rsa_key = isinstance(public, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key and not ca,  # RSA key exchange (TLS 1.2 RSA suites)
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _aki(issuer_cert: x509.Certificate | None,
         issuer_key: PrivateKey) -> x509.AuthorityKeyIdentifier:
    if issuer_cert is not None:
        try:
            ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)
        except x509.ExtensionNotFound:
            pass
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())


def self_signed_root(key: PrivateKey, subject: x509.Name, validity: dt.timedelta, *,
                     path_length: int | None = 1,
                     now: dt.datetime | None = None) -> x509.Certificate:
    """A self-signed root CA certificate."""
    start, end = _validity_window(validity, None, now)
    public = key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(subject)
               .public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
               .add_extension(_key_usage(public, ca=True), True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False))
    return builder.sign(key, signature_hash(key))  # type: ignore[arg-type]


def issue_ca(issuer_cert: x509.Certificate, issuer_key: PrivateKey,
             public: CertificatePublicKeyTypes, subject: x509.Name, validity: dt.timedelta, *,
             path_length: int | None = 0, now: dt.datetime | None = None) -> x509.Certificate:
    """An intermediate CA certificate for ``public``, signed by the issuer."""
    start, end = _validity_window(validity, issuer_cert, now)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer_cert.subject)
               .public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
               .add_extension(_key_usage(public, ca=True), True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
               .add_extension(_aki(issuer_cert, issuer_key), False))
    return builder.sign(issuer_key, signature_hash(issuer_key))  # type: ignore[arg-type]


def issue_server(issuer_cert: x509.Certificate, issuer_key: PrivateKey,
                 public: CertificatePublicKeyTypes, names: Sequence[str],
                 validity: dt.timedelta, *, common_name: str | None = None,
                 serial: int | None = None, crl_url: str | None = None,
                 now: dt.datetime | None = None) -> x509.Certificate:
    """A TLS server certificate for ``public`` covering ``names``.

    Raises:
        PKIError: no names, an invalid name, or the issuer has expired.
    """
    if not names:
        raise PKIError("a server certificate needs at least one DNS name or IP address")
    entries = san_entries(list(names))
    start, end = _validity_window(validity, issuer_cert, now)
    cn = common_name or _default_cn(names)
    subject = subject_name(cn)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer_cert.subject)
               .public_key(public)
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               # SAN is critical when the subject is empty (RFC 5280 4.2.1.6)
               .add_extension(x509.SubjectAlternativeName(entries), critical=len(subject) == 0)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
               .add_extension(_key_usage(public, ca=False), True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
               .add_extension(_aki(issuer_cert, issuer_key), False))
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), False)
    return builder.sign(issuer_key, signature_hash(issuer_key))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Revoked:
    """A revoked serial and when it was revoked."""

    serial: int
    revoked_at: dt.datetime


def build_crl(issuer_cert: x509.Certificate, issuer_key: PrivateKey,
              revoked: Sequence[Revoked], *, number: int,
              next_update: dt.timedelta = dt.timedelta(days=7),
              now: dt.datetime | None = None) -> x509.CertificateRevocationList:
    """A CRL of ``revoked`` signed by the issuer, with CRL number and AKI."""
    now = now or dt.datetime.now(dt.UTC)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_cert.subject)
               .last_update(now - _BACKDATE)
               .next_update(now + next_update)
               .add_extension(x509.CRLNumber(number), False)
               .add_extension(_aki(issuer_cert, issuer_key), False))
    for item in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(item.serial).revocation_date(item.revoked_at).build())
    return builder.sign(issuer_key, signature_hash(issuer_key))  # type: ignore[arg-type]
