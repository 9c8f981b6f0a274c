// The console in a real browser (Debian's chromium driven by puppeteer-core):
// the worker with its embedded broker and console, and an edge daemon
// replaying the sample frames, as real processes. The page lists the device
// online; "Ask now" shows the answer against its request id; "Preview" shows
// the camera's thumbnail; "Pause" changes the device's status; a hostile
// answer is shown as text, never run. Saves the screenshots in docs/ (desktop
// and 390 px wide) and reports the page weight and the ask-to-answer time.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import mqtt from 'mqtt';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { encodeAnswer } from '../../protocol/answer.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { cli } from '../helpers/cli.ts';
import { CLOUD_BIN, EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { freePort } from '../helpers/mosquitto.ts';
import { FRAMES_DIR, REPO_ROOT, TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';

// The functions handed to page.evaluate run in the page; this project compiles without the DOM library, so the page's globals are declared here, loosely.
declare const document: { documentElement: { scrollWidth: number }; querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): PageElement[] };
declare const window: { innerWidth: number; __pwned?: unknown; scrollTo(x: number, y: number): void };
interface PageElement {
  textContent: string | null;
  hidden?: boolean;
  complete?: boolean;
  naturalWidth?: number;
  naturalHeight?: number;
  labels?: { length: number };
  id?: string;
}

const DEVICE = 'browser-cam';
const DOCS = join(REPO_ROOT, 'docs');
const work = mkdtempSync(join(tmpdir(), 'console-browser-'));
let worker: EdgeProcess;
let edge: EdgeProcess;
let browser: Browser;
let page: Page;
let consoleUrl: string;
let brokerUrl: string;
let workerConfig: string;
let firstLoadBytes = 0;

before(async () => {
  const brokerPort = await freePort();
  const consolePort = await freePort();
  brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
  workerConfig = join(work, 'cloud.json');
  writeFileSync(
    workerConfig,
    JSON.stringify({
      worker: { id: 'browser-worker' },
      models: { paths: [TINY_MODEL_DIR] },
      answerer: { type: 'local', qwen: TINY_QWEN_DIR, maxNewTokens: 8 },
      dedup: { path: join(work, 'answered.db') },
      broker: { embedded: true, port: brokerPort },
      console: { port: consolePort, historyPath: join(work, 'history.db') },
    }),
  );
  worker = new EdgeProcess(workerConfig, [], process.env, [process.execPath, CLOUD_BIN]);
  const listening = await worker.waitFor((l) => l.msg === 'console listening', 120_000, 'the console');
  consoleUrl = listening.url as string;
  const edgeConfig = join(work, 'edge.json');
  writeFileSync(
    edgeConfig,
    JSON.stringify({
      device: { id: DEVICE },
      model: { path: TINY_MODEL_DIR },
      camera: { type: 'directory', path: FRAMES_DIR },
      capture: { intervalMs: 500, prompt: 'What is in this picture?' },
      outbox: { path: join(work, 'edge.db') },
      mqtt: { url: brokerUrl },
    }),
  );
  edge = new EdgeProcess(edgeConfig);
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: join(work, 'chromium-profile'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.loadingFinished', (event) => {
    firstLoadBytes += event.encodedDataLength;
  });
  await page.goto(consoleUrl, { waitUntil: 'load' });
});

after(async () => {
  await browser?.close();
  await stopAllEdges();
  rmSync(work, { recursive: true, force: true });
});

const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');

