// The reply box of the open chat: text, or an image or document (with the
// text as its caption).

import { h, form } from '../../lib/dom.js';
import { api, act } from '../../lib/api.js';

// `sent(entry)`: the reply's timeline entry, once queued.
export function composer(chat, sent) {
  return form(async (data, el) => {
    const file = data.get('file');
    const text = data.get('text').trim();
    let body;
    if (file && file.size) {
      body = new FormData();
      body.set('chat_id', chat.id);
      body.set(file.type.startsWith('image/') ? 'image' : 'document', file, file.name);
      if (text) body.set('caption', text);
    } else if (text) {
      body = { chat_id: chat.id, text };
    } else return;
    const answer = await act(() => api('POST', '/chats/messages', body));
    if (answer) {
      // Clear what was sent, not what was typed or attached while it went.
      const box = el.elements.text, picked = el.elements.file.files[0];
      if (box.value.trim() === text) box.value = '';
      if (file && picked && picked.name === file.name && picked.size === file.size && picked.lastModified === file.lastModified) el.elements.file.value = '';
      sent(answer.entry);
    }
  }, h('div', { class: 'composer' },
    h('label', { class: 'attach', title: 'Attach an image or a document' }, 'Attach', h('input', { type: 'file', name: 'file', id: 'attach' })),
    h('textarea', { name: 'text', id: 'reply', placeholder: 'Write a reply…', 'aria-label': 'Reply', onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); e.target.form.requestSubmit(); } } }),
    h('button', { type: 'submit', id: 'send' }, 'Send')));
}
