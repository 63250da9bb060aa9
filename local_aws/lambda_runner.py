"""Docker-free Lambda runtime: runs a Python function's handler as local Python.

* ``subprocess`` (default): a fresh interpreter per invocation (``lambda_bootstrap.py``) with only
  the function's own environment + the Lambda reserved variables + ``AWS_ENDPOINT_URL`` (the local
  AWS) + dummy credentials. Closest to AWS: isolated globals, per-function env, enforced timeout.
* ``inprocess``: the handler is imported once into the local-AWS server process and called in a
  thread. About 50x faster per call, but environment variables are process-wide (the function env
  is merged into ``os.environ``; conflicting values across functions are reported), module globals
  persist between calls, and a timed-out handler thread cannot be killed (it is abandoned).

Both return Lambda-shaped errors (``errorType`` = exception class name, ``errorMessage``,
``stackTrace``) so Step Functions Retry/Catch match on the class names.

What a subprocess invocation imports is what was deployed, laid out as the Lambda runtime lays it out: the
function's own asset (unpacked from the deployed zip, the task root), each deployed layer's ``python/`` folder (the
runtime's ``/opt/python``), then the packages the Lambda Python runtime itself provides (boto3, botocore and their
dependencies), and nothing else: the interpreter starts with ``-S``, so the dev virtualenv is not on the path. One
exception, reported once per function: a placeholder layer (synth without ``-c bundle=true``, which has no
``python/`` folder) is stood in for by the host's site-packages, since the functions could not import their
dependencies at all otherwise. In-process mode runs in the server's interpreter and always has the host packages.
What still differs from AWS: the host's Python minor version (the local stack deploys with
``python_version`` = the host's), no memory limit, no /tmp size limit, no concurrency limit per account.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import hashlib
import importlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG = logging.getLogger("local_aws.lambda")
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
INIT_ALLOWANCE_SECONDS = 10.0  # AWS gives the init phase its own 10 s budget
#: concurrent subprocess invocations; more wait for a slot. Keep it high: Step Functions' task timer runs
#: while an invocation waits, so a small pool turns load into spurious States.Timeout (AWS allows 1000).
DEFAULT_SUBPROCESS_CONCURRENCY = 32
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
PASSTHROUGH_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")
MODES = ("subprocess", "inprocess")


#: distributions the Lambda Python runtime provides (not in a layer; infra/layer.py prunes them from it)
RUNTIME_PROVIDED_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six")


@dataclass(frozen=True)
class LayerCode:
    arn: str
    code_sha: str
    code_zip: bytes = field(repr=False)


@dataclass(frozen=True)
class FunctionConfig:
    """What the runner needs to know about a function (independent of moto's model)."""

    name: str
    arn: str
    handler: str
    runtime: str
    timeout: float
    memory_mb: int
    region: str
    environment: dict[str, str]
    code_sha: str
    code_zip: bytes = field(repr=False)
    version: str = "$LATEST"
    layers: tuple[LayerCode, ...] = ()

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class InvocationResult:
    payload: str  # JSON text: the handler's return value, or the Lambda error object
    errored: bool
    logs: str
    duration_s: float
    request_id: str

    @property
    def error_type(self) -> str | None:
        if not self.errored:
            return None
        try:
            return json.loads(self.payload).get("errorType")
        except (ValueError, AttributeError):
            return "Unknown"


def lambda_error(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []})


