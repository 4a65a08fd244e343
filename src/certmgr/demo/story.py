"""The seed report's evaluation as eight steps on one lab host.

(1) the lab as Part 2 leaves it, (2) discover, (3) check (with one slot broken
on purpose), (4) the built-in CA and the seed's definitions, (5) issue,
(6) deploy with verification (repairing the broken slot), (7) scan every
Table 2 port, (8) status. Without root or the server programs, the same story
runs on the file-only lab and the steps that need running programs say why
they were skipped.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certmgr.demo.runner import CommandRun, DemoFailed, Step, StepResult, certmgr

__all__ = ["SEED_DEFINITIONS", "DemoContext", "run_story", "story_steps"]

# The seed's certificate definitions (Part 3) and the programs each goes to.
SEED_DEFINITIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ldap.example.com": (("ldap.example.com",), ("slapd",)),
    "www.example.com": (("www.example.com",), ("apache2",)),
    "www2.example.com": (("www2.example.com", "ftp.example.com"), ("vsftpd", "tomcat")),
    "smtp.example.com": (("smtp.example.com",), ("postfix",)),
    "pop.example.com": (("pop.example.com", "imap.example.com"), ("dovecot",)),
}
SIX = ("slapd", "apache2", "vsftpd", "postfix", "dovecot", "tomcat")
# The slot broken on purpose in step 1: vsftpd's key left world-readable.
BROKEN_KIND = "vsftpd"
BROKEN_CODE = "KEY_PERMISSIONS"


@dataclass
class DemoContext:
    """What the steps share: the home, the lab, and what earlier steps learned."""

    home: Path
    lab_dir: Path
    files_only: bool
    host: str = "lab1"
    lab: dict[str, Any] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)

    @property
    def host_name(self) -> str:
        return f"lab:{self.host}"

    @property
    def host_root(self) -> Path:
        return self.lab_dir / self.host

    def where(self) -> tuple[str, ...]:
        """The options that point discover/check/deploy at the lab host."""
        if self.files_only:
            return ("--root", str(self.host_root))
        return ("--host", self.host_name)

    def run(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> CommandRun:
        result = certmgr(self.home, *args)
        if result.returncode not in ok_codes:
            raise DemoFailed(f"`{result.shown}` exited {result.returncode}: "
                             f"{result.last_error()}")
        return result

    def endpoints(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(program kind, endpoint) for every endpoint of the lab host."""
        for host in self.lab.get("hosts", []):
            if host.get("name") == self.host:
                for program in host.get("programs", []):
                    for endpoint in program.get("endpoints", []):
                        yield program["kind"], endpoint


def _target(endpoint: dict[str, Any]) -> str:
    tls = str(endpoint["tls"])
    suffix = "" if tls == "direct" else "/" + tls.removeprefix("starttls-")
    return f"{endpoint['address']}:{endpoint['port']}{suffix}"


# -- the steps -------------------------------------------------------------------------

def step_lab(ctx: DemoContext) -> StepResult:
    args = ["lab", "up", "--dir", str(ctx.lab_dir)] + (["--files-only"] if ctx.files_only
                                                        else [])
    up = ctx.run(*args)
    status = ctx.run("lab", "status", "--dir", str(ctx.lab_dir))
    ctx.lab = status.data
    key = _broken_key(ctx)
    key.chmod(0o644)  # the deliberate fault step 3 must find and step 6 must repair
    rows = [(kind, _target(e), (e.get("sha256") or "")[:16]) for kind, e in ctx.endpoints()]
    served = {kind for kind, e in ctx.endpoints() if e.get("sha256")}
    if ctx.files_only:
        ok = (ctx.host_root / "etc").is_dir()
        summary = f"file-only lab in {ctx.lab_dir}: the six programs' configuration trees"
    else:
        programs = {p["kind"] for h in ctx.lab["hosts"] for p in h["programs"]}
        ok = programs >= set(SIX) and len(rows) >= 12 and served >= set(SIX)
        summary = (f"{len(programs)} programs on {len(rows)} TLS ports, each serving its own "
                   f"self-signed certificate; {BROKEN_KIND}'s key made world-readable on "
                   "purpose")
    return StepResult(ok, "six programs up, 12 TLS ports, self-signed certificates", summary,
                      ("program", "endpoint", "served leaf sha256"), rows, [up, status])


def _broken_key(ctx: DemoContext) -> Path:
    candidates = sorted((ctx.host_root / "etc" / BROKEN_KIND / "ssl" / "private").glob("*.key"))
    if not candidates:
        raise DemoFailed(f"the lab has no {BROKEN_KIND} key under /etc/{BROKEN_KIND}/ssl/private")
    return candidates[0]


