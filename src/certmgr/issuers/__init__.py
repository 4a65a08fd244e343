"""Issuers and acquisition: the Issuer protocol, the built-in CA, external CAs.

``builtin`` issues at once from certmgr's own root + intermediate; ``external``
leaves a pending request (CSR out, certificate in through ``receive``); ACME
plugs in as another :class:`Issuer`. :func:`load_issuer` picks the one a
definition names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certmgr.issuers.acquisition import (
        IssueOutcome,
        chain_for_storage,
        issue_definition,
        receive,
        request_csr,
    )
    from certmgr.issuers.base import (
        EXPORT_FORMATS,
        IssuedCertificate,
        Issuer,
        IssueRequest,
        Pending,
    )
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
    from certmgr.issuers.schedule import RenewalState, renew_at, renewal_state
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
    from certmgr.issuers.transfer import (
        ExportFile,
        export_files,
        import_certificate,
    )

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
    "RenewalState",
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
    "renew_at",
    "renewal_state",
    "request_csr",
    "revoke_serial",
    "same_definition",
]

# Submodules load on first use (PEP 562): `certmgr list` needs only parse_duration, and
# importing every issuer module (chain building, keystores) cost it start-up time.
_WHERE = {
    "BUILTIN": "certmgr.issuers.store",
    "DEFAULT_RENEW_BEFORE": "certmgr.issuers.definitions",
    "DEFAULT_VALIDITY": "certmgr.issuers.definitions",
    "EXPORT_FORMATS": "certmgr.issuers.base",
    "EXTERNAL": "certmgr.issuers.store",
    "BuiltinIssuer": "certmgr.issuers.builtin",
    "CAMaterial": "certmgr.issuers.builtin",
    "CARepository": "certmgr.issuers.store",
    "ExportFile": "certmgr.issuers.transfer",
    "ExternalIssuer": "certmgr.issuers.external",
    "IssueOutcome": "certmgr.issuers.acquisition",
    "IssueRequest": "certmgr.issuers.base",
    "IssuedCertificate": "certmgr.issuers.base",
    "Issuer": "certmgr.issuers.base",
    "Pending": "certmgr.issuers.base",
    "RenewalState": "certmgr.issuers.schedule",
    "ca_certificates": "certmgr.issuers.store",
    "chain_for_storage": "certmgr.issuers.acquisition",
    "check_name": "certmgr.issuers.definitions",
    "create_ca": "certmgr.issuers.builtin",
    "definition_names": "certmgr.issuers.definitions",
    "definitions_from_toml": "certmgr.issuers.definitions",
    "export_files": "certmgr.issuers.transfer",
    "format_duration": "certmgr.issuers.definitions",
    "import_certificate": "certmgr.issuers.transfer",
    "init_builtin_ca": "certmgr.issuers.store",
    "issue_definition": "certmgr.issuers.acquisition",
    "load_issuer": "certmgr.issuers.store",
    "make_crl": "certmgr.issuers.store",
    "make_definition": "certmgr.issuers.definitions",
    "parse_duration": "certmgr.issuers.definitions",
    "parse_serial": "certmgr.issuers.store",
    "receive": "certmgr.issuers.acquisition",
    "renew_at": "certmgr.issuers.schedule",
    "renewal_state": "certmgr.issuers.schedule",
    "request_csr": "certmgr.issuers.acquisition",
    "revoke_serial": "certmgr.issuers.store",
    "same_definition": "certmgr.issuers.definitions",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
