// The vrec web console: one page, routed by the URL's hash, reading the server's admin routes
// (/v1/admin/*), the user and video routes, /metrics and /openapi.json with the key typed in the
// header (kept in sessionStorage for this tab only). Everything shown is built with DOM calls and
// textContent, never innerHTML: titles, tags and reasons come from users of the platform.
'use strict';

const state = {
  key: sessionStorage.getItem('vrec.key') || '',
  charts: [],
  timer: null,
  traffic: { samples: [], last: null },
};

// ---- DOM and HTTP helpers ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmt(x, digits = 4) {
  if (x === null || x === undefined || (typeof x === 'number' && !Number.isFinite(x))) return '—';
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en');
  return Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(digits);
}

function table(headers, rows, opts = {}) {
  const thead = h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x))));
  const tbody = h('tbody', {}, rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map(cell)))));
  return h('table', { id: opts.id, class: opts.class }, thead, tbody);
}

function cell(v) {
  if (v instanceof Node) return v.tagName === 'TD' ? v : h('td', {}, v);
  return typeof v === 'number' ? h('td', { class: 'num' }, fmt(v)) : h('td', {}, v ?? '—');
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const headers = state.key ? { 'X-Api-Key': state.key } : {};
  const r = await fetch(path, { headers, cache: 'no-store' });
  const text = await r.text();
  if (!r.ok) {
    let message = text;
    try {
      message = JSON.parse(text).error.message;
    } catch (e) {
      // not a JSON error body: keep the text
    }
    throw new HttpError(r.status, `${r.status}: ${message}`);
  }
  return path === '/metrics' ? text : JSON.parse(text);
}

function page() {
  return document.getElementById('page');
}

function show(...children) {
  for (const c of state.charts) c.destroy();
  state.charts = [];
  page().replaceChildren(...children);
}

function errorBox(e) {
  if (e instanceof HttpError && (e.status === 401 || e.status === 403)) {
    return h('p', { class: 'error', id: 'auth-error' },
      `${e.message}. Type a key with admin scope in the header.`);
  }
  return h('p', { class: 'error' }, String(e.message || e));
}

function chart(id, config, heightPx) {
  const canvas = h('canvas', { id });
  const box = h('div', { class: 'chart' }, canvas);
  if (heightPx) box.style.height = `${heightPx}px`;
  // Chart.js measures its container: create it once the box is in the document.
  queueMicrotask(() => {
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    state.charts.push(new window.Chart(canvas, config));
  });
  return box;
}

const COLORS = ['#2456c9', '#e07b00', '#1a7f37', '#9c27b0', '#c62828', '#00838f', '#6d4c41'];

// ---- Models: versions, their figures, the production stack and its history ----

const KEY_METRICS = ['retrieval_recall@100', 'retrieval_ndcg@10', 'ranker_heldout_auc', 'two_stage_ndcg@10',
  'two_stage_map', 'two_stage_recall@100'];

async function modelsPage() {
  const [models, served] = await Promise.all([api('/v1/admin/models'), api('/v1/admin/model')]);
  const versions = models.versions;
  const rows = versions.map((v) => [
    h('td', {}, v.version, v.production ? h('strong', {}, ' (production)') : ''),
    v.created_at || '—', v.model_kind || '—',
    ...KEY_METRICS.map((m) => (v.metrics && m in v.metrics ? v.metrics[m] : null)),
    v.version === models.served_version ? 'served' : (v.error ? h('span', { class: 'error' }, v.error) : ''),
  ]);
  const withFigures = versions.filter((v) => v.metrics && 'two_stage_ndcg@10' in v.metrics);
  const history = models.history.map((e) => [e.time, e.action, e.from || '—', e.to, e.reason || '']);
  show(
    h('h2', {}, 'Model versions'),
    h('div', { class: 'cards' },
      card('served', served.model_version), card('production', served.production_version || '—'),
      card('videos', served.videos), card('users', served.users),
      card('fallback', served.fallback ? 'yes' : 'no')),
    table(['version', 'created', 'kind', ...KEY_METRICS, ''], rows, { id: 'versions' }),
    withFigures.length ? chart('versions-chart', {
      type: 'line',
      data: {
        labels: withFigures.map((v) => v.version),
        datasets: ['retrieval_recall@100', 'retrieval_ndcg@10', 'two_stage_ndcg@10', 'ranker_heldout_auc']
          .map((m, i) => ({ label: m, data: withFigures.map((v) => v.metrics[m] ?? null), borderColor: COLORS[i],
            backgroundColor: COLORS[i] })),
      },
      options: { plugins: { title: { display: true, text: 'Offline figures by version' } } },
    }) : h('p', { class: 'muted' }, 'No version has evaluation figures yet.'),
    h('h2', {}, 'Production history (newest first)'),
    table(['time', 'action', 'from', 'to', 'reason'], history, { id: 'history' }),
    h('p', { class: 'muted' }, 'Production stack: ', models.production_stack.join(' ← ') || '—'),
  );
}

