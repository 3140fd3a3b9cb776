// The wagate dashboard: a client of the public API (see /docs), logged in with
// the HttpOnly cookie of POST /auth/session and live through GET /events.
// No framework and no build step: ES modules, served by the gateway under one
// content-hashed prefix. This file logs in and routes; lib/ holds the DOM,
// API and event helpers, pages/ one file per page.

import { h, $, set, field, form, toast } from './lib/dom.js';
import { api, act, onSessionEnd } from './lib/api.js';
import * as live from './lib/events.js';
import { S, ALL, OWNERS } from './lib/state.js';
import { t, word, setLanguage, setZone, currentLanguage, LANGUAGE_NAMES } from './lib/i18n.js';
const app = document.getElementById('app');

// Each page's module is fetched the first time it is shown (the login form
// needs none of them).
const PAGES = [
  { id: 'inbox', title: () => t('Inbox'), roles: ALL, module: () => import('./pages/inbox/index.js') },
  { id: 'analytics', title: () => t('Analytics'), roles: ALL, module: () => import('./pages/analytics.js') },
  { id: 'sessions', title: () => t('Sessions'), roles: OWNERS, module: () => import('./pages/sessions.js') },
  { id: 'groups', title: () => t('Groups'), roles: OWNERS, module: () => import('./pages/groups.js') },
  { id: 'broadcasts', title: () => t('Broadcasts'), roles: OWNERS, module: () => import('./pages/broadcasts.js') },
  { id: 'customers', title: () => t('Customers'), roles: OWNERS, module: () => import('./pages/customers.js') },
  { id: 'messages', title: () => t('Messages'), roles: OWNERS, module: () => import('./pages/messages.js') },
  { id: 'bot', title: () => t('Bot'), roles: OWNERS, module: () => import('./pages/bot.js') },
  { id: 'webhooks', title: () => t('Webhooks'), roles: OWNERS, module: () => import('./pages/webhooks.js') },
  { id: 'users', title: () => t('Users'), roles: ['admin'], module: () => import('./pages/users.js') },
  { id: 'keys', title: () => t('API keys'), roles: OWNERS, module: () => import('./pages/keys.js') },
  { id: 'profile', title: () => t('Profile'), roles: ALL, module: () => import('./pages/profile.js') },
];
const visible = () => PAGES.filter((p) => p.roles.includes(S.me.role));

// What the page on screen subscribed to; undone when it goes.
let leaving = [];
function leave() {
  for (const off of leaving) off();
  leaving = [];
}

// ---------- login ----------
async function showLogin(message) {
  if (!S.me) await setLanguage((navigator.language || 'en').toLowerCase().startsWith('id') ? 'id' : 'en');
  live.close();
  leave();
  S.me = null;
  set(app, h('div', { class: 'login card' },
    h('h1', null, 'wagate'),
    message ? h('p', { class: 'error', id: 'login-message' }, message) : null,
    form(async (data) => {
      try {
        await api('POST', '/auth/session', { identifier: data.get('identifier'), password: data.get('password') });
        await boot();
      } catch (e) {
        const p = $('#login-error');
        p.textContent = e.message;
      }
    },
    field(t('Username or email'), h('input', { name: 'identifier', id: 'identifier', autocomplete: 'username', required: true })),
    field(t('Password'), h('input', { name: 'password', id: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('p', { class: 'error', id: 'login-error' }),
    h('button', { type: 'submit', id: 'login' }, t('Log in')))));
  $('#identifier').focus();
}
onSessionEnd(showLogin);

async function logout() {
  await act(() => api('DELETE', '/auth/session'));
  showLogin(t('You are logged out.'));
}

// ---------- frame, navigation ----------
async function boot() {
  try {
    S.me = (await api('GET', '/auth/me')).data;
  } catch (e) {
    showLogin(e.status === 401 ? null : e.message);
    return;
  }
  setZone(S.me.timezone);
  await setLanguage(S.me.ui_language);
  if (S.me.role === 'admin') {
    const users = await act(() => api('GET', '/user/list'));
    S.agents = (users?.data || []).filter((u) => u.role === 'agent' || u.role === 'admin');
  }
  live.connect();
  route();
}

// Available to answer chats (auto-assignment gives them to you), or away.
function availability() {
  const button = h('button', { class: 'secondary small', id: 'availability', 'aria-pressed': S.me.available });
  const show = () => {
    button.textContent = S.me.available ? t('● Available') : t('○ Away');
    button.setAttribute('aria-pressed', S.me.available);
    button.title = S.me.available ? t('Chats may be given to you; click to be away') : t('No chats are given to you; click to be available');
  };
  button.onclick = async () => {
    const me = await act(() => api('PUT', '/auth/me/availability', { available: !S.me.available }));
    if (me) { S.me = me.data; show(); }
  };
  show();
  return button;
}

// The dashboard's language: saved for the person (readonly: for this page only).
function languagePicker() {
  const pick = h('select', { id: 'language', 'aria-label': t('Language') },
    Object.entries(LANGUAGE_NAMES).map(([code, name]) => h('option', { value: code, selected: code === currentLanguage() }, name)));
  pick.onchange = async () => {
    if (S.me.role !== 'readonly') {
      const me = await act(() => api('PUT', '/auth/me/language', { language: pick.value }));
      if (!me) return;
      S.me.language = me.data.language;
    }
    S.me.ui_language = pick.value;
    await setLanguage(pick.value);
    route();
  };
  return pick;
}

async function route() {
  if (!S.me) return;
  leave();
  const pages = visible();
  const wanted = location.hash.replace(/^#\/?/, '').split('/')[0];
  const page = pages.find((p) => p.id === wanted) || pages[0];
  const main = h('main', { id: 'main' });
  set(app,
    h('header', { class: 'top' },
      h('strong', null, 'wagate'),
      h('nav', { 'aria-label': t('Pages') }, pages.map((p) =>
        h('a', { href: `#/${p.id}`, id: `nav-${p.id}`, class: p.id === page.id ? 'active' : null, 'aria-current': p.id === page.id ? 'page' : null }, p.title()))),
      h('span', { class: 'who' }, h('span', { id: 'live', class: `live${live.connected() ? ' on' : ''}`, title: t('live updates') }), ' ',
        S.me.name || S.me.username || S.me.email, ` (${word(S.me.role)})`),
      S.me.role === 'agent' || S.me.role === 'admin' ? availability() : null,
      languagePicker(),
      h('button', { class: 'secondary', id: 'logout', onclick: logout }, t('Log out'))),
    main);
  // A page still loading when another is chosen subscribes to nothing.
  let shown = true;
  leaving.push(() => { shown = false; });
  const context = {
    // Live events while this page is shown.
    subscribe: (fn) => {
      if (!shown) return () => {};
      const off = live.subscribe(fn);
      leaving.push(off);
      return off;
    },
    reload: route,
  };
  let module;
  try {
    module = await page.module();
  } catch (e) {
    toast(t('Cannot load the page: {error}', { error: e.message }), true);
    return;
  }
  if (shown) module.default(main, context);
}
window.addEventListener('hashchange', route);

boot();
