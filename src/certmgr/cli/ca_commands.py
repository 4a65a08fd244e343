"""``certmgr ca init|show|export|revoke|crl``: the built-in private CA."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.cli.pki_output import write_file
from certmgr.issuers import (
    BUILTIN,
    ca_certificates,
    init_builtin_ca,
    make_crl,
    revoke_serial,
)
from certmgr.pki import certificate_pem, crl_pem, describe

__all__ = ["ca"]

ca = typer.Typer(help="The built-in private CA: a root and an intermediate that issues.",
                 no_args_is_help=True)
app.add_typer(ca, name="ca")

_NAME = typer.Option("--name", metavar="NAME", help="The CA's name in the repository.")


@command(ca, "init")
def ca_init(
    g: Globals,
    cn: Annotated[str, typer.Option("--cn", metavar="NAME",
                                    help="The root's common name.")] = "certmgr Root CA",
    org: Annotated[str | None, typer.Option("--org", metavar="ORG",
                                            help="Organization (O) of both CAs.")
                   ] = "certmgr",
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing CA (its certificates stop being trusted).")] = False,
    name: Annotated[str, _NAME] = BUILTIN,
) -> None:
    """Create the built-in CA: a root and an intermediate, keys stored encrypted."""
    init_builtin_ca(g.repository(), name, common_name=cn, organization=org, force=force)
    _show(g, name)


@command(ca, "show")
def ca_show(g: Globals, name: Annotated[str, _NAME] = BUILTIN) -> None:
    """Print the CA's root and intermediate certificates."""
    _show(g, name)


def _show(g: Globals, name: str) -> None:
    inter, root = ca_certificates(g.repository().get_issuer(name))
    infos = {"root": describe(root), "intermediate": describe(inter)}
    if g.json:
        g.emit_json({"name": name, **{k: v.to_json() for k, v in infos.items()}})
        return
    g.out.print(f"CA {name}", highlight=False)
    for role, info in infos.items():
        g.out.print(f"  {role}", highlight=False)
        for label, value in (("subject", info.subject), ("key", info.key),
                             ("not after", f"{info.not_after:%Y-%m-%d %H:%M} UTC"),
                             ("serial", info.serial), ("SHA-256", info.fingerprint_sha256)):
            g.out.print(f"    {label:10} {value}", highlight=False, markup=False)


@command(ca, "export")
def ca_export(
    g: Globals,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Write the root certificate here (default: stdout).")
    ] = None,
    name: Annotated[str, _NAME] = BUILTIN,
) -> None:
    """The root certificate in PEM, for clients' trust stores."""
    _, root = ca_certificates(g.repository().get_issuer(name))
    _output(g, certificate_pem(root), out, {"name": name, "subject": describe(root).subject})


def _output(g: Globals, data: bytes, out: Path | None, info: dict[str, Any]) -> None:
    if out is not None:
        write_file(out, data, secret=False)
        if g.json:
            g.emit_json({**info, "path": str(out)})
        else:
            g.info(f"wrote {out}")
    elif g.json:
        g.emit_json({**info, "pem": data.decode("ascii")})
    else:
        sys.stdout.write(data.decode("ascii"))
        sys.stdout.flush()


@command(ca, "revoke")
def ca_revoke(
    g: Globals,
    serial: Annotated[str, typer.Argument(help="Serial number in hex (as `certmgr list` "
                                               "prints it).")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT",
                                        help="Why, for the audit log.")] = "",
    name: Annotated[str, _NAME] = BUILTIN,
) -> None:
    """Revoke a certificate the CA issued; it is listed in every later CRL."""
    record = revoke_serial(g.repository(), serial, name=name, reason=reason)
    info = {"serial": serial.lower(), "definition": record.definition if record else None,
            "version": record.version if record else None}
    if g.json:
        g.emit_json(info)
    elif record is not None:
        g.out.print(f"revoked {record.definition} version {record.version} "
                    f"(serial {record.serial})")
    else:
        g.out.print(f"revoked serial {serial}: no stored certificate has it, "
                    "but the CRL lists it")


@command(ca, "crl")
def ca_crl(
    g: Globals,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Write the CRL here (default: stdout).")] = None,
    name: Annotated[str, _NAME] = BUILTIN,
) -> None:
    """A new CRL signed by the intermediate, in PEM."""
    crl = make_crl(g.repository(), name,
                   on_skip=lambda why: g.err.print(f"warning: {why}", markup=False))
    _output(g, crl_pem(crl), out, {"name": name, "revoked": len(list(crl))})
