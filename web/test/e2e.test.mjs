// e2e.test.mjs — the web client in a real headless Chromium against a server that follows the
// wire contract (the mock by default; the daemon when AMBIENTD_CMD / AMBIENTD_URL say so).
// Run: node --test --test-concurrency=1 e2e.test.mjs   (or ./run.sh)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startTarget, launchBrowser, openPage, playAndWait, stats, state, waitFor, USING_MOCK, EXTERNAL_URL,
} from './harness.mjs';

let browser;
let target; // web control on
const pages = [];

before(async () => {
  browser = await launchBrowser();
  target = await startTarget({ webControl: true });
});

after(async () => {
  for (const p of pages) await p.close().catch(() => {});
  await browser?.close();
  await target?.stop();
});

async function open(url = target.url) {
  const opened = await openPage(browser, url);
  pages.push(opened.page);
  return opened;
}

/** Highest signal energy seen over a few analyser reads (one read can land in a quiet spot). */
async function peakEnergy(page, reads = 10) {
  let peak = 0;
  for (let i = 0; i < reads; i++) {
    peak = Math.max(peak, (await stats(page)).energy);
    await page.waitForTimeout(50);
  }
  return peak;
}

test('the page loads with no console errors', async () => {
  const { page, errors } = await open();
  assert.equal(await page.title(), 'ambientd');
  assert.ok(await page.isVisible('#play'), 'play button visible');
  // Give module loading, the /api/status fetch and layout a moment to report anything.
  await waitFor(async () => (await page.textContent('#key')) !== '—', { what: 'parameters shown from /api/status' }).catch(() => {});
  assert.deepEqual(errors, []);
  await page.close();
});

