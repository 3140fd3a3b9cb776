import { h, $, set, badge, when, field, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { t, word, clock } from '../lib/i18n.js';

const LIMITS = () => ({
  per_minute: t('per minute'), per_hour: t('per hour'), per_recipient_per_hour: t('per recipient per hour'),
  delay_min_ms: t('shortest delay (ms)'), delay_max_ms: t('longest delay (ms)'),
});

export default async function sessionsPage(main, page) {
  const canWrite = S.me.role !== 'readonly';
  const list = h('tbody', { id: 'sessions' });
  const panel = h('div', { id: 'link-panel' });
  let sessions = [];
  let linking = null;

  const row = (s) => h('tr', { 'data-session': s.sessionId },
    h('td', null, s.sessionId),
    h('td', { class: 'phone' }, s.phoneNumber || '—'),
    h('td', null, badge(s.status), s.reason ? h('div', { class: 'muted reason' }, s.reason) : null),
    h('td', null, when(s.lastConnectedAt)),
    h('td', null, canWrite ? [
      ['qr', 'pairing', 'connecting', 'disconnected'].includes(s.status) && !s.phoneNumber ? h('button', { onclick: () => showLink(s.sessionId) }, t('Link')) : null, ' ',
      h('button', { class: 'secondary', onclick: () => act(() => api('POST', '/session/restart', { sessionId: s.sessionId }), t('Restarting')).then(load) }, t('Restart')), ' ',
      h('button', { class: 'secondary', onclick: () => showLimits(s.sessionId) }, t('Limits')), ' ',
      h('button', { class: 'secondary', onclick: () => confirm(t('Log {session} out of WhatsApp?', { session: s.sessionId })) && act(() => api('POST', '/session/logout', { sessionId: s.sessionId }), t('Logged out')).then(load) }, t('Log out')), ' ',
      h('button', { class: 'danger', onclick: () => confirm(t('Delete {name}?', { name: s.sessionId })) && act(() => api('DELETE', `/session/${encodeURIComponent(s.sessionId)}`), t('Deleted')).then(load) }, t('Delete')),
    ] : null));

  async function load() {
    const answer = await act(() => api('GET', '/session/list'));
    sessions = answer?.data || [];
    set(list, ...sessions.map(row));
    if (!sessions.length) list.append(h('tr', null, h('td', { colspan: 5, class: 'muted' }, t('No sessions yet.'))));
  }

  async function showQr(id) {
    const img = $('#qr-image', panel);
    if (!img || linking !== id) return;
    try {
      const qr = (await api('GET', `/session/qr/${encodeURIComponent(id)}`)).data;
      if (qr.image) img.src = qr.image;
      $('#qr-expires', panel).textContent = qr.expiresAt ? t('Valid until {time}', { time: clock(qr.expiresAt) }) : '';
      if (qr.pairingCode) $('#pairing', panel).textContent = t('Pairing code: {code}', { code: qr.pairingCode });
    } catch (e) {
      if (e.status === 409) { $('#link-state', panel).textContent = e.message; img.removeAttribute('src'); }
    }
  }

  function showLink(id) {
    linking = id;
    set(panel, h('div', { class: 'card qr' },
      h('h2', null, t('Link {session}', { session: id })),
      h('p', null, t('On the phone: WhatsApp › Linked devices › Link a device, and scan this code. It changes as it expires.')),
      h('img', { id: 'qr-image', alt: t('QR code to link {session}', { session: id }) }),
      h('p', { id: 'qr-expires', class: 'muted' }),
      h('p', { id: 'link-state', role: 'status' }, t('Waiting for the scan…')),
      h('p', { id: 'pairing' }),
      canWrite ? form(async (data) => {
        const code = await act(() => api('POST', '/session/pairing-code', { sessionId: id, phoneNumber: data.get('phone') }));
        if (code) $('#pairing', panel).textContent = t('Pairing code: {code}', { code: code.data.value });
      }, h('div', { class: 'row' }, field(t('Or link with a phone number'), h('input', { name: 'phone', placeholder: '628…', required: true })),
        h('button', { type: 'submit' }, t('Get pairing code')))) : null,
      h('button', { class: 'secondary', onclick: () => { linking = null; set(panel); } }, t('Close'))));
    showQr(id);
  }

  async function showLimits(id) {
    const answer = await act(() => api('GET', `/session/${encodeURIComponent(id)}/limits`));
    if (!answer) return;
    const l = answer.data.limits;
    const names = ['per_minute', 'per_hour', 'per_recipient_per_hour', 'delay_min_ms', 'delay_max_ms'];
    set(panel, h('div', { class: 'card' }, h('h2', null, t('Send limits of {session}', { session: id })),
      form(async (data) => {
        const body = {};
        for (const n of names) body[n] = Number(data.get(n));
        await act(() => api('PUT', `/session/${encodeURIComponent(id)}/limits`, body), t('Limits saved'));
      }, h('div', { class: 'row' }, names.map((n) => field(LIMITS()[n], h('input', { name: n, type: 'number', min: 0, value: l[n] ?? '' })))),
      canWrite ? h('p', null, h('button', { type: 'submit' }, t('Save limits'))) : null)));
  }

  main.append(
    h('h1', null, t('Sessions')),
    canWrite ? h('div', { class: 'card' }, form(async (data, el) => {
      const body = { sessionId: data.get('sessionId') };
      if (data.get('phoneNumber')) body.phoneNumber = data.get('phoneNumber');
      const made = await act(() => api('POST', '/session/create', body), t('Session created'));
      if (made) { el.reset(); await load(); showLink(made.data.sessionId); }
    }, h('div', { class: 'row' },
      field(t('New session id'), h('input', { name: 'sessionId', id: 'new-session', required: true, pattern: '[A-Za-z0-9_\\-]{1,64}' })),
      field(t('Phone number (optional, for a pairing code)'), h('input', { name: 'phoneNumber' })),
      h('button', { type: 'submit', id: 'create-session' }, t('Create'))))) : null,
    panel,
    h('div', { class: 'card scroll' }, h('table', null,
      h('thead', null, h('tr', null, [t('Session'), t('Phone'), t('Status'), t('Last connected'), ''].map((x) => h('th', null, x)))), list)));
  page.subscribe((kind, data) => {
    if (kind === 'session.qr' && data.sessionId === linking) showQr(linking);
    if (kind === 'session.status') {
      const i = sessions.findIndex((s) => s.sessionId === data.sessionId);
      if (i >= 0) sessions[i] = data; else sessions.push(data);
      set(list, ...sessions.map(row));
      if (data.sessionId === linking) {
        const waiting = { qr: t('Waiting for the scan…'), pairing: t('Waiting for the code to be typed…'), connecting: t('Connecting…') }[data.status];
        $('#link-state', panel).textContent = data.status === 'connected' ? t('Connected as {phone}', { phone: data.phoneNumber }) : `${waiting || word(data.status)}${data.reason ? ` (${data.reason})` : ''}`;
        if (data.status === 'connected') $('#qr-image', panel)?.removeAttribute('src');
      }
    }
  });
  await load();
}
