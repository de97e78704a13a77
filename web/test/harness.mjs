// harness.mjs — what the end-to-end tests stand on: a server to test against (the mock, or the
// real daemon when told so by the environment) and a headless Chromium that may play audio.
//
// Environment:
//   AMBIENTD_CMD   shell command that runs the real daemon in the foreground. It gets
//                  AMBIENTD_PORT, AMBIENTD_LISTEN (127.0.0.1:PORT) and AMBIENTD_WEB_CONTROL
//                  (true|false) in its environment. Without it the mock server is used.
//   AMBIENTD_GET   command prefix that prints a parameter's value, e.g.
//                  'ambientctl --socket /tmp/amb-$AMBIENTD_PORT.sock get'; the tests append the
//                  name ("bpm") and run it with the same AMBIENTD_* variables as the daemon.
//                  Without it, GET /api/status is read (params.bpm or bpm).
//   AMBIENTD_URL   test a server that is already running (http://host:port). Tests that must
//                  restart it or change its web_control setting are skipped.
//   CHROMIUM_PATH  defaults to /usr/bin/chromium.

import { spawn, execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const EXTERNAL_URL = process.env.AMBIENTD_URL || '';
export const USING_MOCK = !process.env.AMBIENTD_CMD && !EXTERNAL_URL;

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Poll `check` until it returns a truthy value; no fixed sleeps in the tests themselves. */
export async function waitFor(check, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

async function healthy(url) {
  try {
    const res = await fetch(`${url}/healthz`);
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * A server under test that the test can kill and start again on the same port.
 * @param {{webControl?: boolean}} options
 */
export async function startTarget({ webControl = true } = {}) {
  if (EXTERNAL_URL) {
    return {
      url: EXTERNAL_URL.replace(/\/$/, ''),
      restartable: false,
      kill: async () => {},
      start: async () => {},
      stop: async () => {},
      getParam: (name) => readParam(EXTERNAL_URL, name, {}),
    };
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child = null;
  let output = '';

  const daemonEnv = { AMBIENTD_PORT: String(port), AMBIENTD_LISTEN: `127.0.0.1:${port}`, AMBIENTD_WEB_CONTROL: String(webControl) };
  const start = async () => {
    if (process.env.AMBIENTD_CMD) {
      child = spawn('sh', ['-c', process.env.AMBIENTD_CMD], {
        detached: true, // own process group, so kill() reaches the daemon behind the shell
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...daemonEnv },
      });
    } else {
      child = spawn(process.execPath, [path.join(HERE, 'mock-server.mjs'), '--port', String(port), '--web-control', String(webControl)], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }
    const proc = child;
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    proc.exited = new Promise((resolve) => proc.once('exit', resolve));
    const deadline = Date.now() + 20000;
    while (!(await healthy(url))) {
      if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${output}`);
      if (Date.now() > deadline) throw new Error(`server not healthy at ${url} after 20 s: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const kill = async (signal = 'SIGKILL') => {
    if (!child || child.exitCode !== null) return;
    const proc = child;
    try {
      process.kill(-proc.pid, signal);
    } catch {
      /* already gone */
    }
    await proc.exited;
  };

  await start();
  return {
    url,
    port,
    restartable: true,
    start,
    kill,
    stop: () => kill('SIGTERM'),
    output: () => output,
    getParam: (name) => readParam(url, name, daemonEnv),
    mockLog: async () => (await fetch(`${url}/mock/log`)).json(),
    mock: (what) => fetch(`${url}/mock/${what}`).then((r) => r.json()),
  };
}

async function readParam(url, name, env) {
  if (process.env.AMBIENTD_GET) {
    const out = await new Promise((resolve, reject) =>
      execFile('sh', ['-c', `${process.env.AMBIENTD_GET} ${name}`], { env: { ...process.env, ...env } }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    const m = /(-?\d+(?:\.\d+)?)\s*$/.exec(out.trim());
    return m ? Number(m[1]) : out.trim();
  }
  const status = await (await fetch(`${url}/api/status`)).json();
  const params = status.params && typeof status.params === 'object' ? status.params : status;
  return params[name];
}

/** Headless Chromium that may start audio without a gesture (see PLATFORM.md §7). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--autoplay-policy=no-user-gesture-required',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      // http://insecure.test:PORT/ reaches 127.0.0.1 but is no secure context (no AudioWorklet).
      '--host-resolver-rules=MAP insecure.test 127.0.0.1',
    ],
  });
}

/** A fresh page that records console errors and uncaught exceptions. */
export async function openPage(browser, url, viewport = { width: 760, height: 980 }, pagePath = '/', init = null) {
  const page = await browser.newPage({ viewport });
  if (init) await page.addInitScript(init); // runs before the page's own scripts
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  await page.goto(`${url}${pagePath}`, { waitUntil: 'load' });
  await page.waitForFunction(() => !!window.ambient);
  return { page, errors };
}

export const stats = (page) => page.evaluate(() => window.ambient.stats());
export const state = (page) => page.evaluate(() => window.ambient.state());

/** Press play and wait until the worklet is playing sound. */
export async function playAndWait(page, timeout = 10000) {
  await page.click('#play');
  await page.waitForFunction(() => window.ambient.stats().state === 'playing', null, { timeout });
}
