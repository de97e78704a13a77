#!/usr/bin/env node
// ogg-listeners.mjs — N plain HTTP listeners of an endless stream (ambientd's /stream.opus, or
// an icecast2 mount relaying it), the same program for both servers: bytes each got, how many
// ended early, and the server's CPU over the window (from /proc/PID/stat).
//
//   node ogg-listeners.mjs --url http://127.0.0.1:8000/stream.opus --pid PID \
//     [--listeners 1000] [--seconds 20] [--warmup 3] [--ramp-ms 5]
//
// Listeners connect ~ramp-ms apart (icecast2's listen backlog is small, see PLATFORM.md).

import fs from 'node:fs';
import net from 'node:net';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const URL_ = new URL(arg('--url', 'http://127.0.0.1:8000/stream.opus'));
const PID = arg('--pid', null);
const N = Number(arg('--listeners', 1000));
const SECONDS = Number(arg('--seconds', 20));
const WARMUP = Number(arg('--warmup', 3));
const RAMP_MS = Number(arg('--ramp-ms', 5));
const CLK_TCK = 100;

function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

const listeners = [];
function listen() {
  const l = { bytes: 0, counting: false, ended: false, head: true };
  listeners.push(l);
  const socket = net.connect(Number(URL_.port || 80), URL_.hostname);
  socket.on('connect', () => socket.write(`GET ${URL_.pathname} HTTP/1.1\r\nHost: ${URL_.host}\r\n\r\n`));
  socket.on('data', (data) => {
    if (l.head) {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      l.head = false;
      data = data.subarray(end + 4);
    }
    if (l.counting) l.bytes += data.length;
  });
  const ended = () => { l.ended = true; };
  socket.on('close', ended);
  socket.on('error', ended);
  l.socket = socket;
}

for (let i = 0; i < N; i++) {
  listen();
  if (RAMP_MS > 0) await new Promise((resolve) => setTimeout(resolve, RAMP_MS));
}
await new Promise((resolve) => setTimeout(resolve, WARMUP * 1000));
for (const l of listeners) l.counting = true;
const cpu0 = PID ? cpuSeconds(PID) : 0;
const own0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
const elapsed = (performance.now() - t0) / 1000;
const cpu1 = PID ? cpuSeconds(PID) : 0;
const own = process.cpuUsage(own0);
const rates = listeners.map((l) => l.bytes / elapsed).sort((a, b) => a - b);
const ended = listeners.filter((l) => l.ended).length;
const serverCpu = PID ? ((cpu1 - cpu0) / elapsed) * 100 : NaN;
console.log(JSON.stringify({
  url: URL_.href,
  listeners: N,
  seconds: Number(elapsed.toFixed(1)),
  ended_early: ended,
  bytes_per_s: { min: Math.round(rates[0]), median: Math.round(rates[rates.length >> 1]), max: Math.round(rates.at(-1)) },
  below_half_rate: rates.filter((r) => r < rates[rates.length >> 1] / 2).length,
  server_cpu_percent_of_one_core: Number(serverCpu.toFixed(1)),
  server_cpu_percent_per_listener: Number((serverCpu / N).toFixed(4)),
  load_tool_cpu_percent: Number((((own.user + own.system) / 1e6 / elapsed) * 100).toFixed(1)),
}));
for (const l of listeners) l.socket.destroy();
