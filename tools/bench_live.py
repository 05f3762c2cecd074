#!/usr/bin/python3
"""Live-upload benchmarks, called by `tools/bench live`: the whole `vigil`
binary (release, SQLite) storing into s3s-fs on loopback, recording the
bench camera.

  finish URL  end → COMPLETED of 10 s, 60 s and 10 min clips, with live
              upload on and (the baseline, as before it) off
  cost URL N  N concurrent recordings for 60 s, live upload on and off:
              vigil's CPU and memory, and the store requests per second

Prints rows of docs/benchmarks.md. Every process it starts is stopped by
its pid when it ends, and its folders removed.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

VIGIL = os.environ.get("VIGIL_BIN", "target/release/vigil")
S3S_FS = os.environ.get("S3S_FS_BIN", os.path.expanduser("~/.cache/vigil/s3s-fs/bin/s3s-fs"))
PASSWORD = "bench-admin-password"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def start_s3s_fs(root):
    """s3s-fs over folder `root` (bucket `bench` in it): the process and its URL."""
    os.makedirs(f"{root}/bench", exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [S3S_FS, "--host", "127.0.0.1", "--port", str(port),
         "--access-key", "bench", "--secret-key", "bench-secret", root],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, "s3s-fs")
    return proc, f"http://127.0.0.1:{port}"


def vigil_env(port, data_dir, s3_url, **extra):
    """A bench vigil's environment: on `port`, storing into `s3_url`."""
    env = {
        "PATH": os.environ["PATH"],
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "ADMIN_PASSWORD": PASSWORD,
        "JWT_SECRET": "bench-secret-bench-secret-bench-secret",
        "DATA_DIR": data_dir,
        "STORAGE_MODE": "r2",
        "R2_ENDPOINT": s3_url,
        "R2_ACCESS_KEY_ID": "bench",
        "R2_SECRET_ACCESS_KEY": "bench-secret",
        "R2_BUCKET_NAME": "bench",
        "MAX_CONCURRENT_RECORDINGS": "100",
        "RUST_LOG": os.environ.get("BENCH_RUST_LOG", "warn"),
    }
    env.update(extra)
    return env


