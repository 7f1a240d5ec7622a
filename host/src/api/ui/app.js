// The djinn console: asks over POST /v1/ask/stream and drives the operator
// routes. No framework and no build step; the server embeds this file as is.
//
// Everything the server or a plugin sent is inserted as text (el() below only
// ever makes text nodes and sets fixed attribute names), never as markup: an
// answer is plugin output and must not be able to run in the operator's page.
'use strict';

const TOKEN_KEY = 'djinn.token';
const $ = (id) => document.getElementById(id);

/** el('td', {class: 'num'}, 'text', childNode): attributes and text children only. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmtMs = (ms) => (typeof ms === 'number' ? ms.toFixed(ms < 10 ? 2 : 1) : '—');
const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

function showError(node, message) {
  node.textContent = message;
  node.hidden = false;
}

function clearError(node) {
  node.textContent = '';
  node.hidden = true;
}

// ---- token -----------------------------------------------------------------

function storage() {
  // localStorage throws in some privacy modes; the token then lasts the page.
  try {
    return window.localStorage;
  } catch (_) {
    return null;
  }
}

function loadToken() {
  const stored = storage() && storage().getItem(TOKEN_KEY);
  $('token').value = stored || '';
  showTokenState();
}

function saveToken() {
  const s = storage();
  const value = $('token').value.trim();
  if (s) {
    if (value) s.setItem(TOKEN_KEY, value);
    else s.removeItem(TOKEN_KEY);
  }
  showTokenState();
}

function showTokenState() {
  $('token-state').textContent = $('token').value.trim()
    ? 'sent as Authorization: Bearer'
    : 'none (fine for a server without tokens)';
}

function authHeaders(extra) {
  const headers = Object.assign({}, extra);
  const token = $('token').value.trim();
  if (token) headers['Authorization'] = 'Bearer ' + token;
  return headers;
}

/** The API's `{"error": {"code", "message"}}` as one line, or what the body was. */
async function errorOf(resp) {
  const text = await resp.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      return `${resp.status} ${body.error.code}: ${body.error.message}`;
    }
  } catch (_) {
    // not JSON: fall through to the raw text
  }
  return `${resp.status} ${resp.statusText}${text ? ': ' + text.slice(0, 500) : ''}`;
}

/** A JSON API call; throws an Error carrying the server's message. */
async function api(path, options) {
  const opts = Object.assign({}, options);
  opts.headers = authHeaders(opts.headers);
  const resp = await fetch(path, opts);
  if (!resp.ok) throw new Error(await errorOf(resp));
  return resp.status === 204 ? null : resp.json();
}

// ---- views -----------------------------------------------------------------

function showView() {
  const operator = location.hash === '#operator';
  $('view-ask').hidden = operator;
  $('view-operator').hidden = !operator;
  if (operator) {
    $('nav-operator').setAttribute('aria-current', 'page');
    $('nav-ask').removeAttribute('aria-current');
    loadOperator();
  } else {
    $('nav-ask').setAttribute('aria-current', 'page');
    $('nav-operator').removeAttribute('aria-current');
  }
}

// ---- ask -------------------------------------------------------------------

let statement = null; // {name, csv}
let running = null; // the AbortController of the question in flight
// Order in which things were shown, kept on each row and on the answer as
// data-seq, so a reader (and the UI test) can tell the calls streamed in
// before the answer rather than being drawn from it afterwards.
let seq = 0;
let verdictCounts = {};
let verdictPolicies = new Set();

function setStatement(name, csv) {
  statement = csv === null ? null : {name, csv};
  const lines = csv === null ? 0 : csv.split('\n').filter((l) => l.trim()).length;
  $('statement-state').textContent = statement
    ? `Statement: ${name} (${plural(csv.length, 'byte')}, ${plural(lines, 'line')}).`
    : 'No statement.';
}

async function useSample() {
  clearError($('ask-error'));
  try {
    const resp = await fetch('/ui/sample.csv');
    if (!resp.ok) throw new Error(await errorOf(resp));
    $('statement-file').value = '';
    setStatement('sample.csv', await resp.text());
  } catch (e) {
    showError($('ask-error'), 'Could not load the sample statement: ' + e.message);
  }
}

