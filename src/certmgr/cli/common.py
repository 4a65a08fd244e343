"""What every command shares: the common options, output, and error translation.

Commands are plain functions taking ``g: Globals`` first, registered with
:func:`command`. The decorator adds the common options (``--db``, ``--home``,
``--json``, ``--root``, ``-v``, ``-q``, ``--debug``) to every command, so they
work after the subcommand (``certmgr discover --root DIR --json``) as well as
before it, and turns certmgr's errors into one line on stderr and an exit
code: 0 done, 1 ran and found problems, 2 bad usage or input.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import os
import sys
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from certmgr import redact
from certmgr.errors import CertmgrError, UsageError
from certmgr.inputs import printable

if TYPE_CHECKING:
    from rich.console import Console

    from certmgr.repository import Repository

__all__ = ["EXIT_INTERNAL", "Globals", "command", "default_home", "json_default"]

EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE: a bug in certmgr, not in the input

F = TypeVar("F", bound=Callable[..., Any])


def default_home() -> Path:
    """``/var/lib/certmgr`` for root, ``~/.local/share/certmgr`` otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/certmgr")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "certmgr"


@dataclass
class Globals:
    """The common options of one invocation, and its consoles."""

    db: str | None = None
    home: Path = field(default_factory=default_home)
    json: bool = False
    root: Path | None = None
    verbose: int = 0
    quiet: bool = False
    debug: bool = False
    _repository: Repository | None = field(default=None, repr=False)

    @property
    def out(self) -> Console:
        """Human output on stdout; with ``--json`` it goes to stderr so stdout stays JSON."""
        return _console(stderr=self.json, quiet=self.quiet)

    @property
    def err(self) -> Console:
        """Messages, warnings and progress bars: always stderr."""
        return _console(stderr=True, quiet=False)

    def emit_json(self, data: Any) -> None:
        """Write one JSON document to stdout (secrets redacted, as in every output)."""
        text = redact.json_text(json.dumps(data, indent=2, default=json_default), indent=2)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def info(self, message: str) -> None:
        """A progress or status line on stderr, unless ``-q``."""
        if not self.quiet:
            self.err.print(message, highlight=False)

    def debug_log(self, message: str) -> None:
        if self.verbose or self.debug:
            self.err.print(f"[dim]{message}[/dim]", highlight=False)

    def repository(self) -> Repository:
        """The repository named by ``--db`` (default: SQLite in the home), opened once.

        Creates the home and the repository on first use.
        """
        if self._repository is None:
            from certmgr.repository import open_repository

            self._repository = open_repository(db_url=self.db, home=self.home)
        return self._repository

    def existing_repository(self) -> Repository | None:
        """:meth:`repository` if there is one (``--db``, or a database in the home), else None.

        For commands that only read it (``scan``, ``check``): on a home never used they
        load no database library and create nothing.
        """
        # The name is repository.db.DB_FILE_NAME, not imported: it would load the package.
        if self._repository is None and not self.db and not (self.home / "certmgr.db").exists():
            return None
        return self.repository()

    def close(self) -> None:
        if self._repository is not None:
            self._repository.close()
            self._repository = None


@functools.cache
def _console(*, stderr: bool, quiet: bool) -> Console:
    # Imported here: a command that prints only JSON, or nothing under -q, never needs it.
    from rich.console import Console

    if quiet and not stderr:
        return Console(file=open(os.devnull, "w"), stderr=False)  # lives as long as the process
    # Duck-typed: rich only writes, flushes and asks isatty, fileno and encoding.
    stream = typing.cast("typing.IO[str]", _Redacting(stderr))
    return Console(file=stream, stderr=stderr, soft_wrap=False)


