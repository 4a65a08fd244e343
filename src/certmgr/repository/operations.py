"""Deployments (with the backups they can return to), observations and users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from certmgr.errors import InputError, NotFound
from certmgr.repository.certs import Certs
from certmgr.repository.inventory import split_target
from certmgr.repository.records import (
    BackupFile,
    DeploymentRecord,
    DeploymentState,
    ObservationRecord,
    UserRecord,
)
from certmgr.repository.tables import (
    CertificateRow,
    DefinitionRow,
    DeploymentFileRow,
    DeploymentRow,
    ObservationRow,
    UserRow,
    utcnow,
)

__all__ = ["OBSERVATIONS_KEPT", "Operations"]

OBSERVATIONS_KEPT = 100  # per endpoint: monitoring history is bounded
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class Operations(Certs):
    """Deployments, observations, users."""

    # -- deployments -----------------------------------------------------------------

    def create_deployment(self, definition: str, version: int, target: str, *,
                          data: Mapping[str, Any] | None = None) -> DeploymentRecord:
        """Start a deployment of ``definition`` version ``version`` to ``[HOST/]SLOT-ID``
        (state ``planned``)."""
        host, slot_id = split_target(target)
        with self._tx() as s:
            cert_id = s.scalar(select(CertificateRow.id).join(DefinitionRow).where(
                DefinitionRow.name == definition, CertificateRow.version == version))
            def_id = s.scalar(select(DefinitionRow.id).where(DefinitionRow.name == definition))
            if cert_id is None or def_id is None:
                raise NotFound(f"no version {version} of certificate {definition!r}")
            row = DeploymentRow(definition_id=def_id, certificate_id=cert_id, host=host,
                                slot_id=slot_id, state=DeploymentState.PLANNED.value,
                                reason=None, started=utcnow(), finished=None,
                                data=dict(data or {}))
            s.add(row)
            s.flush()
            self._audit(s, "deployment.create", f"{host}/{slot_id}",
                        {"definition": definition, "version": version, "deployment": row.id})
            return _deployment(s, row)

    def update_deployment(self, deployment_id: int, state: DeploymentState | str, *,
                          reason: str | None = None,
                          backup: Sequence[BackupFile] | None = None,
                          data: Mapping[str, Any] | None = None) -> DeploymentRecord:
        """Move a deployment to ``state``; a final state sets ``finished``.

        ``backup`` (given once, before the apply step) records each file as it
        was; files marked ``secret`` are stored encrypted.
        """
        state = DeploymentState(state)
        with self._tx() as s:
            row = s.get(DeploymentRow, deployment_id)
            if row is None:
                raise NotFound(f"no deployment {deployment_id} in the repository")
            row.state = state.value
            if reason is not None:
                row.reason = reason
            if data is not None:
                row.data = {**row.data, **data}
            if state.finished:
                row.finished = utcnow()
                self._audit(s, f"deployment.{state.value}", f"{row.host}/{row.slot_id}",
                            {"deployment": row.id, "reason": row.reason})
            if backup is not None:
                self._save_backup(s, row.id, backup)
            s.flush()
            return _deployment(s, row)

    def get_deployment(self, deployment_id: int) -> DeploymentRecord:
        with self._tx() as s:
            row = s.get(DeploymentRow, deployment_id)
            if row is None:
                raise NotFound(f"no deployment {deployment_id} in the repository")
            return _deployment(s, row)

    def deployment_history(self, target: str, *, limit: int = 50) -> list[DeploymentRecord]:
        """Deployments to ``[HOST/]SLOT-ID``, newest first."""
        host, slot_id = split_target(target)
        query = (select(DeploymentRow)
                 .where(DeploymentRow.host == host, DeploymentRow.slot_id == slot_id)
                 .order_by(DeploymentRow.id.desc()).limit(limit))
        with self._tx() as s:
            return [_deployment(s, r) for r in s.scalars(query)]

    def move_deployments(self, old_target: str, new_target: str) -> int:
        """Give ``old_target``'s deployment history to ``new_target`` (both ``[HOST/]SLOT-ID``).

        Discovery renames a slot when it finds that two it reported were one
        credential on two listeners; the history follows the slot. Returns how
        many deployments moved.
        """
        old_host, old_slot = split_target(old_target)
        new_host, new_slot = split_target(new_target)
        where = and_(DeploymentRow.host == old_host, DeploymentRow.slot_id == old_slot)
        with self._tx() as s:
            moved = s.scalar(select(func.count()).select_from(DeploymentRow).where(where)) or 0
            if moved:
                s.execute(update(DeploymentRow).where(where)
                          .values(host=new_host, slot_id=new_slot))
                self._audit(s, "deployment.move", f"{old_host}/{old_slot}",
                            {"to": f"{new_host}/{new_slot}", "deployments": moved})
            return int(moved)

    def deployment_targets(self) -> list[str]:
        """Every ``HOST/SLOT-ID`` that has deployments, sorted (whatever definitions target now)."""
        query = (select(DeploymentRow.host, DeploymentRow.slot_id).distinct()
                 .order_by(DeploymentRow.host, DeploymentRow.slot_id))
        with self._tx() as s:
            return [f"{host}/{slot_id}" for host, slot_id in s.execute(query)]

    def unfinished_deployments(self) -> list[DeploymentRecord]:
        """Deployments not in a final state (e.g. interrupted): they may need a rollback."""
        final = [st.value for st in DeploymentState if st.finished]
        query = (select(DeploymentRow).where(DeploymentRow.state.not_in(final))
                 .order_by(DeploymentRow.id))
        with self._tx() as s:
            return [_deployment(s, r) for r in s.scalars(query)]

    def _save_backup(self, s: Session, deployment_id: int, files: Sequence[BackupFile]) -> None:
        s.execute(delete(DeploymentFileRow)
                  .where(DeploymentFileRow.deployment_id == deployment_id))
        for position, f in enumerate(files):
            key_id = None
            data = f.data
            if f.secret and data is not None:
                key_id = self._store_key(s, data, kind="backup-file")
                data = None
            s.add(DeploymentFileRow(deployment_id=deployment_id, position=position,
                                    path=f.path, owner=f.owner, group=f.group, mode=f.mode,
                                    existed=f.existed, data=data, key_id=key_id))

    # -- observations ----------------------------------------------------------------

    def add_observation(self, observation: ObservationRecord, *,
                        keep: int = OBSERVATIONS_KEPT) -> ObservationRecord:
        """Record what an endpoint served; only the newest ``keep`` per endpoint are kept."""
        o = observation
        with self._tx() as s:
            row = ObservationRow(host=o.host, address=o.address, port=o.port, tls=o.tls,
                                 sni=o.sni, time=o.time, ok=o.ok, error=o.error,
                                 chain_sha256=list(o.chain_sha256), leaf_sha256=o.leaf_sha256,
                                 not_after=o.not_after, findings=list(o.findings))
            s.add(row)
            s.flush()
            same = _same_endpoint(o.address, o.port, o.tls, o.sni)
            old = (select(ObservationRow.id).where(same)
                   .order_by(ObservationRow.time.desc(), ObservationRow.id.desc())
                   .offset(keep))
            s.execute(delete(ObservationRow).where(ObservationRow.id.in_(old)))
            return _observation(row)

    def observation_history(self, address: str, port: int, tls: str, sni: str | None = None,
                            *, limit: int = OBSERVATIONS_KEPT) -> list[ObservationRecord]:
        """An endpoint's observations, newest first."""
        query = (select(ObservationRow).where(_same_endpoint(address, port, tls, sni))
                 .order_by(ObservationRow.time.desc(), ObservationRow.id.desc()).limit(limit))
        with self._tx() as s:
            return [_observation(r) for r in s.scalars(query)]

    def latest_observations(self) -> list[ObservationRecord]:
        """The newest observation of every endpoint."""
        newest = (select(func.max(ObservationRow.id).label("id"))
                  .group_by(ObservationRow.address, ObservationRow.port, ObservationRow.tls,
                            ObservationRow.sni).subquery())
        query = (select(ObservationRow).join(newest, ObservationRow.id == newest.c.id)
                 .order_by(ObservationRow.address, ObservationRow.port))
        with self._tx() as s:
            return [_observation(r) for r in s.scalars(query)]

    # -- users -----------------------------------------------------------------------

    def save_user(self, name: str, role: str, password: str | None = None, *,
                  disabled: bool = False) -> UserRecord:
        """Create or update a user; ``password`` (required for a new user) is scrypt-hashed."""
        with self._tx() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            now = utcnow()
            if row is None:
                if not password:
                    raise InputError(f"new user {name!r} needs a password")
                row = UserRow(name=name, created=now)
                s.add(row)
            row.role, row.disabled, row.updated = role, disabled, now
            if password:
                row.password_hash = hash_password(password)
            self._audit(s, "user.save", f"user:{name}", {"role": role, "disabled": disabled,
                                                         "password_changed": bool(password)})
            s.flush()
            return _user(row)

    def get_user(self, name: str) -> UserRecord:
        with self._tx() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFound(f"no user {name!r} in the repository")
            return _user(row)

    def list_users(self) -> list[UserRecord]:
        with self._tx() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def check_password(self, name: str, password: str) -> UserRecord | None:
        """The user if ``password`` is theirs and they are enabled, else None."""
        with self._tx() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None or row.disabled or not verify_password(password, row.password_hash):
                return None
            return _user(row)

    def delete_user(self, name: str) -> None:
        with self._tx() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFound(f"no user {name!r} in the repository")
            s.delete(row)
            self._audit(s, "user.delete", f"user:{name}", {})


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), with hashlib.scrypt."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return (f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
            f"{b64(salt).decode()}${b64(digest).decode()}")


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def _same_endpoint(address: str, port: int, tls: str, sni: str | None) -> Any:
    sni_match = ObservationRow.sni.is_(None) if sni is None else ObservationRow.sni == sni
    return and_(ObservationRow.address == address, ObservationRow.port == port,
                ObservationRow.tls == tls, sni_match)