async function pickStatement() {
  const file = $('statement-file').files[0];
  if (!file) return;
  clearError($('ask-error'));
  try {
    setStatement(file.name, await file.text());
  } catch (e) {
    showError($('ask-error'), `Could not read ${file.name}: ${e.message}`);
  }
}

function setAskStatus(text) {
  $('ask-status').textContent = text;
}

function resetResults() {
  seq = 0;
  verdictCounts = {};
  verdictPolicies = new Set();
  clearError($('ask-error'));
  $('calls-body').replaceChildren();
  $('verdict-counts').textContent = 'None yet.';
  $('verdict-notable').replaceChildren();
  $('failed-list').replaceChildren(el('li', {class: 'muted'}, 'None.'));
  $('stages').replaceChildren(el('p', {class: 'muted'}, 'None yet.'));
  const answer = $('answer-section');
  answer.hidden = true;
  delete answer.dataset.seq;
  delete answer.dataset.status;
  $('answer-summary').replaceChildren();
  $('answer-text').textContent = '';
  $('report-json').textContent = '';
  $('result-json').textContent = '';
}

function setRunning(on) {
  $('ask-button').disabled = on;
  $('stop-button').disabled = !on;
  document.body.classList.toggle('running', on);
}

async function ask(ev) {
  ev.preventDefault();
  if (running) return;
  resetResults();
  const body = {question: $('question').value};
  if (statement) body.context = {statement: {csv: statement.csv}};
  const controller = new AbortController();
  running = controller;
  setRunning(true);
  setAskStatus('Asking…');
  try {
    const resp = await fetch('/v1/ask/stream', {
      method: 'POST',
      headers: authHeaders({'Content-Type': 'application/json', Accept: 'text/event-stream'}),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    // Input, auth and admission errors arrive before the stream, as JSON.
    if (!resp.ok) {
      setAskStatus('');
      showError($('ask-error'), await errorOf(resp));
      return;
    }
    let answered = false;
    await readEvents(resp.body, (name, data) => {
      if (name === 'answer') answered = true;
      onEvent(name, data);
    });
    if (!answered) showError($('ask-error'), 'The stream ended without an answer.');
  } catch (e) {
    if (e.name === 'AbortError') {
      setAskStatus('Stopped: the question was cancelled on the server.');
    } else {
      setAskStatus('');
      showError($('ask-error'), 'The request failed: ' + e.message);
    }
  } finally {
    running = null;
    setRunning(false);
  }
}

function stop() {
  if (running) running.abort();
}

/** Reads a text/event-stream body, calling onEvent(name, data) per event. */
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += decoder.decode(value, {stream: true});
    // Events end with a blank line; CRLF is legal SSE too. A lone trailing
    // '\r' may be half of a CRLF split across chunks, so it waits.
    buf = buf.replace(/\r\n|\r(?!$)/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      dispatch(buf.slice(0, end), onEvent);
      buf = buf.slice(end + 2);
    }
  }
  buf += decoder.decode();
  if (buf.trim()) dispatch(buf.replace(/\r\n?/g, '\n'), onEvent);
}

function dispatch(block, onEvent) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue; // keep-alive comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return;
  const text = data.join('\n');
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (_) {
    parsed = text;
  }
  onEvent(name, parsed);
}

function onEvent(name, data) {
  switch (name) {
    case 'started':
      setAskStatus(`Running ${data.correlation_id}…`);
      break;
    case 'message':
      addCall(data);
      break;
    case 'verdict':
      addVerdict(data);
      break;
    case 'branch':
      addFailedBranch(data);
      break;
    case 'stage':
      addStage(data);
      break;
    case 'answer':
      showAnswer(data);
      break;
    case 'error':
      showError($('ask-error'), 'The server could not send an event: ' + String(data));
      break;
    default:
      break; // an event this page does not know yet
  }
}

