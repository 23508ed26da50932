"use strict";
// The offline basemap under a Leaflet map, shared by the vehicle console and the centre's map page (served there
// as /vendor/basemap.js): the orthophoto at imageUrl, the MBTiles tiles at /api/tiles, or a plain grid; the view
// fitted to its bounds, else the whole world. basemap: {kind, bounds: [s, w, n, e] | null, minzoom, maxzoom}.
function addBasemap(map, basemap, imageUrl) {
  if (basemap.kind === "image") {
    const [s, w, n, e] = basemap.bounds;
    L.imageOverlay(imageUrl, [[s, w], [n, e]]).addTo(map);
  } else if (basemap.kind === "tiles") {
    L.tileLayer("/api/tiles/{z}/{x}/{y}", { minZoom: basemap.minzoom, maxNativeZoom: basemap.maxzoom, maxZoom: 22 }).addTo(map);
  } else {
    const Grid = L.GridLayer.extend({
      createTile() {
        const t = document.createElement("canvas");
        t.width = t.height = 256;
        const g = t.getContext("2d");
        g.strokeStyle = "rgba(200,210,220,0.25)";
        g.strokeRect(0, 0, 256, 256);
        return t;
      },
    });
    new Grid().addTo(map);
  }
  if (basemap.bounds) { const [s, w, n, e] = basemap.bounds; map.fitBounds([[s, w], [n, e]]); }
  else map.setView([0, 0], 2);
}
