"""Errors of Salesforce extraction that callers handle apart from simple-salesforce's own."""

from __future__ import annotations


class ExtractError(RuntimeError):
    """Salesforce returned something extraction cannot turn into records."""
