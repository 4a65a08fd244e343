"""The registry of programs: one spec per program, and what the engines rely on it for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import certmgr.programs
from certmgr.programs import PROGRAMS, ServiceKind, spec_for
from certmgr.programs.base import ServiceAdapter
from certmgr.programs.lab import LabProgram
from certmgr.programs.spec import ProgramSpec

PROGRAMS_DIR = Path(certmgr.programs.__file__).parent
# LAYERS.md: programs sits below these.
HIGHER = ("certmgr.deploy", "certmgr.checks", "certmgr.lab", "certmgr.monitor",
          "certmgr.repository", "certmgr.issuers", "certmgr.cli", "certmgr.app", "certmgr.demo")


def test_kinds_keep_their_values_and_order() -> None:
    # Stored in repositories and printed by every command: never renamed or reordered.
    assert [k.value for k in ServiceKind] == ["slapd", "apache2", "vsftpd", "postfix",
                                               "dovecot", "tomcat", "nginx", "haproxy", "exim4"]
    assert [s.name for s in PROGRAMS] == [k.value for k in ServiceKind]
    assert ServiceKind("nginx") is ServiceKind.NGINX
    assert ServiceKind.NGINX == "nginx" and f"{ServiceKind.NGINX.value}" == "nginx"


def test_an_unknown_program_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="exim9"):
        spec_for("exim9")


@pytest.mark.parametrize("spec", PROGRAMS, ids=lambda s: s.name)
def test_every_spec_is_whole(spec: ProgramSpec) -> None:
    assert spec_for(spec.name) is spec and spec.kind.spec is spec
    adapter = spec.adapter
    assert isinstance(adapter, ServiceAdapter) and adapter.name == spec.name
    assert adapter.kind is spec.kind
    assert spec.title and spec.unit and spec.style.name
    assert set(spec.new_lines) <= {"key", "chain", "ca"}
    test = spec.config_test_spec
    if test is not None and test.read_only:
        assert test.patterns, "check can only report a read-only test's complaints by pattern"
    lab = spec.lab
    assert lab is None or (isinstance(lab, LabProgram) and lab.name == spec.name)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", sorted(PROGRAMS_DIR.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PROGRAMS_DIR)))
def test_programs_import_nothing_above_them(path: Path) -> None:
    higher = [m for m in _imports(path) if m.startswith(HIGHER)]
    assert higher == [], f"{path.name} imports {higher}: a spec gives data, deploy acts on it"
