# Shared helpers for Vigil's scripts: installing what a fresh machine lacks,
# picking free ports, waiting for readiness. Sourced, not run.

set -euo pipefail

log() { printf '[vigil] %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "need root to install: $*; install them yourself or run as root"
    return 1
  fi
  if [ $apt_updated = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_ffmpeg() {
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_install ffmpeg
}

# The test camera (tools/camera.py): GStreamer's RTSP server, x264 and AAC.
# The partition test runs a node in a network namespace (`ip netns`,
# root) and finds its ffmpegs with pgrep.
ensure_netns_tools() {
  command -v ip >/dev/null && command -v pgrep >/dev/null || apt_install iproute2 procps
}
ensure_gstreamer() {
  if ! /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import Gst; Gst.init(None); assert Gst.ElementFactory.find("x264enc") and Gst.ElementFactory.find("avenc_aac")' 2>/dev/null; then
    apt_install gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base \
      gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav
  fi
}

# An S3 server for tests: moto's, from PyPI, in a venv kept in the user's cache.
MOTO_VENV=${XDG_CACHE_HOME:-$HOME/.cache}/vigil/moto
ensure_moto() {
  if [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
    log "installing moto (S3 test server) into $MOTO_VENV"
    python3 -m venv "$MOTO_VENV" >&2
    "$MOTO_VENV/bin/pip" install -q 'moto[server]' >&2
  fi
}

# s3s-fs: an S3 server in Rust over a folder (benchmarks only; building it
# takes about 3.5 minutes on 2 cores). 0.14.1 builds with this toolchain.
S3S_ROOT="${S3S_ROOT:-$HOME/.cache/vigil/s3s-fs}"
ensure_s3s_fs() {
  if [ ! -x "$S3S_ROOT/bin/s3s-fs" ]; then
    log "installing s3s-fs into $S3S_ROOT"
    cargo install -q s3s-fs@0.14.1 --features binary --locked --root "$S3S_ROOT" >&2
  fi
}

# Headless Chromium and its WebDriver for the console's browser tests.
ensure_chromium() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null || apt_install chromium chromium-driver
}

# The MQTT broker and its clients; tests start brokers of their own (the
# package's service, where it starts, is stopped: it would hold 1883).
ensure_mosquitto() {
  if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_sub >/dev/null; then
    apt_install mosquitto mosquitto-clients
    service mosquitto stop >/dev/null 2>&1 || true
  fi
}

ensure_postgres() {
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || apt_install postgresql
}

# Prints a TCP port nobody listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
