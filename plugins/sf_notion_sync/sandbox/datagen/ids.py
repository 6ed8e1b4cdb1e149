"""Salesforce record Ids: 15-char case-sensitive body plus the 3-char case-insensitive checksum suffix.

The body is the object's key prefix, a fixed pod code and the record index in base 62 with digits
in ASCII order, so that sorting Ids as strings sorts records by index (ORDER BY Id is a scan).
"""

from __future__ import annotations

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "5g"
_BODY_DIGITS = 10
_DIGIT_VALUE = {c: i for i, c in enumerate(BASE62)}


def checksum_suffix(body15: str) -> str:
    """The 3 chars Salesforce appends: one per 5-char chunk, a bit per upper-case letter."""
    out = []
    for chunk in range(3):
        bits = 0
        for pos, ch in enumerate(body15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << pos
        out.append(_SUFFIX_CHARS[bits])
    return "".join(out)


def make_id(prefix: str, index: int) -> str:
    """18-char Id of record `index` (0-based) of the object with key prefix `prefix`."""
    digits = []
    n = index + 1
    while n:
        n, r = divmod(n, 62)
        digits.append(BASE62[r])
    body = prefix + _POD + "".join(reversed(digits)).rjust(_BODY_DIGITS, "0")
    return body + checksum_suffix(body)


def parse_id(value: str, prefix: str) -> int | None:
    """Index of the record an Id (15 or 18 chars) names, or None if it is not one of ours."""
    if len(value) not in (15, 18) or not value.startswith(prefix + _POD):
        return None
    body = value[:15]
    if len(value) == 18 and value[15:].upper() != checksum_suffix(body):
        return None
    n = 0
    for ch in body[5:]:
        digit = _DIGIT_VALUE.get(ch)
        if digit is None:
            return None
        n = n * 62 + digit
    return n - 1 if n > 0 else None


def is_valid_id(value: str) -> bool:
    """True when `value` is a well-formed 18-char Id whose suffix matches its body."""
    return (
        len(value) == 18
        and all(c in _DIGIT_VALUE for c in value[:15])
        and value[15:] == checksum_suffix(value[:15])
    )
