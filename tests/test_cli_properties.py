"""A property-based test over the whole command line (issue 14).

Hypothesis drives every command with values drawn from what its options
declare (typer's types and ``min``/``max`` ranges, found by walking the app)
and from hostile files (a FIFO, a directory, a device, binary garbage, a file
over the size cap, a symlink), and drives ``monitor.toml`` and ``apply
FILE.toml`` from their schema. Whatever it draws, certmgr must:

- exit 0, 1 or 2: never 70 (a bug), never an uncaught exception;
- print no traceback;
- on exit 2 leave nothing half-written: no new file anywhere in the sandbox
  besides the repository's own files in the home.

Each example runs in-process (typer's runner) on a fresh copy of a small home
(a CA, one issued certificate) with ``--root`` an empty directory, so nothing
outside the example's temporary directory is read or written. Commands that
reach beyond it are left out or held in: ``lab`` and ``demo`` (they start server
programs), ``web`` (serves until stopped), ``monitor --watch`` (runs until
stopped), ``--metrics-listen`` (binds a port), ``host add --check`` (dials
out); scan targets are loopback addresses and refused shapes only, never names
to resolve.

Sized for a 2-core CI: a few examples per command (``CERTMGR_PBT_EXAMPLES``
raises it for a longer hunt), no deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from certmgr.cli import app

EXAMPLES = int(os.environ.get("CERTMGR_PBT_EXAMPLES", "15"))
PBT = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_COMMON = {"db", "home", "json_", "root", "verbose", "quiet", "debug"}
_LEFT_OUT = {("lab",), ("demo",),  # start real server programs: the lab tests' job
             ("web",)}  # serves until stopped: tests/web/test_web_cli.py drives it
_HELD = {"watch", "metrics_listen", "check"}  # never drawn: see the module docstring
_REPOSITORY_FILES = ("certmgr.db", "master.key")


def _leaves() -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)  # typer vendors click: a group has commands
        if subs:
            for name, sub in sorted(subs.items()):
                if (*path, name)[:1] not in _LEFT_OUT:
                    walk(sub, (*path, name))
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), ())
    return out


LEAVES = _leaves()


# -- the sandbox: a home, an empty --root, and hostile files ---------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the built-in CA and one issued certificate, made once."""
    home = tmp_path_factory.mktemp("template") / "home"
    runner = CliRunner()
    for args in (["ca", "init"], ["define", "www.example.com", "--san", "example.com"],
                 ["issue", "www.example.com"], ["export", "www.example.com", "--out",
                                                 str(home.parent / "export")]):
        result = runner.invoke(app, args, env={"CERTMGR_HOME": str(home)})
        assert result.exit_code == 0, (args, result.stderr)
    return home


@contextmanager
def sandbox(template: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="certmgr-pbt-") as name:
        box = Path(name)
        shutil.copytree(template, box / "home")
        shutil.copytree(template.parent / "export", box / "files")
        files = box / "files"
        (box / "root").mkdir()
        (files / "empty").write_bytes(b"")
        (files / "binary").write_bytes(bytes(range(256)) * 8)
        (files / "control.txt").write_bytes(b"a\x1b[31mb:443\n\x00:1\n")
        (files / "dir").mkdir()
        os.mkfifo(files / "fifo")
        with open(files / "huge", "wb") as f:  # sparse: over the 16 MiB cap, no disk used
            f.truncate(17 * 1024 * 1024)
        (files / "link.pem").symlink_to(files / "cert.pem")
        (files / "defs.toml").write_text(
            '[definitions."api.example.com"]\nsans = ["api2.example.com"]\n')
        (files / "monitor.toml").write_text('[monitor]\ninterval = "5m"\n')
        # Options with a default of "." (export --out) write to the working directory.
        (box / "cwd").mkdir()
        cwd = os.getcwd()
        os.chdir(box / "cwd")
        try:
            yield box
        finally:
            os.chdir(cwd)


def _snapshot(box: Path) -> set[str]:
    return {str(p.relative_to(box)) for p in box.rglob("*")}


def _allowed(new: str) -> bool:
    parts = Path(new).parts
    return len(parts) == 2 and parts[0] == "home" and parts[1].startswith(_REPOSITORY_FILES)


# -- values from what each parameter declares ----------------------------------------------

_CONTROL = st.text(st.sampled_from("a.-\x00\x1b\n\t\x7f\u202e*/: "), max_size=12)
_TEXT = st.one_of(st.text(max_size=16), _CONTROL)
_DURATIONS = st.one_of(
    st.sampled_from(["397d", "30d", "1s", "0d", "36525d", "36526d", "99999999d", "1d12h",
                     "9" * 30 + "d", "-1d", "", "nan", "1e300", "5m", "0.5s"]),
    st.from_regex(r"[0-9]{1,25}[smhdw]", fullmatch=True), _TEXT)
