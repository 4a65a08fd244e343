"""The web console and its REST API: a face beside the CLI that calls only certmgr.app.

:mod:`~certmgr.web.security` authorizes every request in one place (its
:data:`~certmgr.web.security.POLICY` maps each route to the role and host scope it
needs), :mod:`~certmgr.web.api` is the JSON API under ``/api/v1``,
:mod:`~certmgr.web.pages` the server-rendered screens, :mod:`~certmgr.web.jobs`
runs long operations, :mod:`~certmgr.web.server` serves it all over HTTPS.
Imported only by ``certmgr web`` (FastAPI and uvicorn cost start-up time).
"""