function card(label, value) {
  return h('div', { class: 'card' }, h('div', { class: 'muted' }, label), h('div', { class: 'value' }, fmt(value)));
}

// ---- Pipeline runs: steps, figures, gate verdicts ----

async function runsPage() {
  const { runs } = await api('/v1/admin/runs?limit=30');
  if (!runs.length) {
    show(h('h2', {}, 'Pipeline runs'), h('p', { class: 'muted', id: 'runs-empty' }, 'No pipeline run recorded in this registry.'));
    return;
  }
  const detail = h('div', { id: 'run-detail' });
  const select = (i) => {
    for (const [j, tr] of rows.entries()) tr.classList.toggle('selected', i === j);
    renderRun(detail, runs[i]);
  };
  const rows = runs.map((r, i) => h('tr', { class: 'clickable', onclick: () => select(i) },
    cell(r.run_id), cell(r.started_at), cell(r.version || '—'),
    h('td', { class: r.gates_passed ? 'pass' : 'fail' }, r.gates_passed ? 'passed' : 'failed'),
    cell(r.promoted ? 'yes' : 'no'), cell(totalSeconds(r)), cell(r.source || '')));
  show(h('h2', {}, 'Pipeline runs (newest first; click one)'),
    table(['run', 'started', 'version', 'gates', 'promoted', 'seconds', 'source'], rows, { id: 'runs' }), detail);
  select(0);
}

function totalSeconds(run) {
  const s = run.step_seconds || {};
  return ['preprocess', 'train', 'evaluate', 'deploy'].reduce((a, k) => a + (s[k] || 0), 0);
}

function renderRun(box, run) {
  for (const c of state.charts.splice(0)) c.destroy();
  const gates = (run.gates || []).map((g) => [g.gate, g.value, g.threshold,
    h('td', { class: g.passed ? 'pass' : 'fail' }, g.passed ? 'pass' : 'FAIL')]);
  const steps = Object.entries(run.step_seconds || {}).filter(([k]) => !k.includes('.'));
  const substeps = Object.entries(run.step_seconds || {}).filter(([k]) => k.includes('.'));
  const metrics = Object.entries(run.metrics || {}).map(([k, v]) => [k, v]);
  box.replaceChildren(
    h('h3', {}, `Run ${run.run_id}`),
    h('p', { class: 'muted' }, run.options || ''),
    table(['gate', 'value', 'threshold', 'verdict'], gates, { id: 'gates' }),
    chart('steps-chart', {
      type: 'bar',
      data: {
        labels: [...steps, ...substeps].map(([k]) => k),
        datasets: [{ label: 'seconds', data: [...steps, ...substeps].map(([, v]) => v), backgroundColor: COLORS[0] }],
      },
      options: { indexAxis: 'y', plugins: { title: { display: true, text: 'Step times (s)' } } },
    }, 80 + 18 * (steps.length + substeps.length)),
    h('h3', {}, 'Figures'), table(['metric', 'value'], metrics, { id: 'run-metrics' }));
}

// ---- Traffic: /metrics sampled every 2 s ----

function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function sum(samples, name, pred = () => true) {
  return samples.filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);
}

// The q-quantile of the observations between two samples of one histogram (linear inside a bucket).
function quantile(prev, cur, name, labelKey, labelValue, q) {
  const buckets = (samples) => samples.filter((s) => s.name === `${name}_bucket` && s.labels[labelKey] === labelValue)
    .map((s) => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value]).sort((a, b) => a[0] - b[0]);
  const a = buckets(prev);
  const b = buckets(cur);
  if (!b.length) return null;
  const counts = b.map(([le, v], i) => [le, v - (a[i] ? a[i][1] : 0)]);
  const total = counts[counts.length - 1][1];
  if (total <= 0) return null;
  const rank = q * total;
  // Buckets are cumulative: interpolate inside the first one that reaches the rank.
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of counts) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(c - prevCount, 1e-9));
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