_NAMES = st.one_of(st.sampled_from(["www.example.com", "api.example.com", "*.example.com",
                                    "198.18.0.1", "::1", "-bad", "a..b", "x" * 300]), _CONTROL)
_SERIALS = st.one_of(st.integers(-5, 1 << 170).map(lambda n: format(n, "x")),
                     st.sampled_from(["0x1234", "12:34", "zz", "", "f" * 41]), _TEXT)
_TARGETS = st.sampled_from([
    "127.0.0.1:1", "127.0.0.1:1/smtp", "127.0.0.1:1/tls", "[::1]:1", "127.0.0.0/30:1,2",
    ":443", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.0/8:1-65535", "127.0.0.0/12:1-2",
    "a\x1bb:443", "\x00:1", "127.0.0.1:1/bogus", "127.0.0.1", "[::1]", "127.0.0.1:1-",
    "127.0.0.1:2-1", "", "[::1:1", "127.0.0.1/33:1"])
_HOSTS = st.sampled_from(["local", "lab:nope", "ssh://root@127.0.0.1:1", "nope", "x\ny", ""])
_SSH_URLS = st.sampled_from(["ssh://root@127.0.0.1:1", "ssh://h:0", "ssh://h\nx", "http://x",
                             "ssh://root:pw@h", "ssh://[::1]:22", "ssh://h:99999", "ssh://"])
_KNOWN = {
    "key": st.sampled_from(["ec256", "ec384", "rsa2048", "ed25519", "rsa1", ""]),
    "format": st.sampled_from(["pem", "pkcs12", "jks", "der", "nope"]),
    "issuer": st.sampled_from(["builtin", "external", "nope", "a\nb"]),
    "name": _NAMES, "cn": _NAMES, "san": _NAMES, "add_san": _NAMES, "remove_san": _NAMES,
    "names": _NAMES, "validity": _DURATIONS, "renew_before": _DURATIONS,
    "expiring": _DURATIONS, "interval": _DURATIONS, "serial": _SERIALS, "targets": _TARGETS,
    "host": _HOSTS, "url": _SSH_URLS, "slot": _TEXT,
}
_IN_FILES = ["cert.pem", "key.pem", "chain.pem", "fullchain.pem", "defs.toml", "monitor.toml",
             "empty", "binary", "control.txt", "dir", "fifo", "huge", "link.pem", "missing"]
_OUT_PATHS = ["out/new", "dir", "fifo", "missing-dir/x/y", "cert.pem"]


def _number(param: Any) -> st.SearchStrategy[str]:
    kind = param.type.name
    low, high = getattr(param.type, "min", None), getattr(param.type, "max", None)
    if "float" in kind:
        edges = [x for x in (low, high) if x is not None]
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                         st.sampled_from([*map(str, edges), "1e300", "-0.0", "abc", "nan", "inf"]))
    lo = (low if low is not None else -(1 << 70)) - 2
    hi = (high if high is not None else 1 << 70) + 2
    return st.one_of(st.integers(lo, hi).map(str),
                     st.sampled_from([str(1 << 70), str(-(1 << 70)), "99999999999999999999",
                                      "1e3", "x"]))


def _value(param: Any, box: Path) -> st.SearchStrategy[str]:
    if param.name in _KNOWN:
        return _KNOWN[param.name]
    kind = param.type.name
    if "range" in kind or kind in ("integer", "float"):
        return _number(param)
    if kind in ("path", "file"):
        outputs = {"out", "csr_out", "save_chains"}
        names = _OUT_PATHS if param.name in outputs else _IN_FILES
        return st.sampled_from(names).map(lambda n: str(box / "files" / n))
    if kind == "choice":
        return st.one_of(st.sampled_from(list(param.type.choices)), _TEXT)
    return _TEXT


@st.composite
def command_line(draw: st.DrawFn, path: tuple[str, ...], cmd: Any, box: Path) -> list[str]:
    options: list[str] = []
    arguments: list[str] = []
    for param in cmd.params:
        if param.name in _COMMON or param.name in _HELD or param.name.startswith("certmgr_"):
            continue
        if param.param_type_name == "argument":
            many = param.nargs == -1
            count = draw(st.integers(1 if param.required else 0, 3 if many else 1))
            arguments += [draw(_value(param, box)) for _ in range(count)]
            continue
        if not param.required and not draw(st.booleans()):
            continue
        if getattr(param, "is_flag", False):
            options.append(draw(st.sampled_from([*param.opts, *param.secondary_opts])))
            continue
        for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
            options += [param.opts[0], draw(_value(param, box))]
    if path == ("host", "add"):
        options.append("--no-check")
    if path == ("monitor",):
        options.append("--once")
    if draw(st.booleans()):
        options.append("--json")
    return [*path, *options, "--root", str(box / "root"), *arguments]


# -- the properties ------------------------------------------------------------------------

