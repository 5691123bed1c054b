import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/** Bump on every change to the script: it is served with this version and an ETag of its bytes. */
export const TAG_VERSION = '1.0.0';

/*
 * The Tag, served at GET /tag.js. Plain ES5, no dependencies, written small by hand (no build
 * step): it must stay under 3 KB gzipped, and a test measures it.
 *
 * On load it reads thrad_click_id / thrad_sig / thrad_exp from the page URL and keeps them
 * first-party (localStorage and a cookie, both expiring at exp). thrad('conversion', {...}) posts
 * the conversion with the click, its signature and the browser context to the origin the script
 * was loaded from, with fetch + keepalive, falling back to navigator.sendBeacon. Calls made before
 * the script loaded (the snippet's queue) are replayed. thrad('click_id') returns the captured click
 * id (or null), for sites that also report conversions from their backend. Nothing here ever throws into the host
 * page, and without a captured click nothing is sent.
 */
const SOURCE = `/*! Thrad Tag v${TAG_VERSION} */
(function (w, d) {
  "use strict";
  var K = "thrad_click", V = "${TAG_VERSION}", api = "", q = [];
  try {
    var s = d.currentScript;
    if (!s) { var all = d.getElementsByTagName("script"); for (var i = all.length - 1; i >= 0; i--) { if (/\\/tag\\.js(\\?|$)/.test(all[i].src)) { s = all[i]; break; } } }
    api = s ? new URL(s.src, location.href).origin : "";
  } catch (e) {}
  function now() { return Math.floor(new Date().getTime() / 1000); }
  function ok(v) { return v && typeof v.c === "string" && typeof v.s === "string" && /^\\d+$/.test(String(v.e)) && +v.e > now(); }
  function last(p, n) { var a = p.getAll(n); return a.length ? a[a.length - 1] : null; }
  function save(v) {
    var t = JSON.stringify(v);
    try { w.localStorage.setItem(K, t); } catch (e) {}
    try {
      d.cookie = K + "=" + encodeURIComponent(t) + "; expires=" + new Date(v.e * 1000).toUTCString() +
        "; path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
    } catch (e) {}
  }
  function load() {
    var v = null;
    try { v = JSON.parse(w.localStorage.getItem(K)); } catch (e) {}
    if (ok(v)) return v;
    try {
      var m = d.cookie.match(/(?:^|;\\s*)thrad_click=([^;]*)/);
      v = m ? JSON.parse(decodeURIComponent(m[1])) : null;
    } catch (e) { v = null; }
    return ok(v) ? v : null;
  }
  function capture() {
    try {
      var p = new URLSearchParams(location.search);
      var v = { c: last(p, "thrad_click_id"), s: last(p, "thrad_sig"), e: last(p, "thrad_exp") };
      if (ok(v)) { v.e = +v.e; save(v); }
    } catch (e) {}
  }
  function cut(x, n) { return typeof x === "string" ? x.slice(0, n) : x; }
  function rid() {
    try { if (w.crypto && crypto.randomUUID) return crypto.randomUUID(); } catch (e) {}
    return String(Math.random()).slice(2) + now();
  }
  function conversion(data) {
    var v = load();
    if (!v || !api) return false;
    var b = {}, k;
    if (data && typeof data === "object") for (k in data) if (Object.prototype.hasOwnProperty.call(data, k)) b[k] = data[k];
    b.click_id = v.c; b.sig = v.s; b.exp = v.e;
    if (b.conversion_time == null) b.conversion_time = new Date().toISOString();
    // Without a dedup key, the Tag's own retry (beacon after a failed fetch) could count twice.
    if (b.event_id == null && b.order_id == null) b.event_id = "tag_" + rid();
    if (b.page_url == null) b.page_url = cut(location.href, 2048);
    if (b.referrer == null && d.referrer) b.referrer = cut(d.referrer, 2048);
    if (b.user_agent == null) b.user_agent = cut(navigator.userAgent, 1024);
    var url = api + "/api/tag/conversion", body = JSON.stringify(b);
    function beacon() {
      try { if (navigator.sendBeacon) navigator.sendBeacon(url, new Blob([body], { type: "text/plain" })); } catch (e) {}
    }
    try {
      if (w.fetch) {
        w.fetch(url, { method: "POST", body: body, keepalive: true, mode: "cors", credentials: "omit", headers: { "Content-Type": "application/json" } })
          ["catch"](beacon);
        return true;
      }
    } catch (e) {}
    beacon();
    return true;
  }
  function thrad(cmd, data) {
    try {
      if (cmd === "conversion") return conversion(data);
      if (cmd === "click_id") { var v = load(); return v ? v.c : null; }
    } catch (e) {}
    return false;
  }
  thrad.v = V;
  try {
    capture();
    var prev = w.thrad;
    if (prev && prev.q && prev.q.length) q = prev.q;
    w.thrad = thrad;
    for (var j = 0; j < q.length; j++) thrad.apply(null, q[j]);
  } catch (e) {}
})(window, document);
`;

/** The script's bytes and what caches need to know about them. */
export const TAG_SCRIPT = {
  version: TAG_VERSION,
  body: SOURCE,
  etag: `"${TAG_VERSION}-${createHash('sha256').update(SOURCE).digest('base64url').slice(0, 16)}"`,
  gzippedBytes: gzipSync(SOURCE).length,
};