const STAGES = ['user_state', 'retrieve', 'filter', 'rank', 'order'];

async function sampleTraffic() {
  const samples = parseMetrics(await api('/metrics'));
  const now = Date.now() / 1000;
  const t = state.traffic;
  if (t.last) {
    const dt = Math.max(now - t.last.time, 1e-3);
    const requests = sum(samples, 'vrec_http_requests_total') - sum(t.last.samples, 'vrec_http_requests_total');
    const errors = sum(samples, 'vrec_http_requests_total', (l) => l.code >= '500')
      - sum(t.last.samples, 'vrec_http_requests_total', (l) => l.code >= '500');
    const point = { time: new Date().toLocaleTimeString(), rps: requests / dt, eps: errors / dt, p50: {}, p99: {} };
    for (const s of STAGES) {
      point.p50[s] = quantile(t.last.samples, samples, 'vrec_stage_seconds', 'stage', s, 0.5);
      point.p99[s] = quantile(t.last.samples, samples, 'vrec_stage_seconds', 'stage', s, 0.99);
    }
    t.samples.push(point);
    if (t.samples.length > 60) t.samples.shift();
  }
  t.last = { time: now, samples };
  return samples;
}

async function trafficPage() {
  const samples = await sampleTraffic();
  const routes = {};
  for (const s of samples.filter((x) => x.name === 'vrec_http_requests_total')) {
    const r = routes[s.labels.route] || (routes[s.labels.route] = {});
    r[s.labels.code] = (r[s.labels.code] || 0) + s.value;
  }
  const codes = [...new Set(Object.values(routes).flatMap((r) => Object.keys(r)))].sort();
  const rateChart = chart('rate-chart', {
    type: 'line',
    data: { labels: [], datasets: [
      { label: 'requests/s', data: [], borderColor: COLORS[0], backgroundColor: COLORS[0] },
      { label: '5xx/s', data: [], borderColor: COLORS[4], backgroundColor: COLORS[4] }] },
    options: { plugins: { title: { display: true, text: 'Request rate' } } },
  });
  const latencyChart = chart('latency-chart', {
    type: 'line',
    data: { labels: [], datasets: STAGES.map((s, i) => ({ label: `${s} p99`, data: [], borderColor: COLORS[i],
      backgroundColor: COLORS[i] })) },
    options: { plugins: { title: { display: true, text: 'Per-stage latency p99 (ms) over the last 2 s' } } },
  });
  const cards = h('div', { class: 'cards', id: 'traffic-cards' });
  show(h('h2', {}, 'Live traffic'), cards, h('div', { class: 'charts' }, rateChart, latencyChart),
    h('h3', {}, 'Requests by route and status since start'),
    table(['route', ...codes], Object.entries(routes).map(([r, c]) => [r, ...codes.map((x) => c[x] || 0)]),
      { id: 'routes' }),
    h('h3', {}, 'Candidates removed by each filter since start'),
    table(['filter', 'removed'], samples.filter((s) => s.name === 'vrec_filter_removed_total')
      .map((s) => [s.labels.filter, s.value]), { id: 'filters' }));
  const redraw = () => {
    const points = state.traffic.samples;
    const last = points[points.length - 1];
    cards.replaceChildren(card('requests/s', last ? last.rps : null), card('5xx/s', last ? last.eps : null),
      ...STAGES.map((s) => card(`${s} p50 ms`, last && last.p50[s] !== null ? last.p50[s] * 1e3 : null)));
    const [rate, latency] = state.charts;
    if (!rate || !latency) return;
    rate.data.labels = latency.data.labels = points.map((p) => p.time);
    rate.data.datasets[0].data = points.map((p) => p.rps);
    rate.data.datasets[1].data = points.map((p) => p.eps);
    STAGES.forEach((s, i) => { latency.data.datasets[i].data = points.map((p) => (p.p99[s] === null ? null : p.p99[s] * 1e3)); });
    rate.update();
    latency.update();
  };
  redraw();
  state.timer = setInterval(async () => {
    try {
      await sampleTraffic();
      redraw();
    } catch (e) {
      document.getElementById('status').textContent = `metrics: ${e.message}`;
    }
  }, 2000);
}