function addCall(c) {
  const ok = c.outcome === 'ok';
  const n = $('calls-body').rows.length + 1;
  const outs = Array.isArray(c.topics_out) && c.topics_out.length ? c.topics_out.join(', ') : '(nothing)';
  const outcome = ok
    ? el('td', {}, 'ok')
    : el('td', {}, el('strong', {}, c.outcome), c.fault ? el('br') : null, c.fault || null);
  $('calls-body').append(
    el(
      'tr',
      {'data-seq': ++seq, 'data-agent': c.agent, 'data-outcome': c.outcome, class: ok ? null : 'fault'},
      el('td', {class: 'num'}, n),
      el('th', {scope: 'row'}, c.agent),
      el('td', {}, `${c.topic_in} → ${outs}`),
      outcome,
      el('td', {class: 'num'}, fmtMs(c.started_ms)),
      el('td', {class: 'num'}, fmtMs(c.duration_ms)),
      el('td', {class: 'num'}, fmtInt(c.fuel)),
    ),
  );
}

function addVerdict(v) {
  verdictCounts[v.verdict] = (verdictCounts[v.verdict] || 0) + 1;
  verdictPolicies.add(v.policy);
  const total = Object.values(verdictCounts).reduce((a, b) => a + b, 0);
  const parts = ['allow', 'redact', 'deny']
    .concat(Object.keys(verdictCounts).filter((k) => !['allow', 'redact', 'deny'].includes(k)))
    .map((k) => `${k} ${verdictCounts[k] || 0}`);
  $('verdict-counts').textContent =
    `${total} verdicts from ${verdictPolicies.size} policies: ${parts.join(', ')}.`;
  if (v.verdict === 'allow') return;
  const where = `${v.stage} on ${v.topic}${v.recipient ? ' to ' + v.recipient : ''}`;
  $('verdict-notable').append(
    el(
      'li',
      {class: v.verdict === 'deny' ? 'deny' : 'redact', 'data-seq': ++seq},
      el('strong', {}, `${v.verdict} by ${v.policy}`),
      ` at ${where}: ${v.reason || 'no reason given'}`,
    ),
  );
}

function addFailedBranch(b) {
  const list = $('failed-list');
  if (list.querySelector('.muted')) list.replaceChildren();
  list.append(
    el('li', {class: 'fault', 'data-seq': ++seq}, el('strong', {}, b.agent), ` on ${b.topic}: ${b.reason}`),
  );
}

function addStage(s) {
  const box = $('stages');
  if (box.querySelector('p.muted')) box.replaceChildren();
  const branches = Array.isArray(s.branches) ? s.branches : [];
  const longest = Math.max(s.wall_ms || 0, ...branches.map((b) => b.duration_ms || 0)) || 1;
  const rows = branches.map((b) =>
    el(
      'tr',
      {class: b.outcome === 'ok' ? null : 'fault'},
      el('th', {scope: 'row'}, b.agent),
      el('td', {}, b.outcome),
      el('td', {class: 'num'}, fmtMs(b.duration_ms)),
      el(
        'td',
        {},
        el('meter', {min: 0, max: longest, value: b.duration_ms || 0, 'aria-label': `${b.agent} time`}),
      ),
    ),
  );
  box.append(
    el(
      'figure',
      {class: 'stage', 'data-seq': ++seq},
      el(
        'figcaption',
        {},
        `${s.origin_topic} → ${s.gather_topic}: ${branches.length} branches, wall ${fmtMs(s.wall_ms)} ms ` +
          `(the slowest branch, not the sum), from ${fmtMs(s.started_ms)} ms`,
      ),
      el(
        'table',
        {},
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th', {scope: 'col'}, 'Branch'),
            el('th', {scope: 'col'}, 'Outcome'),
            el('th', {scope: 'col'}, 'Duration (ms)'),
            el('th', {scope: 'col'}, 'Share of the stage'),
          ),
        ),
        el('tbody', {}, ...rows),
      ),
    ),
  );
}

