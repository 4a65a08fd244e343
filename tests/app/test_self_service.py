"""Self-service TOTP enrolment (a new key confirmed with a current code before it takes
effect; removal after proving who one is again), and the certificate list's state
filter judged by the one renewal rule."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from certmgr.app import users as uc
from certmgr.app.audit import audit_events
from certmgr.app.views import STATE_FILTERS, certificates_page
from certmgr.errors import InputError
from certmgr.issuers import make_definition
from certmgr.issuers.schedule import renewal_state
from certmgr.repository import Repository
from tests.app.conftest import issue

PASSWORD = "correct horse battery staple"


def _now_code(pending: uc.PendingTotp) -> tuple[str, int]:
    totp = pyotp.TOTP(pending.secret)
    step = totp.timecode(dt.datetime.now(dt.UTC))
    return totp.generate_otp(step), step


def test_a_new_key_takes_effect_only_once_a_current_code_confirms_it(repo: Repository) -> None:
    uc.add_user(repo, "ann", "viewer", password=PASSWORD)
    pending = uc.new_totp("ann")
    assert pending.secret not in repr(pending) and pending.uri.startswith(
        "otpauth://totp/certmgr:ann?secret=" + pending.secret)
    assert not repo.get_user("ann").totp  # nothing stored before the confirmation
    code, step = _now_code(pending)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(InputError, match="not the authenticator's current one"):
        uc.confirm_totp(repo, pending, wrong)
    assert not repo.get_user("ann").totp
    assert uc.confirm_totp(repo, pending, code).totp
    # the code that confirmed does not sign in; the next step's code does, once
    assert uc.authenticate(repo, "ann", PASSWORD, address="t", code=code) is None
    following = pyotp.TOTP(pending.secret).generate_otp(step + 1)
    assert uc.authenticate(repo, "ann", PASSWORD, address="t", code=following) is not None
    assert uc.authenticate(repo, "ann", PASSWORD, address="t", code=following) is None
    events = [(e.action, e.detail) for e in audit_events(repo, limit=20)
              if e.action.startswith("user.totp")]
    assert ("user.totp", {"enrolled": True}) in events
    assert ("user.totp_refused", {"reason": "code"}) in events
    assert all(pending.secret not in str(d) for _, d in events)


def test_removing_ones_own_second_factor_needs_the_password_again(repo: Repository) -> None:
    uc.add_user(repo, "bea", "viewer", password=PASSWORD)
    with pytest.raises(InputError, match="no TOTP second factor"):
        uc.remove_own_totp(repo, "bea", password=PASSWORD)
    pending = uc.new_totp("bea")
    uc.confirm_totp(repo, pending, _now_code(pending)[0])
    with pytest.raises(InputError, match="password is not right"):
        uc.remove_own_totp(repo, "bea", password="not the password at all")
    assert repo.get_user("bea").totp
    assert not uc.remove_own_totp(repo, "bea", password=PASSWORD).totp


def test_a_directory_user_enrols_and_removes_with_a_code(repo: Repository) -> None:
    repo.save_directory_user("dan", "operator", ())
    pending = uc.new_totp("dan")
    code, step = _now_code(pending)
    uc.confirm_totp(repo, pending, code)
    with pytest.raises(InputError, match="TOTP code is not right"):
        uc.remove_own_totp(repo, "dan", password="anything", code=code)  # used already
    with pytest.raises(InputError, match="directory"):
        uc.change_password(repo, "dan", "x", "a new password here")
    following = pyotp.TOTP(pending.secret).generate_otp(step + 1)
    assert not uc.remove_own_totp(repo, "dan", code=following).totp


def test_the_state_filter_is_the_renewal_rules_judgement(repo: Repository) -> None:
    issue(repo, "valid.example")
    due = repo.save_definition(make_definition("due.example", "due.example",
                                               validity=dt.timedelta(days=20),
                                               renew_before=dt.timedelta(days=10)))
    from certmgr.issuers import issue_definition

    issue_definition(repo, due)
    issue(repo, "gone.example")
    repo.revoke_certificate("gone.example", 1, reason="test")
    repo.save_definition(make_definition("bare.example", "bare.example"))
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)  # due.example's window is open

    def names(state: str, at: dt.datetime = now) -> list[str]:
        return [r.name for r in certificates_page(repo, 0, 50, state=state, now=at).items]

    assert names("valid") == ["valid.example"]
    assert names("renew") == ["due.example"]
    assert names("expired") == []
    assert sorted(names("none")) == ["bare.example", "gone.example"]  # as `list` shows them
    assert names("revoked") == ["gone.example"]
    later = now + dt.timedelta(days=400)
    assert names("expired", later) == ["due.example", "valid.example"]
    assert names("valid", later) == names("renew", later) == []
    # each row's state is the rule's own
    for state, wanted in STATE_FILTERS.items():
        for row in certificates_page(repo, 0, 50, state=state, now=now).items:
            assert row.state.value in wanted
    current = repo.current_certificate("due.example")
    assert renewal_state(current, repo.get_definition("due.example"), now).value == "renew"
    paged = certificates_page(repo, 1, 1, state="none", now=now)
    assert paged.total == 2 and len(paged.items) == 1
    with pytest.raises(InputError, match="state 'soon' is not one of"):
        certificates_page(repo, state="soon")
