"""Field definitions of the generated objects: one table feeds the generator, SOQL checks and describe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    length: int = 0
    nillable: bool = True
    picklist: tuple[str, ...] = ()
    reference_to: str | None = None
    precision: int = 0
    scale: int = 0
    label: str = ""

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        base = self.name.removesuffix("__c").replace("_", " ")
        return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)


@dataclass(frozen=True)
class ObjectDef:
    name: str
    key_prefix: str
    label_plural: str
    fields: tuple[FieldDef, ...]
    by_lower: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> FieldDef | None:
        return self.by_lower.get(name.lower())


INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
    "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
    "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
    "Telecommunications", "Transportation", "Utilities", "Other",
)
ACCOUNT_TYPES = (
    "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
    "Installation Partner", "Technology Partner", "Other",
)
RATINGS = ("Hot", "Warm", "Cold")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
STAGES = (
    ("Prospecting", 10), ("Qualification", 10), ("Needs Analysis", 20), ("Value Proposition", 50),
    ("Id. Decision Makers", 60), ("Perception Analysis", 70), ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90), ("Closed Won", 100), ("Closed Lost", 0),
)
OPPORTUNITY_TYPES = ("Existing Customer - Upgrade", "Existing Customer - Replacement",
                     "Existing Customer - Downgrade", "New Customer")
REGIONS = tuple(
    f"{area}-{n:02d}"
    for area in ("EMEA", "AMER", "APAC", "LATAM", "ANZ", "MEA", "NORDICS", "DACH")
    for n in range(1, 21)
)  # 160 values: enough for a record that selects more than Notion's 100-option limit

_COMMON_HEAD = (FieldDef("Id", "id", 18, nillable=False), FieldDef("IsDeleted", "boolean", nillable=False))
_COMMON_TAIL = (
    FieldDef("OwnerId", "reference", 18, nillable=False, reference_to="User"),
    FieldDef("CreatedDate", "datetime", nillable=False),
    FieldDef("LastModifiedDate", "datetime", nillable=False),
    FieldDef("SystemModstamp", "datetime", nillable=False),
)

ACCOUNT = ObjectDef("Account", "001", "Accounts", _COMMON_HEAD + (
    FieldDef("Name", "string", 255, nillable=False, label="Account Name"),
    FieldDef("Type", "picklist", 255, picklist=ACCOUNT_TYPES, label="Account Type"),
    FieldDef("Industry", "picklist", 255, picklist=INDUSTRIES),
    FieldDef("Rating", "picklist", 255, picklist=RATINGS, label="Account Rating"),
    FieldDef("AnnualRevenue", "currency", precision=18, scale=0),
    FieldDef("NumberOfEmployees", "int", precision=8),
    FieldDef("Phone", "phone", 40, label="Account Phone"),
    FieldDef("Website", "url", 255),
    FieldDef("BillingStreet", "textarea", 255),
    FieldDef("BillingCity", "string", 40),
    FieldDef("BillingPostalCode", "string", 20),
    FieldDef("BillingCountry", "string", 80),
    FieldDef("Description", "textarea", 32000, label="Account Description"),
    FieldDef("Regions__c", "multipicklist", 4099, picklist=REGIONS, label="Regions"),
    FieldDef("Is_Strategic__c", "boolean", nillable=False, label="Strategic"),
) + _COMMON_TAIL)

CONTACT = ObjectDef("Contact", "003", "Contacts", _COMMON_HEAD + (
    FieldDef("AccountId", "reference", 18, reference_to="Account", label="Account ID"),
    FieldDef("FirstName", "string", 40),
    FieldDef("LastName", "string", 80, nillable=False),
    FieldDef("Name", "string", 121, nillable=False, label="Full Name"),
    FieldDef("Email", "email", 80),
    FieldDef("Phone", "phone", 40, label="Business Phone"),
    FieldDef("Title", "string", 128),
    FieldDef("LeadSource", "picklist", 255, picklist=LEAD_SOURCES),
    FieldDef("Birthdate", "date"),
    FieldDef("HasOptedOutOfEmail", "boolean", nillable=False, label="Email Opt Out"),
    FieldDef("MailingCountry", "string", 80),
    FieldDef("Description", "textarea", 32000, label="Contact Description"),
) + _COMMON_TAIL)

OPPORTUNITY = ObjectDef("Opportunity", "006", "Opportunities", _COMMON_HEAD + (
    FieldDef("AccountId", "reference", 18, reference_to="Account", label="Account ID"),
    FieldDef("Name", "string", 120, nillable=False, label="Name"),
    FieldDef("StageName", "picklist", 255, nillable=False, picklist=tuple(s for s, _ in STAGES), label="Stage"),
    FieldDef("Amount", "currency", precision=18, scale=2),
    FieldDef("Probability", "percent", precision=3, scale=0, label="Probability (%)"),
    FieldDef("CloseDate", "date", nillable=False),
    FieldDef("Type", "picklist", 255, picklist=OPPORTUNITY_TYPES, label="Opportunity Type"),
    FieldDef("LeadSource", "picklist", 255, picklist=LEAD_SOURCES),
    FieldDef("IsClosed", "boolean", nillable=False, label="Closed"),
    FieldDef("IsWon", "boolean", nillable=False, label="Won"),
    FieldDef("NextStep", "string", 255),
    FieldDef("Description", "textarea", 32000),
) + _COMMON_TAIL)

OBJECTS: dict[str, ObjectDef] = {o.name.lower(): o for o in (ACCOUNT, CONTACT, OPPORTUNITY)}


def object_def(name: str) -> ObjectDef | None:
    """Object by API name, case-insensitively (as SOQL resolves it)."""
    return OBJECTS.get(name.lower())
