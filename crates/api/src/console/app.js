// Vigil's console: one page, no dependencies. Every screen is drawn from
// the REST API with the bearer token kept in sessionStorage (never in a
// URL); live changes come from GET /playbacks/stream read with fetch, since
// an EventSource cannot send the Authorization header.
"use strict";

const TOKEN_KEY = "vigil.token";
const STATUSES = ["PENDING", "RECORDING", "PROCESSING", "COMPLETED", "FAILED"];
const state = { token: sessionStorage.getItem(TOKEN_KEY), role: null, user: null, stream: null };

// ---- helpers -------------------------------------------------------------

// Builds an element; strings become text nodes, so API data is never HTML.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 3000);
}

function when(t) {
  return t ? new Date(t).toLocaleString() : "—";
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (_) {
    return {};
  }
}

const canWrite = () => state.role === "ADMIN" || state.role === "OPERATOR";
const isAdmin = () => state.role === "ADMIN";

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, opts = {}) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method: opts.method || "GET",
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (r.status === 401 && state.token) {
    logout();
    throw new ApiError(401, { error: { message: "Your session ended; log in again." } });
  }
  if (r.status === 204) return null;
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

// ---- session ---------------------------------------------------------------

function setToken(token) {
  state.token = token;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  const c = token ? claims(token) : {};
  state.role = c.role || null;
  document.getElementById("nav").hidden = !token;
  document.getElementById("nav-admin").hidden = !isAdmin();
  document.getElementById("whoami").textContent = state.role ? state.role.toLowerCase() : "";
}

function logout() {
  stopStream();
  setToken(null);
  route();
}

function loginScreen(main) {
  const error = h("p", { class: "error", role: "alert", id: "login-error" });
  const form = h(
    "form",
    { class: "login", id: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to Vigil"),
    h("label", { for: "username" }, "Username", h("input", { id: "username", name: "username", autocomplete: "username", required: true })),
    h("label", { for: "password" }, "Password", h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    error,
    h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const r = await api("/auth/login", {
        method: "POST",
        body: { username: form.username.value, password: form.password.value },
      });
      setToken(r.accessToken);
      route();
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong username or password." : err.message;
    }
  });
  main.replaceChildren(form);
  form.username.focus();
}

// ---- live stream -----------------------------------------------------------

const listeners = new Set();

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

// Reads the SSE stream and hands each playback to the current screen;
// reconnects with a growing pause when the connection drops.
async function startStream() {
  if (state.stream) return;
  const ctl = new AbortController();
  state.stream = ctl;
  let pause = 1000;
  while (!ctl.signal.aborted) {
    try {
      const r = await fetch("/playbacks/stream", {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
        signal: ctl.signal,
      });
      if (r.status === 401) return logout();
      if (!r.ok || !r.body) throw new Error(`stream: HTTP ${r.status}`);
      pause = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const lines = block.split("\n");
          const event = (lines.find((l) => l.startsWith("event: ")) || "").slice(7);
          const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (event === "playback" && data) {
            const p = JSON.parse(data);
            listeners.forEach((f) => f(p));
          } else if (event === "lagged") {
            listeners.forEach((f) => f(null));
          }
        }
      }
    } catch (_) {
      if (ctl.signal.aborted) return;
    }
    await new Promise((ok) => setTimeout(ok, pause));
    pause = Math.min(pause * 2, 15000);
  }
}

// ---- activity (home) --------------------------------------------------------

function statusBadge(status) {
  return h("span", { class: `badge ${status}`, "data-role": "status" }, status);
}