// ---- User inspector: profile, online history, recommendations with their explanations ----

async function userPage(params) {
  const experiments = await api('/v1/admin/experiments');
  const id = params.get('id') || '';
  const variant = params.get('variant') || '';
  const form = h('form', { class: 'inline', id: 'user-form' },
    h('label', {}, 'User id ', h('input', { name: 'id', value: id, size: 12, required: true, pattern: '[0-9]{1,20}' })),
    h('label', {}, 'Variant ', h('select', { name: 'variant' }, h('option', { value: '' }, '(the user\'s own)'),
      experiments.variants.map((v) => h('option', { value: v.name, selected: v.name === variant }, v.name)))),
    h('button', { type: 'submit' }, 'Inspect'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    location.hash = `#user?id=${encodeURIComponent(f.get('id'))}${f.get('variant') ? `&variant=${encodeURIComponent(f.get('variant'))}` : ''}`;
  });
  if (!id) {
    show(h('h2', {}, 'User inspector'), form, h('p', { class: 'muted' }, 'Type a user id.'));
    return;
  }
  const [user, history, recs] = await Promise.all([
    api(`/v1/users/${id}`).catch((e) => ({ error: e })),
    api(`/v1/users/${id}/history`),
    api(`/v1/users/${id}/recommendations?count=10&explain=true${variant ? `&variant=${encodeURIComponent(variant)}` : ''}`),
  ]);
  const videos = await videoTitles(recs.items.map((i) => i.video_id));
  show(h('h2', {}, `User ${id}`), form,
    user.error ? h('p', { class: 'muted' }, `No profile: ${user.error.message} (served as a cold-start user).`)
      : h('div', {}, table(['country', 'language', 'age', 'gender', 'in snapshot'],
        [[user.country || '—', user.language || '—', user.age ?? '—', user.gender || '—', user.in_snapshot ? 'yes' : 'no']],
        { id: 'profile' }), countersTable(user.counters, 'user-counters')),
    h('h3', {}, `Recommendations (model ${recs.model_version}, variant ${recs.variant}${recs.cold_start ? ', cold start' : ''}, ${recs.retrieved} retrieved)`),
    recommendationsTable(recs.items, videos),
    h('h3', {}, 'Dropped by the filters'),
    table(['filter', 'count', 'first videos'], Object.entries(recs.filtered).map(([f, d]) => [f, d.count, d.videos.join(', ') || '—']),
      { id: 'dropped' }),
    h('h3', {}, `Online history since the snapshot (${history.events.length} events, newest last)`),
    table(['video', 'type', 'time', 'watch ratio'], history.events.slice(-30).map((e) => [e.video_id, e.type,
      new Date(e.timestamp * 1000).toISOString(), e.watch_ratio ?? '—']), { id: 'history' }));
}

async function videoTitles(ids) {
  const out = {};
  await Promise.all(ids.map(async (v) => {
    try {
      out[v] = await api(`/v1/videos/${v}`);
    } catch (e) {
      out[v] = null;
    }
  }));
  return out;
}

function contributionBars(ranker) {
  const max = Math.max(...ranker.contributions.map((c) => Math.abs(c.contribution)), 1e-9);
  return h('div', {}, ranker.contributions.map((c) => {
    const bar = h('span', { class: `bar ${c.contribution >= 0 ? 'pos' : 'neg'}` });
    bar.style.width = `${Math.round((60 * Math.abs(c.contribution)) / max)}px`;
    return h('div', { class: 'contrib' }, bar, ` ${c.feature} = ${fmt(c.value, 3)} → ${c.contribution >= 0 ? '+' : ''}${fmt(c.contribution, 3)}`);
  }));
}

