// The reply box of the open chat: text, or a file (image, video, audio,
// voice note, sticker or document, with the text as its caption where
// WhatsApp shows one), a location or a contact card; a reply may quote one of
// the chat's messages. While the agent types, the contact sees "typing…". In
// a group chat, @ picks a participant to mention. "Note" keeps the text as
// a private note of the team instead; /shortcut picks a canned reply.

import { h, set, form } from '../../lib/dom.js';
import { api, act } from '../../lib/api.js';
import { snippet } from './timeline.js';
import { mentionPicker } from '../../lib/mentions.js';
import { t } from '../../lib/i18n.js';

// The field a file goes in, by what it is.
export function fieldOf(file) {
  const type = file.type || '';
  const name = file.name.toLowerCase();
  if (type === 'image/webp' || name.endsWith('.webp')) return 'sticker';
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type === 'audio/ogg' || type === 'audio/opus' || name.endsWith('.ogg') || name.endsWith('.opus')) return 'voice';
  if (type.startsWith('audio/')) return 'audio';
  return 'document';
}

// How often "typing…" is told again while the agent keeps typing, and after
// how long without a key it ends.
const TYPING_EVERY_MS = 5000;
const TYPING_IDLE_MS = 3000;

// `sent(entry)`: the reply's timeline entry, once queued.
export function composer(inbox, sent) {
  const chat = inbox.open.chat;
  let quoted = null;
  let typingAt = 0;
  let idle = null;

  const typing = (state) => api('POST', `/chats/${chat.id}/typing`, { state }).catch(() => {});
  function typed() {
    const now = Date.now();
    if (now - typingAt > TYPING_EVERY_MS) { typingAt = now; typing('composing'); }
    clearTimeout(idle);
    idle = setTimeout(() => { typingAt = 0; typing('paused'); }, TYPING_IDLE_MS);
  }
  function stopTyping() {
    if (!typingAt) return;
    clearTimeout(idle);
    typingAt = 0;
    typing('paused');
  }

  const quoteBar = h('div', { class: 'quoting', id: 'quoting', hidden: true });
  function drawQuote() {
    quoteBar.hidden = !quoted;
    quoteBar.replaceChildren(...(quoted ? [h('span', null, '↩ ', snippet(quoted)),
      h('button', { type: 'button', class: 'secondary small', id: 'quote-cancel', onclick: () => { quoted = null; drawQuote(); } }, '✕')] : []));
  }
  inbox.quoteMessage = (e) => { quoted = e; drawQuote(); box.elements.text.focus(); };

  async function send(body, done) {
    if (quoted) {
      if (body instanceof FormData) body.set('quoted', quoted.message_id); else body.quoted = quoted.message_id;
    }
    stopTyping();
    const answer = await act(() => api('POST', '/chats/messages', body), done);
    if (answer) {
      quoted = null;
      drawQuote();
      sent(answer);
    }
    return answer;
  }

  function location() {
    const where = window.prompt(t('Location: latitude, longitude (e.g. -6.2088, 106.8456)'));
    if (!where) return;
    const [lat, lon] = where.split(',').map((x) => Number(x.trim()));
    const name = window.prompt(t('Name of the place (optional)')) || undefined;
    send({ chat_id: chat.id, location: { latitude: lat, longitude: lon, name } }, t('Location sent'));
  }

  function contactCard() {
    const name = window.prompt(t('Contact name'));
    if (!name) return;
    const phone = window.prompt(t('Their phone number'));
    if (!phone) return;
    send({ chat_id: chat.id, contacts: [{ name, phones: [phone] }] }, t('Contact sent'));
  }

  const reply = h('textarea', { name: 'text', id: 'reply', placeholder: chat.kind === 'group' ? t('Write to the group; @ mentions a participant…') : t('Write a reply…'), 'aria-label': t('Reply'), oninput: (e) => { if (!e.target.form?.elements.note.checked) typed(); }, onblur: stopTyping, onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); e.target.form.requestSubmit(); } } });
  // A group's participants (asked once; an agent, who may not ask, gets those
  // who wrote in the chat), named as they wrote in it.
  let members = null;
  const picker = chat.kind === 'group' ? mentionPicker(reply, async () => {
    const entries = inbox.open?.entries || [];
    if (!members) {
      const g = await api('GET', `/groups/${encodeURIComponent(chat.phone)}?session=${encodeURIComponent(chat.session)}`).catch(() => null);
      members = g ? g.data.participants.map((p) => p.phone) : null;
    }
    const names = new Map(entries.filter((e) => e.participant && e.push_name).map((e) => [e.participant, e.push_name]));
    const phones = members || [...new Set(entries.filter((e) => e.participant).map((e) => e.participant))];
    return phones.map((phone) => ({ phone, name: names.get(phone) }));
  }) : null;
  // Canned replies: /shortcut lists those that match; picking one fills the
  // box with its text as filled for this chat.
  let canned = null;
  const cannedList = h('ul', { class: 'mentions', id: 'canned-list', role: 'listbox', hidden: true });
  let cannedShown = [];
  function pickCanned(r) {
    reply.value = r.filled ?? r.text;
    cannedList.hidden = true;
    reply.focus();
  }
  async function suggest() {
    const m = /^\/([a-z0-9_-]*)$/i.exec(reply.value);
    if (!m) { cannedList.hidden = true; return; }
    if (!canned) canned = (await api('GET', `/canned-replies?chat_id=${chat.id}`).catch(() => null))?.data || [];
    cannedShown = canned.filter((r) => r.shortcut.startsWith(m[1].toLowerCase())).slice(0, 8);
    set(cannedList, cannedShown.map((r) => h('li', { role: 'option', 'data-shortcut': r.shortcut, onmousedown: (e) => { e.preventDefault(); pickCanned(r); } },
      h('strong', null, `/${r.shortcut} `), h('span', { class: 'muted' }, (r.filled ?? r.text).slice(0, 80)))));
    cannedList.hidden = !cannedShown.length || !/^\/\S*$/.test(reply.value);
  }
  reply.addEventListener('input', suggest);
  reply.addEventListener('keydown', (e) => {
    if (cannedList.hidden) return;
    if (e.key === 'Escape') { cannedList.hidden = true; e.preventDefault(); }
    if ((e.key === 'Enter' || e.key === 'Tab') && cannedShown.length) { e.preventDefault(); e.stopImmediatePropagation(); pickCanned(cannedShown[0]); }
  }, true);
  reply.addEventListener('blur', () => { setTimeout(() => { cannedList.hidden = true; }, 150); });

  const box = form(async (data, el) => {
    const file = data.get('file');
    const text = data.get('text').trim();
    let body;
    if (file && file.size) {
      const field = fieldOf(file);
      body = new FormData();
      body.set('chat_id', chat.id);
      body.set(field, file, file.name);
      if (text && ['image', 'video', 'document'].includes(field)) body.set('caption', text);
    } else if (text && el.elements.note.checked) {
      // A private note: kept for the team, never sent.
      const kept = await act(() => api('POST', `/chats/${chat.id}/notes`, { text }), t('Note kept'));
      if (kept) {
        if (el.elements.text.value.trim() === text) el.elements.text.value = '';
        el.elements.note.checked = false;
        sent(kept);
      }
      return;
    } else if (text) {
      body = { chat_id: chat.id, text };
      const mentions = picker?.mentioned(text) || [];
      if (mentions.length) body.mentions = mentions;
    } else return;
    const answer = await send(body);
    if (answer) {
      // Clear what was sent, not what was typed or attached while it went.
      const typedBox = el.elements.text, picked = el.elements.file.files[0];
      if (typedBox.value.trim() === text) typedBox.value = '';
      if (file && picked && picked.name === file.name && picked.size === file.size && picked.lastModified === file.lastModified) el.elements.file.value = '';
    }
  }, quoteBar, picker?.menu, cannedList, h('div', { class: 'composer' },
    h('label', { class: 'attach', title: t('Attach a photo, video, audio, voice note (.ogg), sticker (.webp) or document') }, t('Attach'), h('input', { type: 'file', name: 'file', id: 'attach' })),
    h('button', { type: 'button', class: 'secondary', id: 'send-location', title: t('Send a location'), onclick: location }, '📍'),
    h('button', { type: 'button', class: 'secondary', id: 'send-contact', title: t('Send a contact card'), onclick: contactCard }, '👤'),
    h('label', { class: 'note-toggle', title: t('A private note: only the team sees it; it is never sent') }, h('input', { type: 'checkbox', name: 'note', id: 'note' }), t(' Note')),
    reply,
    h('button', { type: 'submit', id: 'send' }, t('Send'))));
  return box;
}
