"""Build small configuration trees for adapter tests."""

from __future__ import annotations

from pathlib import Path

from certmgr.hosts.local import LocalHost
from certmgr.programs import Discovery, discover_host


def make_tree(root: Path, files: dict[str, str | bytes]) -> LocalHost:
    """Write ``files`` (program-side path -> content) under ``root``; a host for it."""
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    if "/etc/hostname" not in files:
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc/hostname").write_text("host.example.net\n")
    return LocalHost(root)


def discover(root: Path, files: dict[str, str | bytes]) -> Discovery:
    return discover_host(make_tree(root, files))
