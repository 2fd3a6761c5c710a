// kimpbot service worker: makes the dashboard installable and keeps its static files for a flaky
// network. It NEVER caches data: pages, /api, /ws, /login and /health always go to the network.
"use strict";
const CACHE = "kimpbot-static-v1";
const SHELL = ["/static/app.css", "/static/app.js", "/static/icon-192.png", "/static/icon-512.png", "/static/icon.svg"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/static/")) {
    return; // not ours to answer: the browser goes to the network as usual
  }
  // static files: network first (a new version shows at once), the cached copy when offline
  ev.respondWith(fetch(ev.request).then((resp) => {
    if (resp.ok) { const copy = resp.clone(); caches.open(CACHE).then((c) => c.put(ev.request, copy)); }
    return resp;
  }).catch(() => caches.match(ev.request)));
});
