"""A SOQL subset: parsing with Salesforce's error codes, and compilation to record predicates.

Supported: SELECT fields | COUNT() FROM object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]; conditions with = != <> < <= > >= [NOT] IN LIKE AND OR NOT and parentheses;
literals: 'strings', numbers, TRUE/FALSE, NULL, datetimes (2024-01-01T00:00:00Z, offsets, fractions),
dates (2024-01-01) and the date constants TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n.
Text compares case-insensitively, as in Salesforce; Ids compare on their 15-char body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ..datagen.schema import FieldDef, ObjectDef, object_def
from .errors import query_error

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
    |(?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<op><>|!=|<=|>=|=|<|>)
    |(?P<punct>[(),:])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "order", "by", "asc", "desc", "nulls",
             "first", "last", "limit", "offset", "like", "null", "true", "false", "count"}
_TEXT_TYPES = {"string", "textarea", "picklist", "multipicklist", "email", "phone", "url"}
_NUMBER_TYPES = {"currency", "double", "int", "percent"}
_SOAP_TYPE = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "currency": "currency",
              "double": "double", "int": "integer", "percent": "percent"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "_": "\\_", "%": "\\%"}
DAY_MS = 86_400_000


@dataclass
class Token:
    kind: str
    text: str
    column: int  # 1-based, like Salesforce's messages

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class DateRange:
    """A date constant such as TODAY: a half-open [start, end) in the field's own representation."""

    start: int | str
    end: int | str


@dataclass
class Compare:
    field: FieldDef
    op: str
    value: object


@dataclass
class InList:
    field: FieldDef
    values: list
    negate: bool


@dataclass
class Like:
    field: FieldDef
    pattern: re.Pattern


@dataclass
class BoolOp:
    op: str  # "and" | "or" | "not"
    terms: list


