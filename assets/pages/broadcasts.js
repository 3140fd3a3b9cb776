import { h, set, badge, when, field, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { t, word } from '../lib/i18n.js';

// What a broadcast was sent to.
const KINDS = () => ({ notification: t('notice'), custom: t('custom text'), odp: t('by ODP'), phone: t('one number') });

export default async function broadcastsPage(main, page) {
  const canWrite = S.me.role !== 'readonly';
  const listEl = h('tbody', { id: 'broadcasts' });
  const report = h('div', { id: 'report' });
  const preview = h('div', { id: 'preview' });
  let broadcasts = [];
  const [odps, notices, sessions] = await Promise.all([
    act(() => api('GET', '/api/odps')), act(() => api('GET', '/api/notices?limit=100')), act(() => api('GET', '/session/list')),
  ]);
  const linked = (sessions?.data || []).filter((s) => s.phoneNumber);

  const pct = (b) => {
    const done = b.sent_count + b.failed_count + (b.status === 'cancelled' ? b.pending_count : 0);
    return b.queued_count ? Math.round((100 * Math.min(done, b.queued_count)) / b.queued_count) : 100;
  };
  const row = (b) => h('tr', { 'data-broadcast': b.broadcast_id },
    h('td', null, `#${b.broadcast_id}`), h('td', null, KINDS()[b.kind] || b.kind, b.odp ? ` ${b.odp}` : ''), h('td', null, badge(b.status)),
    h('td', null, h('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': pct(b), 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { style: `width:${pct(b)}%` })),
      h('span', { class: 'muted pct' }, t('{pct} % · {sent} sent, {failed} failed, {skipped} skipped of {total}', { pct: pct(b), sent: b.sent_count, failed: b.failed_count, skipped: b.skipped_count, total: b.total_customers }))),
    h('td', null, when(b.created_at)),
    h('td', null, h('button', { class: 'secondary', onclick: () => showReport(b.broadcast_id) }, t('Report')), ' ',
      canWrite && b.status === 'running' ? h('button', { class: 'danger', onclick: () => act(() => api('POST', `/api/broadcasts/${b.broadcast_id}/cancel`, {}), t('Cancelled')).then(load) }, t('Cancel')) : null));

  async function load() {
    const page = await act(() => api('GET', '/api/broadcasts?limit=50'));
    broadcasts = page?.data || [];
    set(listEl, ...broadcasts.map(row));
  }

  async function showReport(id) {
    let results = [];
    let b;
    for (let page = 1; ; page++) {
      b = await act(() => api('GET', `/api/broadcasts/${id}?page=${page}&limit=500`));
      if (!b) return;
      results = results.concat(b.results || []);
      if (!b.results || b.results.length < 500) break;
    }
    const bad = (r) => (r.success ? (r.status === 'failed' ? 0 : 2) : 1);
    results.sort((x, y) => bad(x) - bad(y));
    const csv = [['customer_id', 'name', 'phone', 'status', 'error', 'message_id'].join(',')]
      .concat(results.map((r) => [r.customer_id ?? '', r.customer_name, r.phone, r.status, r.error ?? '', r.message_id ?? '']
        .map((v) => `"${String(v).replaceAll('"', '""')}"`).join(','))).join('\n');
    const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    set(report, h('div', { class: 'card' },
      h('h2', null, t('Report of broadcast #{id}', { id })), h('p', null, b.message),
      h('a', { href: url, download: `broadcast-${id}.csv`, id: 'report-csv' }, t('Download CSV')),
      h('div', { class: 'scroll' }, h('table', { id: 'report-table' },
        h('thead', null, h('tr', null, [t('Customer'), t('Phone'), t('Status'), t('Reason')].map((x) => h('th', null, x)))),
        h('tbody', null, results.map((r) => h('tr', { class: r.success && r.status !== 'failed' ? '' : 'error' },
          h('td', null, r.customer_name), h('td', null, r.phone), h('td', null, badge(r.status)), h('td', null, r.error || '')))))),
      h('button', { class: 'secondary', onclick: () => set(report) }, t('Close'))));
  }

  function request(data) {
    const body = {};
    if (data.get('message')) body.message = data.get('message'); else if (data.get('notice_id')) body.notice_id = Number(data.get('notice_id'));
    const picked = data.getAll('sessions');
    if (picked.length) body.sessions = picked;
    const target = data.get('target');
    if (target === 'odp') return { path: `/api/send/by-odp/${encodeURIComponent(data.get('odp'))}`, body };
    const ids = data.get('customer_ids').split(/[\s,]+/).filter(Boolean).map(Number);
    if (target === 'customers') body.customer_ids = ids;
    if (body.message) return { path: '/api/send/custom', body };
    return { path: '/api/send/notification', body };
  }

  const sendForm = form(async (data, el) => {
    const { path, body } = request(data);
    const p = await act(() => api('POST', path, { ...body, dry_run: true }));
    if (!p) return;
    set(preview, h('div', { class: 'card' },
      h('h2', null, t('Before sending')),
      h('p', { id: 'recipient-count' }, t('{count} messages to send', { count: p.queued_count }), p.skipped_count ? t(', {count} recipients skipped', { count: p.skipped_count }) : '', t(' ({count} customers).', { count: p.total_customers })),
      p.preview ? [h('p', { class: 'muted' }, t('To {recipient}:', { recipient: p.preview_recipient })), h('div', { class: 'preview', id: 'preview-text' }, p.preview)] : h('p', null, t('Nothing would be sent.')),
      p.group ? h('p', { id: 'preview-group' }, t('Also posted once into the ODP\'s group {group}.', { group: p.group })) : null,
      p.skipped.length ? h('ul', null, p.skipped.map((s) => h('li', null, `${s.name || s.phone}: ${s.reason}`))) : null,
      h('p', null, p.queued_count ? h('button', { id: 'confirm-send', onclick: async () => {
        const sent = await act(() => api('POST', path, body), t('Broadcast queued'));
        if (sent) { set(preview); el.reset(); await load(); }
      } }, t('Send {count} messages', { count: p.queued_count })) : null, ' ', h('button', { class: 'secondary', onclick: () => set(preview) }, t('Cancel')))));
  },
  h('div', { class: 'row' },
    field(t('To'), h('select', { name: 'target', id: 'target' }, h('option', { value: 'odp' }, t('the customers of an ODP')), h('option', { value: 'customers' }, t('chosen customers (ids)')), h('option', { value: 'all' }, t('all active customers')))),
    field(t('ODP'), h('select', { name: 'odp', id: 'odp' }, (odps?.data || []).map((o) => h('option', { value: o.code }, t('{odp} ({count} active)', { odp: o.code, count: o.active_customers }))))),
    field(t('Customer ids'), h('input', { name: 'customer_ids', placeholder: '1, 2, 3' })),
    field(t('Notice'), h('select', { name: 'notice_id', id: 'notice' }, h('option', { value: '' }, t('newest active notice')), (notices?.data || []).map((n) => h('option', { value: n.id }, `${n.title} (${word(n.status)})`)))),
    field(t('From'), h('select', { name: 'sessions', multiple: true, size: Math.min(3, Math.max(1, linked.length)) }, linked.map((s) => h('option', { value: s.sessionId }, `${s.sessionId} (${s.phoneNumber})`))))),
  field(t('Or a text of its own ({nama} and {odp} are filled in)'), h('textarea', { name: 'message', rows: 2 })),
  h('p', null, h('button', { type: 'submit', id: 'preview-send' }, t('Preview'))));

  const noticeForm = form(async (data, el) => {
    const body = { title: data.get('title'), message: data.get('message'), odps: data.get('odps').split(/[\s,]+/).filter(Boolean) };
    const id = data.get('id');
    const saved = await act(() => (id ? api('PUT', `/api/notices/${id}`, body) : api('POST', '/api/notices', body)), t('Notice saved'));
    if (saved) { el.reset(); page.reload(); }
  }, h('input', { type: 'hidden', name: 'id' }),
  h('div', { class: 'row' }, field(t('Title'), h('input', { name: 'title', required: true })), field(t('ODPs'), h('input', { name: 'odps', placeholder: 'ODP-1, ODP-2' }))),
  field(t('Message'), h('textarea', { name: 'message', rows: 2, required: true })),
  h('button', { type: 'submit' }, t('Save notice')));

  main.append(h('h1', null, t('Broadcasts')),
    canWrite ? h('div', { class: 'card' }, h('h2', null, t('Send')), sendForm) : null, preview, report,
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, [t('Id'), t('Kind'), t('Status'), t('Progress'), t('Started'), ''].map((x) => h('th', null, x)))), listEl)),
    h('div', { class: 'card' }, h('h2', null, t('Notices')),
      h('ul', null, (notices?.data || []).map((n) => h('li', null, h('strong', null, n.title), ` (${word(n.status)}) `, (n.odps || []).join(', '), ' ',
        canWrite ? h('button', { class: 'secondary', onclick: () => {
          noticeForm.elements.id.value = n.id; noticeForm.elements.title.value = n.title;
          noticeForm.elements.message.value = n.message; noticeForm.elements.odps.value = (n.odps || []).join(', ');
        } }, t('Edit')) : null))),
      canWrite ? noticeForm : null));
  page.subscribe((kind, data) => {
    if (kind !== 'broadcast.progress') return;
    const i = broadcasts.findIndex((b) => b.broadcast_id === data.broadcast_id);
    if (i >= 0) broadcasts[i] = { ...broadcasts[i], ...data }; else broadcasts.unshift(data);
    set(listEl, ...broadcasts.map(row));
  });
  await load();
}
