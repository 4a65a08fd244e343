"""``certmgr lab up|status|down|exec``: the test lab of real server programs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from certmgr.cli.app import app, program_titles
from certmgr.cli.common import Globals, command
from certmgr.errors import CertmgrError, LabError

# certmgr.lab (cryptography, pyjks...) is imported by the commands themselves, so that
# loading the CLI for any other command does not pay for it.

_COUNT = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _programs_help() -> str:
    """``--programs``: the programs with a lab part, the default ones first named as such."""
    from certmgr.programs import PROGRAMS

    labs = [lab for spec in PROGRAMS if (lab := spec.lab) is not None]
    default = [lab.name for lab in labs if lab.default]
    count = _COUNT[len(default)] if len(default) < len(_COUNT) else str(len(default))
    named = [f"{', '.join(default)} (the default {count})"]
    named += [f"{lab.name} (port {lab.ports[0][0]})" for lab in labs if not lab.default]
    return f"Only these programs (repeat or comma-separate): {', '.join(named)}."


lab_app = typer.Typer(help=f"A lab of test hosts running {program_titles(lab_default=True)} "
                           "for real (needs root).", no_args_is_help=True)
app.add_typer(lab_app, name="lab")

DirOption = Annotated[Path | None, typer.Option(
    "--dir", help="The lab's directory (default: <home>/lab).", metavar="DIR")]


def _dir(g: Globals, value: Path | None) -> Path:
    return (value if value is not None else g.home / "lab").absolute()


def _progress(g: Globals, total: int) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TimeElapsedColumn(), console=g.err, transient=True, disable=g.quiet)


@command(lab_app, "up")
def up(
    g: Globals,
    hosts: Annotated[int, typer.Option("--hosts", min=1, max=16,
                                       help="How many test hosts.")] = 1,
    layout: Annotated[str, typer.Option(
        "--layout", metavar="LAYOUT",
        help="seed: each program its own certificate at Table 1's paths; "
             "debian: every program on the shared snakeoil pair.")] = "seed",
    programs: Annotated[list[str] | None, typer.Option(
        "--programs", metavar="LIST",
        help=_programs_help())] = None,
    files_only: Annotated[bool, typer.Option(
        "--files-only", help="Only the hosts' file trees: no namespaces, no programs "
                             "(works without root).")] = False,
    lab_dir: DirOption = None,
) -> int:
    """Bring up test hosts with the six server programs serving TLS on their standard ports."""
    from certmgr.lab import lab_up, register_hosts

    names = [p.strip() for item in programs or () for p in item.split(",") if p.strip()]
    target = _dir(g, lab_dir)
    steps = hosts * (3 + 2 * (len(names) or 6) + 2)
    with _progress(g, steps) as bar:
        task = bar.add_task("lab up", total=steps)

        def step(text: str) -> None:
            bar.update(task, description=text, advance=1)

        state = lab_up(target, hosts=hosts, layout=layout, programs=names or None,
                       files_only=files_only, progress=step)
    rc = 0
    try:
        registered = register_hosts(g.repository(), state)
    except CertmgrError as exc:
        g.err.print(f"warning: the lab is up but its hosts are not in the repository: "
                    f"{exc.message}", highlight=False)
        registered, rc = [], 1
    if g.json:
        g.emit_json({"dir": state.dir, "status": state.status, "layout": state.layout,
                     "hosts": [{"name": h.name, "address": h.address, "root": h.root}
                               for h in state.hosts],
                     "registered": registered})
    else:
        what = "files only, no programs" if files_only else ", ".join(state.programs)
        g.out.print(f"lab up in {state.dir} ({state.layout} layout; {what})", highlight=False)
        for h in state.hosts:
            g.out.print(f"  lab:{h.name}  {h.address}  {h.root}", highlight=False)
        if not files_only:
            g.out.print(f"  ssh -i {state.ssh_key} -o UserKnownHostsFile={state.known_hosts} "
                        f"root@{state.hosts[0].address}", highlight=False)
    return rc


@command(lab_app, "status")
def status(g: Globals, lab_dir: DirOption = None) -> int:
    """Hosts, programs, pids and the certificate each endpoint serves now."""
    from certmgr.lab import lab_status

    target = _dir(g, lab_dir)
    data = lab_status(target)
    if data is None:
        raise LabError(f"no lab in {target}; start one with certmgr lab up")
    problems = _problems(data)
    if g.json:
        g.emit_json(data)
    else:
        _print_status(g, data)
    return 1 if problems else 0


def _problems(data: dict[str, Any]) -> list[str]:
    if data["status"] != "up":
        return []
    out = []
    for host in data["hosts"]:
        for prog in host["programs"]:
            if prog["pid"] is None:
                out.append(f"{host['name']}: {prog['kind']} is not running")
            out += [f"{host['name']}: {prog['kind']} {e['port']}: {e['error']}"
                    for e in prog["endpoints"] if e.get("error")]
    return out


def _print_status(g: Globals, data: dict[str, Any]) -> None:
    g.out.print(f"lab {data['dir']}: {data['status']} ({data['layout']} layout)",
                highlight=False)
    for host in data["hosts"]:
        g.out.print(f"  {host['host']}  {host['address']}  {host['ssh']['url']}",
                    highlight=False)
        for prog in host["programs"]:
            ports = " ".join(f"{e['port']}" + ("" if e["tls"] == "direct" else f"/{e['tls']}")
                             for e in prog["endpoints"])
            served = (prog["sha256"] or "-")[:16]
            pid = prog["pid"] if prog["pid"] is not None else "stopped"
            g.out.print(f"    {prog['kind']:<8} pid {pid!s:<8} {served:<16}  {ports}",
                        highlight=False)
    for line in _problems(data):
        g.err.print(f"problem: {line}", highlight=False)


@command(lab_app, "down")
def down(g: Globals, lab_dir: DirOption = None) -> None:
    """Stop every lab process, remove namespaces, veths, mounts and the lab's files."""
    from certmgr.lab import lab_down, unregister_hosts

    target = _dir(g, lab_dir)
    with _progress(g, 4) as bar:
        task = bar.add_task("lab down", total=None)
        state = lab_down(target, progress=lambda t: bar.update(task, description=t))
    if state is None:
        g.info(f"no lab in {target}: nothing to do")
        return
    try:
        unregister_hosts(g.repository(), state)
    except CertmgrError as exc:
        g.err.print(f"warning: could not remove the lab's hosts from the repository: "
                    f"{exc.message}", highlight=False)
    if g.json:
        g.emit_json({"dir": state.dir, "removed": [h.name for h in state.hosts]})
    else:
        g.out.print(f"lab in {state.dir} is down; nothing of it is left", highlight=False)


@command(lab_app, "exec", context_settings={"allow_interspersed_args": False})
def exec_(
    g: Globals,
    host: Annotated[str, typer.Argument(help="lab1, lab2... (or lab:lab1).")],
    argv: Annotated[list[str], typer.Argument(help="The command and its arguments "
                                                    "(put -- before it).")],
    lab_dir: DirOption = None,
) -> int:
    """Run a command inside a lab host (its network, mounts and hostname)."""
    from certmgr.lab import load_state

    target = _dir(g, lab_dir)
    state = load_state(target)
    if state is None or state.status != "up":
        raise LabError(f"no running lab in {target}; start one with certmgr lab up")
    name = host.removeprefix("lab:")
    match = next((h for h in state.hosts if h.name == name), None)
    if match is None:
        raise LabError(f"the lab has no host {name} (it has: "
                       f"{', '.join(h.name for h in state.hosts)})")
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise LabError("lab exec: give the command to run after --")
    # The command's own stdin/stdout/stderr: lab exec is a shell into the host.
    return subprocess.call([*match.host().info.nsenter(), *argv])
