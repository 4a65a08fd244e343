"""Postfix: ``main.cf`` smtpd_tls_* settings (slot ``postfix``) and ``master.cf`` services.

A master.cf smtpd service with its own ``-o smtpd_tls_cert_file``/``key_file``/
``chain_files`` is its own slot ``postfix:SERVICE``; the others serve the
main.cf credential. Where ``postconf`` is installed and the host can run it,
it expands ``$parameter`` references exactly as Postfix does; otherwise a
simple expander with Postfix's defaults does.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field, replace
from typing import ClassVar

from certmgr.errors import ConfigError, HostError
from certmgr.models import Endpoint, TlsMode
from certmgr.programs.base import (
    DiscoveryContext,
    FindsConfigFile,
    Service,
    Setting,
    Slot,
    unique_ids,
)

__all__ = ["MasterService", "PostfixAdapter", "parse_main_cf", "parse_master_cf"]

_PARAM = re.compile(r"^([A-Za-z0-9_.-]+)\s*=\s*(.*)$")
_REF = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|\(([A-Za-z0-9_]+)\)|([A-Za-z0-9_]+))")
_PORTS = {"smtp": 25, "submission": 587, "smtps": 465, "submissions": 465}
_TLS_FILES = {"smtpd_tls_cert_file": "cert", "smtpd_tls_key_file": "key",
              "smtpd_tls_chain_files": "chain_files", "smtpd_tls_cafile": "ca"}
_DEFAULTS = {"data_directory": "/var/lib/postfix", "queue_directory": "/var/spool/postfix",
             "daemon_directory": "/usr/lib/postfix/sbin", "mail_name": "Postfix"}


def _logical(text: str) -> list[tuple[int, str]]:
    """Postfix's line folding: a line starting with whitespace continues the previous one."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t" and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + stripped)
        else:
            out.append((number, stripped))
    return out


def parse_main_cf(text: str, path: str) -> dict[str, tuple[str, int]]:
    """parameter -> (raw value, line). A line that is not ``name = value`` is an error."""
    out: dict[str, tuple[str, int]] = {}
    for number, line in _logical(text):
        m = _PARAM.match(line)
        if m is None:
            raise ConfigError(f"{path}:{number}: not a 'name = value' line: {line[:60]}",
                              path=path, line=number)
        out[m.group(1).lower()] = (m.group(2).strip(), number)
    return out


@dataclass
class MasterService:
    """One master.cf service line with its ``-o`` overrides."""

    name: str
    type: str
    command: str
    line: int
    overrides: dict[str, tuple[str, int]] = field(default_factory=dict)


