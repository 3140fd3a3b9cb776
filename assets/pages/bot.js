import { h } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';

export default async function botPage(main, page) {
  const answer = await act(() => api('GET', '/bot/config'));
  if (!answer) return;
  const text = h('textarea', { id: 'bot-config', rows: 24, spellcheck: 'false', style: 'font-family:monospace' }, JSON.stringify(answer.data.config, null, 2));
  const status = h('p', { id: 'bot-status' });
  main.append(h('h1', null, 'Bot'),
    h('div', { class: 'card' },
      h('p', null, 'The menu bot answers customers first; ', h('strong', null, answer.data.config.enabled ? 'it is on.' : 'it is off.'),
        ' Sessions: ', answer.data.sessions.map((s) => `${s.session} ${s.answering ? 'answers' : 'silent'}`).join(', ') || 'none'),
      h('p', { class: 'muted' }, 'The document (see BotConfig in /docs). Errors name the field.'),
      text, status,
      S.me.role !== 'readonly' ? h('button', { id: 'save-bot', onclick: async () => {
        let config;
        try { config = JSON.parse(text.value); } catch (e) { status.textContent = `Not JSON: ${e.message}`; status.className = 'error'; return; }
        const saved = await act(() => api('PUT', '/bot/config', config), 'Bot saved');
        status.textContent = saved ? 'Saved.' : '';
      } }, 'Save') : null));
}
