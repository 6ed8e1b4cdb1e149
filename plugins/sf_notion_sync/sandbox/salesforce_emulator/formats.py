"""Salesforce's wire formats for values: REST JSON and Bulk 2.0 CSV differ for datetimes and nulls."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from ..datagen.schema import FieldDef

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


def iso_ms(ms: int, zulu: bool = False) -> str:
    """2024-01-01T00:00:00.000+0000 (REST) or 2024-01-01T00:00:00.000Z (Bulk CSV); hot in Bulk pages."""
    day, rest = divmod(ms, 86_400_000)
    secs, milli = divmod(rest, 1000)
    hours, secs = divmod(secs, 3600)
    minutes, secs = divmod(secs, 60)
    return f"{_day(day)}T{hours:02d}:{minutes:02d}:{secs:02d}.{milli:03d}{'Z' if zulu else '+0000'}"


def json_value(f: FieldDef, value):
    if value is None:
        return None
    if f.type == "datetime":
        return iso_ms(value)
    if f.type == "int":
        return int(value)
    return value


def json_record(obj: str, version: str, fields: list[FieldDef], rec: dict) -> dict:
    out: dict = {"attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{rec['Id']}"}}
    for f in fields:
        out[f.name] = json_value(f, rec.get(f.name))
    return out


def _csv_formatter(f: FieldDef):
    if f.type == "datetime":
        return lambda v: "" if v is None else iso_ms(v, zulu=True)
    if f.type == "boolean":
        return lambda v: "" if v is None else "true" if v else "false"
    if f.type == "int":
        return lambda v: "" if v is None else str(int(v))
    if f.type in ("currency", "double", "percent"):
        return lambda v: "" if v is None else str(v)
    return lambda v: "" if v is None else v


def csv_chunks(fields: list[FieldDef], records: Iterable[dict], delimiter: str, line_ending: str,
               header: bool, rows_per_chunk: int = 500) -> Iterator[bytes]:
    """CSV in Bulk 2.0's shape (every value quoted), encoded in chunks so a page is never held whole."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
    if header:
        writer.writerow([f.name for f in fields])
    pending = 0
    columns = [(f.name, _csv_formatter(f)) for f in fields]
    for rec in records:
        writer.writerow([fmt(rec.get(name)) for name, fmt in columns])
        pending += 1
        if pending >= rows_per_chunk:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
            pending = 0
    tail = buf.getvalue()
    if tail:
        yield tail.encode("utf-8")