class Stack:
    """s3s-fs and one vigil, owned until close()."""

    def __init__(self, live):
        self.dir = tempfile.mkdtemp(prefix="vigil-bench-live.")
        self.s3, s3_url = start_s3s_fs(f"{self.dir}/s3")
        port = free_port()
        env = vigil_env(port, f"{self.dir}/data", s3_url, LIVE_UPLOAD="true" if live else "false")
        self.log = open(f"{self.dir}/vigil.log", "w")
        self.vigil = subprocess.Popen([VIGIL], env=env, stdout=self.log, stderr=self.log)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        self.token = self.call("POST", "/auth/login", {"username": "admin", "password": PASSWORD})["accessToken"]

    def call(self, method, path, body=None):
        req = urllib.request.Request(f"{self.base}{path}", method=method)
        req.add_header("content-type", "application/json")
        if getattr(self, "token", None):
            req.add_header("authorization", f"Bearer {self.token}")
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(req, data, timeout=30) as r:
            text = r.read()
            return json.loads(text) if text and r.headers.get_content_type() == "application/json" else text

    def camera(self, url, name):
        return self.call("POST", "/cameras", {"name": name, "rtspUrl": url})["id"]

    def event(self, camera):
        return self.call("POST", "/events", {"cameraId": camera, "type": "MOTION"})

    def wait(self, pb, status, timeout=900, every=0.05, may_fail=False):
        deadline = time.time() + timeout
        while time.time() < deadline:
            p = self.call("GET", f"/playbacks/{pb}")
            if p["recordingStatus"] == status:
                return p
            if p["recordingStatus"] == "FAILED":
                if may_fail:
                    return None
                raise SystemExit(f"playback failed: {p}")
            time.sleep(every)
        raise SystemExit(f"playback never {status}")

    def cpu_seconds(self):
        return proc_cpu(self.vigil.pid)

    def rss_mib(self):
        with open(f"/proc/{self.vigil.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def remuxes(self):
        """The ffmpegs writing clips while they record (vigil's children
        reading a take's parts through stdin)."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if b"pipe:0" not in f.read():
                        continue
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) != self.vigil.pid:
                        continue
                pids.append(int(d))
            except OSError:
                continue
        return pids

    def counter(self, name, label=""):
        text = self.call("GET", "/metrics").decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and label in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def close(self):
        for p in (self.vigil, self.s3):
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def finish(url):
    """end → COMPLETED per clip length, live upload on and off."""
    # LENGTHS="10 60" for a quick rerun; the last row needs 10 and 600.
    lengths = [int(s) for s in os.environ.get("LENGTHS", "10 60 600").split()]
    results = {}
    for live in (True, False):
        stack = Stack(live)
        try:
            camera = stack.camera(url, "bench")
            for seconds in lengths:
                ev = stack.event(camera)
                stack.wait(ev["playbackId"], "RECORDING")
                time.sleep(seconds)
                t0 = time.time()
                stack.call("POST", f"/events/{ev['id']}/end", {})
                done = stack.wait(ev["playbackId"], "COMPLETED")
                results[(live, seconds)] = (time.time() - t0, done["fileSizeBytes"])
                print(f"# live={live} {seconds}s: {results[(live, seconds)][0]:.2f} s", file=sys.stderr)
        finally:
            stack.close()
    base = results[(True, 10)][0]
    for seconds in lengths:
        on, size = results[(True, seconds)]
        off = results[(False, seconds)][0]
        print(f"| end → COMPLETED, {seconds} s clip ({size / 2**20:.0f} MiB), live upload on | {on:.2f} s | "
              f"{off:.2f} s (live upload off) | {on / off:.2f} |")
    if (True, 600) in results:
        ten = results[(True, 600)][0]
        print(f"| end → COMPLETED, 10 min clip vs 10 s clip, live upload on (target ≤ 2) | {ten:.2f} s | {base:.2f} s | {ten / base:.2f} |")


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except OSError:
        return -1.0


def proc_pss(pid):
    """Proportional set size: the libraries many ffmpegs share counted once
    in all, not once each as RSS would."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cost(url, n):
    """N recordings for 60 s, live upload on vs off."""
    window = 60
    rows = {}
    for live in (True, False):
        stack = Stack(live)
        try:
            cams = [stack.camera(url, f"bench {i}") for i in range(n)]
            events = []
            for c in cams:
                events.append(stack.event(c))
                time.sleep(0.3)  # no connect storm on the shared test camera
            # The shared test camera may refuse a session under this load:
            # only recordings that started are counted.
            events = [ev for ev in events
                      if stack.wait(ev["playbackId"], "RECORDING", timeout=60, every=0.2, may_fail=True)]
            time.sleep(5)  # every take past its first part
            cpu0, t0 = stack.cpu_seconds(), time.time()
            remux0 = {p: proc_cpu(p) for p in stack.remuxes()}
            stored0 = stack.counter("vigil_live_segments_total", 'outcome="stored"')
            failed0 = stack.counter("vigil_live_segments_total", 'outcome="failed"')
            rss, remux_rss = 0.0, 0.0
            while time.time() - t0 < window:
                time.sleep(1)
                rss = max(rss, stack.rss_mib())
                remux_rss = max(remux_rss, sum(proc_pss(p) for p in remux0))
            elapsed = time.time() - t0
            cpu = (stack.cpu_seconds() - cpu0) / elapsed
            remux_cpu = sum(proc_cpu(p) - c for p, c in remux0.items() if proc_cpu(p) >= c) / elapsed
            stored = (stack.counter("vigil_live_segments_total", 'outcome="stored"') - stored0) / elapsed
            failed = stack.counter("vigil_live_segments_total", 'outcome="failed"') - failed0
            rows[live] = (cpu, rss, stored, failed, len(events), len(remux0), remux_cpu, remux_rss)
            for ev in events:
                stack.call("POST", f"/events/{ev['id']}/end", {})
            for ev in events:
                stack.wait(ev["playbackId"], "COMPLETED", every=0.5, may_fail=True)
        finally:
            stack.close()
    on, off = rows[True], rows[False]
    k = on[4]
    extra = (on[0] / on[4] - off[0] / off[4]) * 100
    print(f"| {on[4]} (on) and {off[4]} (off) of {n} concurrent recordings running, vigil's CPU (% of a core), live upload on | {on[0] * 100:.1f} % | "
          f"{off[0] * 100:.1f} % (live upload off) | {on[0] / off[0]:.2f} |")
    print(f"| live upload's CPU per recording (on/recording − off/recording) | {extra:.2f} % of a core | — | — |")
    print(f"| the same recordings, vigil's peak RSS | {on[1]:.0f} MiB | {off[1]:.0f} MiB (live upload off) | {on[1] / off[1]:.2f} |")
    if on[5]:
        print(f"| the clips written while recording: {on[5]} remux ffmpegs, CPU per recording | {on[6] / on[5] * 100:.2f} % of a core | — | — |")
        print(f"| the same remux ffmpegs, memory each (PSS) | {on[7] / on[5]:.1f} MiB | — | — |")
    print(f"| store requests while recording, {k} recordings | {on[2]:.1f} PUT/s + {on[2]:.1f} HEAD/s "
          f"({on[2] / k:.2f} PUT/s each; {on[3]:.0f} failed) | 0 (live upload off) | — |")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "finish":
        finish(sys.argv[2])
    elif mode == "cost":
        cost(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
