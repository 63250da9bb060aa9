"""`python -m edge_client`: stream a call (microphone or WAV) to AssemblyAI Streaming v3 with an LLM
prompt per turn, print turns and LLM answers, publish the answers to SNS through a durable outbox.

Exit codes: 0 ok (also after Ctrl+C), 1 unexpected error, 2 bad settings, 3 API key missing or
rejected, 4 audio device problem, 5 streaming failed (fatal close or reconnects exhausted),
6 recording upload failed (the recording is kept).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path

from . import client as client_mod
from .audio import (
    AudioError,
    BadDeviceError,
    MicSource,
    NoMicrophoneError,
    WavFileSource,
    list_input_devices,
)
from .keys import (
    KEYRING_SERVICE,
    KEYRING_USER,
    MissingKeyError,
    SecretMaskFilter,
    get_api_key,
    store_api_key,
)
from .outbox import Outbox, SnsPublisher, sns_client, validate_topic
from .settings import ENV_PREFIX, FIELDS, Settings, SettingsError, describe, field_kind, load_settings

log = logging.getLogger("edge_client")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m edge_client",
        description="Live call client: microphone -> AssemblyAI streaming (+ LLM per turn) -> SNS.",
        epilog=f"Every setting can also come from an environment variable ({ENV_PREFIX}<NAME>, e.g. "
               f"{ENV_PREFIX}TOPIC_ARN) or a --config file (TOML or JSON). Precedence: command line > "
               "environment > file > defaults. API key: ASSEMBLYAI_API_KEY or the OS keyring (--store-key). "
               "See docs/edge-client.md.")
    p.add_argument("--config", help=f"settings file, TOML or JSON (or {ENV_PREFIX}CONFIG)")
    p.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    p.add_argument("--store-key", action="store_true",
                   help=f"save the AssemblyAI API key in the OS keyring ({KEYRING_SERVICE}) and exit")
    p.add_argument("--drain-outbox", action="store_true",
                   help="publish what is left in the outbox to SNS and exit (no call)")
    for name, f in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        kind = field_kind(name)
        if kind is bool:
            p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                           help=f.description)
        else:
            p.add_argument(flag, dest=name, type=kind, default=None, help=f.description, metavar=name.upper())
    return p


def setup_logging(settings: Settings, secret: str | None) -> None:
    root = logging.getLogger()
    root.setLevel(settings.log_level.upper())
    for h in list(root.handlers):
        root.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log_file.lower() != "none":
        path = Path(settings.log_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # 5 files x 5 MB: bounded disk use on a shared PC
            handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=4,
                                                                 encoding="utf-8"))
        except OSError as exc:
            print(f"warning: cannot write log file {path}: {exc}", file=sys.stderr)
    for h in handlers:
        h.setFormatter(fmt)
        if secret:
            h.addFilter(SecretMaskFilter(secret))
        root.addHandler(h)
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # websocket-client logs every close at ERROR, even a normal 1000; the session loop reports closes itself
    logging.getLogger("websocket").setLevel(logging.CRITICAL)


def cmd_store_key() -> int:
    if sys.stdin.isatty():
        key = getpass.getpass("AssemblyAI API key (input hidden): ")
    else:
        key = sys.stdin.readline()
    try:
        store_api_key(key)
    except ValueError:
        print("error: empty key, nothing stored", file=sys.stderr)
        return client_mod.EXIT_CONFIG
    except Exception as exc:  # noqa: BLE001 - keyring backends raise various errors
        print(f"error: cannot store the key in the OS keyring: {exc}", file=sys.stderr)
        return client_mod.EXIT_ERROR
    print(f"API key stored in the OS keyring (service {KEYRING_SERVICE!r}, user {KEYRING_USER!r}).")
    return client_mod.EXIT_OK


def cmd_list_devices() -> int:
    try:
        devices = list_input_devices()
    except AudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return client_mod.EXIT_AUDIO
    if not devices:
        print("No audio input devices found. Plug in a headset or enable the microphone.", file=sys.stderr)
        return client_mod.EXIT_AUDIO
    print("index  default  rate    channels  host API       name")
    for d in devices:
        print(f"{d.index:>5}  {'*' if d.is_default else ' ':^7}  {d.default_rate:<6}  {d.channels:<8}  "
              f"{d.host_api[:13]:<13}  {d.name}")
    print("Select one with --device INDEX or --device 'part of the name'.")
    return client_mod.EXIT_OK


def start_publisher(settings: Settings) -> tuple[Outbox, SnsPublisher]:
    outbox = Outbox(Path(settings.outbox_path))
    publisher = SnsPublisher(outbox, lambda: sns_client(settings.aws_region),
                             backoff_cap=settings.publish_backoff_cap)
    publisher.start()
    return outbox, publisher


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.store_key:
        return cmd_store_key()
    try:
        settings = load_settings(vars(args), config_file=args.config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return client_mod.EXIT_CONFIG
    if args.list_devices:
        setup_logging(settings, None)
        return cmd_list_devices()

    api_key = None
    if not args.drain_outbox:
        try:
            api_key, key_origin = get_api_key()
        except MissingKeyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return client_mod.EXIT_AUTH
    setup_logging(settings, api_key)
    log.info("settings: %s", describe(settings))

    outbox, publisher = start_publisher(settings)
    try:
        counts = outbox.counts()
        if counts["pending"]:
            log.info("outbox %s holds %d unpublished messages from earlier; publishing them now",
                     settings.outbox_path, counts["pending"])
        if args.drain_outbox:
            ok = publisher.drain(max(settings.drain_timeout, 1.0))
            counts = outbox.counts()
            print(f"outbox: {counts['pending']} pending, {counts['dead']} parked", flush=True)
            return client_mod.EXIT_OK if ok else client_mod.EXIT_STREAMING

        log.info("API key from %s", key_origin)
        if settings.topic_arn:
            problem = validate_topic(sns_client(settings.aws_region), settings.topic_arn)
            if problem:
                log.error("SNS topic %s is not reachable right now (%s). The call goes on; LLM responses are "
                          "kept in the outbox %s and published when the topic is reachable.",
                          settings.topic_arn, problem, settings.outbox_path)
        else:
            log.warning("no --topic-arn: LLM responses are printed only, not published")

        try:
            if settings.source:
                source = WavFileSource(settings.source, rate=settings.sample_rate, speed=settings.source_speed)
            else:
                source = MicSource(settings.device, rate=settings.sample_rate, device_rate=settings.device_rate)
                dev = source.probe()
                log.info("microphone: %d %r (%s)", dev.index, dev.name, dev.host_api)
        except (NoMicrophoneError, BadDeviceError, AudioError) as exc:
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            return client_mod.EXIT_AUDIO

        removed = client_mod.purge_old_recordings(Path(settings.record_dir), settings.retention_days)
        if removed:
            log.info("retention: deleted %d uploaded recordings older than %d days", removed,
                     settings.retention_days)

        client = client_mod.EdgeClient(settings, api_key, source, outbox=outbox, publisher=publisher)
        install_signal_handlers(client)
        summary = client.run()
        print(f"call {summary.call_id}: {summary.message}; recording {summary.recording} "
              f"({summary.frames_captured * 0.05:.1f} s); {summary.turns} turns, {summary.llm_responses} "
              f"LLM responses; outbox pending {summary.outbox_pending}", flush=True)
        return summary.exit_code
    finally:
        publisher.stop()


def install_signal_handlers(client: client_mod.EdgeClient) -> None:
    def handler(signum, frame):
        if client._stop_requested.is_set():  # second Ctrl+C: leave now (the recording is valid on disk)
            os._exit(130)
        log.info("stop requested (signal %d): finishing the call", signum)
        client.request_stop()

    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGBREAK"):  # Windows Ctrl+Break
        signal.signal(signal.SIGBREAK, handler)
