"""A small CA (root + intermediate) issuing deploy test material (EC keys: fast)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from certmgr.deploy.model import Material
from certmgr.pki import KeyType, generate_key
from certmgr.pki.build import issue_ca, issue_server, self_signed_root, subject_name
from certmgr.pki.write import encrypted_key_pem, key_pem

DAY = dt.timedelta(days=1)


@dataclass
class TestCA:
    __test__ = False  # not a pytest class

    def __post_init__(self) -> None:
        self.root_key = generate_key(KeyType.EC256)
        self.root = self_signed_root(self.root_key, subject_name("certmgr test root"), 30 * DAY)
        self.int_key = generate_key(KeyType.EC256)
        self.intermediate = issue_ca(self.root, self.root_key, self.int_key.public_key(),
                                     subject_name("certmgr test intermediate"), 20 * DAY)

    def material(self, definition: str, names: tuple[str, ...], *, version: int | None = None,
                 mismatched: bool = False, encrypted: bool = False) -> Material:
        key = generate_key(KeyType.EC256)
        cert = issue_server(self.intermediate, self.int_key, key.public_key(), list(names),
                            10 * DAY)
        written = generate_key(KeyType.EC256) if mismatched else key
        pem = encrypted_key_pem(written, "secret") if encrypted else key_pem(written)
        return Material(definition, cert, pem, (self.intermediate,), (self.root,), version)
