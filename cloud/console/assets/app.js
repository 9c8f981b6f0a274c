// The SplitOculo console page. Plain DOM, no library: every string that came
// from a device (ids, prompts, answers, status fields) reaches the page only
// through text nodes and attribute setters, never as HTML, because the
// answer text is attacker-controlled (a camera can be pointed at anything).
'use strict';

const devices = new Map();
const histories = new Map();
const asks = new Map(); // request id -> { device, prompt, sentAt, li }
let route = { view: 'list' };
let connected = false;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'text') el.textContent = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  return el;
}

const svg = (tag, attrs) => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  return el;
};

const deviceUrl = (id, rest = '') => `/api/devices/${encodeURIComponent(id)}${rest}`;
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v) => (typeof v === 'string' ? v : null);
const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : null);

function fmtBytes(b) {
  if (num(b) === null) return '–';
  return b < 1024 ? `${b} B` : b < 1048576 ? `${(b / 1024).toFixed(1)} KB` : `${(b / 1048576).toFixed(1)} MB`;
}
function fmtMs(ms) {
  if (num(ms) === null) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
function fmtAge(epochMs) {
  if (num(epochMs) === null) return '–';
  const s = Math.max(0, Math.round((Date.now() - epochMs) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
const time = (epochMs) => new Date(epochMs).toLocaleTimeString();

/** What the list and the device page show, read defensively from a status document of any version. */
function facts(d) {
  const s = obj(d.status) || {};
  const link = obj(s.link) || {};
  const queue = obj(s.queue);
  const codecs = obj(s.codecs) || (Object.keys(d.codecsSeen || {}).length ? d.codecsSeen : null);
  const lastFrame = str(s.lastFrameAt) ? Date.parse(s.lastFrameAt) : num(d.lastFrameAt);
  const model = str(s.model) || str(s.modelId);
  return {
    state: d.state,
    paused: s.paused === true,
    model: model ? (model.length > 16 ? `${model.slice(0, 12)}…` : model) : '–',
    codecs: codecs ? Object.entries(codecs).filter(([, n]) => num(n) !== null).map(([c, n]) => `${c} ${n}`).join(', ') || '–' : str(s.codec) || '–',
    link: num(link.rttMs) !== null || num(link.bytesPerSecond) !== null || num(link.rate) !== null
      ? `${fmtMs(num(link.rttMs))} rtt, ${fmtBytes(num(link.bytesPerSecond) ?? num(link.rate))}/s` : '–',
    queue: queue ? (num(queue.frames) ?? num(queue.depth) ?? '–') : num(s.queue) ?? '–',
    lastFrame,
    version: str(s.version) || '–',
    prompt: s.prompt === null ? '(worker default)' : str(s.prompt) || '–',
    intervalMs: num(s.intervalMs),
    pendingAsk: obj(s.pendingAsk),
    lastAsk: obj(s.lastAsk),
    lastCommand: obj(s.lastCommand),
  };
}

function statePill(d) {
  const f = facts(d);
  const label = f.state === 'online' ? (f.paused ? 'online, paused' : 'online') : f.state;
  return h('span', { class: `pill ${f.state}${f.paused ? ' paused' : ''}`, 'data-field': 'state', text: label });
}

function ageCell(epochMs) {
  return h('span', { 'data-age': epochMs ?? '', text: fmtAge(epochMs) });
}

// ---------------------------------------------------------------- list view
function renderList() {
  const main = document.getElementById('main');
  const rows = [...devices.values()].sort((a, b) => a.id.localeCompare(b.id));
  const cols = ['Device', 'State', 'Model', 'Codecs', 'Link', 'Queue', 'Last frame', 'Version'];
  const body = rows.map((d) => {
    const f = facts(d);
    const cells = [h('a', { href: `#/device/${encodeURIComponent(d.id)}`, text: d.id }), statePill(d), f.model, f.codecs, f.link, String(f.queue), ageCell(f.lastFrame), f.version];
    return h('tr', { 'data-device': d.id }, cells.map((c, i) => h('td', { 'data-label': cols[i], class: i >= 4 ? 'num' : null }, c)));
  });
  main.replaceChildren(
    h('section', { class: 'card', 'aria-labelledby': 'devices-h' },
      h('h2', { id: 'devices-h', text: `Devices (${rows.length})` }),
      rows.length === 0
        ? h('p', { text: 'No device has published a status yet.' })
        : h('table', { class: 'devices' }, h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: c })))), h('tbody', {}, body))),
  );
}

// -------------------------------------------------------------- device view
function notice(text, isError) {
  const el = document.getElementById('notice');
  if (el) {
    el.textContent = text;
    el.className = isError ? 'error' : 'meta';
  }
}