class _Redacting:
    """stdout or stderr (looked up at each write, as rich does), every write passed
    through :func:`certmgr.redact.text`.

    Every console writes through one: whatever a command prints (a URL with a
    password, a remembered secret inside an error), the secret does not reach the
    terminal or a log that captures it.
    """

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    @property
    def _stream(self) -> typing.TextIO:
        return sys.stderr if self._stderr else sys.stdout

    def write(self, text: str) -> int:
        return self._stream.write(redact.text(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"


def json_default(value: Any) -> Any:
    """JSON for the values certmgr's dataclasses hold (paths, enums, datetimes, bytes)."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# -- the common options --------------------------------------------------------

_COMMON: list[tuple[str, Any, Any]] = [
    ("db", Annotated[str | None, typer.Option(
        "--db", envvar="CERTMGR_DB", show_envvar=True, metavar="URL",
        help="Repository URL: sqlite:///FILE or postgresql://... (default: SQLite in the home).",
    )], None),
    ("home", Annotated[Path | None, typer.Option(
        "--home", envvar="CERTMGR_HOME", show_envvar=True, metavar="DIR",
        help="certmgr's data directory (default /var/lib/certmgr for root, "
             "~/.local/share/certmgr otherwise).",
    )], None),
    ("json_", Annotated[bool, typer.Option(
        "--json", help="Machine output: one JSON document on stdout, nothing else.")], False),
    ("root", Annotated[Path | None, typer.Option(
        "--root", help="Treat DIR as the filesystem root of the local host (files only).",
        metavar="DIR")], None),
    ("verbose", Annotated[int, typer.Option(
        "-v", "--verbose", count=True, metavar="", show_default=False,
        help="Say more (repeat for even more).")], 0),
    ("quiet", Annotated[bool, typer.Option("-q", "--quiet", help="Say only what failed.")],
     False),
    ("debug", Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks for errors.")], False),
]
_COMMON_NAMES = [name for name, _, _ in _COMMON]
_CTX = "certmgr_context_"


def common_parameters() -> list[inspect.Parameter]:
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=annotation)
            for name, annotation, default in _COMMON]


def globals_from(ctx: typer.Context | None, values: dict[str, Any]) -> Globals:
    """Merge options given before the subcommand (in ``ctx.obj``) with those after it."""
    base = Globals()
    node: Any = ctx
    while node is not None:
        if isinstance(node.obj, Globals):
            base = node.obj
            break
        node = node.parent
    changes: dict[str, Any] = {}
    if values.get("db") and not _from_environment(ctx, "db"):
        changes["db"] = values["db"]
    if values.get("home") and not _from_environment(ctx, "home"):
        changes["home"] = Path(values["home"])
    if values.get("json_"):
        changes["json"] = True
    if values.get("root"):
        changes["root"] = Path(values["root"])
    if values.get("verbose"):
        changes["verbose"] = base.verbose + int(values["verbose"])
    if values.get("quiet"):
        changes["quiet"] = True
    if values.get("debug"):
        changes["debug"] = True
    g = replace(base, **changes)
    _remember_secrets(g)
    if g.root is not None and not g.root.is_dir():
        raise UsageError(f"--root {g.root}: not a directory; give the directory that stands "
                         "for the host's /")
    return g


def _from_environment(ctx: typer.Context | None, name: str) -> bool:
    """True when the subcommand's value came from ``CERTMGR_DB``/``CERTMGR_HOME``: the root
    callback read the same variable, so the value given before the subcommand
    (``certmgr --home DIR list``) stays, where the variable would have replaced it."""
    if ctx is None:
        return False
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "ENVIRONMENT"


def _redacting_records() -> None:
    """Log records (certmgr's and the libraries') carry their message redacted."""
    make = logging.getLogRecordFactory()
    if getattr(make, "certmgr_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        with contextlib.suppress(Exception):  # a record whose args do not format stays as is
            record.msg, record.args = redact.text(record.getMessage()), ()
        return record

    factory.certmgr_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_redacting_records()


def _remember_secrets(g: Globals) -> None:
    """Secrets the common options and environment carry: never printed from here on."""
    from urllib.parse import unquote, urlsplit

    if g.db:
        with contextlib.suppress(ValueError):
            password = urlsplit(g.db).password
            redact.remember(password, unquote(password) if password else None)
    redact.remember(os.environ.get("CERTMGR_PASSPHRASE"))


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register ``func(g: Globals, ...)`` as a command of ``app`` with the common options."""

    def decorator(func: F) -> F:
        hints = typing.get_type_hints(func, include_extras=True)
        sig = inspect.signature(func)
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in sig.parameters.values() if p.name != "g"]

        @functools.wraps(func)
        def wrapper(**values: Any) -> Any:
            common = {k: values.pop(k) for k in _COMMON_NAMES}
            ctx = values.pop(_CTX)
            return run_guarded(lambda: globals_from(ctx, common),
                               lambda g: func(g, **_numbers_checked(values)))

        ctx_param = inspect.Parameter(_CTX, inspect.Parameter.KEYWORD_ONLY,
                                      annotation=typer.Context)
        params = own + common_parameters() + [ctx_param]
        wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=params, return_annotation=inspect.Signature.empty)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        app.command(name, **kwargs)(wrapper)
        return func

    return decorator


def _numbers_checked(values: dict[str, Any]) -> dict[str, Any]:
    # click's FloatRange lets NaN through (every comparison with it is false).
    for name, value in values.items():
        if isinstance(value, float) and value != value:
            option = "--" + name.rstrip("_").replace("_", "-")
            raise UsageError(f"{option} nan: give a number")
    return values


def run_guarded(make_globals: Callable[[], Globals], body: Callable[[Globals], Any]) -> Any:
    """Run a command body; translate certmgr errors into one stderr line and an exit code."""
    g: Globals | None = None
    try:
        g = make_globals()
        result = body(g)
    except CertmgrError as exc:
        _report(g, f"error: {exc.message}", exc)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except KeyboardInterrupt:
        sys.stderr.write("certmgr: interrupted\n")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - the boundary: a bug must not print a traceback
        _report(g, f"internal error: {type(exc).__name__}: {exc} "
                   "(this is a bug in certmgr; rerun with --debug for the traceback)", exc)
        raise typer.Exit(EXIT_INTERNAL) from None
    finally:
        if g is not None:
            g.close()
    if isinstance(result, int) and result:
        raise typer.Exit(result)
    return None


def _report(g: Globals | None, line: str, exc: BaseException) -> None:
    if (g is not None and g.debug) or "--debug" in sys.argv:
        traceback.print_exception(exc)
    # A message may quote what the user gave (a file's line, a name): never raw to a terminal.
    sys.stderr.write(redact.text(f"certmgr: {printable(line, keep=chr(10))}") + "\n")
