"""Property transforms: resolved when the config loads (errors name file, line, object), called with the
record, built and hashed like any value, versioned into the mapping hash; a raise fails only that record."""

from __future__ import annotations

import hashlib
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sf_notion_sync.config import ConfigError, load_config
from sf_notion_sync.state.db import make_engine, upgrade
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync.context import SyncContext
from sf_notion_sync.sync.mapping import ERROR_KEY, INVALID_PROPERTY, PROPERTIES_KEY, RecordBuilder
from sf_notion_sync.transforms import TRANSFORM_FAILED

HERE = "tests.unit.test_transforms"
ROOT = Path(__file__).resolve().parents[2]


def band(record):
    """Revenue band; reads a second field (AnnualRevenue) besides its own."""
    if record.get("Name") == "explode":
        raise RuntimeError("no band for this record")
    revenue = record.get("AnnualRevenue") or 0
    return "Large" if revenue >= 1_000_000 else "Small"


band.__version__ = "1"


def shout(record):
    return (record.get("Name") or "").upper() * 100  # past the 100 characters of a select option


def mutate(record):
    record["Name"] = "changed"  # a transform must not change what the other properties see


NOT_CALLABLE = 42


def bad_version(record):
    return None


bad_version.__version__ = 2


def config_text(transform: str = f"{HERE}:band", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        objects:
          Account:
            database_id: 0f8fad5b-d9cb-469f-a165-70867728950e
            salesforce_id_property: Salesforce Id
            properties:
              Name: {{field: Name, type: title}}
              Band: {{field: Industry, type: select, transform: "{transform}", inputs: [AnnualRevenue]}}
        {extra}""")


def load(tmp_path: Path, text: str):
    path = tmp_path / "sync.yaml"
    path.write_text(text)
    return load_config(path, env={})


def problem(tmp_path: Path, transform: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, config_text(transform))
    [only] = info.value.problems
    return only


def test_a_transform_is_resolved_at_load_and_its_inputs_are_extracted(tmp_path: Path) -> None:
    account = load(tmp_path, config_text()).objects["Account"]
    prop = {p.name: p for p in account.properties}["Band"]
    assert prop.transform.ref == f"{HERE}:band" and prop.transform.version == "1"
    assert prop.transform.function is band and prop.inputs == ("AnnualRevenue",)
    assert account.fields == ("Id", "SystemModstamp", "Name", "Industry", "AnnualRevenue")


@pytest.mark.parametrize(
    ("ref", "says"),
    [("no_such_pkg.mod:f", "cannot import module 'no_such_pkg.mod' (ModuleNotFoundError"),
     (f"{HERE}:missing", f"'{HERE}' has no attribute 'missing'"),
     (f"{HERE}:NOT_CALLABLE", f"{HERE}:NOT_CALLABLE is a int, not a function"),
     (f"{HERE}:bad_version", "__version__ must be a string, got int 2"),
     ("just_a_name", "expected 'package.module:function', got 'just_a_name'")],
)  # fmt: skip
def test_a_bad_transform_fails_the_load_naming_file_line_object_and_property(tmp_path: Path, ref: str,
                                                                            says: str) -> None:
    text = problem(tmp_path, ref)
    assert text.startswith(f"{tmp_path / 'sync.yaml'}:7: objects.Account.properties.Band.transform: "), text
    assert says in text


def test_inputs_need_a_transform(tmp_path: Path) -> None:
    text = config_text().replace(f', transform: "{HERE}:band"', "")
    with pytest.raises(ConfigError, match=r":7: objects.Account.properties.Band.inputs: only a property with a"):
        load(tmp_path, text)


def _old_mapping_version(obj) -> str:
    """The formula before transforms existed: a config without them must keep its hash (no mass re-sync)."""
    content = {"database_id": obj.database_id.replace("-", "").lower(),
               "salesforce_id_property": obj.salesforce_id_property,
               "properties": sorted([p.name, p.field, p.type, p.related_object] for p in obj.properties)}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def test_the_mapping_version_follows_the_transform_and_its_version_only(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = load_config(ROOT / "include" / "config" / "sync.yaml", env={})
    for obj in shipped.salesforce_objects():
        assert obj.mapping_version == _old_mapping_version(obj), obj.name
    with_band = load(tmp_path, config_text()).objects["Account"].mapping_version
    plain = load(tmp_path, config_text().replace(f', transform: "{HERE}:band", inputs: [AnnualRevenue]', ""))
    assert plain.objects["Account"].mapping_version == _old_mapping_version(plain.objects["Account"])
    assert with_band != plain.objects["Account"].mapping_version
    assert load(tmp_path, config_text(f"{HERE}:shout").replace(", inputs: [AnnualRevenue]", "")) \
        .objects["Account"].mapping_version != with_band
    monkeypatch.setattr(band, "__version__", "2", raising=False)
    assert load(tmp_path, config_text()).objects["Account"].mapping_version != with_band


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    return StateStore(engine)


def builder_for(tmp_path: Path, store: StateStore, transform: str = f"{HERE}:band") -> RecordBuilder:
    config = load(tmp_path, config_text(transform))
    return RecordBuilder(SyncContext(config, "Account", store, object(), object(), "run"))


def account(**fields: object) -> dict:
    return {"Id": "001X", "SystemModstamp": "2025-01-02T03:04:05.000+0000", "Name": "Acme", "Industry": "Tech",
            "AnnualRevenue": 5_000_000, **fields}


def test_what_the_transform_returns_is_built_and_hashed(tmp_path: Path, store: StateStore) -> None:
    large, small, same_band = builder_for(tmp_path, store).stage(
        [account(), account(AnnualRevenue=10), account(AnnualRevenue=2_000_000, Industry="Retail")])
    assert large.payload[PROPERTIES_KEY]["Band"] == {"select": {"name": "Large"}}
    assert small.payload[PROPERTIES_KEY]["Band"] == {"select": {"name": "Small"}}
    assert large.content_hash != small.content_hash
    assert same_band.content_hash == large.content_hash  # only what is written counts, not the inputs


def test_a_transform_value_is_checked_against_notion_limits_like_any_value(tmp_path: Path,
                                                                          store: StateStore) -> None:
    [staged] = builder_for(tmp_path, store, f"{HERE}:shout").stage([account()])
    error = staged.payload[ERROR_KEY]
    assert error["code"] == INVALID_PROPERTY and error["property"] == "Band" and "limit 100 characters" in error["message"]


def test_a_raising_transform_fails_that_record_only_with_its_message(tmp_path: Path, store: StateStore) -> None:
    failed, fine = builder_for(tmp_path, store).stage([account(Id="001BAD", Name="explode"), account()])
    assert PROPERTIES_KEY not in failed.payload
    assert failed.payload[ERROR_KEY] == {
        "code": TRANSFORM_FAILED, "property": "Band",
        "message": f"record 001BAD, property 'Band': transform {HERE}:band raised RuntimeError: no band for this record"}
    assert failed.system_modstamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert fine.payload[PROPERTIES_KEY]["Band"] == {"select": {"name": "Large"}}


def test_a_transform_cannot_change_the_record_the_others_read(tmp_path: Path, store: StateStore) -> None:
    [staged] = builder_for(tmp_path, store, f"{HERE}:mutate").stage([account()])
    assert "TypeError" in staged.payload[ERROR_KEY]["message"]  # the record it gets is read-only
