import { h, set, when, field, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { t } from '../lib/i18n.js';

export default async function keysPage(main, page) {
  const listEl = h('tbody', { id: 'keys' });
  const shown = h('div', { id: 'new-key' });
  async function load() {
    const keys = (await act(() => api('GET', '/auth/api-keys')))?.data || [];
    set(listEl, ...keys.map((k) => h('tr', null, h('td', null, k.name), h('td', null, h('code', null, k.prefix)), h('td', null, (k.sessions || [t('all')]).join(', ')),
      h('td', null, when(k.created_at)), h('td', null, when(k.last_used_at) || t('never')),
      h('td', null, h('button', { class: 'danger', onclick: () => confirm(t('Revoke {name}?', { name: k.name })) && act(() => api('DELETE', `/auth/api-keys/${k.id}`), t('Revoked')).then(load) }, t('Revoke'))))));
  }
  main.append(h('h1', null, t('API keys')),
    S.me.role !== 'readonly' ? h('div', { class: 'card' }, form(async (data, el) => {
      const body = { name: data.get('name') };
      const sessions = data.get('sessions').split(/[\s,]+/).filter(Boolean);
      if (sessions.length) body.sessions = sessions;
      const made = await act(() => api('POST', '/auth/api-keys', body));
      if (made) {
        el.reset();
        set(shown, h('p', null, t('The new key, shown only now: copy it.')), h('pre', { id: 'api-key' }, made.data.key));
        load();
      }
    }, h('div', { class: 'row' }, field(t('Name'), h('input', { name: 'name', required: true })), field(t('Only these sessions (empty: all)'), h('input', { name: 'sessions' })),
      h('button', { type: 'submit' }, t('Create key')))), shown) : null,
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, [t('Name'), t('Prefix'), t('Sessions'), t('Created'), t('Last used'), ''].map((x) => h('th', null, x)))), listEl)));
  await load();
}