def step_discover(ctx: DemoContext) -> StepResult:
    run = ctx.run("discover", *ctx.where())
    ctx.services = list(run.data.get("services", []))
    rows = []
    for service in ctx.services:
        for slot in service.get("slots", []):
            ports = ", ".join(f"{e['port']}/{e['tls']}" for e in slot.get("endpoints", []))
            rows.append((slot["id"], slot.get("cert") or slot.get("keystore") or "",
                         slot.get("key") or "", ports))
    kinds = {s["kind"] for s in ctx.services}
    return StepResult(kinds >= set(SIX), "the six services, their files and ports",
                      f"{len(ctx.services)} services, {len(rows)} slots",
                      ("slot", "certificate", "key", "ports"), rows, [run])


def step_check(ctx: DemoContext) -> StepResult:
    run = ctx.run("check", *ctx.where(), ok_codes=(0, 1))
    findings = run.data.get("findings", [])
    rows = [(f["severity"], f["code"], f.get("slot") or f.get("service") or "",
             f.get("message", "")[:90]) for f in findings if f["severity"] != "info"]
    codes = {(f.get("service"), f["code"]) for f in findings}
    ok = run.returncode == 1 and (BROKEN_KIND, BROKEN_CODE) in codes and any(
        code == "SELF_SIGNED" for _, code in codes)
    return StepResult(ok, f"findings: self-signed certificates, and {BROKEN_CODE} on "
                      f"{BROKEN_KIND}", f"{len(findings)} findings", ("severity", "code", "slot",
                                                                      "message"), rows, [run])


def step_define(ctx: DemoContext) -> StepResult:
    ca = ctx.run("ca", "init")
    toml = ctx.home / "seed-definitions.toml"
    toml.write_text(definitions_toml(ctx), encoding="utf-8")
    applied = ctx.run("apply", str(toml))
    rows = [(name, ", ".join(names), ", ".join(_targets(ctx, kinds)))
            for name, (names, kinds) in SEED_DEFINITIONS.items()]
    made = {d["name"] for d in applied.data.get("definitions", [])}
    return StepResult(made == set(SEED_DEFINITIONS), "a root and an intermediate CA; five "
                      "definitions", "built-in CA created; the seed's definitions applied",
                      ("definition", "names", "targets"), rows, [ca, applied])


def _targets(ctx: DemoContext, kinds: tuple[str, ...]) -> list[str]:
    prefix = "" if ctx.files_only else f"{ctx.host_name}/"
    return [prefix + slot["id"] for service in ctx.services if service["kind"] in kinds
            for slot in service.get("slots", [])]


def definitions_toml(ctx: DemoContext) -> str:
    """The seed's definitions as a file for ``certmgr apply``, targeting the lab's slots."""
    out = ['[defaults]\nkey = "ec256"\nvalidity = "397d"\nrenew_before = "30d"\n'
           'issuer = "builtin"\n']
    for name, (names, kinds) in SEED_DEFINITIONS.items():
        sans = ", ".join(f'"{n}"' for n in names)
        targets = ", ".join(f'"{t}"' for t in _targets(ctx, kinds))
        out.append(f'[definitions."{name}"]\ncn = "{names[0]}"\nsans = [{sans}]\n'
                   f"targets = [{targets}]\n")
    return "\n".join(out)


def step_issue(ctx: DemoContext) -> StepResult:
    run = ctx.run("issue", "--all")
    listed = ctx.run("list")
    certs = listed.data.get("certificates", listed.data) if isinstance(listed.data, dict) \
        else listed.data
    rows = [(str(c.get("name")), ", ".join(c.get("domains") or c.get("sans") or []),
             str(c.get("not_after", ""))[:16], str(c.get("days_left", "")))
            for c in certs or []]
    return StepResult(len(rows) == len(SEED_DEFINITIONS), "five certificates from the "
                      "built-in CA", f"{len(rows)} certificates issued",
                      ("definition", "names", "not after", "days left"), rows, [run, listed])


def step_deploy(ctx: DemoContext) -> StepResult:
    args = ["deploy", "--all", "--yes"] + (["--dry-run", *ctx.where()] if ctx.files_only
                                            else [])
    run = ctx.run(*args, ok_codes=(0, 1))
    deployments = run.data.get("deployments", [])
    rows = [(str(d["target"]), str(d["outcome"]),
             ", ".join(sorted({str(v)[:12] for v in d.get("served", {}).values() if v})),
             str(d.get("reason") or "")[:80]) for d in deployments]
    if ctx.files_only:
        ok = run.returncode == 0
        summary = "planned only: the file-only lab has no running programs to reload"
    else:
        ok = run.returncode == 0 and bool(run.data.get("ok")) and all(
            d["outcome"] == "verified" for d in deployments)
        summary = f"{len(deployments)} slots deployed, reloaded and verified over the network"
    return StepResult(ok, "every slot deployed and verified", summary,
                      ("slot", "outcome", "now served (sha256)", "reason"), rows, [run])


