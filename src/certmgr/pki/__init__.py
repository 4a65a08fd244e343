"""X.509 on top of ``cryptography``: keys, names, loading any format, chains, building, writing.

Everything here is pure (no files written, nothing printed): callers pass bytes
in and get values or bytes back. Errors are :class:`certmgr.errors.PKIError`
and :class:`certmgr.errors.WrongPassword`, naming the file or value.
"""

from __future__ import annotations

from certmgr.pki.build import (
    Revoked,
    build_crl,
    build_csr,
    issue_ca,
    issue_server,
    self_signed_root,
    signature_hash,
    subject_name,
)
from certmgr.pki.certinfo import (
    CertInfo,
    describe,
    fingerprint_sha256,
    format_fingerprint,
    is_ca,
    is_self_issued,
    not_after,
    not_before,
)
from certmgr.pki.chain import (
    ChainProblem,
    ChainProblemCode,
    ChainReport,
    build_chain,
    issued_by,
    order_problems,
    sort_chain,
    verify_chain,
)
from certmgr.pki.keys import (
    KeyType,
    PrivateKey,
    generate_key,
    key_description,
    key_type_of,
    keys_match,
    public_key_id,
    signing_key,
)
from certmgr.pki.load import Bundle, load_bundle, load_csr, load_file
from certmgr.pki.names import (
    CertNames,
    certificate_covers,
    common_name,
    name_matches,
    names_of,
    normalize_san,
    parse_ip,
    san_entries,
)
from certmgr.pki.write import (
    certificate_pem,
    certificates_pem,
    combined_pem,
    crl_pem,
    csr_pem,
    encrypted_key_pem,
    jks_keystore,
    key_pem,
    pkcs12_keystore,
)

__all__ = [
    "Bundle",
    "CertInfo",
    "CertNames",
    "ChainProblem",
    "ChainProblemCode",
    "ChainReport",
    "KeyType",
    "PrivateKey",
    "Revoked",
    "build_chain",
    "build_crl",
    "build_csr",
    "certificate_covers",
    "certificate_pem",
    "certificates_pem",
    "combined_pem",
    "common_name",
    "crl_pem",
    "csr_pem",
    "describe",
    "encrypted_key_pem",
    "fingerprint_sha256",
    "format_fingerprint",
    "generate_key",
    "is_ca",
    "is_self_issued",
    "issue_ca",
    "issue_server",
    "issued_by",
    "jks_keystore",
    "key_description",
    "key_pem",
    "key_type_of",
    "keys_match",
    "load_bundle",
    "load_csr",
    "load_file",
    "name_matches",
    "names_of",
    "normalize_san",
    "not_after",
    "not_before",
    "order_problems",
    "parse_ip",
    "pkcs12_keystore",
    "public_key_id",
    "san_entries",
    "self_signed_root",
    "signature_hash",
    "signing_key",
    "sort_chain",
    "subject_name",
    "verify_chain",
]
