// The inbox's analytics (GET /analytics/inbox): per day, agent or session,
// chats opened, first response and resolution times, messages in and out,
// chats the bot answered alone and the customers' ratings, with charts drawn
// here as SVG (no chart library).

import { h, set, field } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { t } from '../lib/i18n.js';

const SVG = 'http://www.w3.org/2000/svg';
// An SVG element: attributes as given, children appended.
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

// Milliseconds as "45 s", "3 m 20 s", "2 h 5 m", "1 d 4 h"; '—' for none.
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  const sec = Math.round(ms / 1000);
  if (sec < 60) return t('{s} s', { s: sec });
  const min = Math.floor(sec / 60);
  if (min < 60) return t('{m} m {s} s', { m: min, s: String(sec % 60).padStart(2, '0') });
  const hr = Math.floor(min / 60);
  if (hr < 24) return t('{h} h {m} m', { h: hr, m: String(min % 60).padStart(2, '0') });
  return t('{d} d {h} h', { d: Math.floor(hr / 24), h: hr % 24 });
}

const COLORS = ['#128c7e', '#f0b429', '#34b7f1', '#c0392b'];

// Bars per row: `series` is [{ name, value(row) }]; one group of bars per row.
function barChart(id, title, rows, series, format = String) {
  const width = 640, height = 220, left = 44, bottom = 34, top = 26;
  const max = Math.max(1, ...rows.flatMap((r) => series.map((x) => x.value(r) || 0)));
  const band = (width - left - 8) / Math.max(rows.length, 1);
  const bar = Math.max(2, Math.min(28, (band - 6) / series.length));
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const labelEvery = Math.ceil(rows.length / 12);
  const chart = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, id, class: 'chart' },
    s('title', null, title),
    // Axis and its top value.
    s('line', { x1: left, y1: height - bottom, x2: width - 4, y2: height - bottom, stroke: '#99a' }),
    s('text', { x: left - 4, y: top + 4, 'text-anchor': 'end', class: 'axis' }, format(max)),
    s('text', { x: left - 4, y: height - bottom, 'text-anchor': 'end', class: 'axis' }, '0'),
    rows.map((r, i) => {
      const x0 = left + i * band + (band - bar * series.length) / 2;
      return s('g', null,
        series.map((x, j) => {
          const v = x.value(r) || 0;
          return s('rect', { x: x0 + j * bar, y: y(v), width: bar - 1, height: Math.max(0, height - bottom - y(v)), fill: COLORS[j % COLORS.length] },
            s('title', null, `${r.name || r.key} · ${x.name}: ${format(v)}`));
        }),
        i % labelEvery === 0 ? s('text', { x: left + i * band + band / 2, y: height - bottom + 14, 'text-anchor': 'middle', class: 'axis' },
          (r.name || r.key).length > 12 ? `${(r.name || r.key).slice(0, 11)}…` : (r.name || r.key)) : null);
    }),
    // The legend.
    series.map((x, j) => s('g', null,
      s('rect', { x: left + j * 150, y: 4, width: 10, height: 10, fill: COLORS[j % COLORS.length] }),
      s('text', { x: left + j * 150 + 14, y: 13, class: 'axis' }, x.name))));
  return h('figure', { class: 'card chart-card' }, h('figcaption', null, title), chart);
}