def step_scan(ctx: DemoContext) -> StepResult:
    if ctx.files_only:
        return StepResult(True, "skipped", "no running programs in the file-only lab",
                          skipped="the file-only lab runs no programs to scan")
    targets = [_target(e) for _, e in ctx.endpoints()]
    run = ctx.run("scan", *targets, ok_codes=(0, 1))
    results = run.data.get("results", []) if isinstance(run.data, dict) else run.data
    rows = []
    good = 0
    for r in results:
        chain = r.get("chain") or [{}]
        errors = [f["code"] for f in r.get("findings", []) if f["severity"] == "error"]
        rows.append((r["target"], r.get("tls_version") or "", chain[0].get("subject", ""),
                     chain[0].get("issuer", ""), ", ".join(errors) or "ok"))
        good += bool(r.get("ok")) and not errors
    ok = good == len(targets) == len(results) and run.returncode == 0
    return StepResult(ok, "every port serves the new chain", f"{good}/{len(targets)} ports "
                      "serve a certificate from the built-in CA without error",
                      ("target", "tls", "subject", "issuer", "errors"), rows, [run])


def step_status(ctx: DemoContext) -> StepResult:
    check = ctx.run("check", *ctx.where(), ok_codes=(0, 1))
    status = ctx.run("status", ok_codes=(0, 1))
    errors = [f for f in check.data.get("findings", []) if f["severity"] == "error"]
    rows = [(c["name"], str(c.get("version")), str(c.get("days_left")),
             ", ".join(f"{t['target']}: {t['state']}" for t in c.get("targets", [])))
            for c in status.data.get("certificates", [])]
    problems = [p for p in status.data.get("problems", []) if p["severity"] == "error"]
    rows += [("problem", p["code"], p["object"], p["message"]) for p in problems]
    rows += [("check", f["code"], f.get("slot") or "", f["message"]) for f in errors]
    columns = ("certificate", "version", "days left", "deployed")
    if ctx.files_only:
        # Nothing was deployed (a dry run), so the first check's findings remain.
        ok = len(status.data.get("certificates", [])) == len(SEED_DEFINITIONS)
        return StepResult(ok, "five certificates, not deployed", f"{len(errors)} check errors "
                          "remain: the file-only lab was only planned for, not changed",
                          columns, rows, [check, status])
    ok = not errors and not problems and check.returncode == 0
    return StepResult(ok, "no error in check or status", f"{len(errors)} check errors, "
                      f"{len(problems)} problems", columns, rows, [check, status])


def story_steps(ctx: DemoContext) -> list[Step]:
    table: list[tuple[str, Callable[[DemoContext], StepResult]]] = [
        ("The lab as the seed's Part 2 leaves it", step_lab),
        ("discover: what each program reads", step_discover),
        ("check: what is wrong before certmgr takes over", step_check),
        ("The built-in CA and the seed's certificate definitions", step_define),
        ("issue: a certificate for each definition", step_issue),
        ("deploy: install, reload, verify, roll back on failure", step_deploy),
        ("scan: every Table 2 port over TLS or STARTTLS", step_scan),
        ("status: one table of every certificate", step_status),
    ]
    return [Step(i, title, functools.partial(fn, ctx)) for i, (title, fn) in enumerate(table, 1)]


def can_run_lab() -> tuple[bool, str]:
    """Whether the real lab can run here, and why not."""
    if os.geteuid() != 0:
        return False, "not root: network namespaces need root"
    for program in ("slapd", "apache2", "vsftpd", "postfix", "dovecot"):
        if not any(Path(d, program).exists() for d in ("/usr/sbin", "/usr/bin")):
            return False, f"{program} is not installed (make demo installs it as root)"
    if not Path("/usr/share/tomcat10/bin/catalina.sh").exists():
        return False, "tomcat10 is not installed (make demo installs it as root)"
    return True, ""


def run_story(ctx: DemoContext, report: Callable[[Step, StepResult], None]) -> list[StepResult]:
    """Run every step, reporting each; stop at the first unexpected outcome."""
    results = []
    for step in story_steps(ctx):
        try:
            result = step.run()
        except DemoFailed as exc:
            result = StepResult(False, "", exc.message)
        report(step, result)
        results.append(result)
        if not result.ok:
            break
    return results
