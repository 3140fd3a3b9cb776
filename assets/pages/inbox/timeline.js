// The open chat's timeline: bubbles of every kind (media played in place,
// locations with a map link, contact cards, polls with their tally, calls),
// what a message quotes, its reactions, edits and deletion; actions on a
// message (reply, react, edit, delete); the team's private notes; older
// messages on scrolling up. In a
// group chat, each received message names who wrote it, and the group's
// changes (participants, subject, settings) are lines of their own.

import { h, set } from '../../lib/dom.js';
import { api, act } from '../../lib/api.js';
import { S } from '../../lib/state.js';
import { t, word } from '../../lib/i18n.js';

const TICKS = { queued: '🕓', sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠' };
// Changes of another message: applied to it, never bubbles of their own.
const CHANGES = ['reaction', 'edit', 'revoke', 'poll_vote'];
export const EMOJIS = ['👍', '❤️', '😂', '😮', '🙏', '✅'];

// What a message shows in one line (quotes, previews).
export const LABELS = () => ({ image: t('📷 Photo'), video: t('🎥 Video'), audio: t('🎵 Audio'), voice: t('🎤 Voice note'), sticker: t('🏷️ Sticker'), document: t('📄 Document'), location: t('📍 Location'), contact: t('👤 Contact'), poll: t('📊 Poll'), call: t('📞 Call') });

// Who wrote a received group message, or made a group change.
const author = (e) => e.push_name || (e.participant ? `+${e.participant}` : null);

// A group change in words.
function groupChange(e) {
  const x = e.extra || {};
  const who = e.sender === 'phone' ? t('This number') : (author(e) || t('Someone'));
  const them = (x.participants || []).map((p) => `+${p}`).join(', ');
  switch (x.action) {
    case 'create': return t('{who} created the group "{subject}"', { who, subject: x.subject || '' });
    case 'add': return x.reason === 'invite' ? t('{them} joined by the invite link', { them }) : t('{who} added {them}', { who, them });
    case 'remove': return x.reason === 'leave' || (x.participants || []).includes(e.participant) ? t('{them} left', { them }) : t('{who} removed {them}', { who, them });
    case 'promote': return t('{who} made {them} admin', { who, them });
    case 'demote': return t('{who} dismissed {them} as admin', { who, them });
    case 'subject': return t('{who} changed the subject to "{subject}"', { who, subject: x.subject || '' });
    case 'description': return t('{who} changed the description', { who });
    case 'announce': return x.on ? t('{who} let only admins send messages', { who }) : t('{who} let everyone send messages', { who });
    case 'locked': return x.on ? t('{who} let only admins edit the group info', { who }) : t('{who} let everyone edit the group info', { who });
    case 'invite_reset': return t('{who} reset the invite link', { who });
    default: return t('{who} changed the group', { who });
  }
}

export function snippet(e) {
  if (!e) return t('a message');
  if (e.extra?.deleted) return t('Deleted message');
  return e.text || e.caption || LABELS()[e.type] || `[${e.type}]`;
}

export function timeline(inbox, canWrite) {
  let el = null;
  let loadingOlder = false;

  const findMessage = (id) => inbox.open?.entries.find((x) => x.message_id === id);

  function media(e, out) {
    const open = inbox.open;
    if (!e.media || !open) return null;
    const url = `/chats/${open.chat.id}/messages/${e.id}/media`;
    const name = e.media.filename || e.type;
    // A sent file no longer kept (after inbox.media_retention): named, not shown.
    if (out && e.media.state !== 'done') return h('span', { class: 'media-sent' }, `${LABELS()[e.type] || e.type}${e.media.filename ? ` · ${e.media.filename}` : ''}`);
    if (e.media.state !== 'done') return h('span', { class: 'muted' }, `[${e.type}: ${e.media.state}${e.media.error ? ` – ${e.media.error}` : ''}]`);
    if (e.type === 'image' || e.type === 'sticker') return h('a', { href: url, target: '_blank' }, h('img', { src: url, alt: e.caption || name, loading: 'lazy' }));
    if (e.type === 'video') return h('video', { src: url, controls: true, preload: 'metadata', class: 'player' });
    if (e.type === 'audio' || e.type === 'voice') return h('audio', { src: url, controls: true, preload: 'metadata', class: 'player', 'data-kind': e.type });
    return h('a', { href: url, download: e.media.filename || '' }, t('Download {name}', { name }));
  }

  // The body of a message that is not text or media.
  function special(e) {
    const x = e.extra || {};
    if (e.type === 'location') {
      const lat = x.latitude ?? x.location?.latitude, lon = x.longitude ?? x.location?.longitude;
      const name = x.name || x.location?.name || e.text;
      return h('div', { class: 'location' }, '📍 ', name ? h('strong', null, name) : null,
        x.address ? h('div', { class: 'muted' }, x.address) : null,
        lat !== undefined ? h('a', { href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`, target: '_blank', rel: 'noopener' }, t('{lat}, {lon} – map', { lat: Number(lat).toFixed(5), lon: Number(lon).toFixed(5) })) : null);
    }
    if (e.type === 'contact') {
      const cards = x.contacts || (x.display_name ? [{ name: x.display_name, phones: [] }] : [{ name: e.text, phones: [] }]);
      return h('div', { class: 'cards' }, cards.map((c) => h('div', { class: 'card-contact' }, '👤 ', h('strong', null, c.name || t('Contact')),
        (c.phones || []).map((p) => h('div', null, `+${p}`, inbox.openPhone && canWrite ? h('button', { class: 'secondary small', onclick: () => inbox.openPhone(p) }, t('Open chat')) : null)))));
    }
    if (e.type === 'poll') {
      const options = x.options || Object.keys(x.tally || {});
      const tally = x.tally || {};
      const total = Object.values(tally).reduce((a, b) => a + b, 0);
      return h('div', { class: 'poll' }, h('strong', null, `📊 ${x.question || e.text || t('Poll')}`),
        options.map((o) => {
          const name = typeof o === 'string' ? o : o.name;
          const n = tally[name] || 0;
          return h('div', { class: 'poll-option', 'data-option': name }, h('span', null, name), h('span', { class: 'count' }, String(n)),
            h('div', { class: 'bar', style: `width:${total ? Math.round((n / total) * 100) : 0}%` }));
        }));
    }
    if (e.type === 'call') {
      const what = x.action === 'rejected' ? t('Rejected') : t('Missed');
      return h('div', { class: 'call' }, `📞 ${x.video ? t('{what} video call', { what }) : t('{what} voice call', { what })}`, x.replied ? h('span', { class: 'muted' }, t(' · auto-reply sent')) : null);
    }
    return null;
  }

  function quote(e) {
    if (!e.quoted_id) return null;
    const q = findMessage(e.quoted_id);
    return h('div', { class: 'quote', title: t('Show the quoted message'), onclick: () => jump(e.quoted_id) }, snippet(q));
  }

  // Everyone's reactions, the session's own among them (under its number).
  function reactions(e) {
    const list = Object.entries(e.extra?.reactions || {}).filter(([, emoji]) => emoji);
    if (!list.length) return null;
    return h('div', { class: 'reactions' }, list.map(([who, emoji]) => h('span', { class: 'reaction', title: who }, emoji)));
  }

  function actions(e, out) {
    if (!canWrite || e.extra?.deleted) return null;
    const open = inbox.open;
    const mine = out && e.sender !== 'phone' && e.message_id;
    const change = async (method, path, body, done) => {
      const answer = await act(() => api(method, `/chats/${open.chat.id}/messages/${e.id}${path}`, body), done);
      if (answer) inbox.refresh?.();
    };
    const picker = h('span', { class: 'picker', hidden: true },
      EMOJIS.map((emoji) => h('button', { class: 'secondary small', 'data-emoji': emoji, onclick: () => { picker.hidden = true; change('POST', '/react', { emoji }, t('Reacted')); } }, emoji)),
      h('button', { class: 'secondary small', onclick: () => { picker.hidden = true; change('POST', '/react', { emoji: '' }, t('Reaction removed')); } }, '✕'));
    return h('div', { class: 'actions' },
      h('button', { class: 'secondary small', 'data-action': 'reply', onclick: () => inbox.quoteMessage?.(e) }, t('Reply')),
      h('button', { class: 'secondary small', 'data-action': 'react', onclick: () => { picker.hidden = !picker.hidden; } }, t('React')),
      picker,
      mine && e.type === 'text' ? h('button', { class: 'secondary small', 'data-action': 'edit', onclick: () => {
        const text = window.prompt(t('Edit the message'), e.text || '');
        if (text !== null && text.trim() && text !== e.text) change('POST', '/edit', { text }, t('Edited'));
      } }, t('Edit')) : null,
      mine ? h('button', { class: 'secondary small danger', 'data-action': 'delete', onclick: () => {
        if (window.confirm(t('Delete this message for everyone?'))) change('DELETE', '', undefined, t('Deleted'));
      } }, t('Delete')) : null);
  }

  function bubble(e) {
    if (e.type === 'group_update') return h('div', { class: 'system', 'data-entry': e.id, 'data-type': e.type }, groupChange(e), ' · ', e.time);
    if (e.sender === 'note') {
      return h('div', { class: 'bubble out note', 'data-entry': e.id, 'data-type': 'note' },
        h('div', { class: 'muted', style: 'font-size:.75em' }, t('📝 Note · {author} · only the team sees it', { author: e.agent_name || t('team') })),
        h('div', null, e.text), h('div', { class: 'meta' }, e.time));
    }
    const out = e.sender !== 'customer';
    const deleted = !!e.extra?.deleted;
    const body = deleted ? null : (media(e, out) || special(e));
    const textual = ['text', 'location', 'contact', 'poll', 'call', 'reaction'].includes(e.type);
    const text = deleted ? null : (e.type === 'text' ? e.text : (textual ? null : (e.caption || (body ? null : `[${e.type}]`))));
    return h('div', { class: `bubble${out ? ' out' : ''}${deleted ? ' deleted' : ''}`, 'data-entry': e.id, 'data-message': e.message_id, 'data-status': e.status, 'data-type': e.type },
      out && e.sender !== 'phone' ? h('div', { class: 'muted', style: 'font-size:.75em' }, e.agent_name || word(e.sender)) : null,
      !out && e.participant ? h('div', { class: 'author', 'data-participant': e.participant }, author(e), e.push_name ? h('span', { class: 'muted' }, ` +${e.participant}`) : null) : null,
      quote(e), body, text ? h('div', null, text) : null,
      deleted ? h('div', { class: 'muted deleted-note' }, t('🚫 This message was deleted')) : null,
      reactions(e),
      // What it said before an edit: for admins only.
      h('div', { class: 'meta' }, e.extra?.edits?.length ? h('span', { class: 'edited', title: S.me?.role === 'admin' ? e.extra.edits.map((x) => x.text).join('\n') : null }, t('edited ')) : null,
        e.time, out ? h('span', { class: `tick ${e.status}`, title: e.reason || word(e.status) }, TICKS[e.status] || '') : null),
      actions(e, out));
  }

  function draw(keepBottom) {
    if (!el || !inbox.open) return;
    const atBottom = keepBottom || el.scrollTop + el.clientHeight >= el.scrollHeight - 30;
    set(el, ...inbox.open.entries.filter((e) => !CHANGES.includes(e.type)).map(bubble));
    if (atBottom) el.scrollTop = el.scrollHeight;
  }

  // Scrolls to a quoted message and marks it for a moment.
  function jump(id) {
    const target = el?.querySelector(`[data-message="${CSS.escape(id)}"]`);
    if (!target) return;
    target.scrollIntoView({ block: 'center' });
    target.classList.add('flash');
    setTimeout(() => target.classList.remove('flash'), 1500);
  }

  // Newer messages of a chat opened at a search hit, on scrolling down.
  let loadingNewer = false;
  async function newer() {
    const open = inbox.open;
    if (!open?.after || loadingNewer) return;
    loadingNewer = true;
    const page = await act(() => api('GET', `/chats/${open.chat.id}/messages?after=${open.after}&limit=50`));
    loadingNewer = false;
    if (!page || inbox.open !== open) return;
    const known = new Set(open.entries.map((e) => e.id));
    open.entries = open.entries.concat(page.data.filter((e) => !known.has(e.id)));
    open.after = page.after;
    draw(false);
  }

  async function older() {
    const open = inbox.open;
    if (!open?.before || loadingOlder) return;
    loadingOlder = true;
    const page = await act(() => api('GET', `/chats/${open.chat.id}/messages?before=${open.before}&limit=50`));
    loadingOlder = false;
    if (!page || inbox.open !== open) return;
    const height = el.scrollHeight;
    open.entries = page.data.concat(open.entries);
    open.before = page.before;
    draw(false);
    el.scrollTop = el.scrollHeight - height;
  }

  return {
    // A new timeline element, for a chat just opened.
    render() {
      el = h('div', { class: 'timeline', id: 'timeline', onscroll: (e) => {
        const t = e.target;
        if (t.scrollTop < 20) older();
        if (t.scrollTop + t.clientHeight > t.scrollHeight - 20) newer();
      } });
      return el;
    },
    draw,
    // Scrolls to entry `id` (a search hit) and marks it for a moment.
    jumpTo(id) {
      const target = el?.querySelector(`[data-entry="${id}"]`);
      if (!target) return;
      target.scrollIntoView({ block: 'center' });
      target.classList.add('flash', 'found');
      setTimeout(() => target.classList.remove('flash'), 2500);
    },
    // A reply just queued: added, unless events told of it already (they may
    // be newer than the answer that names it).
    add(e) {
      const open = inbox.open;
      if (!open || !e || open.entries.some((x) => x.id === e.id)) return;
      open.entries.push(e);
      draw(false);
    },
    // An entry, new or changed.
    upsert(e) {
      const open = inbox.open;
      if (!open || !e) return;
      const i = open.entries.findIndex((x) => x.id === e.id);
      if (i >= 0) open.entries[i] = e; else if (!open.after) open.entries.push(e);
      draw(false);
    },
    // A queued message's new status.
    status(data) {
      const e = inbox.open?.entries.find((x) => x.message_id === data.id);
      if (e) { e.status = data.status; e.reason = data.reason; draw(false); }
    },
  };
}