async function homeScreen(main) {
  let cameras = (await api("/cameras?limit=500")).data;
  const filters = { cameraId: "", status: "", since: "" };
  const byId = new Map();
  const grid = h("div", { class: "grid", id: "cameras", "aria-label": "Cameras" });
  const rows = h("tbody", { id: "activity-rows" });
  const table = h(
    "table",
    { id: "activity", "aria-label": "Recent playbacks" },
    h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Camera"), h("th", {}, "Status"),
      h("th", { class: "hide-narrow" }, "Length"), h("th", { class: "hide-narrow" }, "Note"))),
    rows,
  );
  const camName = (id) => (cameras.find((c) => c.id === id) || { name: "?" }).name;

  function drawCameras() {
    grid.replaceChildren(
      ...cameras.map((c) => {
        const mine = [...byId.values()].filter((p) => p.cameraId === c.id);
        const recording = mine.some((p) => p.recordingStatus === "RECORDING");
        const lastFailed = mine.find((p) => p.recordingStatus === "FAILED");
        const thumb = mine.find((p) => p.thumbnailUrl);
        const s = c.stream || {};
        return h(
          "article",
          { class: "card", dataset: { camera: c.id } },
          h("div", { class: "thumb" }, thumb
            ? h("img", { src: thumb.thumbnailUrl, alt: `Latest frame from ${c.name}` })
            : h("span", { class: "muted" }, "no clip yet")),
          h("div", { class: "body" },
            h("strong", {}, c.name),
            h("div", { class: "badges" },
              s.state ? h("span", { class: "badge" }, s.state) : null,
              c.preRollSeconds > 0 ? h("span", { class: "badge warm" }, `warm · ${c.preRollSeconds}s pre-roll`) : null,
              recording ? h("span", { class: "badge recording", "data-role": "recording" }, "recording") : null),
            s.videoCodec
              ? h("span", { class: "muted", "data-role": "stream" }, [
                  s.videoCodec,
                  s.width && s.height ? `${s.width}×${s.height}` : null,
                  s.fps ? `${s.fps} fps` : null,
                  s.keyframeIntervalSec ? `keyframe every ${s.keyframeIntervalSec} s` : null,
                  s.audioCodec ? `audio ${s.audioCodec}` : null,
                  c.transcode === "h264" ? "clips transcoded to H.264" : null,
                ].filter(Boolean).join(" · "))
              : null,
            (s.warnings || []).map((w) => h("span", { class: "warning" }, w)),
            s.lastError || lastFailed
              ? h("span", { class: "muted" }, `Last error: ${s.lastError || lastFailed.error}`)
              : null),
        );
      }),
    );
    if (!cameras.length) grid.append(h("p", { class: "muted" }, "No cameras yet."));
  }

  function matches(p) {
    if (filters.cameraId && p.cameraId !== filters.cameraId) return false;
    if (filters.status && p.recordingStatus !== filters.status) return false;
    if (filters.since && new Date(p.createdAt) < new Date(filters.since)) return false;
    return true;
  }

  function row(p, fresh) {
    return h(
      "tr",
      { class: fresh ? "fresh" : null, dataset: { playback: p.id, status: p.recordingStatus } },
      h("td", {}, h("a", { href: `/ui/playbacks/${p.id}`, "data-nav": true }, when(p.createdAt))),
      h("td", {}, camName(p.cameraId)),
      h("td", {}, statusBadge(p.recordingStatus)),
      h("td", { class: "hide-narrow" }, p.durationSec ? `${p.durationSec.toFixed(1)} s` : "—"),
      h("td", { class: "hide-narrow muted" }, p.error || (p.event && p.event.description) || ""),
    );
  }

  function drawRows(freshId) {
    const list = [...byId.values()].filter(matches).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    rows.replaceChildren(...list.slice(0, 200).map((p) => row(p, p.id === freshId)));
    if (!list.length) rows.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "Nothing yet.")));
  }

  async function reload() {
    const q = new URLSearchParams({ limit: "200" });
    const list = (await api(`/playbacks?${q}`)).data;
    byId.clear();
    list.forEach((p) => byId.set(p.id, p));
    drawRows();
    drawCameras();
  }

  const camSelect = h("select", { id: "filter-camera" }, h("option", { value: "" }, "All cameras"),
    cameras.map((c) => h("option", { value: c.id }, c.name)));
  const statusSelect = h("select", { id: "filter-status" }, h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, s)));
  const since = h("input", { id: "filter-since", type: "datetime-local" });
  camSelect.addEventListener("change", () => { filters.cameraId = camSelect.value; drawRows(); });
  statusSelect.addEventListener("change", () => { filters.status = statusSelect.value; drawRows(); });
  since.addEventListener("change", () => { filters.since = since.value; drawRows(); });

  main.replaceChildren(
    h("h1", {}, "Cameras"),
    grid,
    h("h2", {}, "Activity"),
    h("div", { class: "filters", role: "search" },
      h("label", { for: "filter-camera" }, "Camera", camSelect),
      h("label", { for: "filter-status" }, "Status", statusSelect),
      h("label", { for: "filter-since" }, "Since", since)),
    table,
  );
  await reload();
  // A camera's stream (state, codecs, warnings) changes without a playback
  // event: read the cameras again every 10 s while this screen is shown.
  const timer = setInterval(async () => {
    if (!grid.isConnected) return clearInterval(timer);
    try {
      cameras = (await api("/cameras?limit=500")).data;
      drawCameras();
    } catch (_) { /* the next tick tries again; a 401 has already led to the login */ }
  }, 10000);
  listeners.clear();
  listeners.add((p) => {
    if (!p) return void reload();
    byId.set(p.id, p);
    drawRows(p.id);
    drawCameras();
  });
  startStream();
}

// ---- one playback -----------------------------------------------------------