async function send(id, command) {
  try {
    const res = await fetch(deviceUrl(id, '/command'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(command) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    notice(`${command.command} sent${body.id ? ` (request ${body.id})` : ''}`, false);
    return body;
  } catch (error) {
    notice(`${command.command} failed: ${error.message}`, true);
    return null;
  }
}

function answerItem(row, extra) {
  const said = row.text !== null ? h('div', { class: 'text', text: row.text }) : h('div', { class: 'text error', text: `error ${row.error}` });
  const meta = [time(row.at), row.prompt === null ? 'default prompt' : `“${row.prompt}”`, `latency ${fmtMs(row.latencyMs)}`, fmtBytes(row.bytes), row.codec || '', row.requestId ? `request ${row.requestId}` : '', extra || '']
    .filter(Boolean).join(' · ');
  return h('li', { 'data-request': row.requestId || null }, said, h('div', { class: 'meta', text: meta }));
}

function plot(title, rows, pick, format) {
  const points = rows.map((r) => [r.at, pick(r)]).filter(([, v]) => num(v) !== null);
  const box = svg('svg', { class: 'plot', viewBox: '0 0 300 140', preserveAspectRatio: 'none', role: 'img' });
  if (points.length === 0) {
    box.setAttribute('aria-label', `${title}: no data yet`);
    return h('div', { class: 'plot-box' }, h('span', { class: 'meta', text: 'no data yet' }), box);
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1, y1] = [Math.min(...xs), Math.max(...xs), Math.max(...ys, 1)];
  const x = (v) => 30 + ((v - x0) / Math.max(1, x1 - x0)) * 265;
  const y = (v) => 130 - (v / y1) * 115;
  box.setAttribute('aria-label', `${title}: ${points.length} answers, newest ${format(ys[ys.length - 1])}, highest ${format(y1)}`);
  box.append(svg('line', { x1: 30, y1: 15, x2: 295, y2: 15, class: 'top' }), svg('polyline', { points: points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ') }));
  // Scale as text beside the plot: SVG text would be stretched with it.
  return h('div', { class: 'plot-box' }, h('span', { class: 'meta', text: `top line ${format(y1)}, bottom 0 · ${points.length} answers` }), box);
}

function renderHistory(id) {
  const host = document.getElementById('history');
  if (!host) return;
  const rows = histories.get(id) || [];
  const recent = [...rows].reverse().slice(0, 50);
  host.replaceChildren(
    h('div', { class: 'grid' },
      h('figure', { class: 'card' }, h('figcaption', { text: 'Latency, capture to answer' }), plot('latency', rows, (r) => r.latencyMs, fmtMs)),
      h('figure', { class: 'card' }, h('figcaption', { text: 'Bytes on the wire per frame' }), plot('bytes', rows, (r) => r.bytes, fmtBytes))),
    h('table', { class: 'history-table' },
      h('caption', { class: 'meta', text: `${rows.length} answers kept (newest first, up to 50 shown)` }),
      h('thead', {}, h('tr', {}, ['Time', 'Prompt', 'Answer', 'Latency', 'Bytes', 'Codec'].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, recent.map((r) => h('tr', {},
        h('td', { text: time(r.at) }), h('td', { text: r.prompt === null ? '(default)' : r.prompt }),
        h('td', { class: r.text === null ? 'error' : 'text', text: r.text === null ? r.error : r.text }),
        h('td', { class: 'num', text: fmtMs(r.latencyMs) }), h('td', { class: 'num', text: fmtBytes(r.bytes) }), h('td', { text: r.codec || '–' }))))),
  );
}

function renderStatus(d) {
  const host = document.getElementById('status');
  if (!host) return;
  const f = facts(d);
  const pairs = [['State', statePill(d)], ['Model', f.model], ['Codecs', f.codecs], ['Link', f.link], ['Queue', String(f.queue)], ['Last frame', ageCell(f.lastFrame)],
    ['Version', f.version], ['Prompt', f.prompt], ['Interval', f.intervalMs === null ? '–' : fmtMs(f.intervalMs)]];
  if (f.pendingAsk) pairs.push(['Pending ask', `${str(f.pendingAsk.id) || ''} “${str(f.pendingAsk.prompt) || ''}”`]);
  if (f.lastCommand) pairs.push(['Last command', f.lastCommand.ok === false ? `refused: ${str(f.lastCommand.error) || str(f.lastCommand.reason) || ''}` : `${str(f.lastCommand.command) || ''} ok`]);
  if (d.statusProblem) pairs.push(['Schema', d.statusProblem]);
  host.replaceChildren(h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)])));
  const pause = document.getElementById('pause-button');
  if (pause) pause.textContent = f.paused ? 'Resume' : 'Pause';
  if (pause) pause.dataset.paused = String(f.paused);
  const prompt = document.getElementById('default-prompt');
  if (prompt) prompt.placeholder = `now: ${f.prompt}`;
  const interval = document.getElementById('interval');
  if (interval) interval.placeholder = f.intervalMs === null ? '' : `now: ${f.intervalMs / 1000}`;
  const la = f.lastAsk;
  const ended = la && la.outcome !== 'answered' ? asks.get(la.id) : undefined;
  if (ended && ended.device === d.id && !ended.done) {
    ended.done = true;
    ended.li.querySelector('.ask-answer').replaceChildren(h('span', { class: 'error', text: la.outcome === 'timed-out' ? 'no answer: the ask timed out at the device' : 'the ask failed at the device' }));
  }
  const lc = f.lastCommand;
  if (lc && lc.ok === false) for (const [rid, ask] of asks) {
    if (ask.device === d.id && !ask.done && (lc.id === rid || String(lc.error || lc.reason || '').includes(rid))) {
      ask.done = true;
      ask.li.querySelector('.ask-answer').replaceChildren(h('span', { class: 'error', text: `refused: ${lc.error || lc.reason}` }));
    }
  }
}

function renderDevice(id) {
  const main = document.getElementById('main');
  const d = devices.get(id) || { id, state: 'unknown', status: null, codecsSeen: {} };
  const field = (label, input) => h('label', {}, label, input);
  const askForm = h('form', { class: 'row', onsubmit: async (event) => {
    event.preventDefault();
    const input = document.getElementById('ask-prompt');
    const prompt = input.value.trim();
    if (!prompt) return input.focus();
    const sentAt = Date.now();
    const body = await send(id, { command: 'ask', prompt });
    if (!body) return;
    const li = h('li', { class: 'ask', 'data-request': body.id }, h('div', { class: 'meta', text: `request ${body.id} · “${prompt}” · ${time(sentAt)}` }), h('div', { class: 'ask-answer text', text: 'waiting for the answer…' }));
    asks.set(body.id, { device: id, prompt, sentAt, li });
    document.getElementById('asks').prepend(li);
  } }, field('Question for the newest frame', h('input', { id: 'ask-prompt', name: 'prompt', required: true, maxlength: 1024, placeholder: 'Is anyone at the door?' })), h('button', { id: 'ask-button', type: 'submit', text: 'Ask now' }));
  const promptForm = h('form', { class: 'row', onsubmit: (event) => {
    event.preventDefault();
    const value = document.getElementById('default-prompt').value.trim();
    void send(id, { command: 'set-prompt', prompt: value === '' ? null : value });
  } }, field('Default prompt (empty: the worker default)', h('input', { id: 'default-prompt', maxlength: 1024 })), h('button', { type: 'submit', class: 'secondary', text: 'Set prompt' }));
  const intervalForm = h('form', { class: 'row', onsubmit: (event) => {
    event.preventDefault();
    const seconds = Number(document.getElementById('interval').value);
    if (!Number.isFinite(seconds) || seconds < 0) return notice('interval: a number of seconds, 0 or more', true);
    void send(id, { command: 'set-interval', intervalMs: Math.round(seconds * 1000) });
  } }, field('Capture interval, seconds', h('input', { id: 'interval', type: 'number', min: 0, step: 'any', inputmode: 'decimal' })), h('button', { type: 'submit', class: 'secondary', text: 'Set interval' }));
  const pause = h('button', { id: 'pause-button', type: 'button', class: 'secondary', onclick: () => send(id, { command: pause.dataset.paused === 'true' ? 'resume' : 'pause' }), text: 'Pause' });
  const preview = h('button', { id: 'preview-button', type: 'button', class: 'secondary', onclick: () => send(id, { command: 'preview' }), text: 'Preview' });
  const img = h('img', { id: 'preview-img', alt: `what ${id} sees (requested preview)`, hidden: !d.previewAt, src: d.previewAt ? deviceUrl(id, `/preview.jpg?t=${d.previewAt}`) : null });
  main.replaceChildren(
    h('p', {}, h('a', { href: '#/', text: '← All devices' })),
    h('h2', { id: 'device-h', text: id }),
    h('p', { id: 'notice', role: 'status', 'aria-live': 'polite' }),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'ask-h' }, h('h3', { id: 'ask-h', text: 'Ask now' }), askForm, h('ol', { id: 'asks', class: 'answers', 'aria-live': 'polite' })),
      h('section', { class: 'card', 'aria-labelledby': 'status-h' }, h('h3', { id: 'status-h', text: 'Status' }), h('div', { id: 'status' })),
      h('section', { class: 'card', 'aria-labelledby': 'controls-h' }, h('h3', { id: 'controls-h', text: 'Controls' }), promptForm, intervalForm, h('div', { class: 'row' }, pause, ' ', preview)),
      h('section', { class: 'card preview', 'aria-labelledby': 'preview-h' }, h('h3', { id: 'preview-h', text: 'Preview' }), h('p', { class: 'meta', id: 'preview-meta', text: d.previewAt ? `${fmtBytes(d.previewBytes)} at ${time(d.previewAt)}` : 'Sent only when asked: press Preview.' }), img)),
    h('section', { class: 'card', 'aria-labelledby': 'live-h' }, h('h3', { id: 'live-h', text: 'Live answers' }), h('ol', { id: 'live', class: 'answers', 'aria-live': 'polite', 'aria-relevant': 'additions' })),
    h('section', { class: 'card', 'aria-labelledby': 'history-h' }, h('h3', { id: 'history-h', text: 'History' }), h('div', { id: 'history' })),
  );
  renderStatus(d);
  renderHistory(id);
  fetch(deviceUrl(id, '/history?limit=500')).then((r) => r.json()).then((body) => {
    histories.set(id, body.history || []);
    if (route.view === 'device' && route.id === id) renderHistory(id);
  }, () => notice('history could not be loaded', true));
}

