"""``certmgr issuer add|list|show|remove`` and ``certmgr revoke``: ACME CAs, accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command

__all__ = ["issuer"]

issuer = typer.Typer(help="ACME issuers: the CA's directory, the account, profiles, ARI.",
                     no_args_is_help=True)
app.add_typer(issuer, name="issuer")


def _print(g: Globals, data: dict[str, object]) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} ({v})" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        g.out.print(f"  {key:18} {value if value is not None else '-'}", highlight=False,
                    markup=False)


@command(issuer, "add")
def issuer_add(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The issuer's name, as definitions name it.")],
    acme: Annotated[str, typer.Option("--acme", metavar="DIRECTORY_URL",
                                      help="The CA's ACME directory URL.")],
    contact: Annotated[list[str] | None, typer.Option(
        "--contact", metavar="EMAIL", help="Account contact (repeatable).")] = None,
    agree_tos: Annotated[bool, typer.Option(
        "--agree-tos", help="Agree to the CA's terms of service (recorded).")] = False,
    eab_kid: Annotated[str | None, typer.Option(
        "--eab-kid", metavar="KID", help="External Account Binding key id.")] = None,
    eab_hmac_key_file: Annotated[Path | None, typer.Option(
        "--eab-hmac-key-file", metavar="FILE", help="File holding the EAB HMAC key.")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", metavar="NAME", help="Default certificate profile for this issuer.")
                       ] = None,
    ca_bundle: Annotated[Path | None, typer.Option(
        "--ca-bundle", metavar="FILE", help="CA certificates to trust for the CA's HTTPS.")
                         ] = None,
    staging_directory: Annotated[str | None, typer.Option(
        "--staging-directory", metavar="URL", help="Directory for `issue --dry-run`.")] = None,
    no_ari: Annotated[bool, typer.Option(
        "--no-ari", help="Do not ask the CA's renewal information (ARI).")] = False,
    preferred_chain: Annotated[str | None, typer.Option(
        "--preferred-chain", metavar="ROOT_NAME",
        help="Take the chain (default or alternate) ending at this root's common name.")
                               ] = None,
    root_files: Annotated[list[Path] | None, typer.Option(
        "--root-cert", metavar="FILE",
        help="The CA's root certificate(s), PEM (repeatable): deploy trusts them for this "
             "issuer's chains instead of the system store.")] = None,
) -> None:
    """Create an ACME account (key made here, stored encrypted) and keep it as an issuer."""
    from certmgr.app.issuers import add_acme

    view = add_acme(g.repository(), name, acme, contacts=contact or [], agree_tos=agree_tos,
                    eab_kid=eab_kid, eab_hmac_key_file=eab_hmac_key_file, profile=profile,
                    ca_bundle=ca_bundle, staging_directory=staging_directory, ari=not no_ari,
                    preferred_chain=preferred_chain, roots=root_files or [])
    if g.json:
        g.emit_json(view.to_json())
        return
    g.out.print(f"added issuer {name}", highlight=False)
    _print(g, {k: v for k, v in view.to_json().items() if k != "name"})


@command(issuer, "list")
def issuer_list(g: Globals) -> None:
    """Every issuer: name, kind, directory."""
    from certmgr.app.issuers import issuer_views

    views = issuer_views(g.repository())
    if g.json:
        g.emit_json({"issuers": [v.to_json() for v in views]})
        return
    for v in views:
        g.out.print(f"{v.name:20} {v.kind:9} {v.config.get('directory') or '-'}",
                    highlight=False, markup=False)


@command(issuer, "show")
def issuer_show(g: Globals, name: Annotated[str, typer.Argument()]) -> None:
    """One issuer, with the profiles its ACME directory offers."""
    from certmgr.app.issuers import show

    view = show(g.repository(), name)
    if g.json:
        g.emit_json(view.to_json())
        return
    g.out.print(name, highlight=False, markup=False)
    _print(g, {k: v for k, v in view.to_json().items() if k != "name"})


@command(app, "revoke")
def revoke(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The definition whose certificate to revoke.")],
    reason: Annotated[str, typer.Option(
        "--reason", metavar="REASON",
        help="unspecified, keyCompromise (signed with the certificate's key), "
             "affiliationChanged, superseded, cessationOfOperation.")] = "unspecified",
) -> None:
    """Revoke a definition's current certificate at its ACME CA, and mark it revoked."""
    from certmgr.app.issuers import revoke as revoke_certificate

    done = revoke_certificate(g.repository(), name, reason)
    if g.json:
        g.emit_json(done)
    else:
        g.out.print(f"revoked {name} version {done['version']} (serial {done['serial']}) at "
                    f"{done['issuer']}: {reason}", highlight=False, markup=False)


@command(issuer, "remove")
def issuer_remove(g: Globals, name: Annotated[str, typer.Argument()]) -> None:
    """Remove an issuer and its account key (not while a definition names it)."""
    from certmgr.app.issuers import remove

    remove(g.repository(), name)
    if g.json:
        g.emit_json({"removed": name})
    else:
        g.out.print(f"removed issuer {name}", highlight=False)
