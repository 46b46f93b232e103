// An offline map: the incident at the centre, everything else placed by distance and bearing
// (local equirectangular projection), distance rings, north up, a scale. No tiles needed.
"use strict";

const MINIMAP_COLOURS = { incident: "#f85149", me: "#58a6ff", aed: "#3fb950", responder: "#d29922" };

// In the page's language when common.js (t) is loaded before this file.
function minimapText(text) { return typeof t === "function" ? t(text) : text; }

function minimapEscape(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function minimap(centre, points, size = 320) {
  const mPerDegLat = 111195, mPerDegLon = 111195 * Math.cos(centre.lat * Math.PI / 180);
  const xy = (p) => [(p.lon - centre.lon) * mPerDegLon, (p.lat - centre.lat) * mPerDegLat];
  const far = Math.max(150, ...points.map((p) => Math.hypot(...xy(p))));
  const steps = [100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000];
  const ring = steps.find((s) => s * 2 >= far) || far / 2;
  const half = size / 2, scale = (half - 18) / (ring * 2);
  const at = (p) => { const [x, y] = xy(p); return [half + x * scale, half - y * scale]; };
  const parts = [`<svg class="minimap" viewBox="0 0 ${size} ${size}" role="img" aria-label="${minimapEscape(minimapText("map of the incident"))}">`];
  for (const k of [1, 2]) {
    parts.push(`<circle cx="${half}" cy="${half}" r="${ring * k * scale}" fill="none" stroke="#263040" stroke-dasharray="4 4"/>`);
    parts.push(`<text x="${half + 4}" y="${half - ring * k * scale + 12}" fill="#8b98a5" font-size="10">${ring * k >= 1000 ? (ring * k / 1000) + " km" : ring * k + " m"}</text>`);
  }
  parts.push(`<text x="${size - 18}" y="20" fill="#8b98a5" font-size="13" font-weight="700">N</text>`);
  parts.push(`<path d="M${size - 14} 24 l-5 12 l5 -3 l5 3 z" fill="#8b98a5"/>`);
  for (const p of points.filter((q) => q.kind !== "incident")) {
    const [x, y] = at(p), colour = MINIMAP_COLOURS[p.kind] || "#8b98a5";
    if (p.kind === "aed") {
      parts.push(`<rect x="${x - 7}" y="${y - 7}" width="14" height="14" rx="3" fill="${colour}"/>`);
      parts.push(`<text x="${x}" y="${y + 4}" text-anchor="middle" font-size="10" font-weight="700" fill="#04140a">+</text>`);
    } else {
      parts.push(`<circle cx="${x}" cy="${y}" r="${p.kind === "me" ? 8 : 6}" fill="${colour}" stroke="#0b1016" stroke-width="2" opacity="${p.faded ? 0.4 : 1}"/>`);
    }
    if (p.label) parts.push(`<text x="${x + 10}" y="${y + 4}" fill="#e6edf3" font-size="11">${minimapEscape(p.label)}</text>`);
  }
  parts.push(`<circle cx="${half}" cy="${half}" r="10" fill="${MINIMAP_COLOURS.incident}" stroke="#fff" stroke-width="2"/>`);
  parts.push(`<text x="${half}" y="${half + 26}" text-anchor="middle" fill="#ffb4ae" font-size="11" font-weight="700">${minimapEscape(minimapText("patient"))}</text>`);
  parts.push("</svg>");
  return parts.join("");
}
