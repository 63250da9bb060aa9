"""All settings in one validated model. Precedence: command line > environment (EDGE_CLIENT_*) >
config file (--config, TOML or JSON) > defaults. The API key is not a setting: see `keys.py`."""

from __future__ import annotations

import json
import os
import platform
import socket
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_PREFIX = "EDGE_CLIENT_"
API_URLS = {"us": "wss://streaming.assemblyai.com", "eu": "wss://streaming.eu.assemblyai.com"}
DEFAULT_PROMPT = ("You assist a call-center agent. In one short sentence, say what the speaker wants or "
                  "reports in this turn of the call.\n\nTurn: {{turn}}")


class SettingsError(ValueError):
    """Invalid configuration; the message lists every problem."""


def default_data_dir() -> Path:
    """Per-user data folder: %LOCALAPPDATA%\\EdgeClient, ~/Library/Application Support/EdgeClient,
    or $XDG_DATA_HOME/edge-client (~/.local/share/edge-client)."""
    system = platform.system()
    if system == "Windows":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "EdgeClient"
    if system == "Darwin":
        return Path.home() / "Library" / "Application Support" / "EdgeClient"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edge-client"


def _f(default: Any, help: str, kind: type = str, cli: bool = True):
    return field(default=default, metadata={"help": help, "kind": kind, "cli": cli})


