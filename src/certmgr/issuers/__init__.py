"""Issuers and acquisition: the Issuer protocol, the built-in CA, external CAs.

``builtin`` issues at once from certmgr's own root + intermediate; ``external``
leaves a pending request (CSR out, certificate in through ``receive``); ACME
plugs in as another :class:`Issuer`. :func:`load_issuer` picks the one a
definition names.
"""

from __future__ import annotations

from certmgr.issuers.acquisition import (
    IssueOutcome,
    chain_for_storage,
    issue_definition,
    receive,
    request_csr,
)
from certmgr.issuers.base import IssuedCertificate, Issuer, IssueRequest, Pending
from certmgr.issuers.builtin import BuiltinIssuer, CAMaterial, create_ca
from certmgr.issuers.definitions import (
    DEFAULT_RENEW_BEFORE,
    DEFAULT_VALIDITY,
    check_name,
    definition_names,
    definitions_from_toml,
    format_duration,
    make_definition,
    parse_duration,
    same_definition,
)
from certmgr.issuers.external import ExternalIssuer
from certmgr.issuers.store import (
    BUILTIN,
    EXTERNAL,
    CARepository,
    ca_certificates,
    init_builtin_ca,
    load_issuer,
    make_crl,
    parse_serial,
    revoke_serial,
)
from certmgr.issuers.transfer import EXPORT_FORMATS, ExportFile, export_files, import_certificate

__all__ = [
    "BUILTIN",
    "DEFAULT_RENEW_BEFORE",
    "DEFAULT_VALIDITY",
    "EXPORT_FORMATS",
    "EXTERNAL",
    "BuiltinIssuer",
    "CAMaterial",
    "CARepository",
    "ExportFile",
    "ExternalIssuer",
    "IssueOutcome",
    "IssueRequest",
    "IssuedCertificate",
    "Issuer",
    "Pending",
    "ca_certificates",
    "chain_for_storage",
    "check_name",
    "create_ca",
    "definition_names",
    "definitions_from_toml",
    "export_files",
    "format_duration",
    "import_certificate",
    "init_builtin_ca",
    "issue_definition",
    "load_issuer",
    "make_crl",
    "make_definition",
    "parse_duration",
    "parse_serial",
    "receive",
    "request_csr",
    "revoke_serial",
    "same_definition",
]
