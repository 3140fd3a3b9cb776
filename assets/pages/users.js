import { h, set, field, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S, ALL } from '../lib/state.js';
import { t, word } from '../lib/i18n.js';

export default async function usersPage(main, page) {
  const listEl = h('tbody', { id: 'users' });
  async function load() {
    const users = (await act(() => api('GET', '/user/list')))?.data || [];
    S.agents = users.filter((u) => u.role === 'agent' || u.role === 'admin');
    set(listEl, ...users.map((u) => h('tr', null, h('td', null, u.id), h('td', null, u.username || ''), h('td', null, u.name), h('td', null, u.email),
      h('td', null, h('select', { 'aria-label': t('Role of {email}', { email: u.email }), onchange: (e) => act(() => api('PUT', `/user/${u.id}`, { role: e.target.value }), t('Role changed')).then(load) },
        ALL.map((r) => h('option', { value: r, selected: r === u.role }, word(r))))),
      h('td', null, u.id === S.me.id ? null : h('button', { class: 'danger', onclick: () => confirm(t('Delete {name}?', { name: u.email })) && act(() => api('DELETE', `/user/${u.id}`), t('Deleted')).then(load) }, t('Delete'))))));
  }
  main.append(h('h1', null, t('Users')),
    h('div', { class: 'card' }, form(async (data, el) => {
      const body = { email: data.get('email'), name: data.get('name'), password: data.get('password'), role: data.get('role') };
      if (data.get('username')) body.username = data.get('username');
      if (await act(() => api('POST', '/user/create', body), t('User created'))) { el.reset(); load(); }
    }, h('div', { class: 'row' }, field(t('Name'), h('input', { name: 'name', required: true })), field(t('Username'), h('input', { name: 'username' })),
      field(t('Email'), h('input', { name: 'email', type: 'email', required: true })), field(t('Password'), h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' })),
      field(t('Role'), h('select', { name: 'role' }, ALL.map((r) => h('option', { value: r, selected: r === 'agent' }, word(r))))), h('button', { type: 'submit' }, t('Create'))))),
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, [t('Id'), t('Username'), t('Name'), t('Email'), t('Role'), ''].map((x) => h('th', null, x)))), listEl)));
  await load();
}
