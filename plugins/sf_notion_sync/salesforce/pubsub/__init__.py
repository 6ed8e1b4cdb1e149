"""Salesforce Pub/Sub API (gRPC, Avro payloads): the generated stubs, and the small async client in client.py.

`pubsub_api.proto` is Salesforce's official definition, copied unchanged from
https://github.com/forcedotcom/pub-sub-api (pubsub_api.proto at commit 0ba4701). The `*_pb2*.py` beside it
are generated from it, never edited; regenerate them (grpcio-tools is a dev dependency) from plugins/:

    ../.venv/bin/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. \
        sf_notion_sync/salesforce/pubsub/pubsub_api.proto

Why not a client library: `aiosfpubsub` 0.0.6 and `pysfpubsub` 0.1.2 (both 2024-06, one release line
each, few users) wrap these same stubs plus a login; `aiosfstream` (2019) speaks the legacy Streaming
API over CometD. The subscription we need (flow control, replay presets, the error trailers, Avro with
schema caching) is ~150 lines on grpcio + fastavro, which we can test against our emulator.
"""
