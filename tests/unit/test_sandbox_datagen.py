"""The data generator: deterministic per seed, messy where real data is, valid Ids, a durable overlay."""

from __future__ import annotations

import json

from sf_notion_sync.sandbox.datagen import Generator, Overlay, checksum_suffix, is_valid_id, make_id, parse_id
from sf_notion_sync.sandbox.datagen.schema import ACCOUNT, REGIONS


def test_records_are_a_pure_function_of_seed_object_and_index():
    a, b = Generator(seed=3, accounts=100), Generator(seed=3, accounts=100)
    assert json.dumps([a.record("Contact", i) for i in range(50)]) == json.dumps([b.record("Contact", i) for i in range(50)])
    assert a.record("Account", 10) != Generator(seed=4, accounts=100).record("Account", 10)
    assert a.record("Account", 10) != a.record("Account", 10, version=1)
    assert a.record("Account", 999_999)["Id"] == make_id("001", 999_999)  # no materialisation needed


def test_ids_carry_prefix_and_checksum_and_sort_by_index():
    ids = [make_id("003", i) for i in (0, 1, 61, 62, 3843, 10**6)]
    assert all(len(i) == 18 and i.startswith("003") and is_valid_id(i) for i in ids)
    assert ids == sorted(ids)
    assert [parse_id(i, "003") for i in ids] == [0, 1, 61, 62, 3843, 10**6]
    assert parse_id(ids[1][:15], "003") == 1 and parse_id(ids[1], "001") is None
    assert checksum_suffix("001000000000000") == "AAA" and checksum_suffix("AAAAAAAAAAAAAAA") == "555"
    assert not is_valid_id(ids[1][:15] + "ZZZ")


def test_messy_values_are_present():
    gen = Generator(seed=42, accounts=400, contacts=400, opportunities=200)
    accounts = [gen.record("Account", i) for i in range(400)]
    contacts = [gen.record("Contact", i) for i in range(400)]
    opportunities = [gen.record("Opportunity", i) for i in range(200)]
    assert any(len(a["Description"] or "") > 2000 for a in accounts)
    assert any(a["Description"] is None for a in accounts) and any(a["Industry"] is None for a in accounts)
    assert any(not a["Name"].isascii() for a in accounts) and any(a["Name"] != a["Name"].strip() for a in accounts)
    assert any("\n" in a["Name"] for a in accounts)
    assert any(len(a["Regions__c"].split(";")) > 100 for a in accounts if a["Regions__c"])
    assert all(v in REGIONS for a in accounts if a["Regions__c"] for v in a["Regions__c"].split(";"))
    industries = ACCOUNT.field("Industry").picklist
    assert all(a["Industry"] in industries for a in accounts if a["Industry"])
    emails = [c["Email"] for c in contacts if c["Email"]]
    assert any("@" not in e or e.count("@") > 1 or e.endswith("@") for e in emails)
    assert any(e.endswith("@example.com") for e in emails)
    account_ids = {a["Id"] for a in accounts}
    assert all(c["AccountId"] in account_ids for c in contacts if c["AccountId"])
    assert all(o["AccountId"] in account_ids for o in opportunities)
    assert all(o["IsWon"] == (o["StageName"] == "Closed Won") for o in opportunities)
    for rec in accounts:
        assert rec["CreatedDate"] <= rec["LastModifiedDate"] <= rec["SystemModstamp"]
    stamps = [a["SystemModstamp"] for a in accounts]
    assert stamps == sorted(stamps) and len(set(stamps)) < len(stamps)  # index-ordered, with ties


def test_overlay_mutations_persist_and_advance_stamps(tmp_path):
    gen = Generator(seed=1, accounts=50)
    overlay = Overlay(tmp_path / "o.sqlite3")
    first = overlay.mutate(gen, "Account", update=4, delete=2, now_ms=1)
    assert len(first["updated"]) == 4 and len(first["deleted"]) == 2
    assert not set(first["updated"]) & set(first["deleted"])
    rows = overlay.rows("Account")
    base_max = max(gen.record("Account", i)["SystemModstamp"] for i in range(50))
    assert all(r.stamp > base_max for r in rows.values())
    stamps = sorted(rows[i].stamp for i in first["updated"])
    assert stamps[0] == stamps[1] and stamps[-1] > stamps[0]  # pairs share a stamp
    same = overlay.mutate(gen, "Account", update=3, same_timestamp=True)
    assert len({overlay.rows("Account")[i].stamp for i in same["updated"]}) == 1
    overlay.close()
    reopened = Overlay(tmp_path / "o.sqlite3")
    assert {i for i, r in reopened.rows("Account").items() if r.is_deleted} == set(first["deleted"])
    undone = reopened.mutate(gen, "Account", undelete=5)
    assert sorted(undone["undeleted"]) == sorted(first["deleted"])
    assert not any(r.is_deleted for r in reopened.rows("Account").values())
    reopened.close()
