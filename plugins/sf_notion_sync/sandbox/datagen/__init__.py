"""Volume data generator for the Salesforce emulator: lazy, deterministic records plus a mutation overlay."""

from .generator import ANCHOR_MS, Generator, stamp_of
from .ids import checksum_suffix, is_valid_id, make_id, parse_id
from .overlay import Overlay, OverlayRow
from .schema import OBJECTS, FieldDef, ObjectDef, object_def

__all__ = [
    "ANCHOR_MS", "OBJECTS", "FieldDef", "Generator", "ObjectDef", "Overlay", "OverlayRow",
    "checksum_suffix", "is_valid_id", "make_id", "object_def", "parse_id", "stamp_of",
]
