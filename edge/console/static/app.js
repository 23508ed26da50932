"use strict";
// The field console's page: one document, five views (Live, Map, Events, Health, Config), updated by the
// server-sent events of /api/stream. Every list the page keeps is bounded, so it can stay open for days.

const MAX_ALERTS = 200;
const MAX_TRACKS = 256;
const TRAIL = 60;
const SVGNS = "http://www.w3.org/2000/svg";
const RINGS_M = [100, 500, 1000, 2000];

const S = {
  page: "live", camera: null, alerts: [], health: null, source: null, frameBusy: false, frameUrl: null,
  map: null, tracks: new Map(), platform: null, rings: [], footprint: null, poses: {}, filter: "", user: "local",
  thumbs: {}, // "camera/track" -> thumbnail the vehicle sent on request (shown in its alert's row)
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`); // for Leaflet's HTML tooltips
const fmt = (v, nd = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(nd));
const utc = (t) => new Date(t * 1000).toISOString().slice(11, 19);

// -- stream ------------------------------------------------------------------------------------------------
function connect() {
  if (S.source) S.source.close();
  const live = S.page === "live" && S.camera ? "?live=" + encodeURIComponent(S.camera) : "";
  const src = new EventSource("/api/stream" + live);
  S.source = src;
  src.onopen = () => { $("conn").textContent = "live"; $("conn").className = "conn ok"; };
  src.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = "conn"; };
  const on = (kind, fn) => src.addEventListener(kind, (m) => fn(JSON.parse(m.data)));
  on("frame", showFrame);
  on("alert", addAlert);
  on("ack", (m) => { const a = S.alerts.find((x) => x.id === m.id); if (a) { a.ack = m.ack; renderAlerts(); } });
  on("events", onEvents);
  on("thumbnail", (t) => { S.thumbs[`${t.camera}/${t.track}`] = t; renderAlerts(); });
  on("health", (h) => { S.health = h; renderHealth(); });
  on("pose", (p) => updatePlatform(p.pose));
}

// -- live --------------------------------------------------------------------------------------------------
function showFrame(f) {
  if (S.frameBusy || f.camera !== S.camera) return; // the newest wins: skip while one is loading
  S.frameBusy = true;
  fetch(f.url, { cache: "no-store" })
    .then((r) => (r.ok ? r.blob() : Promise.reject(r.status)))
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      const img = $("live-img");
      img.onload = () => {
        if (S.frameUrl) URL.revokeObjectURL(S.frameUrl);
        S.frameUrl = url;
        drawOverlay(f);
        S.frameBusy = false;
      };
      img.onerror = () => { URL.revokeObjectURL(url); S.frameBusy = false; };
      img.src = url;
    })
    .catch(() => { S.frameBusy = false; });
}

function drawOverlay(f) {
  const svg = $("live-svg");
  svg.setAttribute("viewBox", `0 0 ${f.w} ${f.h}`);
  svg.replaceChildren();
  $("live-empty").hidden = true;
  $("live-img").dataset.seq = f.seq;
  $("live-info").textContent = `frame ${f.seq} · ${utc(f.t_utc)} UTC · ${f.boxes.length} tracked`;
  if (f.grid && $("show-grid").checked) {
    for (const line of f.grid.lines) {
      const pts = line.pts.map((p) => p.join(",")).join(" ");
      svg.append(el("svg:polyline", { points: pts, class: "grid-" + line.kind }));
      if (line.kind !== "horizon") {
        const p = line.pts[Math.floor(line.pts.length / 2)];
        svg.append(el("svg:text", { x: p[0] + 3, y: p[1] - 3, class: "grid-label" }, line.label));
      }
    }
  }
  for (const b of f.boxes) {
    const [x1, y1, x2, y2] = [b.box[0] * f.w, b.box[1] * f.h, b.box[2] * f.w, b.box[3] * f.h];
    svg.append(el("svg:rect", {
      x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: "box",
      "data-track": b.track_id, "data-class": b.class, "data-conf": b.confidence,
    }));
    svg.append(el("svg:text", { x: x1, y: Math.max(12, y1 - 4), class: "box-label" },
      `${b.class} ${Math.round(b.confidence * 100)}% #${b.track_id}`));
  }
}

function setCameras(cams) {
  const sel = $("camera");
  const have = [...sel.options].map((o) => o.value);
  for (const c of cams) if (!have.includes(c)) sel.append(el("option", { value: c }, c));
  if (!S.camera && cams.length) { S.camera = cams[0]; sel.value = S.camera; if (S.page === "live") connect(); }
}

// -- events ------------------------------------------------------------------------------------------------
function addAlert(a) {
  S.alerts.unshift(a);
  if (S.alerts.length > MAX_ALERTS) S.alerts.length = MAX_ALERTS;
  addClass(a.class);
  renderAlerts(a.id);
}

function addClass(c) {
  const sel = $("class-filter");
  if (![...sel.options].some((o) => o.value === c)) sel.append(el("option", { value: c }, c));
}