function statusLine(r) {
  switch (r.status) {
    case 'answered':
      return 'Answered';
    case 'denied':
      return `Denied by policy ${r.policy} at ${r.stage}: ${r.reason}`;
    case 'deadline':
      return `No answer within the deadline (${r.timeout_ms} ms)`;
    case 'budget_exhausted':
      return `Stopped: the question used its message budget (${r.budget})`;
    case 'no_answer':
      return 'Every branch finished and none produced an answer';
    case 'cancelled':
      return 'Cancelled';
    default:
      return `Status ${r.status}`;
  }
}

function showAnswer(r) {
  const section = $('answer-section');
  section.dataset.seq = String(++seq);
  section.dataset.status = String(r.status);
  const calls = Array.isArray(r.calls) ? r.calls.length : 0;
  const summary = `${statusLine(r)} in ${fmtMs(r.elapsed_ms)} ms: ${calls} agent calls, ` +
    `${r.messages} messages, correlation ${r.correlation_id}.`;
  $('answer-summary').replaceChildren(
    r.status === 'answered' ? summary : el('strong', {class: 'error'}, summary),
  );
  const answer = r.answer;
  let text = '(no answer)';
  if (answer && typeof answer.text === 'string') text = answer.text;
  else if (answer !== null && answer !== undefined) text = JSON.stringify(answer, null, 2);
  $('answer-text').textContent = text;
  const hasReport = answer && typeof answer === 'object' && answer.report !== undefined;
  $('report-details').hidden = !hasReport;
  $('report-json').textContent = hasReport ? JSON.stringify(answer.report, null, 2) : '';
  $('result-json').textContent = JSON.stringify(r, null, 2);
  section.hidden = false;
  setAskStatus(statusLine(r) + '.');
  // What never came is now known not to come.
  for (const node of [$('verdict-counts'), $('stages').querySelector('p.muted')]) {
    if (node && node.textContent === 'None yet.') node.textContent = 'None.';
  }
}

// ---- operator --------------------------------------------------------------

let knownIds = null; // plugin ids from the last listing, to pick POST or PUT

function limitsText(l) {
  if (!l) return 'not loaded';
  const out = l.max_output_bytes >= 1 << 20
    ? `${l.max_output_bytes / (1 << 20)} MiB`
    : `${fmtInt(l.max_output_bytes)} B`;
  return `fuel ${fmtInt(l.fuel)}, ${l.memory_mib} MiB memory, ${l.timeout_ms} ms, ` +
    `${l.max_messages} messages, ${out} output`;
}

function setOperatorStatus(text) {
  $('operator-status').textContent = text;
}

async function loadOperator() {
  clearError($('operator-error'));
  setOperatorStatus('Loading…');
  try {
    const [plugins, faults] = await Promise.all([
      api('/v1/plugins'),
      api('/v1/audit?kind=plugin_fault&limit=20'),
    ]);
    renderPlugins(plugins);
    renderFaults(faults);
    setOperatorStatus(`${plural(plugins.length, 'plugin')}, ${plural(faults.length, 'recent fault')}.`);
  } catch (e) {
    setOperatorStatus('');
    showError($('operator-error'), e.message);
  }
}

function renderPlugins(plugins) {
  knownIds = new Set(plugins.map((p) => p.id));
  $('plugins-body').replaceChildren(
    ...plugins.map((p) => {
      const loaded = p.loaded || null;
      const enabled = p.state === 'enabled';
      const action = enabled ? 'disable' : 'enable';
      const button = el(
        'button',
        {type: 'button', 'aria-label': `${enabled ? 'Disable' : 'Enable'} ${p.id}`},
        enabled ? 'Disable' : 'Enable',
      );
      button.addEventListener('click', () => setState(p.id, action, button));
      const grants = loaded && Array.isArray(loaded.grants) ? loaded.grants : null;
      return el(
        'tr',
        {'data-plugin': p.id, 'data-state': p.state, class: enabled ? null : 'disabled'},
        el('th', {scope: 'row'}, p.id),
        el('td', {}, loaded ? loaded.kind : '—'),
        el('td', {}, p.version),
        el('td', {}, p.state),
        el('td', {}, el('code', {title: p.sha256}, String(p.sha256 || '').slice(0, 12))),
        el('td', {}, limitsText(loaded && loaded.limits)),
        el('td', {}, grants === null ? '—' : grants.length ? grants.join(', ') : 'none'),
        el('td', {}, button),
      );
    }),
  );
}

