"use strict";
// The centre's map: vehicles' last positions, detections and fused sightings with their 90 % error circles,
// filters, a time slider over the past day, and the open alerts to acknowledge. Data from the GeoJSON API.
const $ = (id) => document.getElementById(id);
const PALETTE = ["#ff9800", "#e040fb", "#29b6f6", "#66bb6a", "#ffee58", "#ef5350", "#26c6da", "#8d6e63"];
const S = { map: null, layers: {}, fitted: false, colours: {}, asked: {}, openKey: null, redrawing: false };
const trackKey = (p) => `${p.vehicle}/${p.camera}/${p.track}`;
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`); // for Leaflet's HTML tooltips
const colour = (vehicle) => (S.colours[vehicle] ??= PALETTE[Object.keys(S.colours).length % PALETTE.length]);

function params() {
  const end = Date.now() / 1000 + Number($("f-until").value);
  const p = new URLSearchParams({ start: end - Number($("f-window").value), end });
  for (const k of ["class", "vehicle", "camera"]) if ($("f-" + k).value.trim()) p.set(k, $("f-" + k).value.trim());
  return p;
}

async function getJSON(url) {
  const r = await fetch(url);
  if (r.status === 401) { window.location = "/login"; throw new Error("logged out"); }
  if (!r.ok) throw new Error(url + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function initMap(basemap) {
  const map = L.map("map", { attributionControl: false, maxZoom: 22 });
  S.map = map;
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  addBasemap(map, basemap, "/api/basemap.img");
  for (const name of ["detections", "sightings", "vehicles"]) S.layers[name] = L.layerGroup().addTo(map);
}

// The refresh redraws every marker: a detection's open popup is opened again on its track's newest detection.
function drawDetections(fc) {
  const keep = S.openKey;
  S.redrawing = true;
  const g = S.layers.detections.clearLayers();
  S.redrawing = false;
  let reopen = null;
  for (const f of fc.features) {
    if (!f.geometry) continue;
    const [lon, lat] = f.geometry.coordinates, p = f.properties, c = colour(p.vehicle);
    if (p.error_m) L.circle([lat, lon], { radius: p.error_m, color: c, weight: 1, fillOpacity: 0.05 }).addTo(g);
    const m = L.circleMarker([lat, lon], { radius: 3, color: c, fillOpacity: 0.9, className: "det" })
      .bindTooltip(esc(`${p.class} ${Math.round(p.confidence * 100)}% by ${p.vehicle}/${p.camera}, track ${p.track}`))
      .addTo(g);
    m.bindPopup(() => popup(p));
    m.on("popupopen", () => { S.openKey = trackKey(p); });
    m.on("popupclose", () => { if (!S.redrawing) S.openKey = null; });
    if (keep === trackKey(p)) reopen = m;
  }
  if (reopen) reopen.openPopup();
}

// A detection's popup: the image its vehicle sent on request, and a button to ask the vehicle for one.
function popup(p) {
  const key = trackKey(p), div = document.createElement("div"), thumb = S.thumbs?.[key];
  div.className = "det-popup";
  if (thumb) {
    const img = document.createElement("img");
    img.className = "thumb";
    img.src = thumb.url;
    img.alt = `track ${p.track}`;
    div.append(img);
  }
  const b = document.createElement("button"), said = document.createElement("span");
  b.className = "ask";
  b.textContent = thumb ? "Ask for a newer image" : "Ask for image";
  said.className = "asked";
  said.textContent = S.asked[key] ?? "";
  b.onclick = async () => {
    b.disabled = true;
    const body = { vehicle: p.vehicle, camera: p.camera, track: p.track, boot: p.boot, frame: thumb ? "latest" : "best" };
    const r = await fetch("/api/thumbnails", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    S.asked[key] = r.ok ? ` asked (request ${(await r.json()).id}); the image appears when it arrives` : ` ${r.status}: ${await r.text()}`;
    for (const el of document.querySelectorAll(".det-popup .asked")) el.textContent = S.asked[key];
    b.disabled = false;
  };
  div.append(b, said);
  return div;
}

// Thumbnails the vehicles sent on request: the newest beside the map, and in the popup of their track's detections.
function drawThumbnails(answers) {
  S.thumbs = {};
  const list = $("thumbs");
  list.replaceChildren();
  for (const a of answers.slice(-6).reverse()) {
    const li = document.createElement("li");
    li.textContent = `${a.vehicle} track ${a.track ?? "?"} (${a.requester}): ${a.status}${a.complete ? "" : a.status === "ok" ? ", arriving" : ""} `;
    if (a.complete) {
      const img = document.createElement("img");
      img.src = a.url;
      img.className = "thumb";
      img.title = `${a.class} ${Math.round(a.score * 100)}%, ${a.bytes} bytes, ${new Date(a.t_utc * 1000).toISOString().slice(11, 19)} UTC`;
      li.append(img);
    }
    list.append(li);
  }
  for (const a of answers) if (a.complete) S.thumbs[`${a.vehicle}/${a.camera}/${a.track}`] = a;
}

function drawSightings(fc) {
  const g = S.layers.sightings.clearLayers();
  for (const f of fc.features) {
    const [lon, lat] = f.geometry.coordinates, p = f.properties;
    L.circle([lat, lon], { radius: p.error_m, color: "#ffffff", weight: 2, dashArray: p.acked_by ? "4" : null, fill: false, className: "sighting" })
      .bindTooltip(esc(`${p.class}: ${p.n_sensors} sensor(s), ±${p.error_m.toFixed(1)} m`)).addTo(g);
  }
}

function drawVehicles(fc) {
  const g = S.layers.vehicles.clearLayers(), list = $("vehicles");
  list.replaceChildren();
  const pts = [];
  for (const f of fc.features) {
    const p = f.properties, li = document.createElement("li");
    const seen = p.t ? `${new Date(p.t * 1000).toISOString().slice(11, 19)} UTC, ${p.camera}` : "no records";
    li.textContent = `${p.vehicle}: ${p.status || "status unknown"}, ${seen}`;
    li.style.color = colour(p.vehicle);
    list.append(li);
    if (!f.geometry) continue;
    const [lon, lat] = f.geometry.coordinates;
    pts.push([lat, lon]);
    L.marker([lat, lon], { title: p.vehicle }).bindTooltip(esc(p.vehicle), { permanent: true, className: "veh-label", direction: "right" }).addTo(g)
      .getTooltip().getElement?.()?.style.setProperty("background", colour(p.vehicle));
  }
  return pts;
}

function drawAlerts(fc) {
  const list = $("alerts");
  list.replaceChildren();
  $("n-alerts").textContent = fc.features.length ? `(${fc.features.length})` : "";
  for (const f of fc.features) {
    const p = f.properties, li = document.createElement("li"), b = document.createElement("button");
    li.textContent = `${p.class} seen by ${p.n_sensors} sensor(s) at ${new Date(p.t_last * 1000).toISOString().slice(11, 19)} `;
    b.textContent = "Ack";
    b.className = "ack";
    b.onclick = async () => { await fetch(`/api/sightings/${encodeURIComponent(f.id)}/ack`, { method: "POST" }); refresh(); };
    li.append(b);
    list.append(li);
  }
}

async function refresh() {
  const p = params();
  const until = Number($("f-until").value);
  $("until-text").textContent = until === 0 ? "now" : new Date(Number(p.get("end")) * 1000).toISOString().slice(0, 16).replace("T", " ");
  try {
    const [dets, sights, open, vehicles, thumbs] = await Promise.all([
      getJSON("/api/detections?" + p), getJSON("/api/sightings?" + p),
      getJSON("/api/sightings?open=1&" + p), getJSON("/api/vehicles"),
      getJSON("/api/thumbnails?since=" + p.get("start")),
    ]);
    drawThumbnails(thumbs);
    drawDetections(dets);
    drawSightings(sights);
    drawAlerts(open);
    const pts = drawVehicles(vehicles);
    for (const f of dets.features) if (f.geometry) pts.push([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
    if (!S.fitted && pts.length) { S.map.fitBounds(pts, { padding: [40, 40], animate: false }); S.fitted = true; }
    $("status").textContent = `${dets.features.length} detections, ${sights.features.length} sightings`;
    document.body.dataset.loaded = "1";
  } catch (err) {
    $("status").textContent = String(err);
  }
}

async function main() {
  initMap(await getJSON("/api/basemap"));
  for (const id of ["f-class", "f-vehicle", "f-camera", "f-window", "f-until"]) $(id).addEventListener("change", refresh);
  $("f-until").addEventListener("input", refresh);
  await refresh();
  setInterval(() => { if (Number($("f-until").value) === 0) refresh(); }, 2000);
}
main();
