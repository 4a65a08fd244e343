"""Adding an SSH host with its known_hosts line (checked against a real asyncssh server
on loopback), a host's page, and a job's events as server-sent events, through the API
over real HTTPS with httpx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncssh
import pytest

from tests.web.conftest import Running
from tests.web.test_api import _wait


class SSHServer:
    """asyncssh on 127.0.0.1 with one host key and one authorized client key, SFTP inside
    ``root``; every command it is asked to run exits 0."""

    def __init__(self, client_public: asyncssh.SSHKey, root: Path) -> None:
        self.root = root
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._client = client_public
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _listen(self) -> Any:
        async def run(process: asyncssh.SSHServerProcess[Any]) -> None:
            process.exit(0)

        return await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(
                self._client.export_public_key().decode()),
            process_factory=run,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=bytes(self.root)))

    def known_hosts_line(self, host: str = "127.0.0.1") -> str:
        return f"[{host}]:{self.port} " + self.host_key.export_public_key().decode().strip()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def ssh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SSHServer, Path]]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    base = tmp_path_factory.mktemp("ssh")
    path = base / "id_ed25519"
    path.touch(mode=0o600)
    path.write_bytes(key.export_private_key())
    (base / "served").mkdir()
    server = SSHServer(key, base / "served")
    try:
        yield server, path
    finally:
        server.close()


def test_an_admin_adds_an_ssh_host_with_its_known_hosts_line(
        web: Running, ssh: tuple[SSHServer, Path]) -> None:
    server, key = ssh
    url = f"ssh://certmgr@127.0.0.1:{server.port}"
    body = {"url": url, "key": str(key), "known_hosts": server.known_hosts_line()}
    with web.client("admin") as admin, web.client("fullop") as op:
        assert op.post("/api/v1/hosts", json=body).status_code == 403
        r = admin.post("/api/v1/hosts", json=body)  # connects once: host key verified
        assert r.status_code == 201, r.text
        assert r.json() == {"name": url, "kind": "ssh",
                            "address": f"certmgr@127.0.0.1:{server.port}"}
        assert url in [h["name"] for h in admin.get("/api/v1/hosts").json()["items"]]
        detail = op.get(f"/api/v1/hosts/{quote(url)}").json()
        assert detail == {"name": url, "kind": "ssh",
                          "address": f"certmgr@127.0.0.1:{server.port}",
                          "services": [], "slots": []}
        # discovery on it: an SSH host's name holds "/", sent encoded or not
        for path in (quote(url, safe=""), url):
            r = op.post(f"/api/v1/hosts/{path}/discover")
            assert r.status_code == 202, r.text
            assert _wait(op, r.json())["subject"] == f"host:{url}"
    with web.client("op") as restricted:  # lab:web* only
        r = restricted.post(f"/api/v1/hosts/{quote(url, safe='')}/discover")
        assert r.status_code == 403 and url in r.json()["error"]["message"]
    kept = list((web.console.home / "known_hosts.d").iterdir())
    assert [p.read_text() for p in kept] == [server.known_hosts_line() + "\n"]
    assert kept[0].stat().st_mode & 0o777 == 0o644


def test_a_wrong_or_missing_host_key_stores_nothing(web: Running,
                                                    ssh: tuple[SSHServer, Path]) -> None:
    server, key = ssh
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    url = f"ssh://root@localhost:{server.port}"
    cases = [
        # a line for another host
        (server.known_hosts_line("198.51.100.7"), "no line holds a key for"),
        ("not a known_hosts line at all", "known_hosts"),
        ("localhost ssh-ed25519 \x1b[31m", "printable"),
        # the right host, a key the server does not have: the check connection refuses it
        (f"[localhost]:{server.port} {other}", "host key not trusted"),
    ]
    with web.client("admin") as admin:
        before = admin.get("/api/v1/hosts").json()["items"]
        for line, says in cases:
            r = admin.post("/api/v1/hosts", json={"url": url, "key": str(key),
                                                  "known_hosts": line})
            assert r.status_code in (409, 422), r.text
            assert says in r.json()["error"]["message"], r.text
        r = admin.post("/api/v1/hosts", json={"url": url, "key": "relative/key",
                                              "known_hosts": server.known_hosts_line()})
        assert r.status_code == 422 and "absolute path" in r.json()["error"]["message"]
        r = admin.post("/api/v1/hosts", json={"url": url, "key": str(key) + ".nosuch",
                                              "known_hosts": f"[localhost]:{server.port} "
                                                             + other, "check": False})
        assert r.status_code == 422, r.text
        assert admin.get("/api/v1/hosts").json()["items"] == before
        assert admin.get(f"/api/v1/hosts/{quote(url)}").status_code == 404
    kept = web.console.home / "known_hosts.d"
    assert all(url.encode() not in p.read_bytes() for p in kept.iterdir())
    assert len(list(kept.iterdir())) <= 1  # only the host added in the test before


def test_a_hosts_page_shows_its_slots_with_files_and_endpoints(web: Running) -> None:
    with web.client("fullop") as op:
        assert _wait(op, op.post("/api/v1/hosts/local/discover").json())["state"] == \
            "succeeded"
    with web.client("viewer") as viewer:
        detail = viewer.get("/api/v1/hosts/local").json()
        assert viewer.get("/api/v1/hosts/nosuch-host").status_code == 404
    assert detail["kind"] == "local" and detail["services"]
    assert {s["kind"] for s in detail["services"]} >= {"nginx"}
    slot = next(s for s in detail["slots"] if s["service"] == "nginx")
    assert slot["target"] == f"local/{slot['id']}"
    assert slot["files"]["cert"].startswith("/") and slot["files"]["key"].startswith("/")
    assert slot["endpoints"] and all(1 <= e["port"] <= 65535 for e in slot["endpoints"])


def test_a_jobs_events_stream_until_it_ends(web: Running) -> None:
    with web.client("fullop") as op:
        assert op.post("/api/v1/definitions", json={"name": "sse-one", "cn": "sse.example"}
                       ).status_code == 201
        job = op.post("/api/v1/definitions/sse-one/issue").json()
    with web.client("viewer") as viewer:
        with viewer.stream("GET", f"/api/v1/jobs/{job['id']}/events") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in r.iter_lines() if line]
        assert lines[0] == 'data: "issuing sse-one"'
        assert lines[-2:] == ["event: done", 'data: "succeeded"']
        assert any(line.startswith('data: "sse-one: issued') for line in lines)
        r = viewer.get(f"/api/v1/jobs/{'0' * 32}/events")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert viewer.get("/api/v1/jobs/nothex/events").status_code == 422
    with web.client() as anonymous:
        assert anonymous.get(f"/api/v1/jobs/{job['id']}/events").status_code == 401


def test_a_stream_ends_after_its_time_while_the_job_runs_on(
        web: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    from certmgr.web import streams

    monkeypatch.setattr(streams, "STREAM_SECONDS", 0.5)
    release = threading.Event()

    def work(reporter: Any) -> None:
        reporter.event("waiting")
        release.wait(30)

    job = web.console.jobs.submit("test", "stream-timeout", "admin", work)
    try:
        with web.client("viewer") as viewer:
            with viewer.stream("GET", f"/api/v1/jobs/{job.id}/events") as r:
                lines = [line for line in r.iter_lines() if line]
            assert lines == ['data: "waiting"', "event: timeout", 'data: "running"']
    finally:
        release.set()