@dataclass
class Query:
    text: str
    obj: ObjectDef
    fields: list[FieldDef]
    count_only: bool
    where: object | None = None
    order: list[tuple[FieldDef, bool, bool]] = field(default_factory=list)  # field, descending, nulls_last
    limit: int | None = None
    offset: int = 0


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            col = len(text) - len(text[pos:].lstrip()) + 1
            raise query_error("MALFORMED_QUERY", text, col, f"unexpected token: '{text[col - 1]}'")
        kind = m.lastgroup
        tokens.append(Token(kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", len(text) + 1))
    return tokens


def _now() -> datetime:
    return datetime.now(UTC)


class Parser:
    """Recursive descent over the token list; field names are checked against the object's schema."""

    def __init__(self, text: str, now: Callable[[], datetime] = _now) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.now = now

    # -- token helpers ---------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _fail(self, tok: Token | None = None) -> None:
        tok = tok or self.tok
        raise query_error("MALFORMED_QUERY", self.text, tok.column, f"unexpected token: '{tok.text}'")

    def _accept(self, *words: str) -> Token | None:
        tok = self.tok
        if tok.kind == "ident" and tok.upper in words or tok.kind in ("punct", "op") and tok.text in words:
            self.i += 1
            return tok
        return None

    def _expect(self, *words: str) -> Token:
        tok = self._accept(*words)
        if tok is None:
            self._fail()
        return tok

    # -- grammar ---------------------------------------------------------------------------------

    def parse(self) -> Query:
        self._expect("SELECT")
        count_only = False
        raw_fields: list[Token] = []
        if self.tok.upper == "COUNT" and self.tokens[self.i + 1].text == "(":
            self.i += 2
            self._expect(")")
            count_only = True
        else:
            while True:
                tok = self.tok
                if tok.kind != "ident" or tok.text.lower() in _KEYWORDS - {"first", "last", "count"}:
                    self._fail()
                raw_fields.append(tok)
                self.i += 1
                if not self._accept(","):
                    break
        self._expect("FROM")
        obj_tok = self.tok
        if obj_tok.kind != "ident":
            self._fail()
        self.i += 1
        obj = object_def(obj_tok.text)
        if obj is None:
            raise query_error(
                "INVALID_TYPE", self.text, obj_tok.column,
                f"sObject type '{obj_tok.text}' is not supported. If you are attempting to use a custom object,"
                " be sure to append the '__c' after the entity name. Please reference your WSDL or the describe"
                " call for the appropriate names.")
        self.obj = obj
        fields = [self._field(t) for t in raw_fields]
        seen: set[str] = set()
        for tok, f in zip(raw_fields, fields, strict=True):
            if f.name in seen:
                raise query_error("DUPLICATE_FIELD", self.text, tok.column, f"duplicate field selected: {f.name}")
            seen.add(f.name)
        query = Query(self.text, obj, fields, count_only)
        if self._accept("WHERE"):
            query.where = self._or()
        if self._accept("ORDER"):
            self._expect("BY")
            while True:
                f = self._field(self.tok, sorting=True)
                self.i += 1
                direction = self._accept("ASC", "DESC")
                desc = direction is not None and direction.upper == "DESC"
                nulls_last = desc
                if self._accept("NULLS"):
                    nulls_last = self._expect("FIRST", "LAST").upper == "LAST"
                query.order.append((f, desc, nulls_last))
                if not self._accept(","):
                    break
        if self._accept("LIMIT"):
            query.limit = self._int()
        if self._accept("OFFSET"):
            query.offset = self._int()
            if query.offset > 2000:
                raise query_error("NUMBER_OUTSIDE_VALID_RANGE", self.text, self.tokens[self.i - 1].column,
                                  f"Maximum SOQL offset allowed is 2000 (was {query.offset})")
        if self.tok.kind != "eof":
            self._fail()
        return query

    def _int(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            self._fail()
        self.i += 1
        return int(tok.text)

    def _field(self, tok: Token, sorting: bool = False, filtering: bool = False) -> FieldDef:
        if tok.kind != "ident":
            self._fail(tok)
        f = self.obj.field(tok.text)
        if f is None:
            raise query_error(
                "INVALID_FIELD", self.text, tok.column,
                f"No such column '{tok.text}' on entity '{self.obj.name}'. If you are attempting to use a custom"
                " field, be sure to append the '__c' after the custom field name. Please reference your WSDL or"
                " the describe call for the appropriate names.")
        long_text = f.type == "textarea" and f.length > 255
        if long_text and (sorting or filtering):
            verb = "sorted" if sorting else "filtered"
            raise query_error("INVALID_FIELD", self.text, tok.column,
                              f"field '{f.name}' can not be {verb} in a query call")
        return f

    def _or(self):
        terms = [self._and()]
        while self._accept("OR"):
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else BoolOp("or", terms)

    def _and(self):
        terms = [self._not()]
        while self._accept("AND"):
            terms.append(self._not())
        return terms[0] if len(terms) == 1 else BoolOp("and", terms)

    def _not(self):
        if self._accept("NOT"):
            return BoolOp("not", [self._not()])
        if self._accept("("):
            inner = self._or()
            self._expect(")")
            return inner
        return self._condition()

    def _condition(self):
        ftok = self.tok
        f = self._field(ftok, filtering=True)
        self.i += 1
        if self._accept("NOT"):
            self._expect("IN")
            return InList(f, self._value_list(f), negate=True)
        if self._accept("IN"):
            return InList(f, self._value_list(f), negate=False)
        if self._accept("LIKE"):
            vtok = self.tok
            if vtok.kind != "string" or f.type not in _TEXT_TYPES | {"id", "reference"}:
                self._fail(vtok)
            self.i += 1
            return Like(f, _like_pattern(_unquote(vtok.text)))
        op_tok = self.tok
        if op_tok.kind != "op":
            self._fail()
        self.i += 1
        op = "!=" if op_tok.text == "<>" else op_tok.text
        value = self._value(f)
        if value is None and op not in ("=", "!="):
            self._fail(self.tokens[self.i - 1])
        return Compare(f, op, value)

    def _value_list(self, f: FieldDef) -> list:
        self._expect("(")
        values = [self._value(f)]
        while self._accept(","):
            values.append(self._value(f))
        self._expect(")")
        return values

    def _value(self, f: FieldDef):
        tok = self.tok
        self.i += 1
        kind = tok.kind
        if kind == "ident" and tok.upper == "NULL":
            return None
        expected = _SOAP_TYPE.get(f.type, "string")
        if f.type == "datetime" or f.type == "date":
            constant = self._date_constant(tok, f) if kind == "ident" else None
            if constant is not None:
                return constant
            if f.type == "datetime" and kind == "datetime":
                return _parse_datetime_ms(tok.text)
            if f.type == "date" and kind == "date":
                return tok.text
        elif f.type == "boolean":
            if kind == "ident" and tok.upper in ("TRUE", "FALSE"):
                return tok.upper == "TRUE"
        elif f.type in _NUMBER_TYPES:
            if kind == "number":
                return float(tok.text)
        elif kind == "string":
            text = _unquote(tok.text)
            return text[:15] if f.type in ("id", "reference") else text.casefold()
        if kind in ("ident", "punct", "op", "eof") and not (kind == "ident" and tok.upper in ("TRUE", "FALSE")):
            self._fail(tok)
        quoted = "should be enclosed in quotes" if expected == "string" else "should not be enclosed in quotes"
        raise query_error("INVALID_FIELD", self.text, tok.column,
                          f"value of filter criterion for field '{f.name}' must be of type {expected} and {quoted}")

    def _date_constant(self, tok: Token, f: FieldDef) -> DateRange | None:
        name = tok.upper
        n = 1
        if name in ("LAST_N_DAYS", "NEXT_N_DAYS"):
            self._expect(":")
            n = self._int()
        today = self.now().date()
        spans = {
            "TODAY": (today, today + timedelta(days=1)),
            "YESTERDAY": (today - timedelta(days=1), today),
            "TOMORROW": (today + timedelta(days=1), today + timedelta(days=2)),
            "LAST_N_DAYS": (today - timedelta(days=n), today + timedelta(days=1)),
            "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=n + 1)),
        }
        if name not in spans:
            return None
        start, end = spans[name]
        if f.type == "date":
            return DateRange(start.isoformat(), end.isoformat())
        return DateRange(_date_ms(start), _date_ms(end))


def _date_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def _parse_datetime_ms(text: str) -> int:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def _like_pattern(text: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def parse(text: str, now: Callable[[], datetime] = _now) -> Query:
    """Parse a SOQL string; raises SalesforceError (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE)."""
    return Parser(text, now).parse()


# -- evaluation ------------------------------------------------------------------------------------


def _normalizer(f: FieldDef) -> Callable[[object], object]:
    if f.type in ("id", "reference"):
        return lambda v: v[:15] if v is not None else None
    if f.type in _TEXT_TYPES:
        return lambda v: v.casefold() if v is not None else None
    return lambda v: v


_OPS = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def compile_predicate(node) -> Callable[[dict], bool]:
    """A function record -> bool for a WHERE tree (None: every record matches)."""
    if node is None:
        return lambda rec: True
    if isinstance(node, BoolOp):
        parts = [compile_predicate(t) for t in node.terms]
        if node.op == "and":
            return lambda rec: all(p(rec) for p in parts)
        if node.op == "or":
            return lambda rec: any(p(rec) for p in parts)
        inner = parts[0]
        return lambda rec: not inner(rec)
    name = node.field.name
    norm = _normalizer(node.field)
    if isinstance(node, Like):
        pattern = node.pattern
        return lambda rec: rec.get(name) is not None and pattern.fullmatch(rec[name]) is not None
    if isinstance(node, InList):
        values = set(node.values)
        if node.negate:
            return lambda rec: norm(rec.get(name)) not in values
        return lambda rec: norm(rec.get(name)) in values
    op, value = node.op, node.value
    if isinstance(value, DateRange):
        start, end = value.start, value.end
        range_ops = {
            "=": lambda v: start <= v < end, "!=": lambda v: not start <= v < end, "<": lambda v: v < start,
            "<=": lambda v: v < end, ">": lambda v: v >= end, ">=": lambda v: v >= start,
        }
        check = range_ops[op]
        return lambda rec: rec.get(name) is not None and check(rec[name])
    if value is None:
        return (lambda rec: rec.get(name) is None) if op == "=" else (lambda rec: rec.get(name) is not None)
    fn = _OPS[op]
    if op == "!=":
        return lambda rec: rec.get(name) is None or fn(norm(rec[name]), value)
    return lambda rec: rec.get(name) is not None and fn(norm(rec[name]), value)


def sort_key(order: list[tuple[FieldDef, bool, bool]]) -> Callable[[dict], tuple]:
    """A key for sorted() honouring per-field direction and NULLS FIRST/LAST."""
    parts = [(f.name, _normalizer(f), desc, nulls_last) for f, desc, nulls_last in order]

    def key(rec: dict) -> tuple:
        out = []
        for name, norm, desc, nulls_last in parts:
            v = norm(rec.get(name))
            null_rank = (1 if nulls_last else 0) if v is None else (0 if nulls_last else 1)
            filler = v if v is not None else 0
            out.append((null_rank, _Reversed(filler) if desc else filler))
        return tuple(out)

    return key


class _Reversed:
    """Wraps a value so that sorting ascending orders it descending."""

    __slots__ = ("v",)

    def __init__(self, v) -> None:
        self.v = v

    def __lt__(self, other: _Reversed) -> bool:
        return other.v < self.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.v == self.v

    def __hash__(self) -> int:
        return hash(self.v)


def stamp_bounds(node) -> tuple[int | None, int | None]:
    """SystemModstamp bounds implied by top-level AND terms: lets a scan skip whole index ranges."""
    terms = node.terms if isinstance(node, BoolOp) and node.op == "and" else [node] if node is not None else []
    lo = hi = None
    for t in terms:
        if isinstance(t, Compare) and t.field.name == "SystemModstamp" and isinstance(t.value, int):
            if t.op in (">", ">="):
                lo = t.value if lo is None else max(lo, t.value)
            elif t.op in ("<", "<="):
                hi = t.value if hi is None else min(hi, t.value)
            elif t.op == "=":
                lo = t.value if lo is None else max(lo, t.value)
                hi = t.value if hi is None else min(hi, t.value)
    return lo, hi


def id_values(node) -> list[str] | None:
    """The Id bodies a top-level `Id = x` / `Id IN (...)` term restricts the query to, if any."""
    terms = node.terms if isinstance(node, BoolOp) and node.op == "and" else [node] if node is not None else []
    for t in terms:
        if isinstance(t, Compare) and t.field.name == "Id" and t.op == "=" and isinstance(t.value, str):
            return [t.value]
        if isinstance(t, InList) and t.field.name == "Id" and not t.negate:
            return [v for v in t.values if isinstance(v, str)]
    return None
