// Mentions in a group: typing @ in a text box lists the group's
// participants; picking one (click, or Enter for the first) writes
// @<number>, as WhatsApp shows a mention, and `mentioned(text)` gives the
// numbers to send as `mentions`.

import { h, set } from './dom.js';

// `participants()`: a promise of [{phone, name?}].
export function mentionPicker(box, participants) {
  const menu = h('ul', { class: 'mentions', id: 'mention-list', role: 'listbox', hidden: true });
  let shown = [];
  let known = new Set();

  // What follows the @ being typed, or null when none is.
  function typed() {
    const m = /(^|\s)@([^\s@]*)$/.exec(box.value.slice(0, box.selectionStart));
    return m ? m[2].toLowerCase() : null;
  }

  function pick(p) {
    const at = box.selectionStart;
    const before = box.value.slice(0, at).replace(/@[^\s@]*$/, `@${p.phone} `);
    box.value = before + box.value.slice(at);
    box.selectionStart = box.selectionEnd = before.length;
    menu.hidden = true;
    box.focus();
  }

  async function show() {
    const q = typed();
    if (q === null) { menu.hidden = true; return; }
    const all = await participants();
    known = new Set(all.map((p) => p.phone));
    shown = all.filter((p) => p.phone.includes(q) || (p.name || '').toLowerCase().includes(q)).slice(0, 8);
    set(menu, shown.map((p) => h('li', { role: 'option', 'data-phone': p.phone, onmousedown: (e) => { e.preventDefault(); pick(p); } },
      p.name ? h('strong', null, p.name, ' ') : null, h('span', { class: 'muted' }, `+${p.phone}`))));
    menu.hidden = !shown.length || typed() === null;
  }

  box.addEventListener('input', show);
  // Before the box's own Enter (send): with the list open, Enter picks.
  box.addEventListener('keydown', (e) => {
    if (menu.hidden) return;
    if (e.key === 'Escape') { menu.hidden = true; e.preventDefault(); }
    if ((e.key === 'Enter' || e.key === 'Tab') && shown.length) { e.preventDefault(); e.stopImmediatePropagation(); pick(shown[0]); }
  }, true);
  box.addEventListener('blur', () => { setTimeout(() => { menu.hidden = true; }, 150); });

  return {
    menu,
    // The participants `text` mentions (each once).
    mentioned: (text) => [...new Set([...text.matchAll(/@(\d{5,15})/g)].map((m) => m[1]))].filter((p) => known.has(p)),
  };
}
