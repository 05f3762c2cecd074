#!/usr/bin/python3
"""Cluster benchmarks, called by `tools/bench cluster`: several `vigil`
nodes (release) on one PostgreSQL (tools/pg.sh) and one s3s-fs, recording
the bench camera.

  failover URL  SIGKILL of the node that records a camera, five times: how
                long until another node owns the camera, and until the
                killed node's recording has media on disk again there
                (resumed into the same playback; an event posted at the
                kill joins it); median of 5, against the lease
                (NODE_LEASE_SECONDS)
  capacity URL N  N concurrent 20 s recordings spread over 1, 2 and 3
                nodes: how many complete, and the CPU they took

Prints rows of docs/benchmarks.md. Every process it starts is stopped by
its pid when it ends, and its folders removed.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_live import PASSWORD, VIGIL, free_port, proc_cpu, wait_port  # noqa: E402
import bench_live  # noqa: E402

LEASE = int(os.environ.get("LEASE", "10"))


class Node(bench_live.Stack):
    """One vigil of the cluster (the Stack's client, without its s3s-fs)."""

    def __init__(self, cluster, node_id):
        self.dir = f"{cluster.dir}/{node_id}"
        self.id = node_id
        port = free_port()
        env = bench_live.vigil_env(port, f"{self.dir}/data", cluster.s3_url, DATABASE_URL=cluster.db_url,
                                   NODE_ID=node_id, NODE_LEASE_SECONDS=str(LEASE),
                                   # The moment a recording is resumed is read from the log.
                                   RUST_LOG="warn,vigil_application::resume=info")
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(f"{self.dir}/vigil.log", "w")
        self.vigil = subprocess.Popen([VIGIL], env=env, stdout=self.log, stderr=self.log)
        self.base = f"http://127.0.0.1:{port}"
        wait_port(port, f"vigil {node_id}")
        self.token = self.call("POST", "/auth/login", {"username": "admin", "password": PASSWORD})["accessToken"]

    def resumed(self, playback):
        """Whether this node's log says `playback`'s resumed recording has
        media on disk (the take's span names the playback)."""
        with open(f"{self.dir}/vigil.log") as f:
            return any("has media on disk again" in line and playback in line for line in f)

    def owners(self):
        return {c["id"]: c["ownerNode"] for c in self.call("GET", "/cameras?limit=100")["data"]}

    def kill(self):
        """SIGKILL, and its ffmpegs with it (a machine lost)."""
        self.vigil.send_signal(signal.SIGKILL)
        self.vigil.wait()
        subprocess.run(["pkill", "-KILL", "-f", self.dir], check=False)
        self.log.close()

    def close(self):
        if self.vigil.poll() is None:
            self.vigil.terminate()
            try:
                self.vigil.wait(60)
            except subprocess.TimeoutExpired:
                self.vigil.kill()
                self.vigil.wait()
        self.log.close()

    def tree_cpu(self):
        """CPU seconds of vigil and its children (ffmpegs) so far: its own,
        its reaped children's, and those still running."""
        with open(f"/proc/{self.vigil.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = sum(int(x) for x in fields[11:15]) / bench_live.TICKS
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.vigil.pid:
                    total += proc_cpu(int(d))
            except OSError:
                continue
        return total


class Cluster:
    """PostgreSQL, s3s-fs and the nodes started on them, owned until close()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vigil-bench-cluster.")
        # PostgreSQL runs as its own user and needs to reach its folder.
        os.chmod(self.dir, 0o755)

        subprocess.run(["tools/pg.sh", "start", f"{self.dir}/pg"], capture_output=True, check=True)
        with open(f"{self.dir}/pg/url") as f:
            self.db_url = f.read().strip()
        self.s3, self.s3_url = bench_live.start_s3s_fs(f"{self.dir}/s3")
        self.nodes = []

    def node(self, node_id):
        n = Node(self, node_id)
        self.nodes.append(n)
        return n

    def close(self):
        for n in self.nodes:
            n.close()
        self.s3.terminate()
        self.s3.wait(30)
        subprocess.run(["tools/pg.sh", "stop", f"{self.dir}/pg"], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def until(what, check, timeout=120, every=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = check()
        if v:
            return v
        time.sleep(every)
    raise SystemExit(f"never: {what}")


def failover(url):
    runs = 5
    owned, resumed = [], []
    c = Cluster()
    try:
        a, b = c.node("node-1"), c.node("node-2")
        camera = a.camera(url, "bench")
        for i in range(runs):
            owner_id = until("camera owned", lambda: a.owners().get(camera))
            owner, survivor = (a, b) if owner_id == a.id else (b, a)
            ev = survivor.event(camera)
            survivor.wait(ev["playbackId"], "RECORDING")
            time.sleep(3)
            t0 = time.time()
            owner.kill()
            # The next trigger, during the failover: not lost, recorded late.
            late = survivor.event(camera)
            until("camera re-owned", lambda: survivor.owners().get(camera) == survivor.id)
            owned.append(time.time() - t0)
            until("the killed node's recording resumed", lambda: survivor.resumed(ev["playbackId"]))
            resumed.append(time.time() - t0)
            # The camera records per event and its event is open: the late
            # event joins that recording, so it is recorded from the resume.
            joined = late["playbackId"] == ev["playbackId"]
            print(f"# run {i + 1}: re-owned {owned[-1]:.2f} s, resumed {resumed[-1]:.2f} s, "
                  f"late event joined it: {joined}", file=sys.stderr)
            # The late event joined the recording the dead node was making
            # (same camera, event open): both end it.
            survivor.call("POST", f"/events/{ev['id']}/end", {})
            survivor.call("POST", f"/events/{late['id']}/end", {})
            survivor.wait(ev["playbackId"], "COMPLETED", timeout=120)
            survivor.wait(late["playbackId"], "COMPLETED", timeout=120)
            # The lost node comes back under a new id for the next round.
            c.nodes.remove(owner)
            fresh = c.node(f"node-{i + 3}")
            a, b = survivor, fresh
    finally:
        c.close()
    o, s = statistics.median(owned), statistics.median(resumed)
    print(f"| failover: SIGKILL → camera owned by another node, median of {runs} (lease {LEASE} s) | {o:.2f} s | {LEASE} s (lease) | {o / LEASE:.2f} |")
    print(f"| failover: SIGKILL → the killed node's recording resumed on the new owner, median of {runs} | {s:.2f} s | {LEASE} s (lease) | {s / LEASE:.2f} |")


def bench_camera():
    """A fresh bench camera (1080p25, 4 Mbit/s CBR) and one session held
    open on it: the shared test camera's media is torn down when its last
    client leaves, and clients that connect meanwhile fail."""
    port = free_port()
    cam = subprocess.Popen(
        ["/usr/bin/python3", "tools/camera.py", "--port", str(port), "--width", "1920", "--height", "1080",
         "--bitrate", "4000", "--cbr"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if not cam.stdout.readline().startswith("ready"):
        raise SystemExit("the bench camera did not start")
    url = f"rtsp://127.0.0.1:{port}/test"
    anchor = subprocess.Popen(["ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "null", "-"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(10)  # its encoder settled before the sessions come
    return url, [anchor, cam]


def capacity(_url, n):
    """A camera of its own per round: an overloaded test camera may not
    recover for the next."""
    seconds = 20
    rows = []
    for k in (1, 2, 3):
        url, owned = bench_camera()
        c = Cluster()
        try:
            nodes = [c.node(f"node-{i + 1}") for i in range(k)]
            cameras = [nodes[0].camera(url, f"bench-{i}") for i in range(n)]
            def spread():
                owners = nodes[0].owners()
                if not all(owners.get(cam) for cam in cameras):
                    return None
                counts = {x.id: 0 for x in nodes}
                for owner in owners.values():
                    counts[owner] = counts.get(owner, 0) + 1
                # The fair share bounds each node (it does not even out a
                # remainder: 10 over 3 may stay 4/4/2).
                return counts if max(counts.values()) <= -(-n // k) else None
            # Taken by the node they were created on, then spread by the
            # leasing passes.
            per_node = until("cameras spread", spread, timeout=60, every=0.5)
            cpu0 = sum(x.tree_cpu() for x in nodes)
            t0 = time.time()
            events = []
            for i, cam in enumerate(cameras):
                events.append(nodes[i % k].event(cam))
                time.sleep(0.3)  # no connect storm on the shared test camera
            for ev in events:
                nodes[0].wait(ev["playbackId"], "RECORDING", timeout=60, may_fail=True)
            time.sleep(seconds)
            for i, ev in enumerate(events):
                nodes[i % k].call("POST", f"/events/{ev['id']}/end", {})
            done = 0
            for ev in events:
                if nodes[0].wait(ev["playbackId"], "COMPLETED", timeout=300, may_fail=True):
                    done += 1
                else:
                    p = nodes[0].call("GET", f"/playbacks/{ev['playbackId']}")
                    print(f"# FAILED: {p['error']}", file=sys.stderr)
            cores = (sum(x.tree_cpu() for x in nodes) - cpu0) / (time.time() - t0)
            spread = "/".join(str(per_node.get(x.id, 0)) for x in nodes)
            rows.append((k, done, cores, spread))
            print(f"# {k} node(s): {done}/{n} completed, {cores:.2f} cores, cameras {spread}", file=sys.stderr)
        finally:
            c.close()
            for p in owned:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    print_capacity(rows, n)


def print_capacity(rows, n):
    one = rows[0][1]
    for k, done, cores, spread in rows:
        print(f"| capacity: {n} concurrent 20 s recordings on {k} node(s) (cameras {spread}), completed | {done} of {n} ({cores:.2f} cores busy) | {one} of {n} (1 node) | {done / max(one, 1):.2f} |")


if __name__ == "__main__":
    if sys.argv[1] == "failover":
        failover(sys.argv[2])
    elif sys.argv[1] == "capacity":
        capacity(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
