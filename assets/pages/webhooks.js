import { h, set, badge, when, field, toast, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { t } from '../lib/i18n.js';

export default async function webhooksPage(main, page) {
  const canWrite = S.me.role !== 'readonly';
  const listEl = h('div');
  const detail = h('div');
  async function load() {
    const hooks = (await act(() => api('GET', '/webhooks')))?.data || [];
    set(listEl, h('table', null, h('thead', null, h('tr', null, [t('Id'), t('URL'), t('Events'), t('State'), ''].map((x) => h('th', null, x)))),
      h('tbody', null, hooks.map((w) => h('tr', null, h('td', null, w.id), h('td', null, w.url), h('td', null, (w.events || [t('all')]).join(', ')),
        h('td', null, w.enabled ? badge('active') : badge('disabled', 'failed'), w.disabled_reason ? h('div', { class: 'muted' }, w.disabled_reason) : null),
        h('td', null, h('button', { class: 'secondary', onclick: () => deliveries(w) }, t('Deliveries')), ' ',
          canWrite ? [h('button', { class: 'secondary', onclick: () => act(() => api('POST', `/webhooks/${w.id}/test`, {}), t('Test event queued')) }, t('Test')), ' ',
            h('button', { class: 'secondary', onclick: () => act(() => api('PATCH', `/webhooks/${w.id}`, { enabled: !w.enabled }), t('Saved')).then(load) }, w.enabled ? t('Disable') : t('Enable')), ' ',
            h('button', { class: 'danger', onclick: () => confirm(t('Delete this endpoint?')) && act(() => api('DELETE', `/webhooks/${w.id}`), t('Deleted')).then(load) }, t('Delete'))] : null))))));
  }
  async function deliveries(w) {
    const page = await act(() => api('GET', `/webhooks/${w.id}/deliveries?limit=50`));
    set(detail, h('div', { class: 'card scroll' }, h('h2', null, t('Deliveries to {url}', { url: w.url })),
      canWrite ? form(async (data) => {
        const done = await act(() => api('POST', `/webhooks/${w.id}/replay`, { since: new Date(data.get('since')).toISOString() }));
        if (done) toast(t('{count} events queued again', { count: done.data?.count ?? done.count }));
      }, h('div', { class: 'row' }, field(t('Replay events since'), h('input', { type: 'datetime-local', name: 'since', required: true })), h('button', { type: 'submit' }, t('Replay')))) : null,
      h('table', null, h('thead', null, h('tr', null, [t('When'), t('Event'), t('Status'), t('Attempts'), t('Last answer'), ''].map((x) => h('th', null, x)))),
        h('tbody', null, (page?.data || []).map((d) => h('tr', null, h('td', null, when(d.created_at)), h('td', null, d.event_type || ''), h('td', null, badge(d.status)),
          h('td', null, d.attempts), h('td', null, d.last_status ?? '', ' ', (d.last_response || '').slice(0, 80)),
          h('td', null, canWrite ? h('button', { class: 'secondary', onclick: () => act(() => api('POST', `/webhooks/${w.id}/deliveries/${d.id}/retry`, {}), t('Retrying')).then(() => deliveries(w)) }, t('Retry')) : null)))))));
  }
  main.append(h('h1', null, t('Webhooks')),
    canWrite ? h('div', { class: 'card' }, form(async (data, el) => {
      const body = { url: data.get('url') };
      const events = data.get('events').split(/[\s,]+/).filter(Boolean);
      if (events.length) body.events = events;
      const made = await act(() => api('POST', '/webhooks', body));
      if (made) {
        el.reset();
        const m = made.data || made;
        set(detail, h('div', { class: 'card' }, h('p', null, t('The signing secret, shown only now:')), h('pre', { id: 'webhook-secret' }, m.secret)));
        load();
      }
    }, h('div', { class: 'row' }, field(t('URL'), h('input', { name: 'url', type: 'url', required: true, size: 40 })),
      field(t('Events (empty: all)'), h('input', { name: 'events', placeholder: 'chat.message, message.status' })), h('button', { type: 'submit' }, t('Add endpoint'))))) : null,
    h('div', { class: 'card scroll' }, listEl), detail);
  await load();
}
