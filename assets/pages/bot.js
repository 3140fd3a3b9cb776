// The bot's document (GET/PUT /bot/config) edited as a form: menus and their
// options (added, moved, removed, each pointing at a reply, a menu or an
// action), commands, replies, office hours and limits; a live preview of
// the conversation as a customer would have it; the gateway's validation
// errors shown at the field they name. The JSON stays as an advanced view.

import { h, set, field } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { t } from '../lib/i18n.js';

const ACTIONS = () => [
  ['agent', t('Hand over to an agent')],
  ['pause', t('Pause the bot')],
  ['outage_status', t('Outage status of the customer\'s ODP')],
  ['main_menu', t('Back to the main menu')],
];
const COMMANDS = () => [
  ['agent', t('Hand over to an agent')],
  ['pause', t('Pause the bot')],
  ['bot', t('Back to the bot')],
  ['outage', t('Outage status')],
];
const MODES = () => ({
  agent: t('(the chat is now the agents\'; the bot is silent)'),
  paused: t('(the bot is paused)'),
  bot: t('(back with the bot)'),
});
const REPLIES = () => [
  ['replies.agent', t('After a hand-over')],
  ['replies.pause', t('After a pause')],
  ['replies.csat_question', t('Satisfaction question (after a close)')],
  ['replies.csat_thanks', t('Thanks for a rating')],
  ['replies.csat_fallback', t('To an answer that is no rating')],
  ['outage.none', t('No outage on the customer\'s ODP')],
  ['outage.unknown', t('The number is no customer\'s')],
];

// The value at a dotted path of the document (`replies.agent`).
const at = (doc, path) => path.split('.').reduce((o, k) => (o == null ? o : o[k]), doc);
function put(doc, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  keys.reduce((o, k) => (o[k] ??= {}), doc)[last] = value;
}

// A menu as the gateway sends it (bot/document.rs, `Effective::render`).
export function render(doc, name) {
  const menu = doc.menus[name];
  if (!menu) return '';
  const lines = [];
  if (name === doc.main_menu && doc.greeting.trim()) lines.push(doc.greeting);
  lines.push(menu.text);
  for (const o of menu.options) lines.push(/^[0-9]$/.test(o.key) ? `${o.key}\uFE0F\u20E3 ${o.label}` : `${o.key}. ${o.label}`);
  let out = lines.join('\n');
  if (doc.footer.trim()) out += `\n\n${doc.footer}`;
  return out;
}

// Words compared as the gateway does: lower case, spaces squeezed.
const normal = (s) => s.trim().toLowerCase().split(/\s+/).join(' ');

// What the bot answers `typed` (as the gateway's `step` in bot/mod.rs does);
// `state` ({ menu, mode }) is where the customer is, changed as the bot would.
export function answer(doc, state, typed) {
  const word = normal(typed);
  const main = doc.main_menu;
  const outage = t('(the outage status of the customer\'s ODP)');
  const handOver = () => {
    if (state.mode === 'agent') return [];
    state.mode = 'agent';
    return [doc.replies.agent];
  };
  const pause = () => {
    if (state.mode === 'paused') return [];
    state.mode = 'paused';
    return [doc.replies.pause];
  };
  const command = COMMANDS().map(([c]) => c).find((c) => (doc.commands[c] || []).some((w) => normal(w) === word));
  if (command === 'bot') {
    Object.assign(state, { mode: 'bot', menu: main });
    return [render(doc, main)];
  }
  if (command === 'agent') return handOver();
  if (command === 'pause') return pause();
  if (command === 'outage' && state.mode === 'bot') return [outage];
  if (state.mode !== 'bot') return [];
  const current = doc.menus[state.menu] ? state.menu : main;
  const option = (doc.menus[current]?.options || []).find((o) => normal(o.key) === word || normal(o.label) === word);
  if (!option) return [doc.fallback.trim() ? `${doc.fallback}\n\n${render(doc, current)}` : render(doc, current)];
  if (option.reply !== undefined) return [option.reply];
  if (option.menu !== undefined) {
    state.menu = option.menu;
    return [render(doc, option.menu)];
  }
  if (option.action === 'agent') return handOver();
  if (option.action === 'pause') return pause();
  if (option.action === 'main_menu') {
    state.menu = main;
    return [render(doc, main)];
  }
  return [outage];
}

