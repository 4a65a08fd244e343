"""The one per-item batch result: its fields, its JSON, and what a batch says."""

from __future__ import annotations

import pytest

from certmgr.app import Batch, ItemResult


def test_json_puts_the_shared_fields_first_and_the_use_case_fields_beside_them() -> None:
    item = ItemResult("www", "issued", detail={"version": 2, "serial": "0a"})
    assert item.to_json() == {"item": "www", "status": "issued", "ok": True, "reason": "",
                              "version": 2, "serial": "0a"}


def test_detail_may_not_shadow_the_shared_fields() -> None:
    with pytest.raises(ValueError, match="ok, status"):
        ItemResult("www", "issued", detail={"status": "x", "ok": False})


def test_a_batch_keeps_the_order_and_knows_its_failures() -> None:
    batch = Batch((ItemResult("a", "issued"),
                   ItemResult("b", "failed", ok=False, reason="issuer missing"),
                   ItemResult("c", "pending", reason="waiting for the CA")))
    assert [i.item for i in batch] == ["a", "b", "c"] and len(batch) == 3
    assert not batch.ok
    assert [i.item for i in batch.failed] == ["b"]
    assert [j["status"] for j in batch.to_json()] == ["issued", "failed", "pending"]
    assert Batch().ok and Batch().to_json() == []
