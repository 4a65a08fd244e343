"""Round-trip-safe edits of one setting in a program's configuration file.

Discovery records where each slot setting is written (file, line, directive);
deploy changes only the value on that line (or, for XML, in that element's
attribute) and keeps every other byte: comments, order, indentation, quoting.
A setting the file does not have yet is added on new lines right after another
setting's line, with its indentation.
"""

from __future__ import annotations

import re

from certmgr.deploy.model import SettingRef
from certmgr.errors import ConfigError
from certmgr.programs.styles import LineStyle

__all__ = ["edit_setting", "insert_setting"]


def edit_setting(text: str, ref: SettingRef, value: str, style: LineStyle) -> str:
    """Return ``text`` with the setting ``ref`` now holding ``value``.

    ``style`` is the program's way of writing the line (its spec's
    ``line_style(directive)``). The search starts at ``ref.line`` and, except
    for multi-line styles (XML attributes), must match on that line.

    Raises:
        ConfigError: the directive is not where discovery found it (the file changed).
    """
    lines = text.splitlines(keepends=True)
    if not 1 <= ref.line <= len(lines):
        raise ConfigError(f"{ref.path} has no line {ref.line} any more; run discover again",
                          path=ref.path, line=ref.line)
    start = sum(len(line) for line in lines[: ref.line - 1])
    end = len(text) if style.multiline else start + len(lines[ref.line - 1])
    pattern = re.compile(style.pattern.format(d=re.escape(ref.directive)))
    match = pattern.search(text, start, end)
    if match is not None and match.group("value") == "\\":
        match = None  # "directive \" : the value is on the next line
    if match is None and style.continued and ref.line < len(lines):
        # the value on the next line (which ends the search)
        end += len(lines[ref.line])
        match = re.compile(style.continued.format(d=re.escape(ref.directive))).search(
            text, start, end)
    if match is None:
        raise ConfigError(f"{ref.path} line {ref.line} no longer sets {ref.directive}; run "
                          "discover again", path=ref.path, line=ref.line)
    if match.group("value").endswith("\\") and text[match.end("value"):].startswith(
            ("\n", "\r\n")):
        raise ConfigError(f"{ref.path} line {ref.line}: the value of {ref.directive} is split "
                          "over two lines by a backslash; write it on one line, then deploy "
                          "again", path=ref.path, line=ref.line)
    if ref.index:
        return _edit_list_value(text, ref, match.start("value"), end, value, style.list_item)
    new = style.quote(match.group("value"), value)
    return text[: match.start("value")] + new + text[match.end("value"):]


def _edit_list_value(text: str, ref: SettingRef, start: int, end: int, value: str,
                     item: str) -> str:
    """Replace value number ``ref.index`` of a list (``a.pem, b.pem``) that starts at ``start``."""
    values = list(re.finditer(item, text[start:end].split("#", 1)[0]))
    if ref.index >= len(values):
        raise ConfigError(f"{ref.path} line {ref.line} no longer lists a file number "
                          f"{ref.index + 1} in {ref.directive}; run discover again",
                          path=ref.path, line=ref.line)
    found = values[ref.index]
    return text[: start + found.start()] + value + text[start + found.end():]


def insert_setting(text: str, anchor: SettingRef, new_lines: list[str]) -> str:
    """Return ``text`` with ``new_lines`` added right after the line of ``anchor``.

    The new lines take the anchor line's indentation. The anchor must be a line of
    its own that starts with its directive (not, say, Postfix's ``-o name=value``
    inside a master.cf service), else a line added after it could mean something else.

    Raises:
        ConfigError: the anchor is not where discovery found it, or not a line of its own.
    """
    lines = text.splitlines(keepends=True)
    if not 1 <= anchor.line <= len(lines):
        raise ConfigError(f"{anchor.path} has no line {anchor.line} any more; run discover "
                          "again", path=anchor.path, line=anchor.line)
    line = lines[anchor.line - 1]
    found = re.match(rf"(?i)([ \t]*){re.escape(anchor.directive)}(?![\w-])", line)
    if found is None:
        raise ConfigError(f"{anchor.path} line {anchor.line}: a setting cannot be added next "
                          f"to {anchor.directive} there; add {new_lines[0]!r} by hand",
                          path=anchor.path, line=anchor.line)
    end = "\r\n" if line.endswith("\r\n") else "\n"
    if not line.endswith(end):
        lines[anchor.line - 1] = line + end
    added = [found.group(1) + new + end for new in new_lines]
    return "".join(lines[:anchor.line] + added + lines[anchor.line:])