function recommendationsTable(items, videos) {
  const rows = items.map((it) => {
    const e = it.explanation || {};
    const v = videos[it.video_id];
    const order = e.ordering || {};
    const notes = [];
    if (order.freshness_boost > 0) notes.push(`freshness +${fmt(order.freshness_boost, 3)}`);
    if (order.diversity_demoted) notes.push(`diversity: ${order.position_by_score} → ${order.position_after_diversity}`);
    if (order.promoted) notes.push('promo slot');
    if (e.exploration) notes.push(`exploration slot: ${e.exploration.plays} plays, ${e.exploration.skips} skips, draw ${fmt(e.exploration.sample, 3)}`);
    return [it.position, h('td', {}, h('a', { href: `#video?id=${it.video_id}` }, it.video_id)),
      v ? `${v.title || ''} [${(v.categories || []).join(', ')}]` : '—', it.score, e.source || it.reason,
      e.retrieval ? `#${e.retrieval.rank} (${fmt(e.retrieval.score, 3)})` : '—',
      e.ranker ? `#${e.ranker.rank} (${fmt(e.ranker.score, 3)})` : '—',
      e.ranker ? h('td', {}, contributionBars(e.ranker)) : '—', notes.join('; ') || '—'];
  });
  return table(['#', 'video', 'title [categories]', 'score', 'source', 'retrieval rank', 'ranker rank',
    'largest contributions', 'ordering'], rows, { id: 'recommendations' });
}

function countersTable(counters, id) {
  if (!counters) return h('p', { class: 'muted' }, 'No counters.');
  const windows = Object.keys(counters);
  const fields = [...new Set(windows.flatMap((w) => Object.keys(counters[w] || {})))];
  return table(['counter', ...windows], fields.map((f) => [f, ...windows.map((w) => (counters[w] || {})[f] ?? 0)]), { id });
}

// ---- Video inspector ----

async function videoPage(params) {
  const id = params.get('id') || '';
  const form = h('form', { class: 'inline', id: 'video-form' },
    h('label', {}, 'Video id ', h('input', { name: 'id', value: id, size: 12, required: true, pattern: '[0-9]{1,20}' })),
    h('button', { type: 'submit' }, 'Inspect'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = `#video?id=${encodeURIComponent(new FormData(form).get('id'))}`;
  });
  if (!id) {
    show(h('h2', {}, 'Video inspector'), form, h('p', { class: 'muted' }, 'Type a video id.'));
    return;
  }
  const [video, similar] = await Promise.all([api(`/v1/videos/${id}`), api(`/v1/videos/${id}/similar?count=10`)]);
  const titles = await videoTitles(similar.items.map((i) => i.video_id));
  show(h('h2', {}, `Video ${id}`), form,
    table(['field', 'value'], [['title', video.title || '—'], ['categories', (video.categories || []).join(', ') || '—'],
      ['tags', (video.tags || []).join(', ') || '—'], ['language', video.language || '—'],
      ['duration (s)', video.duration_s ?? '—'],
      ['uploaded', video.upload_time ? new Date(video.upload_time * 1000).toISOString() : '—'],
      ['age restricted', video.age_restricted ? 'yes' : 'no'], ['available', video.available ? 'yes' : 'no'],
      ['source', video.source], ['positives in the snapshot', video.snapshot_positives ?? '—']], { id: 'video' }),
    h('h3', {}, 'Live counters'), countersTable(video.counters, 'video-counters'),
    h('h3', {}, 'Up next (similar videos)'),
    table(['#', 'video', 'title', 'score', 'reason'], similar.items.map((it) => [it.position,
      h('td', {}, h('a', { href: `#video?id=${it.video_id}` }, it.video_id)),
      titles[it.video_id] ? titles[it.video_id].title || '—' : '—', it.score, it.reason]), { id: 'similar' }));
}

// ---- Experiments ----

async function experimentsPage() {
  const e = await api('/v1/admin/experiments');
  const c = e.canary;
  show(h('h2', {}, `Experiment ${e.experiment || '(none configured)'}`),
    table(['variant', 'share', 'overrides', 'personalised responses', 'cold-start responses'],
      e.variants.map((v) => [h('td', {}, h('a', { href: '#user?variant=' + encodeURIComponent(v.name) }, v.name)),
        `${(100 * v.share).toFixed(1)}%`, Object.entries(v.overrides).map(([k, x]) => `${k}=${x}`).join(', ') || '—',
        v.served.personalised, v.served.cold_start]), { id: 'variants' }),
    chart('variants-chart', {
      type: 'bar',
      data: { labels: e.variants.map((v) => v.name), datasets: [
        { label: 'personalised', data: e.variants.map((v) => v.served.personalised), backgroundColor: COLORS[0] },
        { label: 'cold start', data: e.variants.map((v) => v.served.cold_start), backgroundColor: COLORS[1] }] },
      options: { plugins: { title: { display: true, text: 'Responses served by variant since start' } } },
    }),
    h('h2', {}, 'Canary trial'),
    c ? table(['version', 'mode', 'share', 'baseline', 'started', 'elapsed (s)', 'verdict now', 'reason'],
      [[c.version, c.shadow ? 'shadow' : 'serving', `${(100 * c.share).toFixed(1)}%`, c.baseline, c.started_at,
        c.elapsed_s, c.verdict, c.reason || '—']], { id: 'canary' })
      : h('p', { class: 'muted', id: 'canary' }, 'No trial is running (vrec models canary VERSION --share 0.05).'),
    h('h2', {}, `Ledger (${e.report.epoch}; every server's counts)`),
    h('h3', {}, 'Model versions'), armsTable(e.report.versions, 'ledger-versions'),
    h('h3', {}, `Variants of ${e.report.model_version}`), armsTable(e.report.variants, 'ledger-variants'));
}