function renderAlerts(fresh) {
  const body = $("alerts").tBodies[0];
  body.replaceChildren();
  for (const a of S.alerts) {
    if (S.filter && a.class !== S.filter) continue;
    const tr = el("tr", { "data-id": a.id, "data-class": a.class });
    if (a.id === fresh) tr.className = "new";
    if (a.ack) tr.classList.add("acked");
    const pos = a.lat === null ? a.no_fix || "no fix" : `${a.lat.toFixed(5)}, ${a.lon.toFixed(5)}`;
    for (const t of [utc(a.t_utc), a.class, Math.round(a.confidence * 100) + "%", pos, fmt(a.error_m),
      `${a.camera} #${a.track_id}`]) tr.append(el("td", {}, t));
    const thumb = S.thumbs[`${a.camera}/${a.track_id}`];
    if (thumb) tr.lastChild.append(el("img", { class: "thumb", src: thumb.url, title: `sent to ${thumb.requester}, ${thumb.bytes} bytes` }));
    const td = el("td");
    if (a.ack) td.textContent = `ack ${a.ack.by} ${utc(a.ack.t_utc)}`;
    else {
      const btn = el("button", { "data-ack": a.id }, "Acknowledge");
      btn.onclick = () => ack(a.id);
      td.append(btn);
    }
    tr.append(td);
    body.append(tr);
  }
  const open = S.alerts.filter((a) => !a.ack).length;
  $("unacked").textContent = open ? String(open) : "";
}

function ack(id) {
  const by = $("ack-name").value.trim();
  if (by) localStorage.setItem("edge-console-name", by);
  fetch("/api/ack", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id, by }) })
    .then((r) => r.json())
    .then((res) => { const a = S.alerts.find((x) => x.id === id); if (a) { a.ack = res; renderAlerts(); } });
}

// -- health ------------------------------------------------------------------------------------------------
const GOOD = ["connected", "ok", "streaming", "3D fix"];
const isBad = (state) => !GOOD.includes(state);

function card(name, values, state) {
  const c = el("div", { class: "card", "data-stage": name });
  if (state !== undefined) {
    c.dataset.state = state;
    c.classList.add(isBad(state) ? "bad" : "good");
  }
  c.append(el("h3", {}, name));
  const dl = el("dl");
  for (const [k, v] of Object.entries(values)) {
    if (v !== null && typeof v === "object") continue;
    dl.append(el("dt", {}, k));
    const dd = el("dd", {}, v === null ? "–" : String(v));
    if (k === "state") dd.className = isBad(v) ? "state-bad" : "state-good";
    dl.append(dd);
  }
  c.append(dl);
  return c;
}

function renderHealth() {
  const h = S.health;
  if (!h) return;
  $("vehicle").textContent = h.vehicle || "edge";
  $("health-age").textContent = `snapshot ${utc(h.t_utc)} UTC, boot ${Number(h.boot_id || 0).toString(16)}`;
  const sys = h.system || {};
  const free = sys.disk_free_bytes;
  $("health-system").replaceChildren(card("system", {
    "CPU temperature °C": sys.cpu_temp_c === null || sys.cpu_temp_c === undefined ? "not reported" : fmt(sys.cpu_temp_c),
    "disk free for the spool": free === null || free === undefined ? "–" : (free / 1e9).toFixed(2) + " GB",
  }));
  const stages = $("health-stages");
  stages.replaceChildren();
  for (const [name, v] of Object.entries(h.stages || {})) stages.append(card(name, v, v.state));
  const cams = Object.keys(h.stages || {}).filter((n) => n.startsWith("camera:")).map((n) => n.slice(7));
  setCameras(cams);
}

// -- map ---------------------------------------------------------------------------------------------------
function initMap(basemap) {
  if (typeof L === "undefined") { $("map-missing").hidden = false; $("map").hidden = true; return; }
  const map = L.map("map", { zoomControl: true, attributionControl: false, maxZoom: 22 });
  S.map = map;
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  map.on("dragstart", () => { S.moved = true; }); // the crew moved the map: stop recentring it
  addBasemap(map, basemap, "/api/basemap");
}

function updatePlatform(pose) {
  if (!S.map || !pose) return;
  const ll = [pose.lat, pose.lon];
  if (!S.platform) {
    S.platform = L.circleMarker(ll, { radius: 7, color: "#4fa3ff", fillOpacity: 0.9 }).addTo(S.map);
    S.heading = L.polyline([ll, ll], { color: "#4fa3ff", weight: 3 }).addTo(S.map);
    S.rings = RINGS_M.map((r) => L.circle(ll, { radius: r, color: "#9fb3c8", weight: 1, fill: false, dashArray: "4 6" }).addTo(S.map));
    S.map.setView(ll, 17);
  }
  S.platform.setLatLng(ll);
  S.rings.forEach((c) => c.setLatLng(ll));
  const yaw = (pose.yaw_deg * Math.PI) / 180;
  const d = 150 / 111320;
  S.heading.setLatLngs([ll, [pose.lat + d * Math.cos(yaw), pose.lon + (d * Math.sin(yaw)) / Math.cos((pose.lat * Math.PI) / 180)]]);
  if (pose.footprint && pose.footprint.length > 2) {
    if (!S.footprint) S.footprint = L.polygon(pose.footprint, { color: "#39d0ff", weight: 1, fillOpacity: 0.08 }).addTo(S.map);
    else S.footprint.setLatLngs(pose.footprint);
  }
}

