// The open chat's timeline: bubbles, media, status ticks, older messages on
// scrolling up.

import { h, set } from '../../lib/dom.js';
import { api, act } from '../../lib/api.js';

const TICKS = { queued: '🕓', sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠' };

export function timeline(inbox) {
  let el = null;
  let loadingOlder = false;

  function bubble(e) {
    const open = inbox.open;
    const out = e.sender !== 'customer';
    let media = null;
    if (e.media && open) {
      const url = `/chats/${open.chat.id}/messages/${e.id}/media`;
      const name = e.media.filename || e.type;
      // Sent files are not kept once WhatsApp has them: named, not shown.
      if (out) media = h('span', { class: 'media-sent' }, `[${e.type === 'image' ? 'image' : 'file'}: ${name}]`);
      else if (e.media.state !== 'done') media = h('span', { class: 'muted' }, `[${e.type}: ${e.media.state}${e.media.error ? ` – ${e.media.error}` : ''}]`);
      else if (e.type === 'image' || e.type === 'sticker') media = h('a', { href: url, target: '_blank' }, h('img', { src: url, alt: e.caption || name, loading: 'lazy' }));
      else media = h('a', { href: url, download: e.media.filename || '' }, `Download ${name}`);
    }
    const text = e.type === 'text' ? e.text : (e.caption || (media ? null : `[${e.type}]`));
    return h('div', { class: `bubble${out ? ' out' : ''}`, 'data-entry': e.id, 'data-message': e.message_id, 'data-status': e.status },
      out && e.sender !== 'phone' ? h('div', { class: 'muted', style: 'font-size:.75em' }, e.agent_name || e.sender) : null,
      media, text ? h('div', null, text) : null,
      h('div', { class: 'meta' }, e.time, out ? h('span', { class: `tick ${e.status}`, title: e.reason || e.status }, TICKS[e.status] || '') : null));
  }

  function draw(keepBottom) {
    if (!el || !inbox.open) return;
    const atBottom = keepBottom || el.scrollTop + el.clientHeight >= el.scrollHeight - 30;
    set(el, ...inbox.open.entries.map(bubble));
    if (atBottom) el.scrollTop = el.scrollHeight;
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
      el = h('div', { class: 'timeline', id: 'timeline', onscroll: (e) => { if (e.target.scrollTop < 20) older(); } });
      return el;
    },
    draw,
    // An entry, new or changed.
    upsert(e) {
      const open = inbox.open;
      if (!open || !e) return;
      const i = open.entries.findIndex((x) => x.id === e.id);
      if (i >= 0) open.entries[i] = e; else open.entries.push(e);
      draw(false);
    },
    // A queued message's new status.
    status(data) {
      const e = inbox.open?.entries.find((x) => x.message_id === data.id);
      if (e) { e.status = data.status; e.reason = data.reason; draw(false); }
    },
  };
}
