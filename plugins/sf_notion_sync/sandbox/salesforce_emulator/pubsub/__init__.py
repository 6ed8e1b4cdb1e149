"""The Salesforce emulator's Pub/Sub API: change events of its mutations over gRPC (bus.py, server.py)."""

from .bus import RETENTION_S, ChangeEventBus
from .server import RunningPubSub, serve_emulator_pubsub, serve_pubsub

__all__ = ["RETENTION_S", "ChangeEventBus", "RunningPubSub", "serve_emulator_pubsub", "serve_pubsub"]