def _deployment(s: Session, row: DeploymentRow) -> DeploymentRecord:
    definition, version = s.execute(
        select(DefinitionRow.name, CertificateRow.version)
        .join(CertificateRow, CertificateRow.definition_id == DefinitionRow.id)
        .where(CertificateRow.id == row.certificate_id)).one()
    files = tuple(
        BackupFile(f.path, f.owner, f.group, f.mode, f.existed, f.data,
                   secret=f.key_id is not None, key_ref=f.key_id)
        for f in s.scalars(select(DeploymentFileRow)
                           .where(DeploymentFileRow.deployment_id == row.id)
                           .order_by(DeploymentFileRow.position)))
    return DeploymentRecord(row.id, definition, version, row.host, row.slot_id,
                            DeploymentState(row.state), row.reason, row.started, row.finished,
                            files, dict(row.data))


def _observation(row: ObservationRow) -> ObservationRecord:
    return ObservationRecord(
        address=row.address, port=row.port, tls=row.tls, time=row.time, ok=row.ok,
        host=row.host, sni=row.sni, error=row.error, chain_sha256=tuple(row.chain_sha256),
        leaf_sha256=row.leaf_sha256, not_after=row.not_after, findings=tuple(row.findings),
        id=row.id)


def _user(row: UserRow) -> UserRecord:
    return UserRecord(row.name, row.role, row.created, row.disabled, row.id)
