// Who is logged in, and their canned replies (and, for an account's owner,
// the account's): typed as /shortcut in a chat's reply box; for an account's
// owner, the labels its chats can have and the inbox's settings.

import { h, set, field, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { t } from '../lib/i18n.js';

export default async function profilePage(main) {
  const owner = S.me.role === 'admin' || S.me.role === 'user';
  const canWrite = S.me.role !== 'readonly';
  const rows = h('tbody', { id: 'canned' });
  async function load() {
    const list = (await act(() => api('GET', '/canned-replies')))?.data || [];
    set(rows, list.length ? list.map((r) => h('tr', { 'data-shortcut': r.shortcut },
      h('td', null, `/${r.shortcut}`), h('td', { style: 'white-space:pre-wrap' }, r.text), h('td', null, r.personal ? t('mine') : t('account')),
      h('td', null, canWrite && (r.personal || owner) ? h('button', { class: 'secondary small danger', onclick: async () => {
        if (confirm(`Remove /${r.shortcut}?`) && await act(() => api('DELETE', `/canned-replies/${r.id}`), t('Removed'))) load();
      } }, t('Remove')) : null)))
      : h('tr', null, h('td', { colspan: 4, class: 'muted' }, t('None yet.'))));
  }
  main.append(h('h1', null, t('Profile')), h('div', { class: 'card' },
    h('dl', null, h('dt', null, t('Name')), h('dd', { id: 'profile-name' }, S.me.name), h('dt', null, t('Username')), h('dd', null, S.me.username || '—'),
      h('dt', null, t('Email')), h('dd', null, S.me.email), h('dt', null, t('Role')), h('dd', null, S.me.role)),
    h('p', null, h('a', { href: '/docs' }, t('API reference')))),
  h('div', { class: 'card' }, h('h2', null, t('Canned replies')),
    h('p', { class: 'muted' }, t('Type /shortcut in a chat\'s reply box to use one. {nama}, {odp}, {agen} and {waktu} are filled in for the chat.')),
    canWrite ? form(async (data, el) => {
      const body = { shortcut: data.get('shortcut'), text: data.get('text') };
      if (owner) body.personal = data.get('personal') === 'on';
      if (await act(() => api('POST', '/canned-replies', body), t('Saved'))) { el.reset(); load(); }
    }, h('div', { class: 'row' },
      field(t('Shortcut'), h('input', { name: 'shortcut', id: 'canned-shortcut', placeholder: 'salam', required: true, maxlength: 33 })),
      field(t('Text'), h('textarea', { name: 'text', id: 'canned-text', rows: 2, placeholder: 'Halo {nama}, saya {agen}.', required: true })),
      owner ? h('label', null, h('input', { type: 'checkbox', name: 'personal' }), t(' only mine')) : null,
      h('button', { type: 'submit', id: 'canned-save' }, t('Save')))) : null,
    h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, [t('Shortcut'), t('Text'), t('Whose'), ''].map((x) => h('th', null, x)))), rows))));
  if (owner && canWrite) {
    const labelRows = h('tbody', { id: 'labels' });
    async function loadLabels() {
      const list = (await act(() => api('GET', '/labels')))?.data || [];
      set(labelRows, list.length ? list.map((l) => h('tr', { 'data-label': l.id },
        h('td', null, h('span', { class: 'label', style: `background:${l.colour}` }, l.name)),
        h('td', null, h('button', { class: 'secondary small danger', onclick: async () => {
          if (confirm(`Remove the label ${l.name} from every chat?`) && await act(() => api('DELETE', `/labels/${l.id}`), t('Removed'))) loadLabels();
        } }, t('Remove')))))
        : h('tr', null, h('td', { colspan: 2, class: 'muted' }, t('None yet.'))));
    }
    main.append(h('div', { class: 'card' }, h('h2', null, t('Labels')),
      form(async (data, el) => {
        if (await act(() => api('POST', '/labels', { name: data.get('name'), colour: data.get('colour') }), t('Saved'))) { el.reset(); loadLabels(); }
      }, h('div', { class: 'row' },
        field(t('Name'), h('input', { name: 'name', id: 'label-name', required: true, maxlength: 32 })),
        field(t('Colour'), h('input', { name: 'colour', id: 'label-colour', type: 'color', value: '#128c7e' })),
        h('button', { type: 'submit', id: 'label-save' }, t('Save')))),
      h('table', null, labelRows)));
    await loadLabels();
    const settings = (await act(() => api('GET', '/inbox/settings')))?.data;
    if (settings) {
      // Each box saves the whole settings at once.
      const box = (key, id, text) => h('label', { style: 'display:block' }, h('input', { type: 'checkbox', id, checked: settings[key], onchange: async (e) => {
        const saved = await act(() => api('PUT', '/inbox/settings', { ...settings, [key]: e.target.checked }), t('Saved'));
        if (saved) settings[key] = e.target.checked; else e.target.checked = !e.target.checked;
      } }), ' ', text);
      main.append(h('div', { class: 'card' }, h('h2', null, t('Inbox')),
        box('auto_assign', 'auto-assign', t('Give chats that need an agent to the available agents, in turn')),
        box('csat', 'csat', t('Ask the customer for a rating (1–5) when a chat is closed')),
        h('p', { class: 'muted' }, t('A chat the bot hands over, or that is set to agent with nobody assigned, goes to the available agent whose turn it is; agents say they are available with the button at the top. The rating\'s texts are in the bot\'s document (replies.csat_question, csat_thanks, csat_fallback).'))));
    }
  }
  await load();
}
