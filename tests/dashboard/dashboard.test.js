'use strict';
// `dapr-rs dashboard` as a person sees it: two apps under `dapr-rs run` on the embedded broker,
// known traffic and one dead-lettered event, the page loaded in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) until it shows all of it, and a screenshot checked.
// UPDATE_SCREENSHOT=1 also writes the screenshot to docs/dashboard.png for the README.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { ROOT, freePort, sidecarBinary, sleep, waitFor } = require('../sidecar_harness');

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const VIEWPORT = { width: 1400, height: 1000 };
const PUBSUB = 'orderpubsub';
/** Events published to `orders` that the subscriber takes, and one it answers DROP. */
const EVENTS = 30;
/** How long the page may take to show all of it. */
const PAGE_DEADLINE_MS = 30_000;

/** A process of the test's, in its own process group, its output kept and shown when it fails. */
class Proc {
  constructor(name, args, env) {
    this.name = name;
    this.output = [];
    this.proc = spawn(sidecarBinary(), args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (c) => this.output.push(c.toString()));
    this.proc.stderr.on('data', (c) => this.output.push(c.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve(code ?? signal)));
  }

  get log() {
    return this.output.join('');
  }

  running() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM to its group, SIGKILL after `graceMs`; resolves once it is reaped. */
  async stop(graceMs = 20_000) {
    if (this.running()) {
      try { process.kill(-this.proc.pid, 'SIGTERM'); } catch { /* already gone */ }
      const killer = setTimeout(() => { try { process.kill(-this.proc.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
      await this.exited;
      clearTimeout(killer);
    }
    return this.exited;
  }
}

/** A fresh home (the launcher's registry lives there), the embedded broker's component, a run file. */
function workspace() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dapr-rs-dashboard-'));
  const home = path.join(dir, 'home');
  const components = path.join(dir, 'components');
  fs.mkdirSync(home);
  fs.mkdirSync(components);
  fs.writeFileSync(path.join(components, 'pubsub.yaml'), [
    'apiVersion: dapr.io/v1alpha1', 'kind: Component', `metadata:\n  name: ${PUBSUB}`, 'spec:', '  type: pubsub.sqlite', '  version: v1',
    '  metadata:', '  - name: path', `    value: "${path.join(dir, 'pubsub.db')}"`, ''].join('\n'));
  const env = { ...process.env, HOME: home };
  delete env.DAPR_API_TOKEN;
  delete env.APP_API_TOKEN;
  return { dir, home, components, env };
}

async function runFile(ws) {
  // The apps run from the workspace: `dapr-rs run` writes their logs under <appDirPath>/.dapr/.
  fs.copyFileSync(path.join(__dirname, 'app.js'), path.join(ws.dir, 'app.js'));
  const app = (id, port, subscriptions, extraEnv = {}) => [
    `  - appID: ${id}`, `    appDirPath: ${ws.dir}`, `    appPort: ${port}`, '    command: ["node", "app.js"]', '    env:',
    `      SUBSCRIPTIONS: '${JSON.stringify(subscriptions)}'`, ...Object.entries(extraEnv).map(([k, v]) => `      ${k}: "${v}"`)];
  const lines = ['version: 1', 'common:', `  resourcesPath: ${ws.components}`, '  appProtocol: http', 'apps:',
    ...app('dash-checkout', await freePort(), [{ pubsubname: PUBSUB, topic: 'orders-dead', route: '/dead' }]),
    ...app('dash-orders', await freePort(), [{ pubsubname: PUBSUB, topic: 'orders', route: '/orders', deadLetterTopic: 'orders-dead' }], { DROP_POISON: '1' })];
  const file = path.join(ws.dir, 'dapr.yaml');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** The apps `dapr-rs list` shows, by id. */
function listed(env) {
  const out = execFileSync(sidecarBinary(), ['list', '-o', 'json'], { env, timeout: 10_000 }).toString();
  return Object.fromEntries(JSON.parse(out).map((r) => [r.appId, r]));
}

async function healthy(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v1.0/healthz`, { signal: AbortSignal.timeout(2000) });
    return res.status === 204;
  } catch {
    return false;
  }
}

async function publish(port, event) {
  const res = await fetch(`http://127.0.0.1:${port}/v1.0/publish/${PUBSUB}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', source: 'dashboard-test', type: 'order', datacontenttype: 'application/json', ...event }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 204, `publishing ${event.id}: ${await res.text()}`);
}

/** Waits until the dashboard process prints where it listens. */
async function dashboardUrl(dashboard) {
  return waitFor('the dashboard to print its address', () => {
    if (!dashboard.running()) throw new Error(`the dashboard exited:\n${dashboard.log}`);
    return /dapr-rs dashboard: (http:\/\/\S+)/.exec(dashboard.log)?.[1];
  }, 20_000);
}

/** What the page shows, read from its DOM. */
function readPage(poisonId) {
  const text = (root, selector) => root?.querySelector(selector)?.textContent.trim() ?? null;
  const card = (id) => document.querySelector(`section.app[data-app-id="${id}"]`);
  const checkout = card('dash-checkout');
  const orders = card('dash-orders');
  const subscription = (c, topic) => c?.querySelector(`tr[data-subscription="${topic}"]`) ?? null;
  const traffic = (c, topic) => c?.querySelector(`tr[data-traffic="${topic}"]`) ?? null;
  const number = (row, field) => (row ? Number(text(row, `[data-field="${field}"]`).replace(/[^0-9.]/g, '')) : null);
  const ordersTraffic = traffic(orders, 'orders');
  const checkoutTraffic = traffic(checkout, 'orders');
  return {
    status: text(document, '#status'),
    apps: [...document.querySelectorAll('section.app')].map((s) => s.dataset.appId),
    ordersSubscription: subscription(orders, 'orders') && {
      topic: text(subscription(orders, 'orders'), '[data-field="topic"]'),
      deadLetterTopic: text(subscription(orders, 'orders'), '[data-field="deadLetterTopic"]'),
    },
    checkoutSubscribesDeadLetters: Boolean(subscription(checkout, 'orders-dead')),
    delivered: number(ordersTraffic, 'delivered'),
    deliveredPerSec: number(ordersTraffic, 'deliveredPerSec'),
    dropped: number(ordersTraffic, 'dropped'),
    p99: text(ordersTraffic, '[data-field="p99"]'),
    published: number(checkoutTraffic, 'published'),
    deadLettered: Boolean(orders?.querySelector(`tr[data-event-id="${poisonId}"]`)),
    metricsNotes: [...document.querySelectorAll('[data-metrics]')].map((n) => n.textContent),
  };
}

/** The PNG's size from its header, and from Chromium's own decoding how many colours it has. */
async function inspectPng(context, file) {
  const png = fs.readFileSync(file);
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG signature');
  assert.equal(png.subarray(12, 16).toString(), 'IHDR');
  const header = { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
  const page = await context.newPage();
  try {
    const decoded = await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = new Map();
      for (let i = 0; i < data.length; i += 4) {
        const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        colours.set(key, (colours.get(key) ?? 0) + 1);
      }
      const commonest = Math.max(...colours.values());
      return { width: canvas.width, height: canvas.height, colours: colours.size, otherThanCommonest: 1 - commonest / (data.length / 4) };
    }, png.toString('base64'));
    return { header, decoded };
  } finally {
    await page.close();
  }
}

test('the dashboard shows the apps, their subscriptions, traffic and dead letters in Chromium', async (t) => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/install-deps.sh installs Debian's chromium`);
  const ws = workspace();
  const cleanup = [() => fs.rmSync(ws.dir, { recursive: true, force: true })];
  t.after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  const run = new Proc('dapr-rs run', ['run', '-f', await runFile(ws)], ws.env);
  cleanup.push(async () => {
    // The apps too, should the launcher have died without stopping them.
    const apps = Object.values(run.apps ?? {}).map((r) => r.appPid).filter(Boolean);
    await run.stop();
    for (const pid of apps) { try { process.kill(-pid, 'SIGKILL'); } catch { /* stopped by the launcher */ } }
  });
  const apps = await waitFor('both apps in `dapr-rs list`', () => {
    if (!run.running()) throw new Error(`dapr-rs run exited:\n${run.log}`);
    const apps = listed(ws.env);
    return apps['dash-checkout']?.appPid && apps['dash-orders']?.appPid && apps;
  }, 60_000);
  run.apps = apps;
  const checkout = apps['dash-checkout'];
  const orders = apps['dash-orders'];
  assert.ok(checkout.metricsPort && orders.metricsPort, `the registry records the metrics ports: ${JSON.stringify(apps)}`);
  for (const app of [checkout, orders]) await waitFor(`${app.appId}'s subscriptions`, () => healthy(app.httpPort), 30_000);

  const dashboard = new Proc('dapr-rs dashboard', ['dashboard', '--port', '0'], ws.env);
  cleanup.push(() => dashboard.stop());
  const url = await dashboardUrl(dashboard);

  const context = await chromium.launchPersistentContext(path.join(ws.dir, 'chromium-profile'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: VIEWPORT, deviceScaleFactor: 1, timeout: 60_000,
  });
  cleanup.push(() => context.close());
  const page = await context.newPage();
  const pageErrors = [];
  const elsewhere = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => { if (!r.url().startsWith(url)) elsewhere.push(r.url()); });
  await page.goto(url, { timeout: 30_000 });

  // Known traffic while the page watches: EVENTS events, paced, then one the subscriber drops.
  const poisonId = `poison-${crypto.randomUUID()}`;
  for (let i = 1; i <= EVENTS; i++) {
    await publish(checkout.httpPort, { id: `order-${i}`, data: { n: i } });
    await sleep(100);
  }
  await publish(checkout.httpPort, { id: poisonId, data: { n: 0 } });

  let seen;
  let rateSeen = 0;
  const deadline = Date.now() + PAGE_DEADLINE_MS;
  for (;;) {
    seen = await page.evaluate(readPage, poisonId);
    rateSeen = Math.max(rateSeen, seen.deliveredPerSec || 0);
    const done = seen.apps.includes('dash-checkout') && seen.apps.includes('dash-orders') && seen.ordersSubscription &&
      seen.checkoutSubscribesDeadLetters && seen.delivered === EVENTS && seen.published === EVENTS + 1 && seen.dropped === 1 &&
      rateSeen > 0 && seen.deadLettered;
    if (done) break;
    if (Date.now() > deadline) {
      assert.fail(`the page did not show the apps, their traffic and the dead letter within ${PAGE_DEADLINE_MS} ms; last seen:\n${JSON.stringify(seen, null, 2)}\n` +
        `dashboard:\n${dashboard.log}\nrun:\n${run.log.slice(-4000)}`);
    }
    await sleep(250);
  }
  assert.deepEqual(seen.ordersSubscription, { topic: 'orders', deadLetterTopic: 'orders-dead' });
  assert.match(seen.p99, /ms$/, 'a delivery latency from the histogram');
  assert.deepEqual(seen.metricsNotes, [], 'both sidecars serve metrics');
  assert.deepEqual(pageErrors, [], 'no script errors');
  assert.deepEqual(elsewhere, [], 'the page loads nothing from anywhere else');

  const shot = path.join(ws.dir, 'dashboard.png');
  await page.screenshot({ path: shot });
  const { header, decoded } = await inspectPng(context, shot);
  assert.deepEqual(header, VIEWPORT, 'the PNG is the viewport');
  assert.equal(decoded.width, VIEWPORT.width);
  assert.equal(decoded.height, VIEWPORT.height);
  assert.ok(decoded.colours > 50, `not blank: ${decoded.colours} colours`);
  assert.ok(decoded.otherThanCommonest > 0.2, `not blank: ${(decoded.otherThanCommonest * 100).toFixed(1)}% of it is not the background`);
  console.log(`screenshot: ${shot} (${decoded.colours} colours); the page showed ${JSON.stringify(seen)}`);
  if (process.env.UPDATE_SCREENSHOT === '1') fs.copyFileSync(shot, path.join(ROOT, 'docs', 'dashboard.png'));
});

test('`dapr-rs run --dashboard` serves the page beside the apps', async (t) => {
  const ws = workspace();
  const port = await freePort();
  const run = new Proc('dapr-rs run', ['run', '--app-id', 'dash-alone', '--resources-path', ws.components, `--dashboard=${port}`], ws.env);
  t.after(async () => {
    await run.stop();
    fs.rmSync(ws.dir, { recursive: true, force: true });
  });
  const snapshot = await waitFor('the dashboard beside the run to list its app', async () => {
    if (!run.running()) throw new Error(`dapr-rs run exited:\n${run.log}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/snapshot`, { signal: AbortSignal.timeout(2000) });
      const body = await res.json();
      return body.apps?.some((a) => a.appId === 'dash-alone' && a.components.some((c) => c.name === PUBSUB)) && body;
    } catch {
      return false;
    }
  }, 30_000);
  assert.equal(snapshot.apps.find((a) => a.appId === 'dash-alone').metrics.status, 'ok');
  const page = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /dapr-rs dashboard/);
  assert.equal(await run.stop(), 0);
});
