"""A Python with certmgr that another user (``nobody``) can run, wherever the checkout is.

A checkout in a private directory (a 0700 home, a ``mktemp -d`` folder) keeps its
virtualenv and sources from every other user. Rather than loosen its modes, the
tests that run certmgr as ``nobody`` get a virtualenv of their own in a
world-readable temporary directory, holding copies of certmgr and of the
distributions it needs (``make test``'s, found through their metadata).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import certmgr

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def nobody_imports_certmgr(python: str) -> bool:
    """True if ``nobody`` can start ``python`` and import certmgr from it."""
    proc = subprocess.run([*AS_NOBODY, python, "-c", "import certmgr.cli"], cwd="/",
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                          capture_output=True, check=False, timeout=120)
    return proc.returncode == 0


@contextmanager
def python_for_nobody() -> Iterator[str]:
    """This Python if ``nobody`` can use it, else one in a world-readable temp directory."""
    if nobody_imports_certmgr(sys.executable):
        yield sys.executable
        return
    top = Path(tempfile.mkdtemp(prefix="certmgr-nobody-"))
    try:
        top.chmod(0o755)
        env = top / "venv"
        venv.create(env, with_pip=False, symlinks=True)
        purelib = sysconfig.get_path("purelib", vars={"base": str(env),
                                                      "platbase": str(env)})
        _copy_certmgr_and_its_requirements(Path(purelib))
        _readable_by_all(top)  # whatever the umask
        yield str(env / "bin" / "python")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _copy_certmgr_and_its_requirements(site: Path) -> None:
    # certmgr is installed editable (its files point at the checkout): copy the package.
    package = Path(certmgr.__file__).parent
    shutil.copytree(package, site / "certmgr", ignore=shutil.ignore_patterns("__pycache__"),
                    copy_function=shutil.copyfile)
    for dist in _requirements("certmgr"):
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file)))
            target = (site / file).resolve()
            if target.is_relative_to(site) and source.is_file():  # not bin/ scripts
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


def _requirements(name: str) -> list[metadata.Distribution]:
    """The installed distributions ``name`` needs (no extras), recursively."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [req for req in metadata.requires(name) or ()]
    while todo:
        req = Requirement(todo.pop())
        key = canonicalize_name(req.name)
        if key in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen[key] = metadata.distribution(key)
        todo.extend(seen[key].requires or ())
    return list(seen.values())


def _readable_by_all(top: Path) -> None:
    for path in [top, *top.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
        elif path.is_file() and not path.is_symlink():
            path.chmod(path.stat().st_mode & 0o777 | 0o444)
