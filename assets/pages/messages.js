import { h, set, badge, when } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { t, word } from '../lib/i18n.js';

export default async function messagesPage(main, page) {
  const queues = h('div', { class: 'row', id: 'queues' });
  const body = h('tbody', { id: 'messages' });
  const history = h('div');
  const sessions = (await act(() => api('GET', '/session/list')))?.data || [];
  async function load() {
    const statuses = await Promise.all(sessions.map((s) => act(() => api('GET', `/message/queue-status?session=${encodeURIComponent(s.sessionId)}`))));
    set(queues, ...statuses.filter(Boolean).map((q) => h('div', { class: 'card' }, h('strong', null, q.session), h('div', null, t('{pending} pending · {sending} sending · {sent} sent · {failed} failed', { pending: q.pending, sending: q.processing, sent: q.completed, failed: q.failed })))));
    const page = await act(() => api('GET', '/message/list?limit=50'));
    set(body, ...(page?.data || []).map((m) => h('tr', { 'data-message': m.id },
      h('td', null, when(m.created_at)), h('td', null, m.session), h('td', null, m.to), h('td', null, m.type),
      h('td', null, (m.text || m.caption || m.filename || '').slice(0, 80)), h('td', null, badge(m.status), m.reason ? h('div', { class: 'muted' }, m.reason) : null),
      h('td', null, h('button', { class: 'secondary', onclick: async () => {
        const full = await act(() => api('GET', `/message/${encodeURIComponent(m.id)}`));
        const hist = (full?.data || full)?.history || [];
        set(history, h('div', { class: 'card' }, h('h2', null, t('History of {id}', { id: m.id })), h('ul', null, hist.map((e) => h('li', null, `${when(e.at)}: ${word(e.status)}${e.reason ? ` (${e.reason})` : ''}`)))));
      } }, t('History'))))));
  }
  main.append(h('h1', null, t('Messages')), queues, history,
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, [t('Queued'), t('Session'), t('To'), t('Kind'), t('Content'), t('Status'), ''].map((x) => h('th', null, x)))), body)));
  page.subscribe((kind, data) => {
    if (kind !== 'message.status') return;
    const tr = body.querySelector(`tr[data-message="${CSS.escape(data.id)}"]`);
    if (tr) tr.children[5].replaceChildren(badge(data.status), data.reason ? h('div', { class: 'muted' }, data.reason) : '');
    else { clearTimeout(load.t); load.t = setTimeout(load, 1000); }
  });
  await load();
}
