"""What the Salesforce emulator's test modules share: its control API under /_sandbox/."""

from __future__ import annotations

import requests


def control(server, method: str, path: str, **body) -> dict:
    """Call the emulator's control API (HTTPS with its own CA) and return its JSON answer."""
    response = requests.request(method, f"{server.url}/_sandbox/{path}", json=body or None,
                                verify=server.ca_bundle, timeout=10)
    response.raise_for_status()
    return response.json()