export default async function analyticsPage(main) {
  // Empty at first: the gateway picks the last seven days in its time zone.
  const to = h('input', { type: 'date', id: 'analytics-to' });
  const from = h('input', { type: 'date', id: 'analytics-from' });
  const groupBy = h('select', { id: 'analytics-group' },
    h('option', { value: 'day' }, t('Day')), h('option', { value: 'agent' }, t('Agent')), h('option', { value: 'session' }, t('Session')));
  const summary = h('div', { class: 'tiles', id: 'analytics-total' });
  const charts = h('div', { class: 'charts', id: 'analytics-charts' });
  const body = h('tbody', { id: 'analytics-rows' });
  const head = h('tr');
  async function load() {
    const q = new URLSearchParams({ group_by: groupBy.value });
    if (from.value) q.set('from', from.value);
    if (to.value) q.set('to', to.value);
    const result = (await act(() => api('GET', `/analytics/inbox?${q}`)))?.data;
    if (!result) return;
    from.value = result.from;
    to.value = result.to;
    const tot = result.total;
    const tile = (id, label, value, note) => h('div', { class: 'tile', id }, h('div', { class: 'value' }, value), h('div', { class: 'muted' }, label), note ? h('div', { class: 'muted small' }, note) : null);
    set(summary,
      tile('tile-opened', t('Chats opened'), tot.chats_opened),
      tile('tile-first', t('First response (p50)'), duration(tot.first_response.p50_ms), `p90 ${duration(tot.first_response.p90_ms)}`),
      tile('tile-resolution', t('Resolution (p50)'), duration(tot.resolution.p50_ms), `p90 ${duration(tot.resolution.p90_ms)}`),
      tile('tile-messages', t('Messages in / out'), `${tot.messages_in} / ${tot.messages_out}`),
      tile('tile-bot', t('Answered by the bot alone'), tot.bot_only),
      tile('tile-csat', t('Satisfaction'), tot.csat_average === null ? '—' : `★ ${tot.csat_average.toFixed(2)}`, t('{count} ratings', { count: tot.csat_count })));
    const rows = result.rows;
    const minutes = (ms) => (ms === null || ms === undefined ? 0 : ms / 60000);
    set(charts,
      barChart('chart-opened', t('Chats opened'), rows, [
        { name: t('With a person'), value: (r) => r.chats_opened - r.bot_only },
        { name: t('Bot alone'), value: (r) => r.bot_only }]),
      barChart('chart-times', t('Response and resolution, p50 (minutes)'), rows, [
        { name: t('First response'), value: (r) => minutes(r.first_response.p50_ms) },
        { name: t('Resolution'), value: (r) => minutes(r.resolution.p50_ms) }], (v) => (v >= 10 ? Math.round(v) : v.toFixed(1))),
      barChart('chart-messages', t('Messages'), rows, [
        { name: t('In'), value: (r) => r.messages_in },
        { name: t('Out'), value: (r) => r.messages_out }]));
    const label = { day: t('Day'), agent: t('Agent'), session: t('Session') }[result.group_by];
    set(head, [label, t('Opened'), t('First response p50 / p90'), t('Resolution p50 / p90'), t('In'), t('Out'), t('Bot alone'), t('Rating')].map((x) => h('th', null, x)));
    set(body, rows.length ? rows.map((r) => h('tr', { 'data-key': r.key },
      h('td', null, r.key === 'none' ? h('span', { class: 'muted' }, t('nobody yet')) : (r.name || r.key)),
      h('td', null, r.chats_opened),
      h('td', null, `${duration(r.first_response.p50_ms)} / ${duration(r.first_response.p90_ms)}`),
      h('td', null, `${duration(r.resolution.p50_ms)} / ${duration(r.resolution.p90_ms)}`),
      h('td', null, r.messages_in), h('td', null, r.messages_out), h('td', null, r.bot_only),
      h('td', null, r.csat_average === null ? '—' : `★ ${r.csat_average.toFixed(2)} (${r.csat_count})`)))
      : h('tr', null, h('td', { colspan: 8, class: 'muted' }, t('No conversations in this period.'))));
  }
  for (const input of [from, to, groupBy]) input.onchange = load;
  main.append(h('h1', null, t('Analytics')),
    h('div', { class: 'card' }, h('div', { class: 'row' }, field(t('From'), from), field(t('To'), to), field(t('Per'), groupBy)),
      h('p', { class: 'muted small' }, t('A conversation opens with a customer\'s message and lasts until the chat is closed; each row counts the conversations opened in it.'))),
    summary, charts,
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, head), body)));
  await load();
}
