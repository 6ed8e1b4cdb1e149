"""Notion API facts and our documented defaults, in one place so that tests and docs agree."""

from __future__ import annotations

SUPPORTED_VERSIONS = ("2025-09-03", "2026-03-11", "2026-12-01")
"""Notion-Version values this package is tested against (the connection's ``notion_version`` extra).
2025-09-03: data sources; 2026-03-11: ``in_trash`` replaces ``archived``, ``position`` replaces
``after``; 2026-12-01: query results carry only the title unless ``filter_properties`` names more."""
NOTION_VERSION = SUPPORTED_VERSIONS[-1]
DEFAULT_BASE_URL = "https://api.notion.com"

# Budget (developers.notion.com, "Request limits"): each connection may send a fixed number of
# requests per 60-second window, set by the workspace's plan -- 180 on Free and Plus, 600 on Business
# and Enterprise -- evenly or in one burst; a 429 for it says Retry-After = the time to the reset.
DEFAULT_REQUESTS = 180
DEFAULT_WINDOW_S = 60.0
SLACK_SHARE = 0.01
"""Of the window, added to it when spacing sends (0.6 s of 60 s): a request reserved at t reaches Notion
a little later, and this margin absorbs that jitter. It costs 1% of the budget."""
BURST_SHARE = 0.1
"""Of the window's budget, sent back to back at most (18 of 180); the rest is paced evenly. Notion
would take the whole budget at once, but then the window's remainder is empty: fast-lane requests and
every worker would wait up to a minute (and defer). A tenth keeps that wait under DEFER_THRESHOLD_S."""
DEFER_THRESHOLD_S = 10.0
"""Waits longer than this defer the Airflow task instead of sleeping in a worker slot."""
FAST_LANE_CAP = 0.2
"""At most this share of any window goes to the fast lane (single records synced now). It is a cap,
not a reservation: fast-lane requests go ahead of bulk ones, and bulk work may use all the rest."""
HOLD_INTERVALS = 1.0
"""Bulk callers hold no slot more than this many request intervals ahead (twice that for a caller back
at its turn; one further back gets a turn to ask again), so a fast-lane request waits at most ~3
intervals, however many bulk callers there are: 0.3 s at 600 per minute, 1 s at 180."""

# The per-workspace limit is not published and is shared with the workspace's other integrations: after
# a workspace 429 (or a 529) the budget is cut by WORKSPACE_CUT (never below WORKSPACE_FLOOR of it), then
# WORKSPACE_RECOVERY_STEP of it comes back per window after the pause, until another one.
WORKSPACE_CUT = 0.75
WORKSPACE_FLOOR = 0.1
WORKSPACE_RECOVERY_STEP = 0.05

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
