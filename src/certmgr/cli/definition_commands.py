"""``certmgr define``, ``definitions list|show|edit|delete`` and ``apply FILE.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certmgr.app.acme_definitions import AcmeOptions
from certmgr.app.definitions import definition_view
from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.cli.pki_output import read_input
from certmgr.issuers import (
    parse_duration,
)
from certmgr.repository.records import DefinitionRecord

__all__ = ["definitions"]

definitions = typer.Typer(help="List, show, edit and delete certificate definitions.",
                          no_args_is_help=True)
app.add_typer(definitions, name="definitions")

_SAN = typer.Option("--san", metavar="NAME", help="Another DNS name or IP (repeatable).")
_KEY = typer.Option("--key", metavar="TYPE",
                    help="Key type: ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519.")
_VALIDITY = typer.Option("--validity", metavar="DURATION",
                         help="Lifetime asked for: a number with s, m, h or d (397d).")
_RENEW = typer.Option("--renew-before", metavar="DURATION",
                      help="Renew this long before expiry (shorter than the validity).")
_ISSUER = typer.Option("--issuer", metavar="ISSUER[,ISSUER2]",
                       help="builtin (the built-in CA), external, or a CA's name; ACME "
                            "issuers may be listed in failover order.")
_CHALLENGE = typer.Option("--challenge", metavar="http-01|dns-01",
                          help="ACME: how the names are proved.")
_WEBROOT = typer.Option("--webroot", metavar="DIR",
                        help="ACME http-01: the web server's document root on the target host.")
_STANDALONE = typer.Option("--standalone-port", metavar="[ADDRESS:]PORT",
                           help="ACME http-01: certmgr's own responder (default port 80).")
_DNS_SERVER = typer.Option("--dns-server", metavar="HOST:PORT",
                           help="ACME dns-01: the zone's primary server (RFC 2136 updates).")
_TSIG = typer.Option("--tsig-key", metavar="FILE",
                     help="ACME dns-01: TSIG key file (tsig-keygen); stored encrypted.")
_PROFILE = typer.Option("--profile", metavar="NAME", help="ACME: the certificate profile.")
_HOOK = typer.Option("--dns-hook", metavar="CMD",
                     help="ACME dns-01: run `CMD set|clear FQDN VALUE` (exit 0: done).")
_PROVIDER = typer.Option("--dns-provider", metavar="NAME",
                         help="ACME dns-01: a dns-lexicon provider (cloudflare, route53...).")
_CREDENTIALS = typer.Option("--dns-credentials", metavar="FILE",
                            help="ACME dns-01: the provider's `option = value` lines; "
                                 "stored encrypted.")
_TARGET = typer.Option("--target", metavar="[HOST/]SLOT-ID",
                       help="Where it is deployed, as `certmgr discover` prints slots "
                            "(repeatable).")


def _acme_options(challenge: str | None, webroot: str | None, standalone_port: str | None,
                  dns_server: str | None, tsig_key: Path | None,
                  profile: str | None, dns_hook: str | None, dns_provider: str | None = None,
                  dns_credentials: Path | None = None) -> AcmeOptions:
    return AcmeOptions(challenge, webroot, standalone_port, dns_server, tsig_key, profile,
                       dns_hook, dns_provider, dns_credentials)


@command(app, "define")
def define(
    g: Globals,
    name: Annotated[str, typer.Argument(help="The definition's name (used in file names).")],
    cn: Annotated[str | None, typer.Option("--cn", metavar="NAME",
                                           help="Main DNS name (default: NAME).")
                  ] = None,
    san: Annotated[list[str] | None, _SAN] = None,
    key: Annotated[str, _KEY] = "ec256",
    validity: Annotated[str | None, _VALIDITY] = None,
    issuer: Annotated[str, _ISSUER] = "builtin",
    renew_before: Annotated[str | None, _RENEW] = None,
    target: Annotated[list[str] | None, _TARGET] = None,
    challenge: Annotated[str | None, _CHALLENGE] = None,
    webroot: Annotated[str | None, _WEBROOT] = None,
    standalone_port: Annotated[str | None, _STANDALONE] = None,
    dns_server: Annotated[str | None, _DNS_SERVER] = None,
    tsig_key: Annotated[Path | None, _TSIG] = None,
    profile: Annotated[str | None, _PROFILE] = None,
    dns_hook: Annotated[str | None, _HOOK] = None,
    dns_provider: Annotated[str | None, _PROVIDER] = None,
    dns_credentials: Annotated[Path | None, _CREDENTIALS] = None,
) -> None:
    """Define a certificate: its names, key, lifetime, issuer and where it goes.

    Built-in CA: --validity 397d and --renew-before 30d unless given. ACME: the CA sets
    the lifetime and its renewal information (or 1/3 of the lifetime left) decides.
    """
    from certmgr.app.definitions import define as save

    saved = save(g, name, cn or name, san or [], key=key,
                 validity=parse_duration(validity, "--validity") if validity else None,
                 renew_before=(parse_duration(renew_before, "--renew-before")
                               if renew_before else None),
                 issuer=issuer, targets=target or [],
                 acme=_acme_options(challenge, webroot, standalone_port, dns_server, tsig_key,
                                    profile, dns_hook, dns_provider, dns_credentials))
    _warn(g, saved.warnings)
    _print_one(g, saved.definition, saved.status)


def _warn(g: Globals, warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        g.err.print(f"warning: {warning}", highlight=False, markup=False)


def _print_one(g: Globals, d: DefinitionRecord, verb: str | None = None) -> None:
    if g.json:
        g.emit_json(definition_view(d))
        return
    if verb:
        g.out.print(f"{verb} {d.name}", highlight=False)
    for field, value in definition_view(d).items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if v is not None) or "-"
        g.out.print(f"  {field:13} {value if value is not None else '-'}", highlight=False)


@command(definitions, "list")
def definitions_list(g: Globals) -> None:
    """Every definition, with its names, key, lifetime, issuer and targets."""
    rows = g.repository().list_definitions()
    if g.json:
        g.emit_json({"definitions": [definition_view(d) for d in rows]})
        return
    table = Table()
    for column in ("name", "names", "key", "validity", "renew before", "issuer", "targets"):
        table.add_column(column, overflow="fold")
    for d in rows:
        j = definition_view(d)
        table.add_row(d.name, "\n".join((d.cn, *d.sans)), d.key_type, j["validity"] or "CA",
                      j["renew_before"] or "schedule", ",".join(j.get("issuers") or
                                                                [d.issuer or "-"]),
                      "\n".join(d.targets) or "-")
    g.out.print(table)


@command(definitions, "show")
def definitions_show(g: Globals, name: Annotated[str, typer.Argument()]) -> None:
    """One definition and its current certificate."""
    repo = g.repository()
    d = repo.get_definition(name)
    cert = repo.current_certificate(name)
    if g.json:
        current = None if cert is None else {
            "version": cert.version, "serial": cert.serial, "sha256": cert.sha256,
            "not_after": cert.not_after.isoformat(), "issuer": cert.issuer}
        g.emit_json({**definition_view(d), "certificate": current})
        return
    _print_one(g, d)
    if cert is None:
        g.out.print("  certificate   none yet (`certmgr issue` or `certmgr request`)")
    else:
        g.out.print(f"  certificate   version {cert.version}, serial {cert.serial}, "
                    f"not after {cert.not_after:%Y-%m-%d %H:%M} UTC", highlight=False)


@command(definitions, "edit")
def definitions_edit(
    g: Globals,
    name: Annotated[str, typer.Argument()],
    cn: Annotated[str | None, typer.Option("--cn", metavar="NAME",
                                           help="New main DNS name.")] = None,
    san: Annotated[list[str] | None, typer.Option(
        "--san", metavar="NAME", help="Replace the SANs with these (repeatable).")] = None,
    add_san: Annotated[list[str] | None, typer.Option("--add-san", metavar="NAME")] = None,
    remove_san: Annotated[list[str] | None, typer.Option("--remove-san", metavar="NAME")
                          ] = None,
    key: Annotated[str | None, _KEY] = None,
    validity: Annotated[str | None, _VALIDITY] = None,
    issuer: Annotated[str | None, _ISSUER] = None,
    renew_before: Annotated[str | None, _RENEW] = None,
    target: Annotated[list[str] | None, typer.Option(
        "--target", metavar="[HOST/]SLOT-ID", help="Replace the targets with these.")] = None,
    add_target: Annotated[list[str] | None, typer.Option(
        "--add-target", metavar="[HOST/]SLOT-ID")] = None,
    remove_target: Annotated[list[str] | None, typer.Option(
        "--remove-target", metavar="[HOST/]SLOT-ID")] = None,
    challenge: Annotated[str | None, _CHALLENGE] = None,
    webroot: Annotated[str | None, _WEBROOT] = None,
    standalone_port: Annotated[str | None, _STANDALONE] = None,
    dns_server: Annotated[str | None, _DNS_SERVER] = None,
    tsig_key: Annotated[Path | None, _TSIG] = None,
    profile: Annotated[str | None, _PROFILE] = None,
    dns_hook: Annotated[str | None, _HOOK] = None,
    dns_provider: Annotated[str | None, _PROVIDER] = None,
    dns_credentials: Annotated[Path | None, _CREDENTIALS] = None,
) -> None:
    """Change a definition; the next `issue` uses the new values."""
    from certmgr.app.definitions import edit

    saved = edit(g.repository(), name, cn=cn, sans=san, add_sans=add_san or (),
                 remove_sans=remove_san or (), key=key,
                 validity=parse_duration(validity, "--validity") if validity else None,
                 renew_before=(parse_duration(renew_before, "--renew-before") if renew_before
                               else None),
                 issuer=issuer, targets=target, add_targets=add_target or (),
                 remove_targets=remove_target or (),
                 acme=_acme_options(challenge, webroot, standalone_port, dns_server, tsig_key,
                                    profile, dns_hook, dns_provider, dns_credentials))
    _warn(g, saved.warnings)
    _print_one(g, saved.definition, saved.status)


@command(definitions, "delete")
def definitions_delete(
    g: Globals,
    name: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", help="Also delete its certificates and keys.")
                   ] = False,
) -> None:
    """Delete a definition (with --yes when it has certificates: they go too)."""
    from certmgr.app.definitions import delete

    delete(g.repository(), name, with_certificates=yes)
    if g.json:
        g.emit_json({"deleted": name})
    else:
        g.out.print(f"deleted {name}")


@command(app, "apply")
def apply(
    g: Globals,
    file: Annotated[Path, typer.Argument(metavar="FILE.toml",
                                         help="Definitions in TOML ('-': stdin).")],
) -> None:
    """Create or update definitions from a TOML file; running it again changes nothing."""
    from certmgr.app.definitions import apply as apply_toml

    batch, warnings = apply_toml(g.repository(), read_input(file).decode("utf-8", "replace"),
                                 str(file))
    _warn(g, warnings)
    if g.json:
        g.emit_json({"definitions": batch.to_json()})
    else:
        for r in batch:
            g.out.print(f"{r.status:9} {r.item}", highlight=False)
