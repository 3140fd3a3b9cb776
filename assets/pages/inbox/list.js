// The inbox's chat list: filters (a label among them), search by name or
// number, counts, endless scrolling; each chat with its labels. With "in
// messages" ticked, the search box searches inside messages instead: the
// list shows the messages found (the words marked), and each opens its chat
// at that message.

import { h, $, set, badge } from '../../lib/dom.js';
import { api, act } from '../../lib/api.js';
import { S } from '../../lib/state.js';
import { t, word, clock } from '../../lib/i18n.js';
import { LABELS } from './timeline.js';

// The name of an agent a chat is assigned to.
export function agentName(id) {
  if (id === S.me.id) return 'me';
  return S.agents.find((a) => a.id === id)?.name || `#${id}`;
}

// A chat's labels as coloured chips.
export const labelChips = (list) => (list || []).map((l) => h('span', { class: 'label', 'data-label': l.id, style: `background:${l.colour}` }, l.name));

export function chatList(inbox) {
  const filter = { assignee: 'all', mode: '', unread: false, q: '', label: '', inMessages: false };
  // The messages found (in-messages search): {data, words, before} or an error's text.
  let found = null;
  // The caller's account's labels (an agent's chats' accounts' come with each chat).
  let labels = [];
  let chats = [];
  const listEl = h('ul', { id: 'chats', 'aria-label': t('Chats') });
  const countsEl = h('span', { class: 'muted', id: 'counts' });

  const item = (c) => h('li', {
    tabindex: 0, 'data-chat': c.id, class: inbox.open?.chat.id === c.id ? 'selected' : null,
    onclick: () => inbox.openChat(c.id), onkeydown: (e) => { if (e.key === 'Enter') inbox.openChat(c.id); },
  },
  h('div', { class: 'name' }, h('span', null, c.kind === 'group' ? '👥 ' : null, c.name || c.phone, labelChips(c.labels)),
    h('span', { class: 'when' }, h('time', { class: 'muted', datetime: c.last_message_at }, clock(c.last_message_at)), ' ',
      c.unread ? h('span', { class: 'badge unread', 'data-unread': c.unread }, c.unread) : null)),
  h('div', { class: 'last' }, c.last_message ? `${c.last_message.sender === 'customer' ? '' : '↪ '}${c.last_message.text || LABELS()[c.last_message.type] || `[${c.last_message.type}]`}` : ''),
  h('div', { class: 'muted', style: 'font-size:.78em' }, badge(c.mode, 'mode'), ' ', c.session, c.assigned_agent_id ? ` · ${t('agent {name}', { name: agentName(c.assigned_agent_id) })}` : ''));

  function matches(c) {
    if (filter.mode && c.mode !== filter.mode) return false;
    if (filter.unread && !c.unread) return false;
    if (filter.assignee === 'me' && c.assigned_agent_id !== S.me.id) return false;
    if (filter.assignee === 'unassigned' && c.assigned_agent_id) return false;
    if (filter.q) {
      const q = filter.q.toLowerCase();
      if (!(c.name || '').toLowerCase().includes(q) && !c.phone.includes(q)) return false;
    }
    return true;
  }

  // `text` with the words that matched (the page's `words`) marked.
  function marked(text, words) {
    const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const re = new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
    const parts = [];
    let last = 0;
    for (const m of text.matchAll(re)) {
      parts.push(text.slice(last, m.index), h('mark', null, m[0]));
      last = m.index + m[0].length;
    }
    parts.push(text.slice(last));
    return parts;
  }

  const hit = (x, words) => h('li', {
    tabindex: 0, 'data-hit': x.message.id, 'data-chat': x.chat_id,
    onclick: () => inbox.openChat(x.chat_id, x.message.id), onkeydown: (e) => { if (e.key === 'Enter') inbox.openChat(x.chat_id, x.message.id); },
  },
  h('div', { class: 'name' }, h('span', null, x.chat_name || `+${x.phone}`), h('span', { class: 'muted', style: 'font-weight:normal;font-size:.8em' }, x.message.time)),
  h('div', { class: 'last found' }, x.message.sender === 'customer' ? '' : (x.message.sender === 'note' ? '📝 ' : '↪ '), marked(x.message.text || x.message.caption || '', words)));

  function drawFound() {
    if (typeof found === 'string') { set(listEl, h('li', { class: 'muted' }, found)); return; }
    set(listEl, ...found.data.map((x) => hit(x, found.words)));
    if (!found.data.length) listEl.append(h('li', { class: 'muted' }, t('No messages found.')));
  }

  async function searchMessages(more) {
    const params = new URLSearchParams({ q: filter.q, limit: 50 });
    if (more && found?.before) params.set('before', found.before);
    try {
      const page = await api('GET', `/chats/search?${params}`);
      found = more && typeof found === 'object' && found ? { ...page, data: found.data.concat(page.data) } : page;
    } catch (e) {
      if (e.status === 401) return;
      found = e.message;
    }
    drawFound();
  }

  function draw() {
    if (filter.inMessages && filter.q) { if (found) drawFound(); return; }
    chats.sort((a, b) => (a.last_message_at < b.last_message_at ? 1 : -1));
    set(listEl, ...chats.filter(matches).map(item));
    if (!listEl.children.length) listEl.append(h('li', { class: 'muted' }, t('No chats.')));
  }

  async function load(more) {
    if (filter.inMessages && filter.q) { await searchMessages(more); return; }
    found = null;
    const params = new URLSearchParams({ limit: 200 });
    if (filter.assignee !== 'all') params.set('assignee', filter.assignee);
    if (filter.mode) params.set('mode', filter.mode);
    if (filter.unread) params.set('unread', 'true');
    if (filter.q) params.set('q', filter.q);
    if (filter.label) params.set('label', filter.label);
    if (more && chats.length) params.set('before', chats[chats.length - 1].cursor);
    const page = await act(() => api('GET', `/chats/?${params}`));
    if (!page) return;
    chats = more ? chats.concat(page) : page;
    draw();
    await loadCounts();
  }

  async function loadCounts() {
    const counts = await act(() => api('GET', `/chats/counts${filter.label ? `?label=${filter.label}` : ''}`));
    if (counts) countsEl.textContent = counts.all === 1 ? t('{all} chat · {unread} unread · {mine} mine · {unassigned} unassigned', counts)
      : t('{all} chats · {unread} unread · {mine} mine · {unassigned} unassigned', counts);
  }
  let countsTimer;
  // Counts once a burst of changes settles.
  function countsSoon() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(loadCounts, 500);
  }

  let loadingMore = false;
  listEl.addEventListener('scroll', () => {
    const bottom = listEl.scrollTop + listEl.clientHeight > listEl.scrollHeight - 40;
    if (bottom && !loadingMore && filter.inMessages && filter.q && found?.before) {
      loadingMore = true;
      searchMessages(true).finally(() => { loadingMore = false; });
      return;
    }
    if (bottom && !loadingMore && chats.length % 200 === 0 && chats.length) {
      loadingMore = true;
      load(true).finally(() => { loadingMore = false; });
    }
  });

  // A chat as it is now (from an event or an answer): merged, or new on top.
  function update(c) {
    const i = chats.findIndex((x) => x.id === c.id);
    if (i >= 0) chats[i] = { ...chats[i], ...c }; else chats.unshift(c);
    draw();
  }

  // The export of what the list shows (its filters), in a time range.
  function exportUrl(format, from, to) {
    const params = new URLSearchParams({ format });
    if (filter.assignee !== 'all') params.set('assignee', filter.assignee);
    if (filter.mode) params.set('mode', filter.mode);
    if (filter.unread) params.set('unread', 'true');
    if (filter.q && !filter.inMessages) params.set('q', filter.q);
    if (filter.label) params.set('label', filter.label);
    if (from) params.set('from', from);
    if (to) params.set('to', to);
    return `/chats/export?${params}`;
  }
  const exportBox = () => {
    const from = h('input', { type: 'date', id: 'export-from', 'aria-label': t('From') });
    const to = h('input', { type: 'date', id: 'export-to', 'aria-label': t('To') });
    const link = (format) => h('a', { class: 'button secondary small', href: '#', 'data-export': format, onclick: (e) => { e.target.href = exportUrl(format, from.value, to.value); } }, format.toUpperCase());
    return h('details', { class: 'export', id: 'export' }, h('summary', null, t('Export…')),
      h('div', { class: 'row' }, from, '–', to, link('csv'), link('json')));
  };

  const filterButton = (key, label, apply, pressed) => h('button', { class: pressed() ? '' : 'secondary', 'aria-pressed': pressed(), 'data-filter': key, onclick: () => { apply(); drawFilters(); load(); } }, label);
  const filters = h('div', { class: 'filters' });
  let searchTimer;
  function drawFilters() {
    set(filters,
      h('input', { type: 'search', id: 'chat-search', placeholder: filter.inMessages ? t('Search in messages') : t('Search name or number'), 'aria-label': t('Search chats'), value: filter.q,
        oninput: (e) => { filter.q = e.target.value.trim(); clearTimeout(searchTimer); searchTimer = setTimeout(load, 300); } }),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'search-messages', checked: filter.inMessages,
        onchange: (e) => { filter.inMessages = e.target.checked; drawFilters(); load(); } }), t(' in messages')),
      S.me.role !== 'agent' ? [
        filterButton('mine', t('mine'), () => { filter.assignee = 'me'; }, () => filter.assignee === 'me'),
        filterButton('unassigned', t('unassigned'), () => { filter.assignee = 'unassigned'; }, () => filter.assignee === 'unassigned'),
        filterButton('all', t('all'), () => { filter.assignee = 'all'; }, () => filter.assignee === 'all'),
      ] : null,
      filterButton('unread', t('unread'), () => { filter.unread = !filter.unread; }, () => filter.unread),
      h('select', { 'aria-label': t('Mode'), id: 'mode-filter', onchange: (e) => { filter.mode = e.target.value; load(); } },
        ['', 'bot', 'agent', 'paused', 'closed'].map((m) => h('option', { value: m, selected: filter.mode === m }, m ? word(m) : t('any mode')))),
      labels.length ? h('select', { 'aria-label': t('Label'), id: 'label-filter', onchange: (e) => { filter.label = e.target.value; load(); } },
        h('option', { value: '' }, t('any label')), labels.map((l) => h('option', { value: l.id, selected: String(filter.label) === String(l.id) }, l.name))) : null,
      exportBox());
    const search = $('#chat-search', filters);
    if (search && document.activeElement?.id === 'chat-search') search.focus();
  }
  drawFilters();
  if (S.me.role !== 'agent') {
    api('GET', '/labels').then((answer) => { labels = answer.data; drawFilters(); }).catch(() => {});
  }

  return { el: h('section', { class: 'list' }, filters, listEl), countsEl, draw, load, update, countsSoon };
}
