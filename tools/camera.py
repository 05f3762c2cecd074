#!/usr/bin/python3
"""A test camera: GStreamer's RTSP server streaming a test pattern (H.264,
or H.265 as many field cameras) and a tone (AAC, or Opus, or G.711 A-law /
mu-law as many field cameras), for Vigil's recorder tests.

    /usr/bin/python3 tools/camera.py --port 8554 [--path /test] [--bitrate 500]
        [--width 640 --height 360] [--fps 25] [--no-audio] [--pattern smpte]
        [--video h264|h265] [--audio aac|opus|pcma|pcmu] [--gop SECONDS]
        [--auth basic|digest] [--credentials USER:PASSWORD]

Prints "ready rtsp://127.0.0.1:PORT/PATH" once it listens, and runs until
SIGTERM/SIGINT. SIGUSR1 turns the picture white and SIGUSR2 black, at
once: a visible marker of wall-clock time, so a test can tell which frames
of a clip were filmed before a moment it chose. The GOP is one second by default (key-int-max = fps), so recordings can
start and be cut on whole seconds; `--gop 4` is a "smart codec" camera.
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/test")
    p.add_argument("--bitrate", type=int, default=500, help="kbit/s")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--no-audio", action="store_true")
    p.add_argument("--video", choices=["h264", "h265"], default="h264")
    p.add_argument("--audio", choices=["aac", "opus", "pcma", "pcmu"], default="aac",
                   help="aac; opus; pcma/pcmu: G.711 A-law/mu-law at 8 kHz, as many cameras send")
    p.add_argument("--gop", type=float, default=1.0, help="keyframe interval, seconds")
    p.add_argument("--auth", choices=["basic", "digest"], help="require USER:PASSWORD of --credentials")
    p.add_argument("--credentials", default="viewer:s3cret-pass", help="USER:PASSWORD for --auth")
    p.add_argument("--pattern", default="smpte", help="videotestsrc pattern at start (smpte, black, white)")
    p.add_argument("--cbr", action="store_true", help="pad to a constant bitrate, like a real camera")
    a = p.parse_args()

    Gst.init(None)
    key_int = max(1, round(a.fps * a.gop))
    if a.video == "h264":
        cbr = " pass=cbr vbv-buf-capacity=1000 option-string=nal-hrd=cbr" if a.cbr else ""
        encode = (
            f"x264enc tune=zerolatency sliced-threads=false speed-preset=ultrafast key-int-max={key_int} bitrate={a.bitrate}{cbr} "
            f"! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96"
        )
    else:
        encode = (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={key_int} bitrate={a.bitrate} "
            f"! video/x-h265 ! rtph265pay name=pay0 pt=96"
        )
    video = (
        f"videotestsrc name=src is-live=true pattern={a.pattern} ! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 "
        f"! videoconvert ! {encode}"
    )
    audio = {
        "aac": "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=16000,channels=1 ! audioconvert "
        "! avenc_aac ! rtpmp4gpay name=pay1 pt=97",
        "opus": "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=1 ! audioconvert "
        "! opusenc ! rtpopuspay name=pay1 pt=97",
        "pcma": "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=8000,channels=1 ! audioconvert "
        "! alawenc ! rtppcmapay name=pay1",
        "pcmu": "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=8000,channels=1 ! audioconvert "
        "! mulawenc ! rtppcmupay name=pay1",
    }[a.audio]
    launch = f"( {video} {'' if a.no_audio else audio} )"

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    # The media is rebuilt when its last client leaves; a new one shows the
    # last paint, as a real camera would.
    sources = []
    painted = [a.pattern]

    def configure(_factory, media) -> None:
        src = media.get_element().get_by_name("src")
        src.set_property("pattern", painted[0])
        sources.append(src)

    factory.connect("media-configure", configure)

    def paint(pattern: str) -> bool:
        painted[0] = pattern
        for src in sources:
            src.set_property("pattern", pattern)
        return GLib.SOURCE_CONTINUE

    if a.auth:
        # GStreamer only challenges when no anonymous (default) token
        # exists, so there is none: every client must authenticate.
        gi.require_version("GstRtsp", "1.0")
        from gi.repository import GstRtsp  # noqa: E402

        user, password = a.credentials.split(":", 1)
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if a.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(user, password, token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(Gst.Structure.new_empty("user"))
        permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {a.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for s in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, s, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, paint, "white")
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, paint, "black")
    print(f"ready rtsp://127.0.0.1:{a.port}{a.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
