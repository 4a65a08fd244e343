"""What a use case may need from the face that calls it: the repository (opened on first
use, so a command that needs none never creates one), the home, the ``--root`` tree.

The CLI's ``Globals`` is one; the web console will hold its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["Context", "SimpleContext"]


class Context(Protocol):
    """The repository, home and local root a use case runs against."""

    @property
    def home(self) -> Path: ...

    @property
    def root(self) -> Path | None: ...

    def repository(self) -> Repository: ...

    def existing_repository(self) -> Repository | None:
        """The repository if there is one already, else None (nothing is created)."""
        ...


class SimpleContext:
    """A :class:`Context` over a repository already open (scripts, tests, the demo)."""

    def __init__(self, repository: Repository, home: Path, root: Path | None = None) -> None:
        self._repository = repository
        self._home = home
        self._root = root

    @property
    def home(self) -> Path:
        return self._home

    @property
    def root(self) -> Path | None:
        return self._root

    def repository(self) -> Repository:
        return self._repository

    def existing_repository(self) -> Repository | None:
        return self._repository
