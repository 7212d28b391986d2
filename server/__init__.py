"""The resident deflicker server: ZeroMQ ROUTER, clip cache, fair job queue (see docs/protocol.md).

Start it with `deflicker serve` (or `python -m deflicker_server`); talk to it with the `bridge` package.
"""
