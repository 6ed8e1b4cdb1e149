"""A local emulator of the Notion API (version 2025-09-03) for tests, demos and benchmarks."""

from .emulator import NotionEmulator, RunningServer

__all__ = ["NotionEmulator", "RunningServer"]
