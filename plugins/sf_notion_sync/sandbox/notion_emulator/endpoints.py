"""The key that `endpoint_limits` uses for an endpoint: method and path with every id as `{id}`.

"Request limits" (developers.notion.com): some endpoints have limits of their own, answered with
`public_api_endpoint_rate_limit`; Notion does not list them, so the emulator lets a test name any.
"""

from __future__ import annotations

from .errors import NotionError
from .routes import resolve

_SAMPLE_ID = "00000000-0000-4000-8000-000000000000"


def endpoint_key(method: str, raw_path: str, args: dict[str, str]) -> str:
    """`POST /v1/data_sources/{id}/query` for a request routed with path arguments `args`."""
    ids = set(args.values())
    segments = ["{id}" if segment in ids else segment for segment in raw_path.rstrip("/").split("/")]
    return f"{method} {'/'.join(segments)}"


def check_endpoint_key(key: str) -> None:
    """Raise ValueError unless `key` names one of the emulator's endpoints, ids written `{id}`."""
    method, _, path = key.partition(" ")
    try:
        _, args = resolve(method, path.replace("{id}", _SAMPLE_ID))
    except NotionError:
        args = None
    if args is None or path.endswith("/") or any(value != _SAMPLE_ID for value in args.values()):
        raise ValueError(
            f"endpoint_limits key {key!r} is not an endpoint; write it as METHOD and path with ids as {{id}}, "
            'e.g. "POST /v1/data_sources/{id}/query"'
        )
