#!/usr/bin/env node
// measure.mjs — a long headless listening session against the mock (or the daemon, with the same
// environment variables as the tests): time from play to sound, steady-state latency, underruns,
// and the page's CPU cost; writes results/measure.json and a screenshot of the playing page.
//
//   node measure.mjs [--seconds 120] [--screenshot ../screenshot.png]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTarget, launchBrowser, openPage } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const SECONDS = Number(arg('--seconds', 120));
const SCREENSHOT = arg('--screenshot', path.join(HERE, '..', 'screenshot.png'));
const CLK_TCK = 100; // Linux USER_HZ

/** utime+stime in seconds of every Chromium process descending from this Node process, by type. */
function chromiumCpu() {
  const procs = new Map();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Chromium rewrites its process titles, so arguments may be space-separated.
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
      procs.set(Number(pid), {
        ppid: Number(fields[1]),
        cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
        type: (cmd.find((a) => a.startsWith('--type=')) || '--type=browser').slice(7)
          + (cmd.some((a) => a.includes('AudioService')) ? ':audio' : ''),
        chromium: cmd[0].includes('chrom'),
      });
    } catch {
      /* gone */
    }
  }
  const mine = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; hops++) {
      if (p === process.pid) return true;
      p = procs.get(p)?.ppid ?? 0;
    }
    return false;
  };
  const byType = {};
  const rendererThreads = {};
  for (const [pid, p] of procs) {
    if (!p.chromium || !mine(pid)) continue;
    byType[p.type] = (byType[p.type] || 0) + p.cpu;
    if (p.type === 'renderer') {
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '#');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          rendererThreads[name] = (rendererThreads[name] || 0) + (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
        } catch {
          /* thread ended */
        }
      }
    }
  }
  return { byType, rendererThreads };
}

const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

const target = await startTarget({ webControl: true });
const browser = await launchBrowser();
try {
  const { page, errors } = await openPage(browser, target.url, { width: 760, height: 1040 });
  await page.evaluate(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => window.__longTasks.push(...list.getEntries().map((e) => e.duration)))
      .observe({ type: 'longtask', buffered: true });
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');

  // Press play and time the first non-silent analyser read from inside the page.
  await page.evaluate(() => {
    const t0 = performance.now();
    document.getElementById('play').click();
    const id = setInterval(() => {
      if (window.ambient.stats().energy > 1e-3) {
        window.__soundAfterMs = performance.now() - t0;
        clearInterval(id);
      }
    }, 5);
  });
  await page.waitForFunction(() => window.__soundAfterMs !== undefined, null, { timeout: 10000 });
  const soundAfterMs = await page.evaluate(() => window.__soundAfterMs);

  const metric = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const cpu0 = chromiumCpu();
  const m0 = await metric();
  const t0 = Date.now();
  const samples = [];
  while (Date.now() - t0 < SECONDS * 1000) {
    await page.waitForTimeout(1000);
    samples.push({ t: (Date.now() - t0) / 1000, ...(await page.evaluate(() => window.ambient.stats())) });
  }
  const wall = (Date.now() - t0) / 1000;
  const cpu1 = chromiumCpu();
  const m1 = await metric();
  await page.screenshot({ path: SCREENSHOT });
  const final = samples.at(-1);
  const steady = samples.filter((s) => s.t >= 10);
  const lat = steady.map((s) => s.latencyMs);
  const e2e = steady.map((s) => s.endToEndMs).filter((x) => x !== null);
  const longTasks = await page.evaluate(() => window.__longTasks);
  const percent = (a, b) => Object.fromEntries(
    Object.keys(b).map((k) => [k, +(((b[k] - (a[k] || 0)) / wall) * 100).toFixed(2)]).filter(([, v]) => v > 0.05),
  );
  const cpuDelta = percent(cpu0.byType, cpu1.byType);
  const threadDelta = percent(cpu0.rendererThreads, cpu1.rendererThreads);

  const result = {
    seconds: +wall.toFixed(1),
    target: target.url,
    timeToSound: { firstNonSilentAnalyserReadMs: Math.round(soundAfterMs), workletStartPlusDeviceMs: Math.round(final.firstSoundMs) },
    latencyMs: { median: Math.round(pct(lat, 0.5)), p95: Math.round(pct(lat, 0.95)), max: Math.round(Math.max(...lat)) },
    endToEndMs: e2e.length ? { median: Math.round(pct(e2e, 0.5)), p95: Math.round(pct(e2e, 0.95)) } : null,
    bufferTargetMs: { start: samples[0].targetMs, end: final.targetMs },
    deviceLatencyMs: +final.deviceLatencyMs.toFixed(1),
    chunks: { received: final.received, inOrder: final.inOrder, outOfOrder: final.outOfOrder, gaps: final.gaps, late: final.late, skips: final.skips, startSkips: final.startSkips },
    underruns: final.underruns,
    mainThread: {
      taskPercent: +(((m1.TaskDuration - m0.TaskDuration) / wall) * 100).toFixed(2),
      scriptPercent: +(((m1.ScriptDuration - m0.ScriptDuration) / wall) * 100).toFixed(2),
      longTasks: longTasks.length,
      longestTaskMs: longTasks.length ? Math.round(Math.max(...longTasks)) : 0,
      jsHeapMB: +(m1.JSHeapUsedSize / 1e6).toFixed(1),
    },
    processCpuPercentOfOneCore: cpuDelta,
    rendererThreadsPercentOfOneCore: threadDelta,
    consoleErrors: errors,
  };
  fs.mkdirSync(path.join(HERE, 'results'), { recursive: true });
  fs.writeFileSync(path.join(HERE, 'results', 'measure.json'), JSON.stringify({ result, samples }, null, 1));
  console.log(JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  await target.stop();
}
