"""Deterministic, lazily generated Salesforce records with the mess real orgs contain.

A record is a pure function of (seed, object, index, version): nothing is stored, so a million
Accounts cost no memory. Values use an internal form: datetimes as epoch milliseconds (UTC), dates as
ISO strings, numbers, booleans, strings and None; the emulator formats them for JSON or CSV.

Salesforce never returns "" for a text field (an empty value is null), so "empty" here means
whitespace-only text, which real data does contain.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from .ids import make_id
from .schema import (
    ACCOUNT_TYPES,
    INDUSTRIES,
    LEAD_SOURCES,
    OPPORTUNITY_TYPES,
    RATINGS,
    REGIONS,
    STAGES,
)

ANCHOR_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
STAMP_STEP_MS = 2000
TIE_EVERY = 50  # record i with i % TIE_EVERY == 1 shares SystemModstamp with record i - 1
_OBJECT_CODES = {"Account": 1, "Contact": 3, "Opportunity": 6}
_PREFIX = {"Account": "001", "Contact": "003", "Opportunity": "006"}
_EPOCH_DAY = date(1970, 1, 1)

FIRST_NAMES = (
    "Anna", "José", "Zoë", "François", "Ólafur", "Søren", "Małgorzata", "Jürgen", "Siobhán", "Đorđe",
    "María José", "李", "王", "さくら", "Юлия", "Дмитрий", "محمد", "فاطمة", "Αλέξανδρος", "Chloé",
    "Nguyễn", "Priya", "Ngozi", "O'Neil", "Jean-Luc", "Björk", "Ana-María", "Kai", "Mary Ann", "John",
)
LAST_NAMES = (
    "Müller", "García", "O'Brien", "Smith", "Nguyễn", "Kowalski", "Dubois", "Øster", "Schäfer", "Ivanov",
    "Иванова", "山田", "张伟", "Ben-David", "da Silva", "van der Berg", "MacDonald", "Łukasiewicz",
    "Al-Fulan", "Papadopoulos", "Johnson", "Okafor", "Šimić", "Smith, Jr.", "D'Angelo", "Brown", "Lee",
)
COMPANY_CORES = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Müller & Söhne", "Ωmega", "Nordlys",
    "北京科技", "Société Générale de Café", "Café \"Le Zinc\"", "O'Reilly Foods", "Zürich Re", "Tōkyō Denki",
    "Вектор", "شركة النور", "Árvíztűrő", "São Paulo Têxtil", "Smith, Jones & Co", "🚀 Rocket", "Blue Sky",
    "Pied Piper", "Hooli", "Vandelay", "Kraków Logistics", "Ñandú", "Dunder Mifflin", "Bluth", "Cyberdyne",
)
COMPANY_SUFFIXES = ("Inc.", "GmbH", "Ltd", "S.A.", "AG", "LLC", "有限公司", "Oy", "SARL", "", "Holdings", "K.K.")
CITIES = ("Zürich", "São Paulo", "Kraków", "München", "Москва", "東京", "Québec", "Reykjavík", "Paris",
          "New York", "Cairo", "İstanbul", "Ålesund", "Łódź", "Lagos", "Springfield")
COUNTRIES = ("Switzerland", "Brazil", "Poland", "Germany", "Russia", "Japan", "Canada", "Iceland",
             "France", "USA", "United States", "US", "Egypt", "Türkiye", "Norway", "Nigeria")
TITLES = ("CEO", "CTO", "VP Sales", "Head of Procurement", "Directeur Général", "Geschäftsführerin",
          "Software Engineer", "Office Manager", "営業部長", "Buyer", "Consultant")
WORDS = ("lorem", "ipsum", "renewal", "contract", "pipeline", "Überprüfung", "réunion", "会議", "встреча",
         "quarterly", "budget", "\"urgent\"", "follow-up", "stakeholder", "pricing", "migration", "n/a",
         "déjà", "naïve", "smörgåsbord", "façade", "🙂", "Q3", "SLA", "onboarding", "churn", "upsell")
PRODUCTS = ("Platform Licence", "Renewal", "Upsell", "Services", "Expansion", "Pilot", "Support Plan")
INVALID_EMAILS = ("john.doe@", "not-an-email", "a@b", "jane@@example.com", " spaced @example.com",
                  "müller@exämple.de", "user@localhost", "x@y..com", "@example.com", "name@example,com")


_SLUGS = {c: "".join(ch for ch in c.lower() if ch.isascii() and ch.isalnum()) or "co" for c in COMPANY_CORES}
_OWNERS = tuple(make_id("005", i) for i in range(25))


def _build_corpus() -> str:
    r = random.Random(20240101)
    parts = [WORDS[int(r.random() * len(WORDS))] for _ in range(40_000)]
    for i in range(12, len(parts), 40):
        parts[i] += ".\n"
    return " ".join(parts)


_CORPUS = _build_corpus()


def stamp_of(index: int) -> int:
    """Base SystemModstamp (epoch ms) of generated record `index`: non-decreasing in the index."""
    k = index - 1 if index % TIE_EVERY == 1 else index
    return ANCHOR_MS + k * STAMP_STEP_MS


def index_floor_for_stamp(stamp_ms: int) -> int:
    """An index at or before the first record whose base stamp is >= `stamp_ms` (for range scans)."""
    return max(0, (stamp_ms - ANCHOR_MS) // STAMP_STEP_MS - 1)


def ms_to_date(ms: int) -> str:
    return (_EPOCH_DAY + timedelta(milliseconds=ms)).isoformat()


class Generator:
    """Records of Account, Contact and Opportunity for one seed and one set of counts."""

    def __init__(self, seed: int = 42, accounts: int = 1000, contacts: int | None = None,
                 opportunities: int | None = None) -> None:
        self.seed = seed
        self.counts = {
            "Account": accounts,
            "Contact": accounts * 2 if contacts is None else contacts,
            "Opportunity": accounts if opportunities is None else opportunities,
        }
        self._builders = {"Account": self._account, "Contact": self._contact, "Opportunity": self._opportunity}

    def count(self, obj: str) -> int:
        return self.counts[obj]

    def record_id(self, obj: str, index: int) -> str:
        return make_id(_PREFIX[obj], index)

    def _rng(self, obj: str, index: int, version: int) -> random.Random:
        return random.Random(((self.seed * 1_000_003 + _OBJECT_CODES[obj]) * 4_294_967_311 + index) * 977 + version)

    def record(self, obj: str, index: int, version: int = 0) -> dict:
        """Record `index` of `obj`; another `version` gives the values an update would bring."""
        r = self._rng(obj, index, version)
        stamp = stamp_of(index)
        rec = {"Id": make_id(_PREFIX[obj], index), "IsDeleted": False}
        rec.update(self._builders[obj](r, index))
        modified = stamp - (0 if r.random() < 0.8 else int(r.random() * 86_400_000))
        rec["OwnerId"] = _OWNERS[int(r.random() * len(_OWNERS))]
        rec["CreatedDate"] = modified - int(r.random() * 400 * 86_400_000)
        rec["LastModifiedDate"] = modified
        rec["SystemModstamp"] = stamp
        return rec

    # -- value helpers -------------------------------------------------------------------------

    @staticmethod
    def _pick(r: random.Random, values: tuple, null_share: float = 0.0):
        if null_share and r.random() < null_share:
            return None
        return values[int(r.random() * len(values))]

    @staticmethod
    def _text(r: random.Random, chars: int) -> str:
        """A slice of a fixed corpus: as varied as generated words, at the cost of one slice."""
        start = int(r.random() * (len(_CORPUS) - chars))
        return _CORPUS[start : start + chars].strip()

    def _description(self, r: random.Random, index: int) -> str | None:
        if index % 37 == 5:  # guaranteed long text (> 2,000 chars, Notion's rich-text limit)
            return self._text(r, 2100 + int(r.random() * 3000))
        roll = r.random()
        if roll < 0.45:
            return None
        if roll < 0.50:
            return "   "
        if roll < 0.55:
            return self._text(r, 2000 + int(r.random() * 6000))
        return self._text(r, 10 + int(r.random() * 200))

    def _company(self, r: random.Random, index: int) -> tuple[str, str]:
        core = self._pick(r, COMPANY_CORES)
        name = f"{core} {self._pick(r, COMPANY_SUFFIXES)}".strip()
        if index % 41 == 9:
            name = f"  {name}\t"  # leading/trailing whitespace
        elif index % 43 == 11:
            name = f"{name}\nDivision {index}"  # embedded newline: a CSV edge case
        return (f"{name} #{index}" if r.random() < 0.5 else name), _SLUGS[core]

    def _phone(self, r: random.Random) -> str | None:
        roll = r.random()
        digits = f"{int(r.random() * 1e10):010d}"
        if roll < 0.2:
            return None
        if roll < 0.5:
            return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        if roll < 0.7:
            return f"+41 {digits[:2]} {digits[2:5]} {digits[5:7]} {digits[7:9]}"
        if roll < 0.8:
            return f"{digits} ext. {int(r.random() * 999)}"
        return digits

    # -- objects -------------------------------------------------------------------------------

    def _account(self, r: random.Random, index: int) -> dict:
        name, slug = self._company(r, index)
        web_roll = r.random()
        if index % 89 == 13:
            regions = ";".join(REGIONS[:120])  # more values than a Notion multi_select accepts
        elif r.random() < 0.4:
            regions = None
        else:
            regions = ";".join(sorted({self._pick(r, REGIONS) for _ in range(1 + int(r.random() * 6))},
                                      key=REGIONS.index))
        revenue_roll = r.random()
        return {
            "Name": name,
            "Type": self._pick(r, ACCOUNT_TYPES, 0.15),
            "Industry": self._pick(r, INDUSTRIES, 0.1),
            "Rating": self._pick(r, RATINGS, 0.4),
            "AnnualRevenue": None if revenue_roll < 0.2 else 0.0 if revenue_roll < 0.25
            else float(round(r.lognormvariate(15, 2))),
            "NumberOfEmployees": None if r.random() < 0.25 else int(r.lognormvariate(4, 2)),
            "Phone": self._phone(r),
            "Website": None if web_roll < 0.25 else f"www.{slug}.com" if web_roll < 0.45
            else f"https://{slug}.example.com/path?ref={index}",
            "BillingStreet": None if r.random() < 0.3 else f"{int(r.random() * 300)} Rue de l'Église\nBâtiment B",
            "BillingCity": self._pick(r, CITIES, 0.2),
            "BillingPostalCode": None if r.random() < 0.3 else f"{int(r.random() * 99999):05d}",
            "BillingCountry": self._pick(r, COUNTRIES, 0.2),
            "Description": self._description(r, index),
            "Regions__c": regions,
            "Is_Strategic__c": r.random() < 0.1,
        }

    def _contact(self, r: random.Random, index: int) -> dict:
        first = self._pick(r, FIRST_NAMES, 0.05)
        last = self._pick(r, LAST_NAMES)
        email_roll = r.random()
        local = "".join(c for c in f"{first or ''}.{last}".lower() if c.isascii() and (c.isalnum() or c == "."))
        if index % 13 == 4 or email_roll < 0.1:
            email = self._pick(r, INVALID_EMAILS)
        elif email_roll < 0.3:
            email = None
        else:
            email = f"{local.strip('.') or 'contact'}{index}@example.com"
        accounts = self.counts["Account"]
        birth = None if r.random() < 0.5 else (_EPOCH_DAY + timedelta(days=int(r.random() * 18000) - 3000)).isoformat()
        return {
            "AccountId": None if (r.random() < 0.05 or not accounts) else make_id("001", int(r.random() * accounts)),
            "FirstName": first,
            "LastName": last,
            "Name": f"{first} {last}" if first else last,
            "Email": email,
            "Phone": self._phone(r),
            "Title": self._pick(r, TITLES, 0.3),
            "LeadSource": self._pick(r, LEAD_SOURCES, 0.3),
            "Birthdate": birth,
            "HasOptedOutOfEmail": r.random() < 0.15,
            "MailingCountry": self._pick(r, COUNTRIES, 0.3),
            "Description": self._description(r, index),
        }

    def _opportunity(self, r: random.Random, index: int) -> dict:
        stage, probability = STAGES[int(r.random() * len(STAGES))]
        accounts = self.counts["Account"]
        close = ANCHOR_MS + int((r.random() * 900 - 300) * 86_400_000)
        return {
            "AccountId": make_id("001", int(r.random() * accounts)) if accounts else None,
            "Name": f"{self._company(r, index)[0]} - {self._pick(r, PRODUCTS)}",
            "StageName": stage,
            "Amount": None if r.random() < 0.1 else round(r.lognormvariate(10, 1.5), 2),
            "Probability": float(probability),
            "CloseDate": ms_to_date(close),
            "Type": self._pick(r, OPPORTUNITY_TYPES, 0.2),
            "LeadSource": self._pick(r, LEAD_SOURCES, 0.3),
            "IsClosed": stage.startswith("Closed"),
            "IsWon": stage == "Closed Won",
            "NextStep": None if r.random() < 0.6 else self._text(r, 30),
            "Description": self._description(r, index),
        }
