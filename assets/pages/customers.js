import { h, $, set, field, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { t } from '../lib/i18n.js';

export default async function customersPage(main, page) {
  const canWrite = S.me.role !== 'readonly';
  const body = h('tbody', { id: 'customers' });
  const result = h('div', { id: 'import-result' });
  const query = { q: '', odp: '', page: 1 };
  let odps = await act(() => api('GET', '/api/odps'));
  const odpRows = h('tbody', { id: 'odps' });
  const odpForm = h('div', { id: 'odp-group' });
  // The ODPs, each with the group its notices also go into.
  function drawOdps() {
    set(odpRows, ...(odps?.data || []).map((o) => h('tr', { 'data-odp': o.code },
      h('td', null, o.code), h('td', null, `${o.active_customers} / ${o.customers}`),
      h('td', { class: 'odp-group' }, o.group_jid ? `${o.group_jid} (${o.group_session})` : h('span', { class: 'muted' }, t('none'))),
      h('td', null, canWrite ? h('button', { class: 'secondary small', onclick: () => chooseGroup(o) }, t('Group…')) : null))));
  }
  async function chooseGroup(o) {
    const sessions = ((await act(() => api('GET', '/session/list')))?.data || []).filter((s) => s.status === 'connected');
    const groups = h('select', { name: 'group', id: 'odp-group-jid', 'aria-label': t('Group') });
    async function loadGroups(session) {
      const list = session ? (await act(() => api('GET', `/groups?session=${encodeURIComponent(session)}`)))?.data || [] : [];
      set(groups, h('option', { value: '' }, t('no group')), list.map((g) => h('option', { value: g.jid, selected: g.jid === o.group_jid }, `${g.subject} (${g.participantCount})`)));
    }
    const session = h('select', { name: 'session', id: 'odp-group-session', 'aria-label': t('Session'), onchange: (e) => loadGroups(e.target.value) },
      sessions.map((s) => h('option', { value: s.sessionId, selected: s.sessionId === o.group_session }, s.sessionId)));
    set(odpForm, h('div', { class: 'card' }, h('h2', null, t('The group of {odp}', { odp: o.code })),
      h('p', { class: 'muted' }, t('A notice sent to this ODP is also posted once into this group, from this session.')),
      form(async (data) => {
        const jid = data.get('group');
        const body = jid ? { group_jid: jid, session: data.get('session') } : { group_jid: null };
        const saved = await act(() => api('PUT', `/api/odps/${encodeURIComponent(o.code)}`, body), t('Saved'));
        if (!saved) return;
        odps = await act(() => api('GET', '/api/odps'));
        drawOdps();
        set(odpForm);
      }, h('div', { class: 'row' }, field(t('Session'), session), field(t('Group'), groups),
        h('button', { type: 'submit', id: 'odp-group-save' }, t('Save')), h('button', { type: 'button', class: 'secondary', onclick: () => set(odpForm) }, t('Cancel'))))));
    await loadGroups(session.value);
  }
  async function load() {
    const params = new URLSearchParams({ page: query.page, limit: 50 });
    if (query.q) params.set('search', query.q);
    if (query.odp) params.set('odp', query.odp);
    const page = await act(() => api('GET', `/api/customers?${params}`));
    set(body, ...(page?.data || []).map((c) => h('tr', null,
      h('td', null, c.external_id), h('td', null, c.name), h('td', null, c.phone || h('span', { class: 'error' }, c.phone_raw)),
      h('td', null, c.odp || ''), h('td', null, c.active ? t('active') : t('inactive')))));
    $('#customer-total').textContent = page ? t('{count} customers', { count: page.total }) : '';
  }
  main.append(h('h1', null, t('Customers')),
    canWrite ? h('div', { class: 'card' }, h('h2', null, t('Import a CSV file')),
      h('p', { class: 'muted' }, t('Columns: external_id, name, phone, and optionally odp and active.')),
      form(async (data) => {
        const file = data.get('file');
        if (!file || !file.size) return;
        const fd = new FormData();
        fd.set('file', file, file.name);
        const report = await act(() => api('POST', '/api/customers/import', fd));
        if (!report) return;
        const r = report.data || report;
        set(result, h('p', { id: 'import-summary' }, t('{read} lines read: {new} new, {updated} updated, {invalid} with an invalid number, {failed} not imported.', { read: r.received, new: r.inserted, updated: r.updated, invalid: r.invalid_phones, failed: r.errors.length })),
          r.errors.length ? h('ul', { id: 'import-errors', class: 'error' }, r.errors.map((e) => h('li', null, `${t('line {n}', { n: e.line ?? e.index })}: ${e.field ? `${e.field}: ` : ''}${e.message}`))) : null);
        load();
      }, h('div', { class: 'row' }, h('input', { type: 'file', name: 'file', id: 'csv', accept: '.csv,text/csv', 'aria-label': t('CSV file') }), h('button', { type: 'submit', id: 'import' }, t('Import')))), result) : null,
    h('div', { class: 'card' }, h('div', { class: 'row' },
      h('input', { type: 'search', placeholder: t('Search'), 'aria-label': t('Search customers'), oninput: (e) => { query.q = e.target.value.trim(); query.page = 1; clearTimeout(load.t); load.t = setTimeout(load, 250); } }),
      h('select', { 'aria-label': t('ODP'), onchange: (e) => { query.odp = e.target.value; query.page = 1; load(); } }, h('option', { value: '' }, t('all ODPs')), (odps?.data || []).map((o) => h('option', { value: o.code }, o.code))),
      h('button', { class: 'secondary', onclick: () => { if (query.page > 1) { query.page--; load(); } } }, '‹'), h('button', { class: 'secondary', onclick: () => { query.page++; load(); } }, '›'),
      h('span', { id: 'customer-total', class: 'muted' })),
    h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, [t('Id'), t('Name'), t('Phone'), t('ODP'), ''].map((x) => h('th', null, x)))), body))),
    h('div', { class: 'card' }, h('h2', null, t('ODPs')), odpForm,
      h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, [t('ODP'), t('Active / all customers'), t('Group for notices'), ''].map((x) => h('th', null, x)))), odpRows))));
  drawOdps();
  await load();
}