it('lists the device online with its facts, within a first load of a few tens of KB', async (t) => {
  await page.waitForFunction((id) => document.querySelector(`tr[data-device="${id}"] [data-field="state"]`)?.textContent === 'online', { timeout: 60_000 }, DEVICE);
  const row = await page.$eval(`tr[data-device="${DEVICE}"]`, (tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
  assert.equal(row[0], DEVICE);
  assert.equal(edge.child.exitCode, null, 'the edge daemon runs');
  assert.match(row[7]!, /^\d+\.\d+\.\d+/, 'version');
  t.diagnostic(`console first load: ${firstLoadBytes} bytes transferred (HTML, script, style; gzip)`);
  assert.ok(firstLoadBytes > 1000 && firstLoadBytes < 60_000, `first load ${firstLoadBytes} bytes`);
});

it('"Ask now" shows the answer against its request id', async (t) => {
  await page.click(`tr[data-device="${DEVICE}"] a`);
  await page.waitForSelector('#ask-prompt');
  // Labels and order: every input is labelled; the ask field is the first control after the page's links.
  const unlabelled = await page.$$eval('input', (inputs) => inputs.filter((i) => (i as unknown as PageElement).labels?.length === 0).map((i) => i.id));
  assert.deepEqual(unlabelled, []);
  await page.type('#ask-prompt', 'Is there a cat?');
  const asked = Date.now();
  await page.click('#ask-button');
  await page.waitForSelector('li.ask[data-request]');
  const request = await page.$eval('li.ask', (li) => li.getAttribute('data-request'));
  assert.match(request!, /^[A-Za-z0-9._:-]{1,64}$/);
  await page.waitForFunction(
    () => {
      const answer = document.querySelector('li.ask .ask-answer');
      return answer !== null && !answer.textContent!.startsWith('waiting');
    },
    { timeout: 120_000 },
  );
  const askMs = Date.now() - asked;
  const shown = await text('li.ask .ask-answer');
  assert.doesNotMatch(shown, /^(refused|error)/, shown);
  assert.match(shown, /answered .* after the ask/);
  const live = await page.$eval(`#live li[data-request="${request}"]`, (li) => li.textContent);
  assert.match(live!, new RegExp(`request ${request!.replace(/[.]/g, '\\.')}`));
  t.diagnostic(`ask to answer on the page: ${askMs} ms`);
});

it("splitoculo-cloud ask, with the worker's config, prints the device's answer", async () => {
  const result = await cli(CLOUD_BIN, ['ask', DEVICE, 'Is it dark?', '--timeout', '120', '-c', workerConfig], { timeoutMs: 150_000 });
  // On failure, what the edge last did (its log's messages) says where the ask stopped.
  const edgeDid = edge.lines.slice(-12).map((l) => l.msg);
  assert.equal(result.code, 0, `${result.stderr}\nthe edge's last log lines: ${edgeDid.join(' | ')}`);
  assert.ok(result.stdout.trim().length > 0, 'an answer was printed');
  assert.match(result.stderr, new RegExp(`^${DEVICE} answered request \\S+ in \\d+\\.\\d s`));
});

it('"Preview" shows what the camera sees', async () => {
  await page.click('#preview-button');
  await page.waitForFunction(
    () => {
      const img = document.querySelector('#preview-img');
      return img !== null && !img.hidden && img.complete && (img.naturalWidth ?? 0) > 0;
    },
    { timeout: 60_000 },
  );
  const size = await page.$eval('#preview-img', (img) => [(img as unknown as PageElement).naturalWidth ?? 0, (img as unknown as PageElement).naturalHeight ?? 0]);
  assert.ok(Math.max(size[0]!, size[1]!) <= 320, `thumbnail ${size.join('x')}`);
  // The desktop screenshot: the device page with its answers, history plots and preview (before the forged answer below).
  await page.waitForFunction(() => document.querySelectorAll('svg.plot polyline').length === 2, { timeout: 30_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(mkdirOf(DOCS), 'console-desktop.png'), fullPage: true });
});

it('a hostile answer is shown as text and never runs', async () => {
  const client = await mqtt.connectAsync(brokerUrl, { clientId: 'browser-test-forger' });
  const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
  const answer = encodeAnswer({
    v: 1,
    frameId: '01900000-0000-7000-8000-00000000beef',
    device: DEVICE,
    modelId: null,
    prompt: '<b>bold</b>',
    text: hostile,
    timings: { totalMs: 1 },
    answeredAt: new Date().toISOString(),
  });
  await client.publishAsync(new TopicMap().answer(DEVICE), answer, { qos: 1 });
  await client.endAsync();
  await page.waitForFunction((h) => [...document.querySelectorAll('#live li .text')].some((el) => el.textContent === h), { timeout: 30_000 }, hostile);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval('#live img, #live script, #live b', (els) => els.length), 0);
});

it('"Pause" changes the device status; the page is usable at 390 px; screenshots saved', async () => {
  await page.click('#pause-button');
  await page.waitForFunction(() => document.querySelector('#status [data-field="state"]')?.textContent === 'online, paused', { timeout: 60_000 });
  assert.equal(await text('#pause-button'), 'Resume');
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  await page.goto(consoleUrl, { waitUntil: 'load' });
  await page.waitForSelector(`tr[data-device="${DEVICE}"]`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px too wide)`);
  await page.screenshot({ path: join(DOCS, 'console-phone.png'), fullPage: true });
  await page.goto(`${consoleUrl}#/device/${DEVICE}`, { waitUntil: 'load' });
  await page.waitForSelector('#ask-prompt');
  const deviceOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(deviceOverflow <= 0, `device page: no sideways scrolling at 390 px (${deviceOverflow} px too wide)`);
  await page.screenshot({ path: join(DOCS, 'console-phone-device.png') });
});

function mkdirOf(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
