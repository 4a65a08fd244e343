"""The monitor's notification channels as the console shows them, and a test notice.

The channels live in ``<home>/monitor.toml`` (``[[notify.email]]``, ``[[notify.webhook]]``;
see docs/monitoring.md), not in the repository: the console shows them read-only, with
URLs cut to scheme, host and port and every credential shown as ``stored``, and says which
file to edit. ``send_test`` is ``certmgr notify test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certmgr import redact
from certmgr.app.results import Batch, ItemResult
from certmgr.errors import UsageError

__all__ = ["NotificationSettings", "notification_settings", "send_test_notice"]


@dataclass(frozen=True)
class NotificationSettings:
    """Where the channels are configured, whether that file exists, the channels."""

    source: str
    exists: bool
    channels: tuple[dict[str, Any], ...]
    repeat: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "exists": self.exists, "editable": False,
                "repeat": self.repeat, "channels": list(self.channels)}


def notification_settings(home: Path) -> NotificationSettings:
    """The channels of ``<home>/monitor.toml`` without secrets.

    Raises:
        InputError: the file is not valid (the message names the file and the key).
    """
    from certmgr.monitor.settings import CONFIG_NAME, format_duration, load_settings

    settings = load_settings(home)
    path = home / CONFIG_NAME
    channels: list[dict[str, Any]] = []
    for e in settings.email:
        channels.append({
            "name": e.name, "kind": "email", "host": e.host, "port": e.port,
            "security": e.security, "from": e.sender, "to": list(e.recipients),
            "username": e.username, "password": "stored" if e.password else None,
            "ca_file": e.ca_file, "timeout": e.timeout})
    for w in settings.webhooks:
        shown = redact.headers(dict(w.headers))
        channels.append({
            "name": w.name, "kind": "webhook", "url": redact.url(w.url),
            "headers": {k: ("stored" if v == redact.MASK else v) for k, v in shown.items()},
            "ca_file": w.ca_file, "timeout": w.timeout})
    return NotificationSettings(str(path), path.is_file(), tuple(redact.data(channels)),
                                format_duration(settings.repeat))


def send_test_notice(home: Path) -> Batch:
    """Send a test notice on every configured channel (the state file is not touched);
    one item per channel: ``sent`` or ``failed`` (with why, secrets removed).

    Raises:
        UsageError: no channel is configured.
        InputError: monitor.toml is not valid.
    """
    from certmgr.monitor.notify import build_notifiers, send_test
    from certmgr.monitor.settings import CONFIG_NAME, load_settings

    settings = load_settings(home)
    notifiers = build_notifiers(settings)
    if not notifiers:
        raise UsageError(f"{home / CONFIG_NAME}: no notification channel configured; add "
                         "[[notify.email]] or [[notify.webhook]] (see docs/monitoring.md)")
    return Batch(tuple(ItemResult(d.channel, "sent") if d.ok else
                       ItemResult(d.channel, "failed", ok=False,
                                  reason=redact.text(d.error or "not delivered"))
                       for d in send_test(notifiers)))