export default async function botPage(main) {
  const answered = await act(() => api('GET', '/bot/config'));
  if (!answered) return;
  const canWrite = S.me.role !== 'readonly';
  let doc = answered.data.config;
  const sessions = answered.data.sessions;

  // Every input says which path of the document it edits (`data-path`), so
  // that an error naming a path is shown beside it.
  const bind = (el, path, { parse = (v) => v, show = (v) => v ?? '' } = {}) => {
    el.dataset.path = path;
    el.value = show(at(doc, path));
    el.disabled = !canWrite;
    el.addEventListener('input', () => { put(doc, path, parse(el.value)); changed(); });
    return el;
  };
  const text = (path, rows = 2) => bind(h('textarea', { rows }), path);
  const words = (path) => bind(h('input', { size: 40 }), path, {
    parse: (v) => v.split(',').map((w) => w.trim()).filter(Boolean),
    show: (v) => (v || []).join(', '),
  });

  const status = h('p', { id: 'bot-status', role: 'status' });
  const menusEl = h('div', { id: 'bot-menus' });
  const mainSelect = h('select', { id: 'bot-main-menu', 'data-path': 'main_menu', disabled: !canWrite });
  mainSelect.onchange = () => { doc.main_menu = mainSelect.value; changed(); };
  const json = h('textarea', { id: 'bot-config', rows: 24, spellcheck: 'false', class: 'code', 'data-path': '' });
  const previewLog = h('div', { class: 'preview-log', id: 'bot-preview' });
  const previewInput = h('input', { id: 'bot-preview-input', placeholder: t('Write as a customer…'), autocomplete: 'off' });
  let preview = { menu: doc.main_menu, mode: 'bot' };

  const menuNames = () => Object.keys(doc.menus).sort((a, b) => (a === doc.main_menu ? -1 : b === doc.main_menu ? 1 : a.localeCompare(b)));

  // The option's target: a reply, a menu or an action.
  function kindOf(o) {
    if (o.menu !== undefined) return 'menu';
    if (o.action !== undefined) return 'action';
    return 'reply';
  }

  function optionRow(name, options, i) {
    const o = options[i];
    const base = `menus.${name}.options[${i}]`;
    const key = h('input', { size: 4, 'data-path': `${base}.key`, value: o.key, disabled: !canWrite, 'aria-label': t('Key') });
    key.oninput = () => { o.key = key.value; changed(); };
    const label = h('input', { 'data-path': `${base}.label`, value: o.label, disabled: !canWrite, 'aria-label': t('Label') });
    label.oninput = () => { o.label = label.value; changed(); };
    const kind = h('select', { 'data-path': base, disabled: !canWrite, 'aria-label': t('Does') },
      h('option', { value: 'reply' }, t('Replies with a text')), h('option', { value: 'menu' }, t('Opens a menu')), h('option', { value: 'action' }, t('Does an action')));
    kind.value = kindOf(o);
    kind.onchange = () => {
      delete o.reply; delete o.menu; delete o.action;
      if (kind.value === 'reply') o.reply = '';
      if (kind.value === 'menu') o.menu = menuNames().find((m) => m !== name) || name;
      if (kind.value === 'action') o.action = 'agent';
      drawMenus();
      changed();
    };
    let target;
    if (kindOf(o) === 'reply') {
      target = h('textarea', { rows: 1, 'data-path': `${base}.reply`, disabled: !canWrite, 'aria-label': t('Reply') }, o.reply);
      target.oninput = () => { o.reply = target.value; changed(); };
    } else if (kindOf(o) === 'menu') {
      const names = menuNames().filter((m) => m !== name);
      target = h('select', { 'data-path': `${base}.menu`, disabled: !canWrite, 'aria-label': t('Menu') },
        names.map((m) => h('option', { value: m }, m)),
        names.includes(o.menu) ? null : h('option', { value: o.menu }, t('{name} (no such menu)', { name: o.menu })));
      target.value = o.menu;
      target.onchange = () => { o.menu = target.value; changed(); };
    } else {
      target = h('select', { 'data-path': `${base}.action`, disabled: !canWrite, 'aria-label': t('Action') },
        ACTIONS().map(([v, l]) => h('option', { value: v }, l)));
      target.value = o.action;
      target.onchange = () => { o.action = target.value; changed(); };
    }
    const move = (by) => () => {
      const [x] = options.splice(i, 1);
      options.splice(i + by, 0, x);
      drawMenus();
      changed();
    };
    return h('tr', { 'data-option': `${name}.${i}` },
      h('td', null, key), h('td', null, label), h('td', null, kind), h('td', { class: 'grow' }, target),
      canWrite ? h('td', { class: 'nowrap' },
        h('button', { type: 'button', class: 'secondary small', title: t('Up'), disabled: i === 0, onclick: move(-1) }, '↑'),
        h('button', { type: 'button', class: 'secondary small', title: t('Down'), disabled: i === options.length - 1, onclick: move(1) }, '↓'),
        h('button', { type: 'button', class: 'secondary small danger', title: t('Remove'), onclick: () => { options.splice(i, 1); drawMenus(); changed(); } }, '✕')) : null);
  }

  function menuCard(name) {
    const menu = doc.menus[name];
    const options = menu.options;
    const menuText = h('textarea', { rows: 2, 'data-path': `menus.${name}.text`, disabled: !canWrite, 'aria-label': t('Text') }, menu.text);
    menuText.oninput = () => { menu.text = menuText.value; changed(); };
    return h('section', { class: 'menu-card', 'data-menu': name, 'data-path': `menus.${name}` },
      h('div', { class: 'row spread' },
        h('h3', null, name, name === doc.main_menu ? h('span', { class: 'badge' }, t('main menu')) : null),
        canWrite && name !== doc.main_menu ? h('button', { type: 'button', class: 'secondary small danger', 'data-remove-menu': name, onclick: () => {
          delete doc.menus[name];
          drawMenus();
          changed();
        } }, t('Remove menu')) : null),
      field(t('Text'), menuText),
      h('table', { class: 'options' },
        h('thead', null, h('tr', null, [t('Key'), t('Label'), t('Does'), t('What'), ''].map((x) => h('th', null, x)))),
        h('tbody', null, options.map((_, i) => optionRow(name, options, i)))),
      canWrite ? h('button', { type: 'button', class: 'secondary small', 'data-add-option': name, onclick: () => {
        const used = new Set(options.map((o) => o.key));
        let n = 1;
        while (used.has(String(n))) n += 1;
        options.push({ key: String(n), label: '', reply: '' });
        drawMenus();
        changed();
      } }, t('Add option')) : null);
  }

  function drawMenus() {
    set(mainSelect, Object.keys(doc.menus).map((m) => h('option', { value: m }, m)),
      doc.menus[doc.main_menu] ? null : h('option', { value: doc.main_menu }, t('{name} (no such menu)', { name: doc.main_menu })));
    mainSelect.value = doc.main_menu;
    const newName = h('input', { id: 'bot-new-menu', placeholder: t('name, e.g. paket'), pattern: '[A-Za-z0-9_-]{1,64}' });
    set(menusEl, menuNames().map(menuCard),
      canWrite ? h('div', { class: 'row' }, field(t('New menu'), newName), h('button', { type: 'button', id: 'bot-add-menu', onclick: () => {
        const name = newName.value.trim();
        if (!name) return;
        if (doc.menus[name]) { status.textContent = t('A menu is named {name} already.', { name }); status.className = 'error'; return; }
        doc.menus[name] = { text: '', options: [] };
        drawMenus();
        changed();
      } }, t('Add menu'))) : null);
  }

  // The conversation as a customer would have it, from the main menu.
  function restartPreview() {
    preview = { menu: doc.main_menu, mode: 'bot' };
    set(previewLog, bubble('bot', render(doc, doc.main_menu)));
  }
  function bubble(who, textContent) {
    return h('div', { class: `bubble${who === 'bot' ? ' out' : ''}` }, textContent);
  }
  previewInput.onkeydown = (e) => {
    if (e.key !== 'Enter' || !previewInput.value.trim()) return;
    const mode = preview.mode;
    const texts = answer(doc, preview, previewInput.value);
    previewLog.append(bubble('customer', previewInput.value), ...texts.map((x) => bubble('bot', x)));
    if (preview.mode !== mode) previewLog.append(h('p', { class: 'muted small', 'data-mode': preview.mode }, MODES()[preview.mode]));
    previewInput.value = '';
    previewLog.scrollTop = previewLog.scrollHeight;
  };

  function changed() {
    clearErrors();
    json.value = JSON.stringify(doc, null, 2);
    restartPreview();
  }

  function clearErrors() {
    for (const el of main.querySelectorAll('.invalid')) el.classList.remove('invalid');
    for (const el of main.querySelectorAll('.field-error')) el.remove();
  }

  // The error beside the input of its path (or of the nearest path above it).
  function showError(path, message) {
    clearErrors();
    let el = null;
    for (let p = path; p !== null && !el; p = p.includes('.') || p.includes('[') ? p.replace(/(\.[^.[]*|\[\d+\])$/, '') : null) {
      el = [...main.querySelectorAll('[data-path]')].find((x) => x.dataset.path === p && x.offsetParent !== null);
    }
    status.textContent = `${path}: ${message}`;
    status.className = 'error';
    if (!el) return;
    el.classList.add('invalid');
    el.setAttribute('aria-invalid', 'true');
    el.after(h('span', { class: 'field-error error', role: 'alert' }, message));
    el.scrollIntoView({ block: 'center' });
    if (el.focus) el.focus();
  }

  async function save() {
    try {
      const saved = await api('PUT', '/bot/config', doc);
      doc = saved.data.config;
      status.textContent = t('Saved.');
      status.className = 'ok';
      draw();
    } catch (e) {
      if (e.status === 401) return;
      const error = e.body?.error || {};
      const message = (error.message || e.message).replace(`${error.field}: `, '');
      showError(error.field || '', message);
    }
  }

  const form = h('div');
  function draw() {
    const enabled = h('input', { type: 'checkbox', id: 'bot-enabled', checked: doc.enabled, disabled: !canWrite });
    enabled.onchange = () => { doc.enabled = enabled.checked; changed(); };
    const hours = h('input', { type: 'checkbox', id: 'bot-office-hours', checked: !!doc.office_hours, disabled: !canWrite });
    const hoursBox = h('div', { class: 'row' });
    const drawHours = () => set(hoursBox, doc.office_hours ? [
      field(t('Days (1 Monday … 7 Sunday)'), bind(h('input', { size: 14 }), 'office_hours.days', {
        parse: (v) => v.split(/[\s,]+/).filter(Boolean).map(Number), show: (v) => (v || []).join(', ') })),
      field(t('Open'), bind(h('input', { size: 5, placeholder: '08:00' }), 'office_hours.open')),
      field(t('Close'), bind(h('input', { size: 5, placeholder: '17:00' }), 'office_hours.close')),
      field(t('Reply outside them'), text('office_hours.reply')),
    ] : []);
    hours.onchange = () => {
      doc.office_hours = hours.checked ? { days: [1, 2, 3, 4, 5, 6], open: '08:00', close: '17:00', reply: '' } : null;
      drawHours();
      changed();
    };
    drawHours();
    const number = (path) => bind(h('input', { type: 'number', min: 1, size: 6 }), path, {
      parse: (v) => (v === '' ? null : Number(v)), show: (v) => (v ?? '') });
    set(form,
      h('div', { class: 'card' },
        h('label', { class: 'check' }, enabled, ' ', t('The bot answers chats in bot mode')),
        h('p', { class: 'muted' }, t('Sessions:'), ' ', sessions.map((x) => `${x.session} ${x.answering ? t('answers') : t('silent')}`).join(', ') || t('none')),
        field(t('Greeting (above the main menu)'), text('greeting')),
        field(t('Main menu'), mainSelect),
        field(t('Footer (below every menu)'), text('footer')),
        field(t('Answer to anything else (then the menu again)'), text('fallback'))),
      h('div', { class: 'card' }, h('h2', null, t('Menus')), menusEl),
      h('div', { class: 'card' }, h('h2', null, t('Commands')),
        h('p', { class: 'muted' }, t('Words a customer may type at any time, separated by commas.')),
        COMMANDS().map(([name, label]) => field(label, words(`commands.${name}`)))),
      h('div', { class: 'card' }, h('h2', null, t('Replies')),
        REPLIES().map(([path, label]) => field(label, text(path))),
        field(t('How an active notice is told (empty: the notices\' template)'), bind(h('textarea', { rows: 2 }), 'outage.template', {
          parse: (v) => (v.trim() ? v : null) }))),
      h('div', { class: 'card' }, h('h2', null, t('Hours and limits')),
        h('label', { class: 'check' }, hours, ' ', t('Office hours')), hoursBox,
        h('div', { class: 'row' },
          field(t('Back to the bot after this many idle minutes (empty: never)'), number('idle_return_minutes')),
          field(t('Most bot replies to a chat per minute'), number('max_replies_per_minute')))),
      h('details', { class: 'card' }, h('summary', null, t('Advanced: the document as JSON')),
        h('p', { class: 'muted' }, t('Session overrides are edited here. Apply reads the JSON into the form above.')),
        json,
        canWrite ? h('button', { type: 'button', class: 'secondary', id: 'bot-apply-json', onclick: () => {
          try { doc = JSON.parse(json.value); } catch (e) { showError('', t('Not JSON: {error}', { error: e.message })); return; }
          draw();
        } }, t('Apply')) : null));
    drawMenus();
    changed();
  }

  main.append(h('h1', null, t('Bot')),
    h('div', { class: 'bot-editor' },
      h('div', { class: 'bot-form' }, form,
        canWrite ? h('div', { class: 'card sticky' }, h('button', { id: 'save-bot', onclick: save }, t('Save')), status) : status),
      h('aside', { class: 'card bot-preview' }, h('h2', null, t('Preview')),
        h('p', { class: 'muted small' }, t('Type as a customer would; nothing is sent.')),
        previewLog, previewInput,
        h('button', { type: 'button', class: 'secondary small', id: 'bot-preview-restart', onclick: restartPreview }, t('Start again')))));
  draw();
}
