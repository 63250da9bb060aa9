"""``python -m local_aws serve``: run the local AWS (moto + patches + local Lambda runtime) in this process."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from local_aws.lambda_runner import MODES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_aws")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the local AWS APIs on 127.0.0.1 until stopped")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 = a free port (printed when ready)")
    serve.add_argument("--lambda-mode", choices=MODES, default="subprocess")
    serve.add_argument("--wait-scale", type=float, default=1.0,
                       help="multiply Step Functions Wait/Retry delays and async retry delays (default 1 = real time)")
    serve.add_argument("--work-dir", type=Path, default=None, help="lambda code cache and lambda.log")
    serve.add_argument("--ready-file", type=Path, default=None, help="write {endpoint, pid} here when ready")
    serve.add_argument("--exit-on-stdin-eof", action="store_true",
                       help="stop when stdin closes (the parent died or stopped us)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from local_aws.server import LocalAwsServer

    server = LocalAwsServer(host=args.host, port=args.port, lambda_mode=args.lambda_mode,
                            wait_scale=args.wait_scale, work_dir=args.work_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    ready = json.dumps(server.health())
    if args.ready_file:
        tmp = args.ready_file.with_suffix(".tmp")
        tmp.write_text(ready)
        tmp.replace(args.ready_file)
    print(ready, flush=True)
    if args.exit_on_stdin_eof:
        def watch_stdin() -> None:
            while sys.stdin.buffer.read(1024):
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()
    stop.wait()
    server.stop()
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)  # executions still waiting in daemon threads must not keep the process alive


if __name__ == "__main__":
    sys.exit(main())
