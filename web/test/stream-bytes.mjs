#!/usr/bin/env node
// stream-bytes.mjs — bytes per listener per second for each format, from a running daemon:
// one listener per format at once, counted over the same window after a warm-up (so the
// /stream.opus burst and the resume backlog are left out).
//
//   node stream-bytes.mjs [--url http://127.0.0.1:8000] [--seconds 10] [--warmup 2]
//
// WebSocket rows count message payloads plus the frame header the daemon puts on each
// (2 bytes, 4 from 126 bytes, 10 from 64 KiB); HTTP rows count every byte read off the
// socket after the response head (the chunked encoding's framing included).

import net from 'node:net';
import WebSocket from 'ws';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const BASE = new URL(arg('--url', 'http://127.0.0.1:8000'));
const SECONDS = Number(arg('--seconds', 10));
const WARMUP = Number(arg('--warmup', 2));

const frameHeader = (len) => (len < 126 ? 2 : len < 65536 ? 4 : 10);
const counters = [];

function websocket(name, query) {
  const counter = { name, route: `/ws?${query}`, bytes: 0, counting: false };
  counters.push(counter);
  const ws = new WebSocket(`ws://${BASE.host}/ws?${query}`);
  ws.on('message', (data) => {
    if (counter.counting) counter.bytes += data.length + frameHeader(data.length);
  });
  return () => ws.terminate();
}

function http(name, path) {
  const counter = { name, route: path, bytes: 0, counting: false };
  counters.push(counter);
  const socket = net.connect(Number(BASE.port || 80), BASE.hostname);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${BASE.host}\r\n\r\n`);
  let head = true;
  socket.on('data', (data) => {
    if (head) {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      head = false;
      data = data.subarray(end + 4);
    }
    if (counter.counting) counter.bytes += data.length;
  });
  return () => socket.destroy();
}

const closers = [
  websocket('json mono (bare /ws, the seed)', 'channels=1&encoding=json'),
  websocket('json stereo', 'channels=2&encoding=json'),
  websocket('binary mono', 'channels=1&encoding=binary'),
  websocket('binary stereo', 'channels=2&encoding=binary'),
  http('wav', '/stream.wav'),
  websocket('opus (WebSocket)', 'encoding=opus'),
  http('ogg/opus', '/stream.opus'),
];
await new Promise((resolve) => setTimeout(resolve, WARMUP * 1000));
for (const counter of counters) counter.counting = true;
const started = performance.now();
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
const elapsed = (performance.now() - started) / 1000;
for (const close of closers) close();
console.log(`| format | route | bytes/s per listener | kbit/s |`);
console.log(`|---|---|---:|---:|`);
for (const c of counters) {
  const perSecond = c.bytes / elapsed;
  console.log(`| ${c.name} | \`${c.route}\` | ${Math.round(perSecond).toLocaleString('en')} | ${(perSecond * 8 / 1000).toFixed(1)} |`);
}