function renderFaults(faults) {
  const body = $('faults-body');
  if (!faults.length) {
    body.replaceChildren(el('tr', {}, el('td', {colspan: 5, class: 'muted'}, 'No plugin faults recorded.')));
    return;
  }
  body.replaceChildren(
    ...faults.map((f) => {
      const d = f.detail && typeof f.detail === 'object' ? f.detail : {};
      const kind = d.fault || (d.phase ? `${d.phase} failed` : f.kind);
      const message = d.message || d.reason || JSON.stringify(f.detail);
      return el(
        'tr',
        {},
        el('td', {class: 'time'}, f.time),
        el('th', {scope: 'row'}, f.plugin || '—'),
        el('td', {}, kind),
        el('td', {}, message),
        el('td', {}, f.correlation ? el('code', {}, f.correlation) : '—'),
      );
    }),
  );
}

async function setState(id, action, button) {
  clearError($('operator-error'));
  button.disabled = true;
  try {
    await api(`/v1/plugins/${encodeURIComponent(id)}/${action}`, {method: 'POST'});
    setOperatorStatus(`${id} ${action}d.`);
    await loadOperator();
  } catch (e) {
    button.disabled = false;
    showError($('operator-error'), `${action} ${id}: ${e.message}`);
  }
}

/** The top-level `id` of a djinn.toml (before any [table]), or null. */
function manifestId(toml) {
  for (const line of toml.split(/\r?\n/)) {
    if (/^\s*\[/.test(line)) break;
    const m = /^\s*id\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(line);
    if (m) return m[1] !== undefined ? m[1] : m[2];
  }
  return null;
}

async function upload(ev) {
  ev.preventDefault();
  const status = $('upload-status');
  clearError($('upload-error'));
  const component = $('upload-component').files[0];
  const manifestFile = $('upload-manifest').files[0];
  if (!component || !manifestFile) {
    showError($('upload-error'), 'Choose both the component (.wasm) and its manifest (djinn.toml).');
    return;
  }
  $('upload-button').disabled = true;
  try {
    const manifest = await manifestFile.text();
    const id = manifestId(manifest);
    if (knownIds === null) await loadOperator();
    const replace = id !== null && knownIds !== null && knownIds.has(id);
    const form = new FormData();
    form.append('component', component, component.name);
    form.append('manifest', manifest);
    status.textContent = replace ? `Replacing ${id} (PUT)…` : `Installing ${id || 'the plugin'} (POST)…`;
    const url = replace ? `/v1/plugins/${encodeURIComponent(id)}` : '/v1/plugins';
    const p = await api(url, {method: replace ? 'PUT' : 'POST', body: form});
    status.textContent = `${replace ? 'Replaced' : 'Installed'} ${p.id} ${p.version || ''} ` +
      `(sha256 ${String(p.sha256 || '').slice(0, 12)}).`;
    await loadOperator();
  } catch (e) {
    status.textContent = '';
    showError($('upload-error'), 'Upload rejected: ' + e.message);
  } finally {
    $('upload-button').disabled = false;
  }
}

// ---- wiring ----------------------------------------------------------------

function init() {
  loadToken();
  $('token').addEventListener('change', saveToken);
  $('token').addEventListener('input', showTokenState);
  $('token-forget').addEventListener('click', () => {
    $('token').value = '';
    saveToken();
  });
  $('ask-form').addEventListener('submit', ask);
  $('stop-button').addEventListener('click', stop);
  $('use-sample').addEventListener('click', useSample);
  $('clear-statement').addEventListener('click', () => {
    $('statement-file').value = '';
    setStatement(null, null);
  });
  $('statement-file').addEventListener('change', pickStatement);
  $('refresh').addEventListener('click', loadOperator);
  $('upload-form').addEventListener('submit', upload);
  window.addEventListener('hashchange', showView);
  showView();
}

document.addEventListener('DOMContentLoaded', init);