try:
    _LIBC = ctypes.CDLL(None)  # loaded in the parent: nothing but a syscall runs between fork and exec
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """Child processes get SIGKILL if the local-AWS process dies, so none are ever left behind."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class LambdaRunner:
    def __init__(self, endpoint_url: str, mode: str = "subprocess", cache_dir: Path | None = None,
                 max_concurrency: int | None = None,
                 log_sink: Callable[[FunctionConfig, InvocationResult], None] | None = None):
        if mode not in MODES:
            raise ValueError(f"lambda mode must be one of {MODES}, not {mode!r}")
        self.endpoint_url = endpoint_url
        self.mode = mode
        self.cache_dir = Path(cache_dir or Path.home() / ".cache" / "local_aws" / "lambda-code")
        self.log_sink = log_sink
        if max_concurrency is None:  # threads are cheap in-process; children cost memory and CPU
            max_concurrency = DEFAULT_SUBPROCESS_CONCURRENCY if mode == "subprocess" else 1000
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._children: set[subprocess.Popen] = set()
        self._handlers: dict[tuple[str, str], Callable] = {}
        self._env_owner: dict[str, tuple[str, str]] = {}
        self._host_packages_reported: set[str] = set()
        self._runtime_paths: list[str] | None = None
        #: function name -> where its dependencies came from in its last subprocess invocation: "layer" | "host"
        self.dependency_source: dict[str, str] = {}
        self._closed = False
        self.invocations: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    # ---- code -------------------------------------------------------------------------------------
    def _unpacked(self, code_sha: str, code_zip: bytes) -> Path:
        """A deployed zip, unpacked once per code hash."""
        digest = hashlib.sha256(code_sha.encode()).hexdigest()[:20]
        target = self.cache_dir / digest
        with self._lock:
            if not target.is_dir():
                tmp = self.cache_dir / f".{digest}.{uuid.uuid4().hex}"
                tmp.mkdir(parents=True)
                with zipfile.ZipFile(io.BytesIO(code_zip)) as archive:
                    archive.extractall(tmp)
                try:
                    tmp.rename(target)
                except OSError:  # another process unpacked it first
                    shutil.rmtree(tmp, ignore_errors=True)
        return target

    def code_dir(self, fn: FunctionConfig) -> Path:
        return self._unpacked(fn.code_sha, fn.code_zip)

    def import_path(self, fn: FunctionConfig) -> list[str]:
        """sys.path of a subprocess invocation after the standard library: task root, layers, runtime packages."""
        path = [str(self.code_dir(fn))]
        placeholder = False
        for layer in fn.layers:
            python_dir = self._unpacked(layer.code_sha, layer.code_zip) / "python"
            if python_dir.is_dir():
                path.append(str(python_dir))
            else:
                placeholder = True
        if self._runtime_paths is None:
            self._runtime_paths = runtime_provided_paths(self.cache_dir / "lambda-runtime-packages")
        path += self._runtime_paths
        self.dependency_source[fn.name] = "host" if placeholder or not fn.layers else "layer"
        if placeholder or not fn.layers:
            if fn.name not in self._host_packages_reported:
                self._host_packages_reported.add(fn.name)
                LOG.warning("%s: no bundled dependency layer (deploy with -c bundle=true): using the host's "
                            "site-packages in its place", fn.name)
            path += host_site_packages()
        return path

    # ---- environment ------------------------------------------------------------------------------
    def function_env(self, fn: FunctionConfig, request_id: str) -> dict[str, str]:
        """The function's variables + what the Lambda runtime sets + the local AWS endpoint."""
        env = {
            "AWS_REGION": fn.region, "AWS_DEFAULT_REGION": fn.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_VERSION": fn.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb), "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group, "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}", "_HANDLER": fn.handler,
            "LOCAL_LAMBDA_FUNCTION_ARN": fn.arn, "LOCAL_LAMBDA_REQUEST_ID": request_id,
            # No X-Ray daemon runs locally: the SDK would log "context missing" on every call.
            "AWS_XRAY_SDK_ENABLED": "false",
            "AWS_ENDPOINT_URL": self.endpoint_url, **DUMMY_CREDENTIALS,
        }
        env.update({k: str(v) for k, v in fn.environment.items()})
        return env

    # ---- invoke -----------------------------------------------------------------------------------
    def invoke(self, fn: FunctionConfig, event: Any) -> InvocationResult:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        if not (fn.runtime or "").startswith("python"):
            payload, errored, logs = lambda_error(
                "Runtime.Unsupported", f"the local Lambda runtime runs Python only, not {fn.runtime}"), True, ""
        else:
            with self._slots:
                if self._closed:
                    payload = lambda_error("Lambda.ServiceException", "local AWS is shutting down")
                    errored, logs = True, ""
                elif self.mode == "subprocess":
                    payload, errored, logs = self._invoke_subprocess(fn, event, request_id)
                else:
                    payload, errored, logs = self._invoke_inprocess(fn, event, request_id)
        result = InvocationResult(payload, errored, logs, time.monotonic() - started, request_id)
        self.invocations[fn.name] += 1
        if errored:
            self.errors[fn.name] += 1
        if self.log_sink:
            self.log_sink(fn, result)
        return result

    def _invoke_subprocess(self, fn: FunctionConfig, event: Any, request_id: str) -> tuple[str, bool, str]:
        code_dir = self.code_dir(fn)
        env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
        env.update(self.function_env(fn, request_id))
        env["LOCAL_LAMBDA_PATH"] = os.pathsep.join(self.import_path(fn))
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                # -I: no PYTHONPATH/user site; -S: no site-packages (the path is LOCAL_LAMBDA_PATH)
                [sys.executable, "-I", "-S", str(BOOTSTRAP), str(code_dir), fn.handler, str(write_fd)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                cwd=code_dir, pass_fds=(write_fd,), preexec_fn=_die_with_parent,
            )
        finally:
            os.close(write_fd)
        with self._lock:
            self._children.add(proc)
        try:
            try:
                output, _ = proc.communicate(json.dumps(event).encode(),
                                             timeout=fn.timeout + INIT_ALLOWANCE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
                return (lambda_error("Sandbox.Timedout", f"Task timed out after {fn.timeout:.2f} seconds"),
                        True, output.decode(errors="replace"))
            chunks = []
            while chunk := os.read(read_fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(read_fd)
            with self._lock:
                self._children.discard(proc)
        logs = output.decode(errors="replace")
        if not chunks:
            return (lambda_error("Runtime.ExitError", f"runtime exited without a result (exit code {proc.returncode})"),
                    True, logs)
        result = json.loads(b"".join(chunks))
        return result["payload"], result["errored"], logs

    def _load_handler(self, fn: FunctionConfig, code_dir: Path) -> Callable:
        key = (str(code_dir), fn.handler)
        with self._lock:
            if key not in self._handlers:
                module_name, function_name = fn.handler.rsplit(".", 1)
                module_name = module_name.replace("/", ".")
                if str(code_dir) not in sys.path:
                    sys.path.insert(0, str(code_dir))
                top = module_name.split(".")[0]
                loaded = sys.modules.get(top)
                if loaded is not None and not str(getattr(loaded, "__file__", "") or "").startswith(str(code_dir)):
                    # Another code version of the same package was imported: this function's code wins.
                    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                        del sys.modules[name]
                    sys.path.remove(str(code_dir))
                    sys.path.insert(0, str(code_dir))
                self._handlers[key] = getattr(importlib.import_module(module_name), function_name)
            return self._handlers[key]

    def _apply_env_inprocess(self, fn: FunctionConfig, env: dict[str, str]) -> None:
        with self._lock:
            for key, value in fn.environment.items():
                owner = self._env_owner.get(key)
                if owner and owner[1] != str(value):
                    LOG.warning("in-process Lambda mode: %s differs between %s and %s; use --lambda-mode subprocess",
                                key, owner[0], fn.name)
                self._env_owner[key] = (fn.name, str(value))
            os.environ.update(env)

    def _invoke_inprocess(self, fn: FunctionConfig, event: Any, request_id: str) -> tuple[str, bool, str]:
        from local_aws.lambda_bootstrap import LambdaContext

        code_dir = self.code_dir(fn)
        self._apply_env_inprocess(fn, self.function_env(fn, request_id))
        try:
            handler = self._load_handler(fn, code_dir)
        except Exception as exc:
            return lambda_error(f"Runtime.{type(exc).__name__}", str(exc)), True, traceback.format_exc()

        def call() -> tuple[str, bool, str]:
            context = LambdaContext(time.monotonic() + fn.timeout)
            context.aws_request_id = request_id
            context.function_name, context.invoked_function_arn = fn.name, fn.arn
            try:
                result = handler(event, context)
            except Exception as exc:
                return (json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc),
                                    "stackTrace": traceback.format_exc().splitlines()}), True, traceback.format_exc())
            try:
                return json.dumps(result), False, ""
            except (TypeError, ValueError) as exc:
                return lambda_error("Runtime.MarshalError", f"Unable to marshal response: {exc}"), True, ""

        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"lambda-{fn.name[:20]}")
        future = pool.submit(call)
        pool.shutdown(wait=False)
        try:
            return future.result(timeout=fn.timeout)
        except concurrent.futures.TimeoutError:
            return lambda_error("Sandbox.Timedout", f"Task timed out after {fn.timeout:.2f} seconds"), True, ""

    # ---- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Refuse new invocations and kill running children (used on shutdown)."""
        self._closed = True
        with self._lock:
            children = list(self._children)
        for proc in children:
            if proc.poll() is None:
                proc.kill()
        for proc in children:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                LOG.error("lambda child %s did not exit", proc.pid)

    def stats(self) -> dict:
        return {"mode": self.mode, "invocations": dict(self.invocations), "errors": dict(self.errors),
                "running_children": len(self._children), "dependency_source": dict(self.dependency_source)}


