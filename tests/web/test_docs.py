"""docs/web.md's route table is the authorization table, not a copy that drifts."""

from __future__ import annotations

from pathlib import Path

from certmgr.web.security import POLICY

DOC = Path(__file__).resolve().parents[2] / "docs" / "web.md"
_SCOPE = {None: "", "path": "the `{host}` in the path", "body": "the hosts of the body's targets"}


def route_table() -> str:
    rows = sorted(((method, path, rule) for (method, path), rule in POLICY.items()
                   if path.startswith("/api/")), key=lambda row: (row[1], row[0]))
    lines = ["| method | route | role | host restriction applies to |", "|---|---|---|---|"]
    lines += [f"| {method} | `{path}` | {rule.role or 'anyone'} | {_SCOPE[rule.hosts]} |"
              for method, path, rule in rows]
    return "\n".join(lines)


def test_the_documented_routes_are_the_authorization_table() -> None:
    text = DOC.read_text()
    documented = text.split("<!-- routes:begin -->\n", 1)[1].split("\n<!-- routes:end -->", 1)[0]
    assert documented == route_table(), (
        "docs/web.md's route table is out of date; put this between its markers:\n"
        + route_table())
