"""A local emulator of the Notion API (2025-09-03, 2026-03-11, 2026-12-01) for tests, demos and benchmarks."""

from .emulator import NotionEmulator, RunningServer

__all__ = ["NotionEmulator", "RunningServer"]
