"""Property transforms: ``transform: package.module:function`` on a property in sync.yaml.

The function is imported when the config loads, so a typo fails the DAG file's parse with the file,
line and object, not the first run. It is called with the record (read-only: every property sees the
same input) and returns the value to write, which is built, checked and hashed like any value.

Its ``__version__`` attribute (a string; none means ``""``) is part of the object's mapping version:
bump it when the function's output changes, and every record it fills is written again. A transform
must be a pure function of the record: its result is compared by hash to decide whether to write.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

TRANSFORM_FAILED = "transform_failed"
"""sync_log error code of a record whose transform raised."""
_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class TransformError(ValueError):
    """A ``transform`` reference that cannot be used (the config names where it is written)."""


class TransformFailed(Exception):
    """The function raised for one record; the message is its own, prefixed with what failed."""


@dataclass(frozen=True)
class Transform:
    ref: str
    version: str
    function: Callable[[Mapping[str, Any]], Any] = field(compare=False, repr=False)

    def __call__(self, record: Mapping[str, Any]) -> Any:
        try:
            return self.function(MappingProxyType(record))
        except Exception as exc:  # any bug in user code fails this record only
            raise TransformFailed(f"transform {self.ref} raised {type(exc).__name__}: {exc}") from exc


def resolve_transform(ref: str) -> Transform:
    """Import ``package.module:function`` (the part after the colon may be dotted, e.g. Class.method)."""
    if not _REF.match(ref):
        raise TransformError(f"expected 'package.module:function', got {ref!r}")
    module_name, _, attribute = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises while it is imported
        raise TransformError(f"cannot import module {module_name!r} ({type(exc).__name__}: {exc})") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise TransformError(f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise TransformError(f"{ref} is a {type(target).__name__}, not a function")
    version = getattr(target, "__version__", "")
    if not isinstance(version, str):
        raise TransformError(f"{ref}.__version__ must be a string, got {type(version).__name__} {version!r}")
    return Transform(ref, version, target)
