"""Loading certificates and keys from whatever a server program or a CA hands over.

One entry point, :func:`load_bundle`, reads PEM (any mix of blocks, in any
order, with text around them), DER certificates and keys, PKCS#1, SEC1 and
PKCS#8 keys (encrypted too), PKCS#7, PKCS#12 and JKS/JCEKS keystores, and
returns a :class:`Bundle`. Without a password an encrypted key is reported
(``key_encrypted``), not treated as corrupt. Every failure is a
:class:`~certmgr.errors.PKIError` (or :class:`~certmgr.errors.WrongPassword`)
whose message names the source.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from certmgr.errors import InputError, PKIError, WrongPassword
from certmgr.inputs import read_user_file
from certmgr.pki.keys import PrivateKey, keys_match, signing_key

__all__ = ["Bundle", "load_bundle", "load_csr", "load_file"]

Password = str | bytes | None

# Parsers of untrusted bytes fail in many ways (ValueError, TypeError, struct and
# ASN.1 errors from pyjks...): any of them means "this is not valid data".
_PARSE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, IndexError, KeyError,
                 UnicodeError, OverflowError, AttributeError)

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 #]{1,64})-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY",
               b"ENCRYPTED PRIVATE KEY"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_JKS_MAGIC = (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce")


@dataclass(frozen=True)
class Bundle:
    """What one file (or byte string) holds.

    ``certificates`` are in the order they appear; ``key`` is the private key
    if there is one and it could be read; ``key_encrypted`` is True when the
    source holds a private key that needs a password that was not given
    (``key`` is then None). ``format`` names what was read (``pem``, ``der``,
    ``pkcs12``, ``jks``...); ``alias`` is the keystore alias of the key entry.
    """

    source: str
    format: str
    certificates: tuple[x509.Certificate, ...] = ()
    key: PrivateKey | None = None
    key_encrypted: bool = False
    csr: x509.CertificateSigningRequest | None = None
    alias: str | None = None
    ignored: tuple[str, ...] = field(default=())

    @property
    def has_key(self) -> bool:
        """True if the source holds a private key (readable or not)."""
        return self.key is not None or self.key_encrypted

    @property
    def leaf(self) -> x509.Certificate | None:
        """The end-entity certificate: the one matching the key, else the one no other
        certificate here was issued by, else the first."""
        if not self.certificates:
            return None
        if self.key is not None:
            for cert in self.certificates:
                if keys_match(cert, self.key):
                    return cert
        issuers = {c.issuer for c in self.certificates if c.issuer != c.subject}
        for cert in self.certificates:
            if cert.subject not in issuers:
                return cert
        return self.certificates[0]


def load_file(path: str | Path, password: Password = None, *,
              alias: str | None = None) -> Bundle:
    """Read and load one file (see :func:`load_bundle`).

    Raises:
        PKIError: the file cannot be read or holds nothing certmgr can use.
        WrongPassword: the password does not open it.
    """
    try:
        data = read_user_file(path)
    except InputError as exc:  # missing, a FIFO or device, too large...
        raise PKIError(exc.message, path=path) from None
    return load_bundle(data, password, source=str(path), alias=alias)


def load_bundle(data: bytes, password: Password = None, *, source: str = "<data>",
                alias: str | None = None) -> Bundle:
    """Parse ``data`` in any supported format into a :class:`Bundle`.

    Args:
        data: the bytes of a file.
        password: passphrase for an encrypted key or keystore; str is UTF-8.
        source: how the data is named in messages (usually the path).
        alias: for keystores, the alias of the key entry to take (default: the only one).

    Raises:
        PKIError: the data is empty, truncated, corrupt or of an unknown format.
        WrongPassword: ``password`` does not open the key or keystore.
    """
    pw = password.encode("utf-8") if isinstance(password, str) else password
    if not data.strip():
        raise PKIError(f"{source}: the file is empty", path=source)
    if data[:4] in _JKS_MAGIC:
        return _load_jks(data, pw, source, alias)
    if b"-----BEGIN " in data:
        return _load_pem(data, pw, source)
    return _load_der(data, pw, source)


def load_csr(data: bytes, *, source: str = "<data>") -> x509.CertificateSigningRequest:
    """A CSR in PEM or DER, with its signature checked.

    Raises:
        PKIError: the data is not a CSR or its signature does not verify.
    """
    bundle = load_bundle(data, source=source)
    if bundle.csr is None:
        raise PKIError(f"{source}: no certificate request (CSR) found", path=source)
    try:
        valid = bundle.csr.is_signature_valid
    except _PARSE_ERRORS:
        valid = False
    if not valid:
        raise PKIError(f"{source}: the CSR's signature does not verify", path=source)
    return bundle.csr


# -- PEM ------------------------------------------------------------------------

@dataclass
class _Parts:
    certs: list[x509.Certificate] = field(default_factory=list)
    keys: list[PrivateKey] = field(default_factory=list)
    encrypted: int = 0
    csr: x509.CertificateSigningRequest | None = None
    ignored: list[str] = field(default_factory=list)


def _load_pem(data: bytes, pw: bytes | None, source: str) -> Bundle:
    parts = _Parts()
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise PKIError(f"{source}: a PEM block is started but never ended (truncated file?)",
                       path=source)
    for number, match in enumerate(blocks, 1):
        _pem_block(parts, match.group(1), match.group(0), pw, f"{source} (PEM block {number})")
    if len(parts.keys) + parts.encrypted > 1:
        raise PKIError(f"{source}: holds {len(parts.keys) + parts.encrypted} private keys; "
                       "give one key per file", path=source)
    if not parts.certs and not parts.keys and not parts.encrypted and parts.csr is None:
        kinds = ", ".join(parts.ignored)
        raise PKIError(f"{source}: no certificate or private key in it (found {kinds})",
                       path=source)
    return Bundle(source, "pem", tuple(parts.certs), parts.keys[0] if parts.keys else None,
                  parts.encrypted > 0, parts.csr, None, tuple(parts.ignored))


def _pem_block(parts: _Parts, label: bytes, block: bytes, pw: bytes | None, where: str) -> None:
    try:
        if label in _CERT_LABELS:
            parts.certs.append(_pem_certificate(label, block))
        elif label in _KEY_LABELS:
            _pem_key(parts, label, block, pw, where)
        elif label in _CSR_LABELS:
            parts.csr = x509.load_pem_x509_csr(block.replace(b"NEW CERTIFICATE", b"CERTIFICATE"))
        elif label == b"PKCS7":
            parts.certs.extend(_pkcs7().load_pem_pkcs7_certificates(block))
        else:
            parts.ignored.append(label.decode("ascii"))
    except PKIError:
        raise
    except _PARSE_ERRORS as exc:
        kind = label.decode("ascii").lower()
        raise PKIError(f"{where}: the {kind} is corrupt or truncated ({_short(exc)})",
                       path=where) from None


def _pem_certificate(label: bytes, block: bytes) -> x509.Certificate:
    if label == b"CERTIFICATE":
        return x509.load_pem_x509_certificate(block)
    der = _pem_body(block)
    if label == b"TRUSTED CERTIFICATE":
        der = _first_der_element(der)  # OpenSSL appends its trust settings after the cert
    return x509.load_der_x509_certificate(der)


def _pem_key(parts: _Parts, label: bytes, block: bytes, pw: bytes | None, where: str) -> None:
    encrypted = label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block
    if encrypted and pw is None:
        parts.encrypted += 1
        return
    if not encrypted:
        pw = None  # a password given for an unencrypted key is not an error
    parts.keys.append(_private_key(lambda p: serialization.load_pem_private_key(block, p),
                                   pw, where))


def _private_key(loader: Callable[[bytes | None], PrivateKeyTypes], pw: bytes | None,
                 where: str) -> PrivateKey:
    try:
        key = loader(pw)
    except ValueError:
        if pw is not None:
            # A wrong password usually fails the padding check, but sometimes decrypts
            # to garbage that then fails to parse: either way the password is wrong.
            raise WrongPassword(f"{where}: the password does not decrypt the private key "
                                "(or the key is corrupt)", path=where) from None
        raise
    return signing_key(key, where)


def _pem_body(block: bytes) -> bytes:
    lines = block.splitlines()[1:-1]
    body = b"".join(line for line in lines if b":" not in line)
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64: {exc}") from None


def _first_der_element(der: bytes) -> bytes:
    """The first DER TLV of ``der`` (which may be followed by other data)."""
    if len(der) < 2 or der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    length = der[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            raise ValueError("bad DER length")
        length = int.from_bytes(der[2:2 + count], "big")
        offset += count
    if offset + length > len(der):
        raise ValueError("DER data is truncated")
    return der[:offset + length]


# -- DER, PKCS#12 ---------------------------------------------------------------------

def _load_der(data: bytes, pw: bytes | None, source: str) -> Bundle:
    try:
        element = _first_der_element(data)
    except ValueError:
        raise PKIError(f"{source}: not a certificate, key or keystore in any known format "
                       "(PEM, DER, PKCS#12, JKS)", path=source) from None
    if element != data and len(data) - len(element) > 2:
        raise PKIError(f"{source}: unexpected data after the DER object", path=source)
    if _is_pkcs12(element):
        return _load_pkcs12(element, pw, source)
    bundle = _try_der_forms(element, pw, source)
    if bundle is None:
        raise PKIError(f"{source}: DER data that is neither a certificate, a private key, "
                       "a CSR nor a keystore (corrupt or truncated?)", path=source)
    return bundle


def _try_der_forms(der: bytes, pw: bytes | None, source: str) -> Bundle | None:
    try:
        return Bundle(source, "der", (x509.load_der_x509_certificate(der),))
    except _PARSE_ERRORS:
        pass
    try:
        key = serialization.load_der_private_key(der, None)
        return Bundle(source, "der", (), signing_key(key, source))
    except TypeError:  # "password was not given but private key is encrypted"
        if pw is None:
            return Bundle(source, "der", (), None, True)
        key = _private_key(lambda p: serialization.load_der_private_key(der, p), pw, source)
        return Bundle(source, "der", (), key)
    except _PARSE_ERRORS:
        pass
    try:
        return Bundle(source, "der", csr=x509.load_der_x509_csr(der))
    except _PARSE_ERRORS:
        pass
    try:
        return Bundle(source, "pkcs7", tuple(_pkcs7().load_der_pkcs7_certificates(der)))
    except _PARSE_ERRORS:
        return None


def _pkcs7() -> Any:
    # Imported when first needed: cryptography's pkcs7 module loads the email package
    # (about 20 ms), which every command that reads a certificate would pay for.
    from cryptography.hazmat.primitives.serialization import pkcs7

    return pkcs7


_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")


def _is_pkcs12(der: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo(data) ... }
    head = der[:32]
    return b"\x02\x01\x03\x30" in head[:12] and _PKCS7_DATA_OID in head


def _load_pkcs12(der: bytes, pw: bytes | None, source: str) -> Bundle:
    # A password given for a file that has none is not an error (many tools write b"").
    attempts = [pw, None, b""] if pw is not None else [None, b""]
    for attempt in attempts:
        try:
            p12 = pkcs12.load_pkcs12(der, attempt)
        except _PARSE_ERRORS:
            continue
        certs: list[x509.Certificate] = []
        alias = None
        if p12.cert is not None:
            certs.append(p12.cert.certificate)
            alias = p12.cert.friendly_name.decode("utf-8", "replace") \
                if p12.cert.friendly_name else None
        certs.extend(c.certificate for c in p12.additional_certs)
        key = signing_key(p12.key, source) if p12.key is not None else None
        return Bundle(source, "pkcs12", tuple(certs), key, False, None, alias)
    if pw is None:
        raise WrongPassword(f"{source}: the PKCS#12 file is password-protected: "
                            "give its password", path=source)
    raise WrongPassword(f"{source}: the password does not open the PKCS#12 file "
                        "(or the file is corrupt)", path=source)


# -- JKS ------------------------------------------------------------------------------

def _load_jks(data: bytes, pw: bytes | None, source: str, alias: str | None) -> Bundle:
    import jks

    text_pw = pw.decode("utf-8", "replace") if pw is not None else None
    try:
        # Without a password pyjks skips the integrity check and leaves keys encrypted.
        store = jks.KeyStore.loads(data, text_pw, try_decrypt_keys=text_pw is not None)
    except jks.util.KeystoreSignatureException:
        raise WrongPassword(f"{source}: the password does not open the keystore",
                            path=source) from None
    except Exception as exc:  # noqa: BLE001 - pyjks fails on bad data with struct, ASN.1 and its own errors
        raise PKIError(f"{source}: the keystore is corrupt or truncated ({_short(exc)})",
                       path=source) from None
    kind = store.store_type
    entries = store.private_keys
    if alias is not None and alias not in entries and alias not in store.certs:
        raise PKIError(f"{source}: no entry with alias {alias!r} "
                       f"(aliases: {', '.join(sorted(store.entries)) or 'none'})", path=source)
    if entries:
        return _jks_key_entry(store, entries, alias, pw, source, kind)
    certs = [x509.load_der_x509_certificate(e.cert) for name, e in sorted(store.certs.items())
             if alias is None or name == alias]
    return Bundle(source, kind, tuple(certs), alias=alias)


def _jks_key_entry(store: object, entries: dict[str, object], alias: str | None,
                   pw: bytes | None, source: str, kind: str) -> Bundle:
    if alias is None:
        if len(entries) > 1:
            raise PKIError(f"{source}: the keystore has {len(entries)} keys "
                           f"({', '.join(sorted(entries))}): name the alias", path=source)
        alias = next(iter(entries))
    entry = entries[alias]
    try:
        certs = tuple(x509.load_der_x509_certificate(der)
                      for _, der in entry.cert_chain)  # type: ignore[attr-defined]
    except _PARSE_ERRORS as exc:
        raise PKIError(f"{source}: a certificate of entry {alias!r} is corrupt ({_short(exc)})",
                       path=source) from None
    if not entry.is_decrypted():  # type: ignore[attr-defined]
        if pw is None:
            return Bundle(source, kind, certs, None, True, alias=alias)
        raise WrongPassword(f"{source}: the password does not decrypt key entry {alias!r}",
                            path=source)
    try:
        key = serialization.load_der_private_key(entry.pkey_pkcs8, None)  # type: ignore[attr-defined]
    except _PARSE_ERRORS as exc:
        raise PKIError(f"{source}: the key of entry {alias!r} is corrupt ({_short(exc)})",
                       path=source) from None
    return Bundle(source, kind, certs, signing_key(key, source), alias=alias)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