// A ledger report: per arm, each metric with its interval and its difference against the control.
function armsTable(report, id) {
  if (!report) return h('p', { class: 'muted', id }, 'Nothing counted yet.');
  const metrics = ['ctr', 'completion_rate', 'watch_time_per_impression', 'like_rate', 'skip_rate'];
  const rows = report.arms.map((a) => [a.name + (a.name === report.control ? ' (control)' : ''),
    a.totals.impressions, a.guardrails.requests, a.guardrails.error_rate, a.guardrails.p99_ms,
    ...metrics.map((m) => {
      const v = a.metrics[m];
      const d = a.vs_control && a.vs_control[m];
      const text = `${fmt(v.value, 3)} [${fmt(v.ci_low, 3)}, ${fmt(v.ci_high, 3)}]`;
      if (!d) return text;
      const rel = d.relative === null ? '—' : `${d.relative >= 0 ? '+' : ''}${(100 * d.relative).toFixed(1)}%`;
      return h('td', { class: d.significant ? (d.difference >= 0 ? 'pass' : 'fail') : '' }, `${text} ${rel}`,
        d.significant ? ' *' : '');
    })]);
  return table(['arm', 'impressions', 'requests', 'error rate', 'p99 ms', ...metrics], rows, { id });
}

// ---- API: the OpenAPI document, rendered ----

async function apiPage() {
  const doc = await api('/openapi.json');
  const rows = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters || []).map((p) => `${p.name} (${p.in}${p.required ? ', required' : ''})`).join(', ');
      const scope = op.security && op.security.length === 0 ? 'public' : 'key';
      rows.push([h('td', {}, h('code', {}, method.toUpperCase())), h('td', {}, h('code', {}, path)), op.summary || '',
        params || '—', scope]);
    }
  }
  show(h('h2', {}, `${doc.info.title} API (OpenAPI ${doc.openapi})`), h('p', { class: 'muted' }, doc.info.description),
    table(['method', 'path', 'summary', 'parameters', 'auth'], rows, { id: 'api' }),
    h('p', {}, h('a', { href: '/openapi.json' }, 'openapi.json')));
}

// ---- Routing ----

const PAGES = { models: modelsPage, runs: runsPage, traffic: trafficPage, user: userPage, video: videoPage,
  experiments: experimentsPage, api: apiPage };

async function route() {
  clearInterval(state.timer);
  state.timer = null;
  const [name, query] = (location.hash.slice(1) || 'models').split('?');
  const render = PAGES[name] || modelsPage;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${name}`);
  try {
    await render(new URLSearchParams(query || ''));
    document.body.dataset.page = name;
  } catch (e) {
    show(errorBox(e));
    document.body.dataset.page = `${name}-error`;
  }
}

async function refreshStatus() {
  const box = document.getElementById('status');
  try {
    const r = await fetch('/readyz', { cache: 'no-store' });
    const j = await r.json();
    const note = j.fallback ? ' (fallback)' : (j.loading ? ` (loading ${j.loading})` : '');
    box.textContent = `${j.status} · model ${j.model_version || '—'}${note}`;
  } catch (e) {
    box.textContent = 'server unreachable';
  }
}

document.getElementById('key').value = state.key;
document.getElementById('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.key = document.getElementById('key').value.trim();
  sessionStorage.setItem('vrec.key', state.key);
  route();
});
window.addEventListener('hashchange', route);
refreshStatus();
route();
