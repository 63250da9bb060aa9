"""Live-call edge client for agent PCs: microphone -> AssemblyAI Streaming v3 (+ llm_gateway) -> SNS outbox.

Run as `python -m edge_client`; see docs/edge-client.md.
"""

__version__ = "1.0.0"