def _run(box: Path, argv: list[str]) -> None:
    before = _snapshot(box)
    env = {"CERTMGR_HOME": str(box / "home"), "CERTMGR_DB": None, "CERTMGR_PASSPHRASE": None,
           "COLUMNS": "120", "HOME": str(box / "files")}
    result = CliRunner().invoke(app, argv, env=env, input="")
    out = result.stdout + result.stderr
    shown = " ".join(map(repr, argv))
    assert result.exit_code in (0, 1, 2), f"certmgr {shown}: exit {result.exit_code}\n{out}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"certmgr {shown}: {result.exception!r}\n{out}")
    assert "Traceback" not in out, f"certmgr {shown}\n{out}"
    if result.exit_code == 2:
        new = sorted(n for n in _snapshot(box) - before if not _allowed(n))
        assert not new, f"certmgr {shown}: exit 2 but wrote {new}\n{out}"


@pytest.mark.parametrize(("path", "cmd"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
@PBT
@given(data=st.data())
def test_every_command_on_drawn_input(template: Path, path: tuple[str, ...], cmd: Any,
                                      data: st.DataObject) -> None:
    with sandbox(template) as box:
        _run(box, data.draw(command_line(path, cmd, box), label="argv"))


# -- the TOML files, from their schema ----------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


_SCALARS = st.one_of(st.integers(-(1 << 70), 1 << 70), st.floats(), st.booleans(),
                     _DURATIONS, _TEXT)
_LOOPBACK = st.sampled_from(["127.0.0.1", "::1", "", "a\nb"])
_SCHEMA: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "monitor": {k: st.one_of(_DURATIONS, _SCALARS) for k in
                ("interval", "expiry_warning", "repeat", "probe_timeout")}
    | {"history": _SCALARS, "concurrency": _SCALARS,
       "metrics_listen": st.sampled_from(["127.0.0.1:0", "0.0.0.0:1", "x", ":99999"])},
    "renewal": {"enabled": _SCALARS, "notify": _SCALARS, "retry_base": _DURATIONS,
                "retry_max": _DURATIONS, "jitter": _SCALARS},
    "notify.email": {"host": _LOOPBACK, "port": _SCALARS, "from": _TEXT, "to": _TEXT,
                     "security": st.sampled_from(["starttls", "tls", "none", "x"]),
                     "timeout": _SCALARS, "username": _TEXT, "password_env": _TEXT},
    "notify.webhook": {"url": st.sampled_from(["http://127.0.0.1:1/", "https://[::1]:1/h",
                                               "file:///etc/passwd", "http://", "x"]),
                       "timeout": _SCALARS, "token_file": _TEXT},
}
_DEFINITION = {"cn": _NAMES, "sans": st.lists(_NAMES, max_size=3), "key": _KNOWN["key"],
               "validity": _DURATIONS, "renew_before": _DURATIONS, "issuer": _KNOWN["issuer"],
               "targets": st.lists(_TEXT, max_size=2), "bogus": _SCALARS}


@st.composite
def _table(draw: st.DrawFn, schema: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(schema)), unique=True, max_size=len(schema)))
    return {k: draw(schema[k]) for k in keys}


def _toml(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, table in sections.items():
        header = f"[[{name}]]" if name.startswith("notify.") else f"[{name}]"
        lines.append(header)
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@PBT
@given(data=st.data())
def test_monitor_toml_from_its_schema(template: Path, data: st.DataObject) -> None:
    names = data.draw(st.lists(st.sampled_from(sorted(_SCHEMA)), unique=True, min_size=1))
    text = _toml({n: data.draw(_table(_SCHEMA[n]), label=n) for n in names})
    with sandbox(template) as box:
        config = box / "files" / "drawn.toml"
        config.write_text(text)
        _run(box, ["monitor", "--once", "--no-renew", "--config", str(config),
                   "--root", str(box / "root")])


@PBT
@given(data=st.data())
def test_apply_toml_from_its_schema(template: Path, data: st.DataObject) -> None:
    names = data.draw(st.lists(_NAMES, min_size=1, max_size=3, unique=True), label="names")
    sections = {f"definitions.{json.dumps(n)}": data.draw(_table(_DEFINITION)) for n in names}
    if data.draw(st.booleans()):
        sections["defaults"] = data.draw(_table({k: v for k, v in _DEFINITION.items()
                                                 if k != "cn"}))
    text = _toml(sections)
    with sandbox(template) as box:
        config = box / "files" / "drawn.toml"
        config.write_text(text)
        _run(box, ["apply", str(config), "--root", str(box / "root")])


def test_the_walk_reaches_the_commands_that_take_input() -> None:
    paths = {p for p, _ in LEAVES}
    assert {("scan",), ("define",), ("ca", "revoke"), ("host", "add"), ("import",),
            ("monitor",), ("apply",), ("audit",)} <= paths
    assert not any(p[0] in ("lab", "demo") for p in paths)
