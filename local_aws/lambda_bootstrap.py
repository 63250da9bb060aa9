"""Runs ONE Lambda invocation in a fresh interpreter (the local stand-in for the Python Lambda runtime).

Usage (by ``LambdaRunner``, never by hand): ``python -I lambda_bootstrap.py CODE_DIR HANDLER RESULT_FD``
with the event on stdin. The result goes to RESULT_FD as ``{"payload": str, "errored": bool}`` so the
handler's own stdout/stderr stay pure logs. The function timeout is enforced here with an interval
timer (the parent also enforces an outer limit in case this process hangs in C code).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid


class LambdaContext:
    def __init__(self, deadline: float):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("LOCAL_LAMBDA_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = os.environ.get("LOCAL_LAMBDA_REQUEST_ID") or str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException) -> str:
    return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                       "stackTrace": traceback.format_exc().splitlines()})


def init_error_type(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return "Runtime.UserCodeSyntaxError"
    if isinstance(exc, ImportError):
        return "Runtime.ImportModuleError"
    if isinstance(exc, AttributeError):
        return "Runtime.HandlerNotFound"
    return f"Runtime.{type(exc).__name__}"


def main() -> None:
    code_dir, handler, result_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    # the Lambda layout: task root, layers, runtime packages (lambda_runner.import_path); else just the code
    sys.path[:0] = [p for p in os.environ.get("LOCAL_LAMBDA_PATH", "").split(os.pathsep) if p] or [code_dir]

    def write_result(payload: str, errored: bool) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(result_fd, json.dumps({"payload": payload, "errored": errored}).encode())

    try:
        event = json.loads(sys.stdin.read() or "{}")
        module_name, function_name = handler.rsplit(".", 1)
        function = getattr(importlib.import_module(module_name.replace("/", ".")), function_name)
    except Exception as exc:  # init error, reported like the Lambda runtime does
        payload = json.loads(error_payload(exc))
        payload["errorType"] = init_error_type(exc)
        write_result(json.dumps(payload), True)
        return

    def on_timeout(signum, frame):
        write_result(json.dumps({"errorType": "Sandbox.Timedout",
                                 "errorMessage": f"Task timed out after {timeout:.2f} seconds"}), True)
        os._exit(0)

    signal.signal(signal.SIGALRM, on_timeout)
    deadline = time.monotonic() + timeout
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = function(event, LambdaContext(deadline))
        try:
            payload, errored = json.dumps(result), False
        except (TypeError, ValueError) as exc:
            payload, errored = json.dumps({"errorType": "Runtime.MarshalError",
                                           "errorMessage": f"Unable to marshal response: {exc}"}), True
    except Exception as exc:
        traceback.print_exc()
        payload, errored = error_payload(exc), True
    signal.setitimer(signal.ITIMER_REAL, 0)
    write_result(payload, errored)


if __name__ == "__main__":
    main()