def parse_master_cf(text: str, path: str) -> list[MasterService]:
    """Services of master.cf; a logical line with fewer than 8 fields is an error.

    master(5): a line that starts with whitespace continues the logical line
    (fields, ``-o`` and its value may each be on a line of their own), comment
    lines may sit between, and ``-o { name = value }`` (Postfix 3.0+) keeps the
    blanks of its value. Each override keeps the line its ``name=`` is on.
    """
    logical: list[list[tuple[str, int]]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = [(w, number) for w in stripped.split()]
        if raw[0] in " \t":
            if not logical:
                raise ConfigError(f"{path}:{number}: continuation line before any service",
                                  path=path, line=number)
            logical[-1].extend(words)
        else:
            logical.append(words)
    out: list[MasterService] = []
    for words in logical:
        number = words[0][1]
        if len(words) < 8:
            raise ConfigError(f"{path}:{number}: a service line needs 8 fields, has "
                              f"{len(words)}", path=path, line=number)
        service = MasterService(words[0][0], words[1][0], words[7][0], number)
        _overrides(service, words[8:])
        out.append(service)
    return out


def _overrides(service: MasterService, args: list[tuple[str, int]]) -> None:
    i = 0
    while i < len(args):
        if args[i][0] == "-o" and i + 1 < len(args):
            if args[i + 1][0].startswith("{"):
                # the long form: "{" may touch the name, "}" the value
                words = [w for w, _n in args[i + 1:]]
                end = next((j for j, w in enumerate(words) if w.endswith("}")), len(words) - 1)
                body = " ".join(words[:end + 1]).strip()[1:].removesuffix("}")
                name, _, value = body.partition("=")
                line = next((n for w, n in args[i + 1:i + 2 + end] if w.strip("{}")),
                            args[i + 1][1])
                i += end + 2
            else:
                name, _, value = args[i + 1][0].partition("=")
                line = args[i + 1][1]
                i += 2
            service.overrides[name.strip().lower()] = (value.strip(), line)
        else:
            i += 1


class PostfixAdapter(FindsConfigFile):
    """Postfix 2.x/3.x."""

    name: ClassVar[str] = "postfix"
    config_candidates: ClassVar[tuple[str, ...]] = ("/etc/postfix/main.cf",)

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        confdir = posixpath.dirname(config)
        try:
            main = parse_main_cf(ctx.read_text(config), config)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return Service(self.kind, config, "root", ())
        master_path = posixpath.join(confdir, "master.cf")
        services: list[MasterService] = []
        try:
            text = ctx.try_read(master_path)
            services = parse_master_cf(text, master_path) if text is not None else []
        except ConfigError as exc:
            ctx.record(self.kind, exc)
        values = _expanded(ctx, confdir, main)
        return Service(self.kind, config, "root",
                       tuple(unique_ids(self._slots(ctx, config, main, values, services))))

    def _slots(self, ctx: DiscoveryContext, config: str, main: dict[str, tuple[str, int]],
               values: dict[str, str], services: list[MasterService]) -> list[Slot]:
        names, names_from = ([values["myhostname"]], "config") if values.get("myhostname") \
            else ([ctx.hostname()], "host")
        inherited: list[Endpoint] = []
        slots: list[Slot] = []
        for svc in _smtpd_listeners(services, values):
            endpoint = _endpoint(svc, values)
            if endpoint is None:
                continue
            own = {k: v for k, v in svc.overrides.items() if k in _TLS_FILES}
            if not own:
                inherited.append(endpoint)
                continue
            merged = {k: v[0] for k, v in svc.overrides.items()}
            settings = {_TLS_FILES[k]: Setting(posixpath.join(posixpath.dirname(config),
                                                              "master.cf"), line, f"-o {k}")
                        for k, (_v, line) in own.items()}
            slots.extend(_slots_of(f"postfix:{svc.name.rsplit(':', 1)[-1]}",
                                   posixpath.join(posixpath.dirname(config), "master.cf"),
                                   svc.line, {**values, **merged}, names, names_from,
                                   [endpoint], settings))
        settings = {_TLS_FILES[k]: Setting(config, line, k) for k, (_v, line) in main.items()
                    if k in _TLS_FILES}
        main_slots = _slots_of("postfix", config, None, values, names, names_from, inherited,
                               settings)
        ec_slot = _ec_slot(config, main, values, names, names_from, inherited)
        return main_slots + ([ec_slot] if ec_slot else []) + slots


def _smtpd_listeners(services: list[MasterService],
                     values: dict[str, str]) -> list[MasterService]:
    """The inet listeners whose connections an smtpd serves, each with that smtpd's settings.

    An ``inet`` smtpd serves its own port. A ``postscreen`` listener (port 25,
    usually) hands the connections it accepts to the ``pass`` service named by
    ``smtpd_service_name`` (``smtpd pass ... smtpd``): that smtpd, with its own
    ``-o`` overrides, is what speaks TLS on the postscreen's port.
    """
    passed = {svc.name: svc for svc in services if svc.type == "pass" and svc.command == "smtpd"}
    out: list[MasterService] = []
    for svc in services:
        if svc.type != "inet":
            continue
        if svc.command == "smtpd":
            out.append(svc)
        elif svc.command == "postscreen":
            own = {k: v for k, (v, _l) in svc.overrides.items()}
            target = passed.get({**values, **own}.get("smtpd_service_name") or "smtpd")
            if target is None:
                continue
            # the postscreen's listen address, the pass smtpd's TLS settings
            where = {k: v for k, v in svc.overrides.items() if k == "inet_interfaces"}
            out.append(MasterService(svc.name, "inet", "smtpd", target.line,
                                     {**target.overrides, **where}))
    return out


def _slots_of(slot_id: str, config: str, line: int | None, values: dict[str, str],
              names: list[str], names_from: str, endpoints: list[Endpoint],
              settings: dict[str, Setting]) -> list[Slot]:
    """The slot of these values, and one more per further ``smtpd_tls_chain_files`` file.

    Postfix 3.4+ takes an RSA and an ECDSA chain file side by side in that one
    setting: the second file is ``SLOT:cert2``, set at index 1 of the same line.
    """
    first = _slot(slot_id, config, line, values, names, names_from, endpoints, settings)
    if first is None:
        return []
    out = [first]
    chain_files = values.get("smtpd_tls_chain_files", "").replace(",", " ").split()
    where = settings.get("chain_files")
    for index, path in enumerate(chain_files[1:], start=1):
        ref = {} if where is None else {
            "cert": Setting(where.path, where.line, where.directive, index),
            "key": Setting(where.path, where.line, where.directive, index)}
        out.append(replace(first, id=f"{slot_id}:cert{index + 1}", cert=path, key=path,
                           settings=ref))
    return out


def _ec_slot(config: str, main: dict[str, tuple[str, int]], values: dict[str, str],
             names: list[str], names_from: str, endpoints: list[Endpoint]) -> Slot | None:
    """``postfix:ec``: the ECDSA pair main.cf sets beside the RSA one (smtpd_tls_eccert_file).

    smtpd offers both on the same ports and picks by what the client supports.
    """
    cert = values.get("smtpd_tls_eccert_file") or None
    if cert is None:
        return None
    settings = {role: Setting(config, main[directive][1], directive)
                for directive, role in (("smtpd_tls_eccert_file", "cert"),
                                        ("smtpd_tls_eckey_file", "key")) if directive in main}
    return Slot(id="postfix:ec", config=config, line=None, names=tuple(names),
                names_from="config" if names_from == "config" else "host",
                endpoints=tuple(endpoints), cert=cert,
                key=values.get("smtpd_tls_eckey_file") or cert,
                ca=values.get("smtpd_tls_cafile") or None, settings=settings)


def _slot(slot_id: str, config: str, line: int | None, values: dict[str, str],
          names: list[str], names_from: str, endpoints: list[Endpoint],
          settings: dict[str, Setting]) -> Slot | None:
    cert = values.get("smtpd_tls_cert_file") or None
    key = values.get("smtpd_tls_key_file") or None
    chain_files = values.get("smtpd_tls_chain_files", "").replace(",", " ").split()
    if chain_files:
        # Postfix 3.4+: each file holds a key and its certificate chain.
        cert = key = chain_files[0]
        settings = {**settings, "cert": settings.get("chain_files", Setting(config, 0, "")),
                    "key": settings.get("chain_files", Setting(config, 0, ""))}
    if cert is None:
        return None
    settings.pop("chain_files", None)
    return Slot(id=slot_id, config=config, line=line, names=tuple(names),
                names_from="config" if names_from == "config" else "host",
                endpoints=tuple(endpoints), cert=cert, key=key or cert,
                ca=values.get("smtpd_tls_cafile") or None, settings=settings)


def _endpoint(svc: MasterService, values: dict[str, str]) -> Endpoint | None:
    merged = {**values, **{k: v[0] for k, v in svc.overrides.items()}}
    address, _, port_name = svc.name.rpartition(":")
    port = int(port_name) if port_name.isdigit() else _PORTS.get(port_name)
    if port is None or not 0 < port < 65536:
        return None
    if address in ("", "*"):
        interfaces = merged.get("inet_interfaces", "all").replace(",", " ").split()
        address = interfaces[0] if len(interfaces) == 1 and interfaces[0] != "all" else "*"
        address = "127.0.0.1" if address in ("loopback-only", "localhost") else address
    if merged.get("smtpd_tls_wrappermode", "no").lower() == "yes":
        return Endpoint(address, port, TlsMode.DIRECT)
    level = merged.get("smtpd_tls_security_level", "")
    if not level:
        level = "may" if merged.get("smtpd_use_tls", "no").lower() == "yes" or \
            merged.get("smtpd_enforce_tls", "no").lower() == "yes" else "none"
    if level == "none":
        return None
    return Endpoint(address, port, TlsMode.STARTTLS_SMTP)


def _expanded(ctx: DiscoveryContext, confdir: str,
              main: dict[str, tuple[str, int]]) -> dict[str, str]:
    """Parameter values with ``$name`` expanded (by postconf when it can run here)."""
    host = ctx.host
    if host.can_run and host.which("postconf"):
        try:
            result = host.run(["postconf", "-c", confdir, "-x", "-n"], timeout=20)
            out: dict[str, str] = {}
            for line in result.stdout.splitlines():
                name, sep, value = line.partition(" = ")
                if sep:
                    out[name.strip().lower()] = value.strip()
            return out
        except HostError:
            pass  # fall back to our own expansion below
    raw = {**_DEFAULTS, "config_directory": confdir,
           **{k: v for k, (v, _l) in main.items()}}
    return {k: _expand(raw, v) for k, v in raw.items()}


_COND = re.compile(r"\$\{([A-Za-z0-9_]+)([?:])(\{[^{}]*\}|[^{}]*)(?::(\{[^{}]*\}))?\}")


def _expand(raw: dict[str, str], value: str, depth: int = 0) -> str:
    """Postfix's ``$name``, ``${name}``, ``$(name)``, ``${name?value}`` (if set),
    ``${name:value}`` (if unset), ``${name?{a}:{b}}`` and ``$$`` (a dollar sign)."""
    if depth > 10 or "$" not in value:
        return value

    def cond(m: re.Match[str]) -> str:
        is_set = bool(_expand(raw, raw.get(m.group(1).lower(), ""), depth + 1))
        then = m.group(3)[1:-1].strip() if m.group(3).startswith("{") else m.group(3)
        other = m.group(4)[1:-1].strip() if m.group(4) else ""
        chosen = (then if is_set else other) if m.group(2) == "?" else \
            ("" if is_set else then)
        return _expand(raw, chosen, depth + 1)

    def sub(m: re.Match[str]) -> str:
        name = (m.group(1) or m.group(2) or m.group(3)).lower()
        return _expand(raw, raw.get(name, ""), depth + 1)

    parts = value.split("$$")
    return "$".join(_REF.sub(sub, _COND.sub(cond, part)) for part in parts)


ADAPTER = PostfixAdapter()
