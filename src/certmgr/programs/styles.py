"""How a configuration line sets a value: the line styles programs share, and their type.

A :class:`LineStyle` is a regex whose group ``value`` is the value deploy
replaces (``{d}`` stands for the escaped directive), and how a new value is
quoted. A program's spec names its style (``ProgramSpec.style``); styles only
one program uses live in that program's package.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EQUALS", "SPACE", "LineStyle"]


@dataclass(frozen=True)
class LineStyle:
    """One way of writing ``directive value`` in a configuration file.

    Attributes:
        name: for messages and tests.
        pattern: regex over the file; ``{d}`` is the escaped directive, group ``value``
            the value; it must match on the setting's recorded line.
        multiline: the value may sit lines below the directive's line (XML attributes).
        continued: the same setting with its value on the next line (a continuation
            line, or after a backslash), tried when ``pattern`` does not match; only
            when the directive ends its own line, so an indented next directive is
            never taken for a value.
        quote_spaces: quote a value with spaces, or one replacing a quoted value.
        xml_escape: escape ``& " <`` in the value.
        list_item: regex of one item of a list-valued setting (the second file of
            Postfix's ``smtpd_tls_chain_files``); a program whose lists have other
            separators says so in its style.
    """

    name: str
    pattern: str
    multiline: bool = False
    continued: str | None = None
    quote_spaces: bool = False
    xml_escape: bool = False
    list_item: str = r"[^\s,#]+"

    def quote(self, old: str, value: str) -> str:
        """``value`` written as it must appear in place of ``old``."""
        if self.quote_spaces and (old.startswith('"') or " " in value):
            return f'"{value}"'
        if self.xml_escape:
            return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        return value


# Apache, slapd.conf:  SSLCertificateFile /path   or   "quoted path"
SPACE = LineStyle("space", r'(?im)^(?P<lead>[ \t]*{d}[ \t]+)(?P<value>"[^"\n]*"|[^\s#]+)',
                  continued=r'(?im)^(?P<lead>[ \t]*{d}[ \t]*\\?\r?\n[ \t]+)'
                            r'(?P<value>"[^"\n]*"|[^\s#]+)',
                  quote_spaces=True)
# vsftpd key=value, Postfix key = value (also master.cf "-o key=value"), Dovecot key = <value
EQUALS = LineStyle(
    "equals", r"(?im)(?P<lead>(?:^|[ \t])(?:-o[ \t]+)?{d}[ \t]*=[ \t]*<?)(?P<value>[^\s#]+)",
    continued=r"(?im)(?P<lead>(?:^|[ \t])(?:-o[ \t]+)?{d}[ \t]*=[ \t]*\\?\r?\n[ \t]+<?)"
              r"(?P<value>(?![A-Za-z_][A-Za-z0-9_]*=)[^\s#]+)")