test('after play the worklet gets chunks in sequence, the buffer settles within target, and it sounds', async () => {
  const { page, errors } = await open();
  await playAndWait(page);
  const started = await stats(page);
  assert.ok(started.firstSoundMs > 0 && started.firstSoundMs < 5000, `time to sound ${started.firstSoundMs} ms`);

  // Let it run until 40 more chunks (4 s) have arrived.
  await waitFor(async () => (await stats(page)).received >= started.received + 40, { timeout: 15000, what: '40 more chunks' });
  const s = await stats(page);
  assert.equal(s.outOfOrder, 0, 'every chunk followed the previous one');
  assert.equal(s.inOrder, s.received);
  assert.equal(s.duplicates, 0);
  assert.equal(s.late, 0);
  assert.equal(s.gaps, 0);
  assert.equal(s.state, 'playing');
  assert.ok(s.targetMs >= 200 && s.targetMs <= 1000, `target ${s.targetMs} ms within 200..1000`);
  assert.ok(s.underruns <= 2, `underruns ${s.underruns}`);
  assert.ok(s.smoothedDepthMs <= s.targetMs + 200, `depth ${s.smoothedDepthMs} ms near target ${s.targetMs} ms`);
  assert.ok(s.depthMs > 0, 'something is buffered');
  assert.ok(s.mainReceived - s.received <= 5, 'the worklet got the chunks the socket delivered (stats lag ≤ 250 ms)');

  const energy = await peakEnergy(page);
  assert.ok(energy > 0.005, `output RMS ${energy} is not silence`);
  const st = await state(page);
  assert.equal(st.connection, 'open');
  assert.equal(st.audio, 'running');
  assert.ok(st.params.key && st.params.bpm, 'key and tempo shown');
  assert.match(await page.textContent('#bpm'), /\d+ bpm/);
  if (USING_MOCK) {
    // The mock sends the current phrase after hello; its first bar is playing now.
    assert.equal(await page.locator('#chords li').count(), 8);
    assert.equal(await page.locator('#chords li.current').count(), 1, 'the bar being heard is marked');
    assert.match(await page.textContent('#about'), /mock synthesis/);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('without AudioWorklet (plain http on a LAN name) the same jitter buffer plays behind a ScriptProcessorNode', async () => {
  const insecureUrl = target.url.replace(/\/\/[^/:]+/, '//insecure.test');
  const { page, errors } = await openPage(browser, insecureUrl);
  pages.push(page);
  assert.equal(await page.evaluate(() => window.isSecureContext), false);
  await playAndWait(page);
  const started = await stats(page);
  await waitFor(async () => (await stats(page)).received >= started.received + 20, { what: '20 more chunks' });
  const s = await stats(page);
  assert.equal((await state(page)).engine, 'script');
  assert.equal(s.outOfOrder, 0);
  assert.equal(s.gaps, 0);
  assert.ok(s.underruns <= 2, `underruns ${s.underruns}`);
  assert.ok((await peakEnergy(page)) > 0.005, 'it sounds');
  assert.match(await page.textContent('#about'), /compatibility audio/);
  assert.deepEqual(errors, []);
  await page.close();
});

// Over the next 40 chunks the page receives Opus at 5-40 KB/s, in order, without gaps or
// decoder errors, playing 48 kHz audio that sounds.
async function assertPlaysOpusUnder40KBps(page, label) {
  const started = await stats(page);
  const startedAt = Date.now();
  await waitFor(async () => (await stats(page)).received >= started.received + 40, { timeout: 15000, what: '40 more chunks' });
  const s = await stats(page);
  const seconds = (Date.now() - startedAt) / 1000;
  const bytesPerSecond = (s.bytesReceived - started.bytesReceived) / seconds;
  console.log(`# ${label}: ${Math.round(bytesPerSecond)} B/s received over ${seconds.toFixed(1)} s`);
  assert.ok(bytesPerSecond < 40000, `received ${Math.round(bytesPerSecond)} B/s`);
  assert.ok(bytesPerSecond > 5000, `received ${Math.round(bytesPerSecond)} B/s: audio is arriving`);
  assert.equal(s.opusErrors, 0);
  assert.equal(s.outOfOrder, 0);
  assert.equal(s.gaps, 0);
  assert.equal(s.state, 'playing');
  assert.equal(s.sampleRate, 48000);
  assert.ok((await peakEnergy(page)) > 0.005, 'it sounds');
}

test('against the daemon the page plays Opus (WebCodecs) at under 40 KB/s, and says so', { skip: USING_MOCK && 'the mock streams PCM only' }, async () => {
  const { page, errors } = await open();
  const st = await state(page);
  assert.equal(st.opusSupported, true, 'headless Chromium decodes Opus with WebCodecs');
  assert.equal(st.encoding, 'opus');
  await playAndWait(page);
  assert.match(await page.textContent('#about'), /Opus/);
  await assertPlaysOpusUnder40KBps(page, 'opus page');
  assert.deepEqual(errors, []);
  await page.close();
  // Asked for PCM, the same page says so.
  const pcm = await openPage(browser, target.url, undefined, '/?encoding=binary');
  pages.push(pcm.page);
  assert.equal((await state(pcm.page)).encoding, 'binary');
  await playAndWait(pcm.page);
  assert.match(await pcm.page.textContent('#about'), /PCM/);
  await pcm.page.close();
});

test('without WebCodecs the page plays Opus through WebAssembly, the same stream at the same rate', { skip: USING_MOCK && 'the mock streams PCM only' }, async () => {
  // A browser without WebCodecs (older Safari and Firefox): no AudioDecoder at all.
  const noWebCodecs = () => {
    delete window.AudioDecoder;
    delete window.EncodedAudioChunk;
  };
  const { page, errors } = await openPage(browser, target.url, undefined, '/', noWebCodecs);
  pages.push(page);
  const scripts = [];
  page.on('request', (request) => scripts.push(new URL(request.url()).pathname));
  const st = await state(page);
  assert.equal(st.opusSupported, true, 'WebAssembly decodes Opus where WebCodecs cannot');
  assert.equal(st.encoding, 'opus');
  await playAndWait(page);
  assert.equal((await state(page)).opusDecoder, 'wasm');
  assert.match(await page.textContent('#about'), /Opus \(decoded by WebAssembly\)/);
  assert.ok(scripts.includes('/opus-decoder.min.js'), 'the decoder is fetched when needed');
  await assertPlaysOpusUnder40KBps(page, 'opus page (WebAssembly)');
  assert.deepEqual(errors, []);
  await page.close();
  // With WebCodecs there, the page never fetches the WebAssembly decoder.
  const plain = await openPage(browser, target.url);
  pages.push(plain.page);
  const fetched = [];
  plain.page.on('request', (request) => fetched.push(new URL(request.url()).pathname));
  await playAndWait(plain.page);
  assert.equal((await state(plain.page)).opusDecoder, 'webcodecs');
  assert.ok(!fetched.includes('/opus-decoder.min.js'), `fetched ${fetched.join(' ')}`);
  await plain.page.close();
});

test('mono over JSON (?channels=1&encoding=json) plays the same way', async () => {
  const { page, errors } = await openPage(browser, target.url, undefined, '/?channels=1&encoding=json');
  pages.push(page);
  await playAndWait(page);
  const started = await stats(page);
  await waitFor(async () => (await stats(page)).received >= started.received + 20, { what: '20 more chunks' });
  const s = await stats(page);
  assert.equal(s.outOfOrder, 0);
  assert.equal(s.gaps, 0);
  assert.ok((await peakEnergy(page)) > 0.005, 'it sounds');
  if (USING_MOCK) {
    const last = (await target.mockLog()).connections.at(-1);
    assert.deepEqual([last.channels, last.encoding], [1, 'json']);
  }
  assert.match(await page.textContent('#about'), /mono/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('stop fades out and goes quiet; play again starts afresh', async () => {
  const { page, errors } = await open();
  await playAndWait(page);
  await page.click('#play'); // stop
  await waitFor(async () => (await state(page)).audio === 'suspended', { what: 'context suspended' });
  const stopped = await state(page);
  assert.equal(stopped.playing, false);
  assert.equal(stopped.connection, 'idle');
  assert.equal(await page.getAttribute('#play', 'aria-label'), 'Play');

  await playAndWait(page);
  await waitFor(async () => (await stats(page)).firstSoundMs !== null, { what: 'time to sound of the second start' });
  assert.ok((await peakEnergy(page)) > 0.005, 'sound again');
  assert.deepEqual(errors, []);
  await page.close();
});

test('kill the server and start it again: the page reconnects with backoff and plays again', { skip: !!EXTERNAL_URL && 'needs a server it can restart' }, async () => {
  const { page } = await open();
  await playAndWait(page);
  const beforeKill = await stats(page);

  await target.kill();
  const killedAt = Date.now();
  await waitFor(async () => /Retrying in \d+ s/.test((await state(page)).status), { what: 'reconnect status text' });
  // Keep the server down long enough for several attempts (0.5 s, 1 s, 2 s … with jitter).
  await page.waitForTimeout(Math.max(0, 3600 - (Date.now() - killedAt)));
  const down = await state(page);
  assert.match(down.status, /Connection lost.*Retrying in \d+ s/);
  assert.notEqual(down.connection, 'open');

  const waits = down.events.filter((e) => e.type === 'conn-waiting').map((e) => e.delay);
  assert.ok(waits.length >= 2 && waits.length <= 5, `attempts while down: ${waits.length} (${waits})`);
  for (let i = 1; i < waits.length; i++) {
    assert.ok(waits[i] >= waits[i - 1] * 1.15, `backoff grows: ${waits}`);
  }
  assert.ok(waits[0] >= 375, `first wait ${waits[0]} ms is not a tight loop`);

  await target.start();
  await waitFor(async () => (await state(page)).connection === 'open', { timeout: 20000, what: 'reconnected' });
  await waitFor(async () => {
    const s = await stats(page);
    return s.state === 'playing' && s.mainReceived > beforeKill.mainReceived + 10;
  }, { timeout: 10000, what: 'playing again' });
  assert.ok((await peakEnergy(page)) > 0.005, 'sound after the restart');
  const after = await state(page);
  assert.match(after.status, /Playing|Reconnected|Buffering/);
  if (USING_MOCK) {
    // The mock's numbering starts again at 0, as a restarted daemon's would.
    assert.ok(after.events.some((e) => e.type === 'stream-restarted'), 'noticed the new stream');
  }
  await page.close();
});

test('a short network drop resumes from the last sequence without losing a chunk', { skip: !USING_MOCK && 'uses the mock\'s /mock/drop' }, async () => {
  const { page } = await open();
  await playAndWait(page);
  await waitFor(async () => (await stats(page)).received >= 20, { what: '20 chunks' });
  const connectionsBefore = (await target.mockLog()).connections.length;

  await target.mock('drop');
  await waitFor(async () => (await target.mockLog()).connections.length > connectionsBefore, { what: 'a new connection' });
  const log = await target.mockLog();
  const resumed = log.connections.at(-1);
  assert.equal(typeof resumed.resume, 'number', 'reconnected with ?resume=');
  assert.equal(resumed.channels, 2);
  assert.equal(resumed.encoding, 'binary');

  const mark = await stats(page);
  await waitFor(async () => (await stats(page)).received >= mark.received + 20, { what: '20 chunks after the drop' });
  const s = await stats(page);
  assert.equal(s.gaps, 0, 'no chunk was missing');
  assert.equal(s.outOfOrder, 0, 'the resumed stream continued at last sequence + 1');
  assert.equal(s.duplicates, 0);
  assert.equal(s.underruns, 0, 'a drop is not counted as jitter');
  assert.equal(s.state, 'playing');
  await page.close();
});

test('a delivery stall longer than the buffer: one underrun, a deeper target, playing again', { skip: !USING_MOCK && 'uses the mock\'s /mock/pause' }, async () => {
  const { page } = await open();
  await playAndWait(page);
  await waitFor(async () => (await stats(page)).received >= 20, { what: '20 chunks' });
  const before = await stats(page);

  await target.mock('pause?ms=900'); // the socket stays open; chunks arrive late, in a burst
  await waitFor(async () => (await stats(page)).underruns > before.underruns, { what: 'an underrun' });
  await waitFor(async () => (await stats(page)).state === 'playing', { what: 'playing again' });
  const s = await stats(page);
  assert.ok(s.targetMs > before.targetMs, `target grew from ${before.targetMs} to ${s.targetMs} ms`);
  assert.ok(s.targetMs <= 1000);
  assert.equal(s.gaps, 0, 'late chunks are played, not skipped');
  assert.equal(s.outOfOrder, 0);
  const events = (await state(page)).events.map((e) => e.type);
  assert.ok(events.includes('worklet-underrun') && events.includes('worklet-resumed'), `events: ${events}`);
  await page.close();
});

test('a link that stays open but goes silent is dropped and resumed', { skip: !USING_MOCK && 'uses the mock\'s /mock/pause' }, async () => {
  const { page } = await open();
  await playAndWait(page);
  const connectionsBefore = (await target.mockLog()).connections.length;
  await target.mock('pause?ms=7000'); // nothing arrives, the socket stays up
  await waitFor(async () => /no data/.test((await state(page)).status), { timeout: 9000, what: 'dead link noticed' });
  await waitFor(async () => (await target.mockLog()).connections.length > connectionsBefore, { timeout: 5000, what: 'a new connection' });
  const resumed = (await target.mockLog()).connections.at(-1);
  assert.equal(typeof resumed.resume, 'number', 'reconnected with ?resume=');
  await page.close();
});

test('the daemon\'s underrun notices are counted, and its silence chunks keep the stream going', { skip: !USING_MOCK && 'uses the mock\'s /mock/starve' }, async () => {
  const { page } = await open();
  await playAndWait(page);
  await target.mock('starve?ms=300');
  await waitFor(async () => (await stats(page)).serverUnderruns >= 2, { what: 'underrun notices' });
  const s = await stats(page);
  assert.equal(s.underruns, 0, 'silence chunks are still chunks: no local underrun');
  assert.equal(s.outOfOrder, 0);
  await page.close();
});

test('changing bpm in the page changes it in the daemon; refusals are shown', async () => {
  const { page } = await open();
  await playAndWait(page);
  await waitFor(async () => (await state(page)).controlsVisible, { what: 'controls offered' });
  const original = await target.getParam('bpm');
  const wanted = Number(original) === 80 ? 81 : 80;

  await page.locator('#ctl-bpm').fill(String(wanted));
  await waitFor(async () => Number(await target.getParam('bpm')) === wanted, { what: `daemon bpm ${wanted}` });
  await waitFor(async () => (await page.textContent('#bpm')) === `${wanted} bpm`, { what: 'page shows the new tempo' });
  if (USING_MOCK) {
    const { sets } = await target.mockLog();
    assert.deepEqual({ ...sets.at(-1), at: undefined }, { param: 'bpm', value: String(wanted), at: undefined });
  }

  await page.evaluate(() => window.ambient.set('bpm', '130'));
  await waitFor(async () => page.isVisible('#ctl-error'), { what: 'error shown' });
  assert.ok((await page.textContent('#ctl-error')).trim().length > 0);
  assert.equal(Number(await target.getParam('bpm')), wanted, 'a refused value changes nothing');

  await page.evaluate((v) => window.ambient.set('bpm', String(v)), original);
  await page.close();
});

test('with web control off, the controls are not offered', { skip: !!EXTERNAL_URL && 'needs to start a server with web_control = false' }, async () => {
  const locked = await startTarget({ webControl: false });
  try {
    const { page, errors } = await open(locked.url);
    assert.equal(await page.isVisible('#controls'), false, 'hidden before play');
    await playAndWait(page);
    await waitFor(async () => (await state(page)).events.some((e) => e.type === 'hello'), { what: 'hello' });
    const st = await state(page);
    assert.equal(st.webControl, false);
    assert.equal(st.controlsVisible, false);
    assert.equal(await page.isVisible('#controls'), false);
    assert.equal(await page.isVisible('#ctl-bpm'), false);
    // Even a hand-made request is refused by the server, and the page says so.
    const bpm = await locked.getParam('bpm');
    await page.evaluate(() => window.ambient.set('bpm', '90'));
    await waitFor(async () => (await state(page)).lastError !== '', { what: 'refusal' });
    assert.equal((await state(page)).status, (await state(page)).lastError, 'the refusal is on screen');
    assert.equal(await locked.getParam('bpm'), bpm);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await locked.stop();
  }
});