@dataclass
class Settings:
    # what to stream and ask
    topic_arn: str | None = _f(None, "SNS topic ARN for LLM responses (FIFO topics: dedup id + group = call id)")
    prompt: str = _f(DEFAULT_PROMPT, "LLM prompt run on every final turn; must contain {{turn}}")
    model: str = _f("claude-sonnet-4-6", "LLM Gateway model id")
    max_tokens: int = _f(300, "LLM max_tokens per turn", int)
    speech_model: str = _f("u3-rt-pro", "streaming speech model")
    format_turns: bool = _f(True, "ask for formatted final turns", bool)
    api_url: str = _f(API_URLS["us"], "streaming base URL, or 'us' / 'eu'")
    min_turn_silence: int | None = _f(None, "end-of-turn tuning (ms of silence when confident); default: "
                                      "the service's", int)
    max_turn_silence: int | None = _f(None, "end a turn after this much silence (ms) in any case; default: "
                                      "the service's", int)
    # audio
    device: str | None = _f(None, "input device: index or part of its name (default: system default)")
    sample_rate: int = _f(16000, "streaming and recording sample rate (Hz)", int)
    device_rate: int | None = _f(None, "force the microphone capture rate (Hz); default: 16000 if the "
                                 "device supports it, else its native rate, resampled", int)
    source: str | None = _f(None, "stream this WAV file (paced in real time) instead of the microphone")
    source_speed: float = _f(1.0, "pace of --source: 1 = real time (required by the real service)", float)
    # identity and storage
    agent_id: str = _f("", "agent/PC id in every message (default: the host name)")
    call_id: str | None = _f(None, "call id (default: generated)")
    profile: str = _f("default", "analysis profile for the batch pipeline (recording metadata)")
    data_dir: str = _f("", "base folder for recordings, outbox and logs (default: per-user data folder)")
    record_dir: str = _f("", "folder for call recordings (default: DATA_DIR/recordings)")
    outbox_path: str = _f("", "outbox database (default: DATA_DIR/outbox.db)")
    log_file: str = _f("", "log file (default: DATA_DIR/logs/edge-client.log; 'none' = console only)")
    log_level: str = _f("INFO", "DEBUG, INFO, WARNING or ERROR")
    upload_bucket: str | None = _f(None, "upload the recording to this S3 bucket at the end of the call")
    upload_prefix: str = _f("recordings/", "key prefix for uploads (the batch pipeline watches recordings/)")
    retention_days: int = _f(30, "delete uploaded recordings older than this at start (0 = keep)", int)
    aws_region: str | None = _f(None, "AWS region for SNS/S3 (default: the AWS SDK's own configuration)")
    # robustness knobs (defaults suit production; tests shorten them)
    connect_timeout: float = _f(10.0, "handshake timeout (s)", float)
    send_timeout: float = _f(10.0, "socket send timeout (s)", float)
    ping_interval: float = _f(10.0, "websocket ping interval (s)", float)
    ping_timeout: float = _f(5.0, "websocket pong timeout (s); must be < ping interval", float)
    terminate_timeout: float = _f(5.0, "wait this long for Termination after Terminate (s)", float)
    stop_timeout: float = _f(10.0, "after Ctrl+C, give up flushing buffered audio after this (s)", float)
    reconnect_base: float = _f(0.5, "first reconnect delay (s), doubled per failure", float)
    reconnect_cap: float = _f(30.0, "longest reconnect delay (s)", float)
    reconnect_max_attempts: int = _f(12, "give up after this many consecutive failed sessions", int)
    healthy_session_s: float = _f(30.0, "a session this long resets the reconnect backoff (s)", float)
    backlog_seconds: float = _f(300.0, "audio buffered while disconnected, in memory (s of audio; "
                                "32 kB/s at 16 kHz, so 300 s = 9.6 MB); oldest dropped beyond", float)
    catchup_rate: float = _f(2.0, "after a reconnect, send the backlog at most this many times real time, "
                             "only until max_lead_s ahead; then real time", float)
    max_lead_s: float = _f(1.5, "never send more than this much audio (s) ahead of the session's wall "
                           "clock (the service closes with 3007 beyond a small burst): a reconnect wins "
                           "back at most this much of its backlog, the rest stays as added latency "
                           "(the recording has everything)", float)
    publish_backoff_cap: float = _f(60.0, "longest SNS retry delay (s)", float)
    drain_timeout: float = _f(10.0, "at exit, wait this long for the outbox to drain (s)", float)

    def __post_init__(self) -> None:
        if not self.agent_id:
            self.agent_id = socket.gethostname()
        base = Path(self.data_dir) if self.data_dir else default_data_dir()
        self.data_dir = str(base)
        self.record_dir = self.record_dir or str(base / "recordings")
        self.outbox_path = self.outbox_path or str(base / "outbox.db")
        self.log_file = self.log_file or str(base / "logs" / "edge-client.log")

    @property
    def streaming_url(self) -> str:
        url = API_URLS.get(self.api_url.lower(), self.api_url)
        parts = urlsplit(url)
        path = parts.path if parts.path not in ("", "/") else "/v3/ws"
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    def validate(self) -> Settings:
        problems = []
        if "{{turn}}" not in self.prompt:
            problems.append("prompt must contain {{turn}} (replaced by the final transcript of each turn)")
        if not 1 <= self.max_tokens <= 100_000:
            problems.append("max_tokens must be between 1 and 100000")
        if self.sample_rate not in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
            problems.append("sample_rate must be one of 8000, 16000, 22050, 24000, 32000, 44100, 48000")
        for name in ("min_turn_silence", "max_turn_silence"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 60_000:
                problems.append(f"{name} must be between 0 and 60000 ms")
        if self.device_rate is not None and not 8000 <= self.device_rate <= 192000:
            problems.append("device_rate must be between 8000 and 192000")
        parts = urlsplit(API_URLS.get(self.api_url.lower(), self.api_url))
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            problems.append(f"api_url must be a ws:// or wss:// URL, 'us' or 'eu' (got {self.api_url!r})")
        if self.topic_arn is not None and not self.topic_arn.startswith("arn:"):
            problems.append(f"topic_arn must be an SNS topic ARN (got {self.topic_arn!r})")
        if self.source is not None and not Path(self.source).is_file():
            problems.append(f"source file not found: {self.source}")
        if self.source_speed < 0:
            problems.append("source_speed must be >= 0 (0 = unpaced)")
        if self.ping_interval <= 0 or not 0 < self.ping_timeout < self.ping_interval:
            problems.append("need 0 < ping_timeout < ping_interval")
        for name in ("connect_timeout", "send_timeout", "terminate_timeout", "stop_timeout", "reconnect_base",
                     "backlog_seconds", "publish_backoff_cap", "healthy_session_s", "max_lead_s"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        if self.drain_timeout < 0:
            problems.append("drain_timeout must be >= 0")
        if self.reconnect_cap < self.reconnect_base:
            problems.append("reconnect_cap must be >= reconnect_base")
        if self.reconnect_max_attempts < 1:
            problems.append("reconnect_max_attempts must be >= 1")
        if self.catchup_rate < 1.0:
            problems.append("catchup_rate must be >= 1 (real time)")
        if self.source_speed > self.catchup_rate:
            problems.append("source_speed must not exceed catchup_rate (the sender would fall behind)")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append("log_level must be DEBUG, INFO, WARNING or ERROR")
        if self.retention_days < 0:
            problems.append("retention_days must be >= 0")
        if problems:
            raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
        return self


FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any, origin: str) -> Any:
    kind = FIELDS[name].metadata["kind"]
    if value is None:
        return None
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{origin}: {name} must be {kind.__name__} (got {value!r})") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read config file {p}: {exc}") from exc
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config file {p} is not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"config file {p} must hold a table/object of settings")
    if isinstance(data.get("edge_client"), dict):  # allow a [edge_client] table
        data = data["edge_client"]
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SettingsError(f"config file {p}: unknown settings {unknown}")
    return data


def load_settings(cli: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                  config_file: str | None = None) -> Settings:
    """Merge the sources (CLI > env > file > defaults), coerce types and validate."""
    env = os.environ if env is None else env
    cli = {k: v for k, v in (cli or {}).items() if v is not None and k in FIELDS}
    config_file = config_file or env.get(ENV_PREFIX + "CONFIG")
    merged: dict[str, Any] = {}
    if config_file:
        for k, v in read_config_file(config_file).items():
            merged[k] = _coerce(k, v, f"config file {config_file}")
    for name in FIELDS:
        key = ENV_PREFIX + name.upper()
        if key in env and env[key] != "":
            merged[name] = _coerce(name, env[key], f"environment variable {key}")
    for k, v in cli.items():
        merged[k] = _coerce(k, v, "command line")
    return Settings(**merged).validate()


def describe(settings: Settings) -> str:
    """Effective settings for the log (there is no secret among them)."""
    return ", ".join(f"{f.name}={getattr(settings, f.name)!r}" for f in fields(Settings)
                     if f.name not in ("prompt",))