function trackKey(camera, id) { return camera + "#" + id; }

function upsertTrack(t) {
  if (!S.map || t.lat === null || t.lat === undefined) return;
  const key = trackKey(t.camera, t.track_id);
  let g = S.tracks.get(key);
  const ll = [t.lat, t.lon];
  if (!g) {
    g = {
      dot: L.circleMarker(ll, { radius: 5, color: "#ffd400", fillOpacity: 1 }).addTo(S.map),
      err: L.circle(ll, { radius: t.error_m || 1, color: "#ffd400", weight: 1, fillOpacity: 0.1 }).addTo(S.map),
      trail: L.polyline([], { color: "#ffd400", weight: 2, opacity: 0.6 }).addTo(S.map),
      pts: [],
    };
    g.dot.bindTooltip("");
    S.tracks.set(key, g);
    if (S.tracks.size > MAX_TRACKS) removeTrack(S.tracks.keys().next().value);
  }
  g.info = { camera: t.camera, track_id: t.track_id, class: t.class, error_m: t.error_m, t_utc: t.t_utc };
  g.dot.setLatLng(ll);
  g.dot.setTooltipContent(esc(`${t.class} #${t.track_id} ±${fmt(t.error_m)} m`));
  g.err.setLatLng(ll);
  g.err.setRadius(t.error_m || 1);
  g.pts.push(ll);
  if (g.pts.length > TRAIL) g.pts.shift();
  g.trail.setLatLngs(g.pts);
}

function removeTrack(key) {
  const g = S.tracks.get(key);
  if (!g) return;
  for (const l of [g.dot, g.err, g.trail]) l.remove();
  S.tracks.delete(key);
}

function onEvents(b) {
  if (b.pose) { S.poses[b.camera] = b.pose; updatePlatform(b.pose); }
  for (const e of b.events) {
    if (e.kind === "lost") removeTrack(trackKey(e.camera, e.track_id));
    else upsertTrack(e);
  }
}

// for tests and for a crew's bookmarklet: what the map shows, read back from its layers
window.edgeConsole = {
  mapTracks: () => [...S.tracks.values()].map((g) => ({ ...g.info, lat: g.dot.getLatLng().lat, lon: g.dot.getLatLng().lng, radius_m: g.err.getRadius() })),
  platform: () => (S.platform ? S.platform.getLatLng() : null),
};

// -- pages -------------------------------------------------------------------------------------------------
function show(page) {
  if (!["live", "map", "events", "health", "config"].includes(page)) page = "live";
  const was = S.page;
  S.page = page;
  for (const s of document.querySelectorAll(".page")) s.classList.toggle("active", s.id === "page-" + page);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  if (page === "map" && S.map) {
    S.map.invalidateSize(); // it was drawn while hidden
    if (!S.moved && S.platform) S.map.setView(S.platform.getLatLng(), 17);
  }
  if ((was === "live") !== (page === "live") || !S.source) connect(); // frames only while the live view is open
}

function init(state) {
  S.user = state.user;
  $("logout").hidden = !state.login;
  $("ack-name-label").hidden = state.user !== "local" && state.user !== "token";
  $("ack-name").value = localStorage.getItem("edge-console-name") || "";
  $("config").textContent = JSON.stringify(state.config, null, 2);
  for (const t of state.thumbnails || []) S.thumbs[`${t.camera}/${t.track}`] = t;
  S.alerts = state.alerts.slice().reverse();
  S.alerts.forEach((a) => addClass(a.class));
  renderAlerts();
  S.health = state.health;
  renderHealth();
  setCameras(state.cameras);
  initMap(state.basemap);
  for (const p of Object.values(state.map.poses)) updatePlatform(p);
  for (const t of state.map.tracks) {
    upsertTrack(t);
    const g = S.tracks.get(trackKey(t.camera, t.track_id));
    if (g && t.trail.length) { g.pts = t.trail.slice(-TRAIL); g.trail.setLatLngs(g.pts); }
  }
}

$("camera").onchange = (e) => { S.camera = e.target.value; connect(); };
$("class-filter").onchange = (e) => { S.filter = e.target.value; renderAlerts(); };
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
fetch("/api/state")
  .then((r) => (r.status === 401 ? Promise.reject(location.assign("/login")) : r.json()))
  .then((state) => { init(state); show(location.hash.slice(1) || "live"); });