def _distribution_roots(names: tuple[str, ...]) -> list[str]:
    """The top-level packages/modules of installed distributions, as paths."""
    from importlib import metadata

    roots: list[str] = []
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            parts = file.parts
            is_metadata = parts and parts[0].endswith((".dist-info", ".egg-info"))
            skip = is_metadata or (parts and parts[0] in ("..", "bin", "__pycache__"))
            if parts and not skip:
                top = str(dist.locate_file(parts[0]))
                if top not in roots and (len(parts) > 1 or parts[0].endswith(".py")):
                    roots.append(top)
    return roots


_runtime_dir_lock = threading.Lock()


def runtime_provided_paths(folder: Path) -> list[str]:
    """`folder` holding links to what the Lambda Python runtime provides: boto3 and its dependencies."""
    with _runtime_dir_lock:
        folder.mkdir(parents=True, exist_ok=True)
        for root in _distribution_roots(RUNTIME_PROVIDED_DISTRIBUTIONS):
            link = folder / Path(root).name
            if not link.is_symlink() or os.readlink(link) != root:
                link.unlink(missing_ok=True)
                link.symlink_to(root)
    return [str(folder)]


def host_site_packages() -> list[str]:
    import site

    return [p for p in site.getsitepackages() if Path(p).is_dir()]
