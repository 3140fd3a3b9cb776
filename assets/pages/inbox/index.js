// The inbox: the chat list, the open chat (its head, timeline and reply box)
// and the customer beside it, live through chat.*, message.* and
// presence.update events (the contact typing in the open chat).

import { h, $, set, badge, form } from '../../lib/dom.js';
import { api, act } from '../../lib/api.js';
import { S } from '../../lib/state.js';
import { chatList, labelChips } from './list.js';
import { timeline } from './timeline.js';
import { composer } from './composer.js';
import { customerPanel } from './panel.js';
import { t, word } from '../../lib/i18n.js';

export default async function inboxPage(main, page) {
  const canWrite = S.me.role !== 'readonly';
  // What the parts share: the open chat ({chat, profile, entries, before}) and how to open one.
  const inbox = { open: null, opening: null, openChat, refresh, openPhone };
  const list = chatList(inbox);
  const entries = timeline(inbox, canWrite);
  const side = customerPanel(inbox);
  const chatEl = h('section', { class: 'chat', id: 'chat', 'aria-label': t('Chat') }, h('p', { class: 'muted', style: 'padding:1em' }, t('Choose a chat.')));
  const grid = h('div', { class: 'inbox' });

  async function setChat(change, done) {
    const updated = await act(() => api('PATCH', `/chats/${inbox.open.chat.id}`, change), done);
    if (updated) chatUpdated(updated);
  }

  // Who has the chat; a transfer to someone may carry a note for the team.
  function assignControl(c) {
    if (S.agents.length) {
      const note = h('input', { id: 'transfer-note', placeholder: t('note with a transfer'), maxlength: 4096, 'aria-label': t('Note with a transfer'), style: 'width:12em' });
      const pick = (e) => {
        const change = { assigned_agent_id: e.target.value ? Number(e.target.value) : null };
        if (change.assigned_agent_id && note.value.trim()) change.note = note.value.trim();
        setChat(change, t('Assigned')).then(() => { note.value = ''; });
      };
      return h('span', { class: 'assign' },
        h('select', { id: 'assign', 'aria-label': t('Assign to'), onchange: pick },
          h('option', { value: '' }, t('Unassigned')),
          S.agents.map((a) => h('option', { value: a.id, selected: a.id === c.assigned_agent_id }, `${a.name || a.username} (${word(a.role)}${a.available ? '' : t(', away')})`))),
        ' ', note);
    }
    return form((data) => setChat({ assigned_agent_id: data.get('agent') ? Number(data.get('agent')) : null }, t('Assigned')),
      h('input', { name: 'agent', type: 'number', placeholder: t('agent id'), value: c.assigned_agent_id ?? '', style: 'width:7em', 'aria-label': t('Agent id') }),
      h('button', { type: 'submit', class: 'secondary' }, t('Assign')));
  }

  // The chat's head: who, its mode and agent (redrawn as they change, while
  // the timeline and the reply being typed stay).
  function drawHead() {
    const c = inbox.open.chat;
    // The bot never answers a group.
    const modes = c.kind === 'group' ? ['agent', 'paused', 'closed'] : ['bot', 'agent', 'paused', 'closed'];
    set($('#chat-head', chatEl),
      h('button', { class: 'secondary back', onclick: () => { grid.classList.remove('open'); } }, t('‹ Chats')),
      h('span', { class: 'title', id: 'chat-title' }, c.name || c.phone, ' ', h('span', { class: 'muted' }, c.kind === 'group' ? word('group') : `+${c.phone}`),
        h('span', { class: 'typing', id: 'typing', hidden: true })),
      badge(c.mode, 'mode'),
      c.csat_rating ? h('span', { class: 'badge', id: 'csat', title: t('The customer\'s rating') }, `★ ${c.csat_rating}`)
        : (c.csat_pending ? h('span', { class: 'badge muted', id: 'csat', title: t('The customer was asked for a rating') }, t('★ asked')) : null),
      canWrite ? modes.map((m) => h('button', { class: m === c.mode ? '' : 'secondary', 'data-mode': m, 'aria-pressed': m === c.mode, onclick: () => setChat({ mode: m }, t('Mode: {mode}', { mode: word(m) })) }, word(m))) : null,
      canWrite && S.me.role !== 'agent' ? assignControl(c) : null,
      h('span', { id: 'chat-labels' }, labelChips(c.labels)),
      canWrite ? h('button', { class: 'secondary small', id: 'edit-labels', onclick: editLabels }, t('Labels…')) : null,
      h('a', { class: 'button secondary small', id: 'export-chat', href: `/chats/export?chat_id=${c.id}`, download: '' }, t('Export')),
      h('span', { id: 'label-editor' }));
  }

  // The chat's labels, ticked on and off among its account's.
  async function editLabels() {
    const c = inbox.open.chat;
    const all = (await act(() => api('GET', `/labels?chat_id=${c.id}`)))?.data || [];
    const on = new Set((c.labels || []).map((l) => l.id));
    const editor = $('#label-editor', chatEl);
    if (!all.length) { set(editor, h('span', { class: 'muted' }, t(' No labels yet (Profile › Labels).'))); return; }
    set(editor, all.map((l) => h('label', { class: 'label-pick' }, h('input', { type: 'checkbox', value: l.id, checked: on.has(l.id), onchange: async (e) => {
      if (e.target.checked) on.add(l.id); else on.delete(l.id);
      const updated = await act(() => api('PUT', `/chats/${c.id}/labels`, { labels: [...on] }));
      if (updated) chatUpdated(updated);
    } }), ' ', l.name)));
  }

  function drawChat() {
    set(chatEl,
      h('div', { class: 'head', id: 'chat-head' }),
      entries.render(),
      canWrite ? composer(inbox, entries.add) : null);
    drawHead();
    entries.draw(true);
    side.draw();
  }

  // Opens a chat at its latest messages, or (a search hit) at entry `at`:
  // that message and those before it, then the newer ones as far as a page
  // goes (`after`: more to read on scrolling down).
  async function openChat(id, at) {
    // Messages told (by the event stream) while the chat loads are kept here,
    // then shown: the page read may have been answered before they came.
    const opening = { id, early: [] };
    inbox.opening = opening;
    const detail = await act(() => api('GET', `/chats/${id}?limit=50`));
    if (!detail) return;
    const { profile, messages, before, ...chat } = detail;
    inbox.open = { chat, profile, entries: messages, before, after: null };
    if (at && !messages.some((e) => e.id === at)) {
      const [older, newer] = await Promise.all([
        act(() => api('GET', `/chats/${id}/messages?before=${at + 1}&limit=30`)),
        act(() => api('GET', `/chats/${id}/messages?after=${at}&limit=50`)),
      ]);
      if (older && newer) inbox.open = { chat, profile, entries: older.data.concat(newer.data), before: older.before, after: newer.after };
    }
    grid.classList.add('open');
    drawChat();
    if (inbox.opening === opening) inbox.opening = null;
    for (const m of opening.early) entries.upsert(m);
    if (at) entries.jumpTo(at);
    if (inbox.open.chat.unread && canWrite) {
      const read = await act(() => api('POST', `/chats/${id}/read`));
      if (read) chatUpdated({ ...inbox.open.chat, unread: 0 });
    }
    list.draw();
  }

  // The open chat's latest messages again: reactions, edits, deletions and
  // votes change messages already shown.
  async function refresh() {
    const open = inbox.open;
    if (!open) return;
    const page = await act(() => api('GET', `/chats/${open.chat.id}/messages?limit=50`));
    if (!page || inbox.open !== open) return;
    const kept = open.entries.filter((e) => !page.data.some((p) => p.id === e.id) && (page.data.length === 0 || e.id < page.data[0].id));
    open.entries = kept.concat(page.data);
    entries.draw(false);
  }

  // A contact card's number: its chat (opened on the open chat's session).
  async function openPhone(phone) {
    const c = await act(() => api('POST', '/chats/', { customer_name: `+${phone}`, customer_phone: phone, session: inbox.open?.chat.session }));
    if (c) openChat(c.id);
  }

  // "typing…" in the open chat's head, while the contact types.
  let typingTimer = null;
  function showTyping(state) {
    const el = $('#typing', chatEl);
    if (!el) return;
    clearTimeout(typingTimer);
    const label = { composing: t('typing…'), recording: t('recording audio…') }[state];
    el.hidden = !label;
    el.textContent = label ? ` ${label}` : '';
    // WhatsApp tells a pause, but a lost one must not leave it up.
    if (label) typingTimer = setTimeout(() => { el.hidden = true; }, 25000);
  }

  function chatUpdated(c) {
    if (!c || !c.id) return;
    const open = inbox.open;
    if (open && open.chat.id === c.id) {
      const modeChanged = open.chat.mode !== c.mode || open.chat.assigned_agent_id !== c.assigned_agent_id
        || (c.csat_rating !== undefined && (open.chat.csat_rating !== c.csat_rating || open.chat.csat_pending !== c.csat_pending));
      // Labels change in place (their editor stays open).
      if (c.labels) { const el = $('#chat-labels', chatEl); if (el) set(el, labelChips(c.labels)); }
      open.chat = { ...open.chat, ...c };
      if (modeChanged) drawHead();
    }
    list.update(c);
  }

  grid.append(list.el, chatEl, side.el);
  main.append(h('div', { class: 'row', style: 'justify-content:space-between' }, h('h1', null, t('Inbox')), list.countsEl), grid);

  page.subscribe((kind, data) => {
    const open = inbox.open;
    if (kind === 'chat.message' && inbox.opening?.id === data.chat_id) inbox.opening.early.push(data.message);
    if (kind === 'chat.updated') {
      chatUpdated(data);
      list.countsSoon();
    }
    if (kind === 'chat.message' && open && data.chat_id === open.chat.id) {
      entries.upsert(data.message);
      if (data.message.sender === 'customer' && document.visibilityState === 'visible' && canWrite) {
        api('POST', `/chats/${open.chat.id}/read`).then(() => chatUpdated({ ...open.chat, unread: 0 })).catch(() => {});
      }
    }
    if (kind === 'message.status' && open) entries.status(data);
    if (kind === 'presence.update' && open && data.chat_id === open.chat.id) showTyping(data.state);
    if (['message.reaction', 'message.edited', 'message.revoked', 'poll.vote'].includes(kind) && open && data.chat_id === open.chat.id) refresh();
    if (kind === 'chat.message' && open && data.chat_id === open.chat.id && data.message.sender === 'customer') showTyping('paused');
  });
  await list.load();
}
