'use strict';
// dapr-rs dashboard: asks the dashboard server for its latest snapshot every second and draws one
// card per sidecar. Everything shown comes from the snapshot; values are set as text, never HTML.

const POLL_MS = 1000;
/** A snapshot older than this means the server stopped polling. */
const STALE_MS = 5000;
/** Dead letters shown per app (the sidecar keeps 50). */
const DEAD_LETTERS_SHOWN = 10;

/** An element with attributes and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function table(headers, rows) {
  const head = el('tr', {}, headers.map(([label, cls]) => el('th', { class: cls }, label)));
  return el('table', {}, el('thead', {}, head), el('tbody', {}, rows));
}

function duration(secs) {
  if (secs === null || secs === undefined) return '—';
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

const count = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
const rate = (r) => (r === null || r === undefined ? '—' : `${r.toFixed(r >= 100 ? 0 : 1)}/s`);
const ms = (v) => (v === null || v === undefined ? '—' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`);
const clock = (unixMs) => new Date(unixMs).toLocaleTimeString('en-GB', { hour12: false });

function fact(label, value) {
  return value === null || value === undefined || value === '' ? null : el('span', {}, `${label} `, el('b', {}, value));
}

function components(app) {
  if (!app.components.length) return el('p', { class: 'note' }, 'No components.');
  return table(
    [['Name'], ['Type'], ['Version']],
    app.components.map((c) => el('tr', { 'data-component': c.name }, el('td', {}, c.name), el('td', {}, el('code', {}, c.type)), el('td', {}, c.version || '—'))),
  );
}

function subscriptions(app) {
  if (!app.subscriptions.length) return el('p', { class: 'note' }, 'No subscriptions.');
  const routes = (s) => (s.rules.length ? s.rules.map((r) => el('div', {}, r.match ? el('code', {}, `${r.match} → `) : null, el('code', {}, r.path || '/'))) : '—');
  return table(
    [['Pubsub'], ['Topic'], ['Routes'], ['Dead-letter topic'], ['Kind']],
    app.subscriptions.map((s) =>
      el(
        'tr',
        { 'data-subscription': s.topic },
        el('td', {}, s.pubsubName),
        el('td', { 'data-field': 'topic' }, el('b', {}, s.topic)),
        el('td', {}, routes(s)),
        el('td', { 'data-field': 'deadLetterTopic' }, s.deadLetterTopic || '—'),
        el('td', {}, (s.type || '').toLowerCase()),
      ),
    ),
  );
}

function traffic(app, windowSecs) {
  const m = app.metrics;
  if (m.status !== 'ok') return el('p', { class: `note ${m.status === 'error' ? 'bad' : 'warn'}`, 'data-metrics': m.status }, m.message);
  if (!m.topics.length) return el('p', { class: 'note', 'data-metrics': 'ok' }, 'No messages yet.');
  const latency = (t, key) => {
    if (!t.latency) return '—';
    const when = t.latency.recent ? `the last ${windowSecs} s` : 'since the sidecar started';
    return el('span', { title: `${t.latency.calls} calls to the app, ${when}` }, ms(t.latency[key]));
  };
  return table(
    [['Topic'], ['Published', 'num'], ['rate', 'num'], ['Delivered', 'num'], ['rate', 'num'], ['Retried', 'num'], ['Dropped', 'num'], ['p50', 'num'], ['p99', 'num']],
    m.topics.map((t) =>
      el(
        'tr',
        { 'data-traffic': t.topic },
        el('td', { class: 'nowrap' }, el('b', {}, t.topic), el('div', { class: 'note' }, t.pubsubName)),
        el('td', { class: 'num', 'data-field': 'published' }, count(t.published)),
        el('td', { class: 'num rate', 'data-field': 'publishedPerSec' }, rate(t.publishedPerSec)),
        el('td', { class: 'num', 'data-field': 'delivered' }, count(t.delivered)),
        el('td', { class: 'num rate', 'data-field': 'deliveredPerSec' }, rate(t.deliveredPerSec)),
        el('td', { class: 'num', 'data-field': 'retried' }, count(t.retried)),
        el('td', { class: 'num', 'data-field': 'dropped' }, count(t.dropped)),
        el('td', { class: 'num', 'data-field': 'p50' }, latency(t, 'p50Ms')),
        el('td', { class: 'num', 'data-field': 'p99' }, latency(t, 'p99Ms')),
      ),
    ),
  );
}

function deadLetters(app) {
  const d = app.deadLetters;
  if (!d.available) return el('p', { class: 'note warn' }, d.message);
  if (!d.events.length) return el('p', { class: 'note' }, 'None.');
  const shown = d.events.slice(0, DEAD_LETTERS_SHOWN);
  const rows = shown.map((e) =>
    el(
      'tr',
      { class: 'dead', 'data-event-id': e.eventId },
      el('td', { class: 'nowrap' }, clock(e.timeUnixMs)),
      el('td', {}, `${e.pubsubName} / ${e.topic} → ${e.deadLetterTopic}`),
      el('td', { class: 'id' }, el('code', {}, e.eventId || '(not a CloudEvent)')),
      el('td', {}, e.reason),
    ),
  );
  const more = d.events.length > shown.length ? el('p', { class: 'note' }, `and ${d.events.length - shown.length} older`) : null;
  return [table([['Time'], ['From → dead-letter topic'], ['Event id'], ['Reason']], rows), more];
}

function card(app, windowSecs) {
  const down = Boolean(app.error);
  return el(
    'section',
    { class: 'app', 'data-app-id': app.appId || app.apiUrl },
    el(
      'div',
      { class: 'app-head' },
      el('span', { class: down ? 'dot down' : 'dot', title: down ? 'unreachable' : 'answering' }),
      el('h2', {}, app.appId || app.apiUrl),
      el('span', { class: 'badge' }, app.source),
    ),
    el(
      'div',
      { class: 'facts' },
      fact('uptime', duration(app.uptimeSecs)),
      fact('pid', app.pid),
      fact('app pid', app.appPid),
      fact('HTTP', app.httpPort),
      fact('gRPC', app.grpcPort),
      fact('app port', app.appPort),
      fact('metrics', app.metricsPort),
    ),
    app.command ? el('p', { class: 'command' }, `$ ${app.command}`) : null,
    down ? el('p', { class: 'alert' }, app.error) : null,
    el('h3', {}, 'Components'),
    components(app),
    el('h3', {}, 'Subscriptions'),
    subscriptions(app),
    el('h3', {}, 'Traffic'),
    traffic(app, windowSecs),
    el('h3', {}, 'Last dead-lettered messages'),
    deadLetters(app),
  );
}

function setStatus(text, cls = '') {
  const status = document.getElementById('status');
  status.textContent = text;
  status.className = `status ${cls}`;
}

function render(snapshot) {
  const main = document.getElementById('apps');
  if (!snapshot.generatedAtUnixMs) {
    setStatus('gathering…');
    return;
  }
  const apps = snapshot.apps;
  main.replaceChildren(
    ...(apps.length
      ? apps.map((a) => card(a, snapshot.rateWindowSecs))
      : [el('p', { class: 'empty' }, 'No apps. Start some with `dapr-rs run`, or name a sidecar with `dapr-rs dashboard --sidecar URL`.')]),
  );
  const stale = Date.now() - snapshot.generatedAtUnixMs > STALE_MS;
  const n = `${apps.length} app${apps.length === 1 ? '' : 's'}`;
  setStatus(`${n} · updated ${clock(snapshot.generatedAtUnixMs)}${stale ? ' (stale)' : ''}`, stale ? 'error' : '');
}

async function refresh() {
  try {
    const res = await fetch('/api/snapshot', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render(await res.json());
  } catch (e) {
    setStatus(`cannot reach the dashboard server: ${e.message}`, 'error');
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

refresh();
