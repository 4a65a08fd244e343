"""A certificate as one download, in every format the console offers.

Public formats (the certificate and its chain, no key) are for anyone who may read
certificates. Formats holding the private key are those of ``certmgr export``
(:func:`certmgr.app.certificates.export`): only for an admin who has just entered
their password again, every one an audit event naming them and the format (never the
keystore password); a format of several files comes as one zip archive.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certmgr.errors import InputError, NotFound

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["KEY_FORMATS", "MEDIA_TYPES", "PUBLIC_FORMATS", "Download", "check_password_again",
           "key_download", "public_download"]

#: format -> what it is (no private key in any)
PUBLIC_FORMATS = {
    "pem": "Certificate (PEM)",
    "der": "Certificate (DER)",
    "chain": "Intermediate chain (PEM)",
    "fullchain": "Certificate and chain (PEM)",
    "p7b": "Certificate and chain (PKCS#7)",
}
#: ``certmgr export`` formats, all with the private key
KEY_FORMATS = {
    "pem": "Certificate, chain and key (PEM files, zip)",
    "fullchain": "Full chain and key (PEM files, zip)",
    "combined": "Certificate, chain and key in one PEM (haproxy)",
    "p12": "PKCS#12 keystore",
    "jks": "Java keystore (JKS)",
}
MAX_KEYSTORE_PASSWORD = 128
MEDIA_TYPES = {".crt": "application/x-pem-file", ".pem": "application/x-pem-file",
          ".der": "application/pkix-cert", ".p7b": "application/pkcs7-mime",
          ".p12": "application/x-pkcs12", ".jks": "application/octet-stream",
          ".zip": "application/zip"}


@dataclass(frozen=True)
class Download:
    """One file to hand out: its name, media type and bytes."""

    filename: str
    media_type: str
    data: bytes

    def __repr__(self) -> str:  # never the bytes: they may hold a key
        return f"Download({self.filename!r}, {len(self.data)} bytes)"


def _media(filename: str) -> str:
    return MEDIA_TYPES[filename[filename.rfind("."):]]


def public_download(repo: Repository, name: str, fmt: str) -> Download:
    """The current certificate of ``name`` in public format ``fmt`` (no key is read).

    Raises:
        InputError: unknown format. NotFound: no such definition, no certificate yet,
            or (``chain``) no intermediate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    if fmt not in PUBLIC_FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(PUBLIC_FORMATS)}")
    current = repo.current_certificate(name)
    if current is None:
        repo.get_definition(name)
        raise NotFound(f"definition {name} has no certificate yet")
    leaf = x509.load_pem_x509_certificate(current.cert_pem.encode())
    chain = (x509.load_pem_x509_certificates(current.chain_pem.encode())
             if current.chain_pem.strip() else [])
    if fmt == "pem":
        return _file(f"{name}.crt", leaf.public_bytes(Encoding.PEM))
    if fmt == "der":
        return _file(f"{name}.der", leaf.public_bytes(Encoding.DER))
    if fmt == "chain":
        if not chain:
            raise NotFound(f"the certificate of {name} has no intermediate certificate")
        return _file(f"{name}-chain.crt", b"".join(c.public_bytes(Encoding.PEM) for c in chain))
    if fmt == "fullchain":
        return _file(f"{name}-fullchain.crt",
                     b"".join(c.public_bytes(Encoding.PEM) for c in (leaf, *chain)))
    return _file(f"{name}.p7b", pkcs7.serialize_certificates([leaf, *chain], Encoding.DER))


def key_download(repo: Repository, name: str, fmt: str, *, user: str, password: str,
                 keystore_password: str | None = None, alias: str | None = None) -> Download:
    """The current certificate of ``name`` with its private key, in ``certmgr export``
    format ``fmt``, for ``user`` who has just entered their ``password`` again.

    Raises:
        InputError: the password is not the user's (audited as refused), an unknown format,
            a keystore without its password, or a bad alias.
        NotFound: no such definition or no certificate. PKIError: no stored key.
    """
    from certmgr.issuers import export_files

    if fmt not in KEY_FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(KEY_FORMATS)}")
    if keystore_password is not None and len(keystore_password) > MAX_KEYSTORE_PASSWORD:
        raise InputError(f"the keystore password is over {MAX_KEYSTORE_PASSWORD} characters")
    if fmt in ("p12", "jks") and not keystore_password:
        raise InputError(f"a {fmt} keystore needs a password: choose one for it")
    if alias is not None and (not alias or len(alias) > 64 or not alias.isprintable()):
        raise InputError("the keystore alias must be 1 to 64 printable characters")
    check_password_again(repo, name, user=user, password=password, what=fmt)
    files = export_files(repo, name, fmt, password=keystore_password, alias=alias)
    repo.record_event("key.download", f"certificate:{name}", {"user": user, "format": fmt},
                      actor=user)
    if len(files) == 1:
        return _file(files[0].name, files[0].data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            info = zipfile.ZipInfo(f.name, date_time=(2000, 1, 1, 0, 0, 0))
            info.external_attr = (0o600 if f.secret else 0o644) << 16
            archive.writestr(info, f.data, zipfile.ZIP_DEFLATED)
    return _file(f"{name}-{fmt}.zip", buffer.getvalue())


def check_password_again(repo: Repository, name: str, *, user: str, password: str,
                         what: str = "key") -> None:
    """Raise InputError (and audit the refusal) unless ``password`` is ``user``'s."""
    if repo.check_password(user, password) is None:
        repo.record_event("key.download_refused", f"certificate:{name}",
                          {"user": user, "format": what}, actor=user)
        raise InputError("the password is not right: a key download needs your password")


def _file(filename: str, data: bytes) -> Download:
    return Download(filename, _media(filename), data)
