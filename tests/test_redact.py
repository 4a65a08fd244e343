"""certmgr.redact: the one helper every output goes through."""

from __future__ import annotations

import json

import pytest

from certmgr import redact


@pytest.mark.parametrize(("text", "hidden", "kept"), [
    ("POST http://alice:pw-123@127.0.0.1:9/x failed", "pw-123", "127.0.0.1:9"),
    ("postgresql://bob:dbpw@db.example/certmgr", "dbpw", "db.example/certmgr"),
    ("https://h/hook?token=abc123&x=1", "abc123", "x=1"),
    ("password=hunter22 user=ops", "hunter22", "user=ops"),
    ("Authorization: Bearer zzz-top", "zzz-top", "Authorization"),
    ("api_key='k-9'", "k-9", "api_key"),
])
def test_text_masks_credentials_in_free_text(text: str, hidden: str, kept: str) -> None:
    shown = redact.text(text)
    assert hidden not in shown and kept in shown and redact.MASK in shown


def test_remembered_secrets_are_masked_everywhere_longest_first() -> None:
    redact.remember("s3cret-value", "s3cret-value-longer", None, "", "ab")
    assert redact.text("x s3cret-value-longer y s3cret-value") == "x *** y ***"
    assert redact.text("ab stays: too short to be a secret") == "ab stays: too short to be a secret"
    redact.forget_all()
    assert redact.text("s3cret-value") == "s3cret-value"


def test_url_shows_scheme_host_and_port_only() -> None:
    assert redact.url("https://u:p@hooks.example:8443/T0/B1/xyz?sig=1") == \
        "https://hooks.example:8443/***"
    assert redact.url("http://[::1]/") == "http://[::1]"
    assert redact.url("not a url password=x") == "not a url password=***"


def test_headers_mask_credential_like_names() -> None:
    assert redact.headers({"Authorization": "Bearer t", "X-Api-Key": "k", "X-Team": "pki"}) == \
        {"Authorization": "***", "X-Api-Key": "***", "X-Team": "pki"}


def test_data_keeps_json_valid() -> None:
    redact.remember('quote"d-secret')
    value = {"error": 'password="x\\"y" and quote"d-secret', "n": 1, "l": ["token=abc"]}
    out = redact.data(value)
    assert json.loads(json.dumps(out)) == out
    assert "abc" not in json.dumps(out) and 'quote"d-secret' not in json.dumps(out)


def test_json_text_is_unchanged_or_still_json() -> None:
    plain = json.dumps({"a": "nothing secret"})
    assert redact.json_text(plain) is plain
    shown = redact.json_text(json.dumps({"url": "http://u:pw-1@h/", "msg": 'password="a\\"b"'}))
    assert "pw-1" not in shown and json.loads(shown)["url"] == "http://u:***@h/"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import certmgr.cli.common  # noqa: F401 - installs the redacting record factory

    redact.remember("logged-secret-42")
    with caplog.at_level(logging.WARNING):
        logging.getLogger("certmgr.test").warning("connecting to %s with %s",
                                                  "http://u:pw-2@h/", "logged-secret-42")
    assert caplog.messages == ["connecting to http://u:***@h/ with ***"]


def test_a_large_document_is_redacted_where_a_secret_hides_among_lookalikes() -> None:
    # The patterns run only where their keyword and separator occur: words like
    # "authority" or "tokens" (no "=" or ":" after them) must not hide a real pair.
    filler = "the certificate authority signs tokens of many kinds; " * 2000
    value = filler + "db_password = hunter22 and https://u:pw@h/x " + filler
    out = redact.text(value)
    assert "hunter22" not in out and "u:pw@" not in out
    assert out.count("authority") == value.count("authority")
