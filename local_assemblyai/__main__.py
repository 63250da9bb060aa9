"""`python -m local_assemblyai serve --host 127.0.0.1 --port 8765 [--config FILE.json]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_assemblyai",
                                     description="Local AssemblyAI-compatible server with offline engines")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (REST v2, LLM Gateway v1, Streaming v3) on one port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--config", help="JSON config file (see docs/local-assemblyai.md)")
    serve.add_argument("--log-level", default=os.environ.get("LOCAL_AAI_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # one INFO line per decode is noise
    from aiohttp import web

    from .app import build
    from .config import ConfigError, load
    from .models import ModelUnavailable

    try:
        cfg = load(args.config)
    except ConfigError as exc:
        print(f"local_assemblyai: {exc}", file=sys.stderr)
        return 2
    server, app = build(cfg)
    try:
        server.engine.load()  # verify (sha256) and load the speech model before reporting ready
    except ModelUnavailable as exc:
        print(f"local_assemblyai: speech model unavailable: {exc}", file=sys.stderr)
        return 3
    if cfg.llm.engine == "offline":
        from .text_encoder import shared_encoder

        threading.Thread(target=shared_encoder, name="minilm-preload", daemon=True).start()
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