async function playbackScreen(main, id) {
  let p = await api(`/playbacks/${id}`);
  const box = h("section", { id: "playback", "aria-label": "Playback" });
  main.replaceChildren(h("p", {}, h("a", { href: "/ui/", "data-nav": true }, "← Activity")), box);

  function triggerOffset() {
    if (typeof p.triggerOffsetSec === "number") return p.triggerOffsetSec;
    // Without the field: the event's time within the clip, if the clip
    // started before it (pre-roll).
    if (p.event && p.startedAt) {
      const s = (new Date(p.event.createdAt) - new Date(p.startedAt)) / 1000;
      if (s > 0) return s;
    }
    return 0;
  }

  function draw() {
    const src = p.videoUrl || p.liveUrl || null;
    const video = src
      ? h("video", { id: "player", class: "player", src, controls: true, preload: "metadata", playsinline: true })
      : h("p", { class: "muted", id: "no-video" }, p.recordingStatus === "FAILED" ? "No clip: the recording failed." : "The clip appears here once it is stored.");
    if (src) {
      video.addEventListener("loadedmetadata", () => {
        const t = triggerOffset();
        if (t > 0 && t < video.duration) video.currentTime = Math.max(0, t - 1);
      }, { once: true });
    }
    const actions = [];
    if (canWrite()) {
      if (p.recordingStatus === "PENDING" || p.recordingStatus === "RECORDING") {
        actions.push(h("button", { type: "button", id: "stop", onclick: async () => {
          try { await api(`/playbacks/${p.id}/stop`, { method: "POST" }); toast("Stopping…"); } catch (e) { toast(e.message); }
        } }, "Stop recording"));
      }
      actions.push(h("button", { type: "button", class: "danger", id: "delete", onclick: async () => {
        if (!confirm("Delete this playback and its clip?")) return;
        try { await api(`/playbacks/${p.id}`, { method: "DELETE" }); toast("Deleted"); navigate("/ui/"); } catch (e) { toast(e.message); }
      } }, "Delete"));
    }
    if (p.videoUrl) actions.push(h("a", { href: p.videoUrl, download: `vigil-${p.id}.mp4`, id: "download" }, "Download"));
    const fields = [
      ["Status", statusBadge(p.recordingStatus)],
      ["Event", p.event ? `${p.event.type}${p.event.description ? ` — ${p.event.description}` : ""}` : "—"],
      ["Triggered", when(p.event && p.event.createdAt)],
      ["Started", when(p.startedAt)],
      ["Ended", when(p.endedAt)],
      ["Length", p.durationSec ? `${p.durationSec.toFixed(1)} s` : "—"],
      ["Video", [p.codec, p.resolution].filter(Boolean).join(" · ") || "—"],
      ["Size", p.fileSizeBytes ? `${(p.fileSizeBytes / 1e6).toFixed(1)} MB` : "—"],
      ["Note", p.error || "—"],
    ];
    box.replaceChildren(
      h("h1", {}, `Playback ${when(p.createdAt)}`),
      video,
      h("div", { class: "actions" }, actions),
      h("div", { class: "two" },
        h("dl", { class: "meta" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        p.thumbnailUrl ? h("img", { src: p.thumbnailUrl, alt: "Thumbnail of the clip", style: null, width: "100%" }) : null),
    );
  }
  draw();
  listeners.clear();
  listeners.add(async (q) => {
    if (q && q.id !== p.id) return;
    const changed = !q || q.recordingStatus !== p.recordingStatus;
    p = q || (await api(`/playbacks/${id}`));
    if (changed) draw();
  });
  startStream();
}

// ---- admin ------------------------------------------------------------------

async function adminScreen(main) {
  if (!isAdmin()) {
    main.replaceChildren(h("p", {}, "This needs the ADMIN role."));
    return;
  }
  const [users, cameras] = await Promise.all([api("/users?limit=500"), api("/cameras?limit=500")]);
  const roles = ["ADMIN", "OPERATOR", "VIEWER"];
  const act = (f) => async (e) => {
    e && e.preventDefault && e.preventDefault();
    try { await f(); toast("Saved"); adminScreen(main); } catch (err) { toast(err.message); }
  };

  const userRows = users.data.map((u) => {
    const role = h("select", { "aria-label": `Role of ${u.username}` }, roles.map((r) => h("option", { value: r, selected: r === u.role }, r)));
    role.addEventListener("change", act(() => api(`/users/${u.id}`, { method: "PATCH", body: { role: role.value } })));
    return h("tr", {}, h("td", {}, u.username), h("td", {}, role),
      h("td", {}, h("button", { type: "button", class: "danger", "aria-label": `Delete user ${u.username}`,
        onclick: act(async () => { if (confirm(`Delete ${u.username}?`)) await api(`/users/${u.id}`, { method: "DELETE" }); }) }, "Delete")));
  });
  const newUser = h("form", { class: "inline", id: "new-user" },
    h("label", {}, "Username", h("input", { name: "username", required: true, minlength: 3 })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, minlength: 8, autocomplete: "new-password" })),
    h("label", {}, "Role", h("select", { name: "role" }, roles.map((r) => h("option", { value: r, selected: r === "VIEWER" }, r)))),
    h("button", { type: "submit", class: "primary" }, "Add user"));
  newUser.addEventListener("submit", act(() => api("/users", { method: "POST",
    body: { username: newUser.username.value, password: newUser.password.value, role: newUser.role.value } })));

  const camRows = cameras.data.map((c) => {
    const pre = h("input", { type: "number", min: 0, max: 300, value: c.preRollSeconds, "aria-label": `Pre-roll seconds of ${c.name}` });
    const post = h("input", { type: "number", min: 0, max: 300, value: c.postRollSeconds, "aria-label": `Post-roll seconds of ${c.name}` });
    const merge = h("input", { type: "number", min: 0, max: 300, value: c.mergeSeconds, "aria-label": `Merge window seconds of ${c.name}`,
      title: "A new event within this many seconds after the last one ended joins its clip" });
    const transcode = h("select", { "aria-label": `Transcode clips of ${c.name}` },
      h("option", { value: "off", selected: c.transcode !== "h264" }, "as sent"),
      h("option", { value: "h264", selected: c.transcode === "h264" }, "H.264"));
    return h("tr", {}, h("td", {}, c.name), h("td", { class: "hide-narrow muted" }, c.rtspUrl), h("td", {}, pre), h("td", {}, post),
      h("td", {}, merge), h("td", {}, transcode),
      h("td", {}, h("button", { type: "button", onclick: act(() => api(`/cameras/${c.id}`, { method: "PATCH",
        body: { preRollSeconds: Number(pre.value), postRollSeconds: Number(post.value), mergeSeconds: Number(merge.value),
          transcode: transcode.value } })) }, "Save"), " ",
      h("button", { type: "button", class: "danger", "aria-label": `Delete camera ${c.name}`,
        onclick: act(async () => { if (confirm(`Delete ${c.name}?`)) await api(`/cameras/${c.id}`, { method: "DELETE" }); }) }, "Delete")));
  });
  const newCam = h("form", { class: "inline", id: "new-camera" },
    h("label", {}, "Name", h("input", { name: "name", required: true })),
    h("label", {}, "RTSP URL", h("input", { name: "rtspUrl", required: true, placeholder: "rtsp://user:pass@host/stream" })),
    h("label", {}, "Pre-roll s", h("input", { name: "pre", type: "number", min: 0, max: 300, value: 0 })),
    h("label", {}, "Post-roll s", h("input", { name: "post", type: "number", min: 0, max: 300, value: 0 })),
    h("button", { type: "submit", class: "primary" }, "Add camera"));
  newCam.addEventListener("submit", act(() => api("/cameras", { method: "POST", body: {
    name: newCam.name.value, rtspUrl: newCam.rtspUrl.value,
    preRollSeconds: Number(newCam.pre.value), postRollSeconds: Number(newCam.post.value) } })));

  main.replaceChildren(
    h("h1", {}, "Users"),
    h("table", { "aria-label": "Users" }, h("thead", {}, h("tr", {}, h("th", {}, "Username"), h("th", {}, "Role"), h("th", {}, ""))), h("tbody", {}, userRows)),
    newUser,
    h("h1", {}, "Cameras"),
    h("table", { "aria-label": "Cameras" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "hide-narrow" }, "URL"),
      h("th", {}, "Pre-roll s"), h("th", {}, "Post-roll s"), h("th", {}, "Merge s"), h("th", {}, "Video of clips"), h("th", {}, ""))), h("tbody", {}, camRows)),
    newCam,
  );
}

// ---- routing ----------------------------------------------------------------

function navigate(path) {
  history.pushState(null, "", path);
  route();
}

async function route() {
  const main = document.getElementById("main");
  listeners.clear();
  if (!state.token) return loginScreen(main);
  const path = location.pathname.replace(/\/+$/, "");
  const m = path.match(/^\/ui\/playbacks\/([^/]+)$/);
  try {
    if (m) await playbackScreen(main, decodeURIComponent(m[1]));
    else if (path === "/ui/admin") await adminScreen(main);
    else await homeScreen(main);
  } catch (err) {
    if (err.status === 401) return;
    main.replaceChildren(h("p", { class: "error", role: "alert" }, err.status === 404 ? "Not found." : err.message));
  }
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);
document.getElementById("logout").addEventListener("click", logout);
setToken(state.token);
route();
