"""Alembic environment for certmgr's repository.

certmgr runs migrations itself when it opens a repository
(:func:`certmgr.repository.engine.upgrade_to_head`), passing its open
connection in ``config.attributes["connection"]``. Developers can also run
``alembic`` against a URL given as ``-x url=...`` to autogenerate a revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from certmgr.repository.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[arg-type]
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database as: alembic -x url=sqlite:///FILE ...")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