// ------------------------------------------------------------------ events
function onAnswer(row) {
  const list = histories.get(row.device) || [];
  list.push(row);
  if (list.length > 500) list.shift();
  histories.set(row.device, list);
  const d = devices.get(row.device);
  if (d) d.lastAnswer = row;
  if (route.view !== 'device' || route.id !== row.device) return;
  const live = document.getElementById('live');
  live.prepend(answerItem(row, row.askMs !== null && row.askMs !== undefined ? `asked ${fmtMs(row.askMs)} before` : ''));
  while (live.children.length > 50) live.lastChild.remove();
  const ask = row.requestId ? asks.get(row.requestId) : undefined;
  if (ask && !ask.done) {
    ask.done = true;
    const said = row.text !== null ? h('span', { text: row.text }) : h('span', { class: 'error', text: `error ${row.error}` });
    ask.li.querySelector('.ask-answer').replaceChildren(said, h('div', { class: 'meta', text: `answered ${fmtMs(row.at - ask.sentAt)} after the ask · ${fmtBytes(row.bytes)} ${row.codec || ''}` }));
  }
  renderHistory(row.device);
}

function onDevice(d) {
  devices.set(d.id, d);
  if (route.view === 'list') renderList();
  else if (route.id === d.id) renderStatus(d);
}

