"""Exim's configuration grammar, as ``readconf.c`` reads the main section.

Per physical line, in Exim's order: macros are substituted (in the order they
were defined, a name matching where no letter, digit or underscore precedes
it), then ``.ifdef``/``.ifndef``/``.elifdef``/``.elifndef``/``.else``/``.endif``
(true when the line had a substitution), then ``.include`` and
``.include_if_exists``, then comments (``#`` first on the line, even inside a
continuation); a trailing backslash continues the line. A logical line starting
with an upper-case letter defines a macro (``NAME = value``, ``NAME == value``
redefines it); the others set options (``name = value``, ``hide name = value``).
The main section ends at the first ``begin`` line.

Nothing here expands ``$`` strings: a value holding one is returned as written
and its reader decides (discovery reports it as not understood).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from certmgr.errors import ConfigError

__all__ = ["Macro", "MainReader", "MainSection", "Option", "split_list"]

_MACRO_DEF = re.compile(r"^([A-Z][A-Za-z0-9_]*)\s*(==?)\s*(.*)$", re.S)
_OPTION = re.compile(r"^(?:hide\s+)?([a-z][a-z0-9_]*)\s*(?:=\s*(.*))?$", re.S)
_NAMED_LIST = re.compile(r"^(?:domain|host|address|localpart)list(?:_cache)?\s")
_DIRECTIVE = re.compile(r"^\.(ifdef|ifndef|elifdef|elifndef|else|endif|include_if_exists|"
                        r"include)\b\s*(.*)$")
MAX_LINES = 200_000


@dataclass
class Macro:
    """A macro as defined last: its value, and where that definition is written.

    ``default`` is True for a definition inside ``.ifndef`` of its own name: a
    fallback the configuration gives when nobody defined it (Debian's
    ``MAIN_TLS_CERTIFICATE = CONFDIR/exim.crt``).
    """

    name: str
    value: str
    path: str
    line: int
    default: bool = False
    editable: bool = True  # the value starts on the definition's own line


@dataclass(frozen=True)
class Option:
    """An option of the main section: its value after macros, as written before them, and where."""

    name: str
    value: str
    raw: str
    path: str
    line: int
    editable: bool = True  # the value starts on the option's own line


@dataclass
class MainSection:
    """What the main section set: macros (in definition order) and options (the last wins)."""

    macros: dict[str, Macro] = field(default_factory=dict)
    options: dict[str, Option] = field(default_factory=dict)
    ended: bool = False  # a ``begin`` line was reached


@dataclass
class _Cond:
    active: bool       # lines here are read
    taken: bool        # a branch of this block was true already
    parent: bool       # the enclosing block is read
    names: str = ""    # the .ifndef's text (for defaults)


class MainReader:
    """Reads files into one :class:`MainSection`, as Exim reads them one after another.

    ``read_file`` raises ConfigError (file and line) on an unbalanced conditional,
    a missing ``.include`` or an include cycle.
    """

    def __init__(self, read: Callable[[str], str | None]) -> None:
        self._read = read
        self.section = MainSection()
        self._stack: list[str] = []
        self._lines = 0

    def define(self, name: str, value: str, *, path: str, line: int = 0) -> None:
        """Define ``name`` unless it is (update-exim4.conf's seeded ``.ifndef`` macros)."""
        if name not in self.section.macros:
            self.section.macros[name] = Macro(name, value, path, line, default=True)

    def read_file(self, path: str, *, required: bool = True, from_path: str | None = None,
                  from_line: int | None = None) -> None:
        if self.section.ended:
            return
        if path in self._stack:
            raise ConfigError(f"include cycle: {path} includes itself", path=from_path or path,
                              line=from_line)
        if len(self._stack) >= 16:
            raise ConfigError(f"includes nested deeper than 16 at {path}",
                              path=from_path or path, line=from_line)
        text = self._read(path)
        if text is None:
            if required:
                raise ConfigError(f"{path} (included) does not exist", path=from_path or path,
                                  line=from_line)
            return
        self._stack.append(path)
        try:
            self._read_lines(path, text)
        finally:
            self._stack.pop()

    def _read_lines(self, path: str, text: str) -> None:
        conds: list[_Cond] = []
        pending: tuple[int, str, str] | None = None  # first line, text after macros, raw
        first_raw = ""
        for number, physical in enumerate(text.splitlines(), 1):
            self._lines += 1
            if self._lines > MAX_LINES:
                raise ConfigError(f"more than {MAX_LINES} configuration lines", path=path,
                                  line=number)
            reading = not conds or conds[-1].active
            stripped = physical.strip()
            defining = _MACRO_DEF.match(stripped) if pending is None else None
            if defining:  # the name being defined is not substituted, its value is
                value, hit = self._substitute(defining.group(3))
                line = f"{defining.group(1)} {defining.group(2)} {value}"
            else:
                line, hit = self._substitute(stripped)
            raw_line = stripped
            directive = _DIRECTIVE.match(line)
            if directive:
                self._directive(path, number, directive.group(1), directive.group(2), hit,
                                conds, reading)
                continue
            if not reading or not line or line.startswith("#"):
                continue
            if pending is not None:
                first, text_so_far, raw_so_far = pending
                line, raw_line = text_so_far + line, raw_so_far + raw_line
            else:
                first, first_raw = number, raw_line
            if line.endswith("\\"):
                pending = (first, line[:-1], raw_line[:-1])
                continue
            pending = None
            self._logical(path, first, line, raw_line, conds, _value_on(first_raw))
            if self.section.ended:
                return
        if pending is not None:
            self._logical(path, pending[0], pending[1], pending[2], conds, _value_on(first_raw))
        if conds:
            raise ConfigError(f"{path}: .if without .endif at the end of the file", path=path,
                              line=number if text else None)

    def _directive(self, path: str, number: int, word: str, rest: str, hit: bool,
                   conds: list[_Cond], reading: bool) -> None:
        if word in ("ifdef", "ifndef"):
            true = hit if word == "ifdef" else not hit
            conds.append(_Cond(reading and true, true, reading,
                               rest.strip() if word == "ifndef" else ""))
        elif word in ("elifdef", "elifndef", "else", "endif"):
            if not conds:
                raise ConfigError(f"{path}:{number}: .{word} without .ifdef/.ifndef",
                                  path=path, line=number)
            top = conds[-1]
            if word == "endif":
                conds.pop()
            elif word == "else":
                top.active, top.taken, top.names = top.parent and not top.taken, True, ""
            else:
                true = hit if word == "elifdef" else not hit
                top.active = top.parent and not top.taken and true
                top.taken = top.taken or true
                top.names = ""
        elif reading:
            name = rest.strip().strip('"')
            if not name:
                raise ConfigError(f"{path}:{number}: .{word} needs a file name", path=path,
                                  line=number)
            if word == "include" and not name.startswith("/"):
                name = posixpath.normpath(posixpath.join(posixpath.dirname(path), name))
            self.read_file(name, required=word == "include", from_path=path, from_line=number)

    def _logical(self, path: str, line_no: int, line: str, raw: str,
                 conds: list[_Cond], editable: bool) -> None:
        line = line.strip()
        if line.startswith("begin ") or line == "begin":
            self.section.ended = True
            return
        if _NAMED_LIST.match(line):
            return  # domainlist local_domains = ...: not an option
        macro = _MACRO_DEF.match(line)
        if macro:
            name, op, value = macro.groups()
            known = self.section.macros.get(name)
            if op == "=" and known is not None and not known.default:
                raise ConfigError(f"{path}:{line_no}: macro {name} is defined twice (use == "
                                  "to redefine it)", path=path, line=line_no)
            default = any(c.names.split()[:1] == [name] for c in conds)
            if known is not None and known.default and default:
                return  # update-exim4.conf's seeded value (or an earlier default) stays
            self.section.macros[name] = Macro(name, value.strip(), path, line_no, default,
                                              editable)
            return
        option = _OPTION.match(line)
        if option is None:
            raise ConfigError(f"{path}:{line_no}: not an option setting: {line[:60]}",
                              path=path, line=line_no)
        raw_value = raw.split("=", 1)[1].strip() if "=" in raw else ""
        self.section.options[option.group(1)] = Option(
            option.group(1), (option.group(2) or "").strip(), raw_value, path, line_no,
            editable)

    def _substitute(self, line: str) -> tuple[str, bool]:
        """``line`` with every macro replaced (definition order), and whether any was."""
        hit = False
        for macro in self.section.macros.values():
            if macro.name not in line:
                continue
            out, i = [], 0
            while True:
                j = line.find(macro.name, i)
                if j < 0:
                    break
                if j > 0 and (line[j - 1].isalnum() or line[j - 1] == "_"):
                    out.append(line[i:j + len(macro.name)])
                else:
                    out.append(line[i:j] + macro.value)
                    hit = True
                i = j + len(macro.name)
            out.append(line[i:])
            line = "".join(out)
        return line, hit


def _value_on(first: str) -> bool:
    """Whether a setting's first physical line holds (the start of) its value."""
    value = first.split("=", 1)[1] if "=" in first else ""
    return bool(value.strip().rstrip("\\").strip())


def split_list(value: str) -> list[str]:
    """The items of an Exim list: ``:`` between items, ``::`` a literal colon, ``<;`` (or any
    ``<`` and punctuation) another separator; items are stripped, empty ones dropped."""
    value = value.strip()
    sep = ":"
    if len(value) >= 2 and value[0] == "<" and not value[1].isalnum() and \
            not value[1].isspace():
        sep, value = value[1], value[2:]
    items: list[str] = []
    current = ""
    i = 0
    while i < len(value):
        if value[i] == sep:
            if value[i + 1:i + 2] == sep:
                current += sep
                i += 2
                continue
            items.append(current)
            current = ""
        else:
            current += value[i]
        i += 1
    items.append(current)
    return [item.strip() for item in items if item.strip()]
