#!/usr/bin/env bash
# Headless virtual microphone for CI and developer machines (Debian/Ubuntu), no sound card needed.
#
#   source scripts/vmic.sh        # starts PulseAudio with a virtual mic and exports PULSE_SERVER
#   paplay -d vmic_in call.wav &  # = someone speaking into the microphone (real time)
#   python -m edge_client ...     # PyAudio's default input hears it
#   vmic_stop
#
# Recipe E of the edge-client research: a timer-clocked null *source* (no 2 s busy-spin on the first
# read, unlike a null sink's monitor) + module-virtual-source 'vmic' that mixes in what is played to
# the sink 'vmic_in'. ALSA's 'default' is routed to PulseAudio by /etc/alsa/conf.d/99-pulse.conf
# (libasound2-plugins) only if PULSE_SERVER is exported before the Python process starts.
# Packages: pulseaudio pulseaudio-utils libasound2-plugins portaudio19-dev (installed by
# `make system-deps`; this script does not install anything).
# The pytest fixture `virtual_mic` (tests/edge/conftest.py) starts the same setup by itself.

_vmic_fail() { echo "vmic: $*" >&2; return 1; }

vmic_start() {
  command -v pulseaudio >/dev/null || { _vmic_fail "pulseaudio not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)"; return 1; }
  command -v pactl >/dev/null || { _vmic_fail "pactl not installed (apt-get install pulseaudio-utils)"; return 1; }
  # Keep it short: the unix socket path must fit in ~108 bytes.
  VMIC_DIR=${VMIC_DIR:-$(mktemp -d /tmp/vmic.XXXXXX)}
  mkdir -p "$VMIC_DIR/runtime" "$VMIC_DIR/home"
  chmod 700 "$VMIC_DIR/runtime"
  cat > "$VMIC_DIR/vmic.pa" <<PA
load-module module-native-protocol-unix auth-anonymous=1 socket=$VMIC_DIR/pulse.sock
load-module module-null-source source_name=silence rate=16000 channels=1 format=s16le max_latency_msec=50
load-module module-virtual-source source_name=vmic master=silence uplink_sink=vmic_in rate=16000 channels=1 format=s16le
set-default-source vmic
set-default-sink vmic_in
PA
  HOME="$VMIC_DIR/home" XDG_RUNTIME_DIR="$VMIC_DIR/runtime" \
    pulseaudio --daemonize=no -n -F "$VMIC_DIR/vmic.pa" --exit-idle-time=-1 --use-pid-file=no \
               --log-target=stderr --log-level=error >"$VMIC_DIR/pulse.log" 2>&1 &
  echo $! > "$VMIC_DIR/pulse.pid"
  export VMIC_DIR
  export PULSE_SERVER="unix:$VMIC_DIR/pulse.sock"
  local i
  for i in $(seq 200); do pactl info >/dev/null 2>&1 && break; sleep 0.05; done
  if ! pactl info >/dev/null 2>&1; then
    cat "$VMIC_DIR/pulse.log" >&2
    vmic_stop
    _vmic_fail "PulseAudio did not start"
    return 1
  fi
  echo "virtual microphone ready: PULSE_SERVER=$PULSE_SERVER (feed it with: paplay -d vmic_in file.wav)"
}

vmic_stop() {
  [ -n "${VMIC_DIR:-}" ] && [ -f "$VMIC_DIR/pulse.pid" ] || return 0
  kill "$(cat "$VMIC_DIR/pulse.pid")" 2>/dev/null || true
  rm -f "$VMIC_DIR/pulse.pid"
  unset PULSE_SERVER
}

# Sourced: start now (no `set -e` leaks into the caller's shell). Executed: start, then run "$@".
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  vmic_start
else
  set -euo pipefail
  vmic_start
  trap vmic_stop EXIT
  if [ "$#" -gt 0 ]; then "$@"; else echo "usage: source $0  |  $0 COMMAND [ARGS...]" >&2; fi
fi