function onPreview(p) {
  const d = devices.get(p.device);
  if (d) Object.assign(d, { previewAt: p.at, previewBytes: p.bytes });
  if (route.view !== 'device' || route.id !== p.device) return;
  const img = document.getElementById('preview-img');
  img.src = deviceUrl(p.device, `/preview.jpg?t=${p.at}`);
  img.hidden = false;
  document.getElementById('preview-meta').textContent = `${fmtBytes(p.bytes)} at ${time(p.at)}`;
}

function setLink(up) {
  connected = up;
  const el = document.getElementById('link');
  el.textContent = up ? 'live' : 'reconnecting…';
  el.className = `pill ${up ? 'online' : 'offline'}`;
}

function connect() {
  const source = new EventSource('/api/events');
  const parse = (handler) => (event) => handler(JSON.parse(event.data));
  source.addEventListener('hello', parse((hello) => {
    devices.clear();
    for (const d of hello.devices) devices.set(d.id, d);
    setLink(true);
    navigate();
  }));
  source.addEventListener('device', parse(onDevice));
  source.addEventListener('answer', parse(onAnswer));
  source.addEventListener('preview', parse(onPreview));
  source.addEventListener('error', () => setLink(false));
}

function navigate() {
  const match = location.hash.match(/^#\/device\/(.+)$/);
  const next = match ? { view: 'device', id: decodeURIComponent(match[1]) } : { view: 'list' };
  const changed = next.view !== route.view || next.id !== route.id;
  route = next;
  if (route.view === 'list') renderList();
  else renderDevice(route.id);
  if (changed) document.getElementById('main').focus();
}

window.addEventListener('hashchange', navigate);
setInterval(() => {
  for (const el of document.querySelectorAll('[data-age]')) if (el.dataset.age) el.textContent = fmtAge(Number(el.dataset.age));
}, 1000);
connect();
