"""Notion API facts and our documented defaults, in one place so that tests and docs agree."""

from __future__ import annotations

SUPPORTED_VERSIONS = ("2025-09-03", "2026-03-11", "2026-12-01")
"""Notion-Version values this package is tested against (the connection's ``notion_version`` extra).
2025-09-03: data sources; 2026-03-11: ``in_trash`` replaces ``archived``, ``position`` replaces
``after``; 2026-12-01: query results carry only the title unless ``filter_properties`` names more."""
NOTION_VERSION = SUPPORTED_VERSIONS[-1]
DEFAULT_BASE_URL = "https://api.notion.com"

# Budget: Notion documents ~3 requests/s on average per connection, with short bursts allowed. Keep
# our burst below Notion's: requests arrive a little after their reserved slot, and the difference
# in burst is the slack that absorbs that jitter (a 429 costs a pause and a rate cut).
DEFAULT_RATE = 3.0
DEFAULT_BURST = 3
DEFER_THRESHOLD_S = 10.0
"""Waits longer than this defer the Airflow task instead of sleeping in a worker slot."""
FAST_LANE_SHARE = 0.2
"""Share of the budget kept for the fast lane (single records synced now): bulk work never takes it.
At 3 req/s that is 0.6 req/s, a one-record sync (a lookup and a write) within a few seconds."""

# Adaptive rate after a 429/529: multiply by BACKOFF_FACTOR (never below RATE_FLOOR), then add
# RECOVERY_STEP back for each RECOVERY_PERIOD_S without another 429.
BACKOFF_FACTOR = 0.7
RATE_FLOOR = 0.1
RECOVERY_STEP = 0.1
RECOVERY_PERIOD_S = 5.0

# HTTP client.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
WRITE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 10
MAX_KEEPALIVE_CONNECTIONS = 5

# Retries (ours; the SDK's own retry is off).
MAX_ATTEMPTS = 6
RETRY_MAX_ELAPSED_S = 600.0
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
RETRY_AFTER_FALLBACK_S = 2.0
"""Used when a 429/529 carries no usable Retry-After."""
RETRY_AFTER_MAX_S = 900.0
"""A Retry-After beyond this is treated as this (a bad header must not stall a sync for hours)."""

PROPERTY_TYPES = (
    "title",
    "rich_text",
    "number",
    "select",
    "multi_select",
    "date",
    "checkbox",
    "email",
    "phone_number",
    "url",
    "relation",
)
"""Property types a mapping may name; the sandbox's Notion emulator implements the same ones."""

# Notion request limits.
MAX_TEXT_CONTENT = 2000
MAX_ARRAY_ITEMS = 100
MAX_RICH_TEXT_ITEMS = MAX_ARRAY_ITEMS
MAX_MULTI_SELECT = MAX_ARRAY_ITEMS
MAX_RELATIONS = MAX_ARRAY_ITEMS
MAX_SELECT_NAME = 100
MAX_URL = 2000
MAX_EMAIL = 200
MAX_PHONE = 200
MAX_PAYLOAD_BYTES = 500_000
MAX_BLOCKS = 1000
MAX_PAGE_SIZE = 100
PAGE_RELATIONS_SHOWN = 25
"""A page object lists at most this many references per relation property (then ``has_more``)."""
MAX_RELATION_PAGES = 100
"""Pages of property items read for one relation (10,000 references): a bound, not a Notion limit."""
QUERY_RESULT_CAP = 10_000
"""A data-source query stops after this many results (request_status.incomplete_reason)."""
SPLIT_MAX_DEPTH = 20
"""Longest text prefix a listing splits a created_time minute by (past an 18-character Salesforce Id)."""
SPLIT_MAX_REQUESTS = 5_000
"""Requests listing one such minute may take (~28 min at 3 req/s): 50,000 pages took ~630 against the
emulator, ~1,100 when the cap is signalled only on a query's last page."""
