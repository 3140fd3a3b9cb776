// The wagate dashboard: a client of the public API (see /docs), logged in with
// the HttpOnly cookie of POST /auth/session and live through GET /events.
// No framework and no build step: the DOM is built with h(), never from HTML
// strings, so nothing a customer writes can become markup.

const app = document.getElementById('app');
const toastBox = document.getElementById('toast');
const S = { me: null, events: null, page: null, onEvent: null, agents: [] };

// ---------- helpers ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike style attributes
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);
// Replaces an element's children (arrays flattened, null and false left out).
const set = (el, ...kids) => el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
const badge = (text, cls) => h('span', { class: `badge ${cls || text}` }, text);
const when = (t) => (t ? new Date(t).toLocaleString() : '');
const field = (label, input) => h('div', null, h('label', null, label, input));

function toast(message, bad) {
  toastBox.textContent = message;
  toastBox.className = `show${bad ? ' bad' : ''}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { toastBox.className = ''; }, bad ? 6000 : 2500);
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// One way to call the API: JSON in and out, the cookie sent, errors thrown.
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body instanceof FormData) opts.body = body;
  else if (typeof body === 'string') { opts.body = body; opts.headers['content-type'] = 'text/csv'; }
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers['content-type'] = 'application/json'; }
  const r = await fetch(path, opts);
  const type = r.headers.get('content-type') || '';
  const data = type.includes('json') ? await r.json() : await r.text();
  if (r.status === 401 && S.me) {
    showLogin('Your login ended; log in again.');
    throw new ApiError(401, data);
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// Runs an action, telling the user how it went.
async function act(fn, done) {
  try {
    const result = await fn();
    if (done) toast(done);
    return result;
  } catch (e) {
    if (e.status !== 401) toast(e.message, true);
    return undefined;
  }
}

function form(onsubmit, ...kids) {
  return h('form', { onsubmit: (e) => { e.preventDefault(); onsubmit(new FormData(e.target), e.target); } }, ...kids);
}

// ---------- login ----------
function showLogin(message) {
  if (S.events) { S.events.close(); S.events = null; }
  S.me = null;
  S.onEvent = null;
  set(app, h('div', { class: 'login card' },
    h('h1', null, 'wagate'),
    message ? h('p', { class: 'error', id: 'login-message' }, message) : null,
    form(async (data) => {
      try {
        await api('POST', '/auth/session', { identifier: data.get('identifier'), password: data.get('password') });
        await boot();
      } catch (e) {
        const p = $('#login-error');
        p.textContent = e.message;
      }
    },
    field('Username or email', h('input', { name: 'identifier', id: 'identifier', autocomplete: 'username', required: true })),
    field('Password', h('input', { name: 'password', id: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('p', { class: 'error', id: 'login-error' }),
    h('button', { type: 'submit', id: 'login' }, 'Log in'))));
  $('#identifier').focus();
}

async function logout() {
  await act(() => api('DELETE', '/auth/session'));
  showLogin('You are logged out.');
}

// ---------- frame, navigation, live events ----------
const ALL = ['admin', 'user', 'agent', 'readonly'];
const OWNERS = ['admin', 'user', 'readonly'];
const PAGES = [
  { id: 'inbox', title: 'Inbox', roles: ALL, render: inboxPage },
  { id: 'sessions', title: 'Sessions', roles: OWNERS, render: sessionsPage },
  { id: 'broadcasts', title: 'Broadcasts', roles: OWNERS, render: broadcastsPage },
  { id: 'customers', title: 'Customers', roles: OWNERS, render: customersPage },
  { id: 'messages', title: 'Messages', roles: OWNERS, render: messagesPage },
  { id: 'bot', title: 'Bot', roles: OWNERS, render: botPage },
  { id: 'webhooks', title: 'Webhooks', roles: OWNERS, render: webhooksPage },
  { id: 'users', title: 'Users', roles: ['admin'], render: usersPage },
  { id: 'keys', title: 'API keys', roles: OWNERS, render: keysPage },
  { id: 'profile', title: 'Profile', roles: ALL, render: profilePage },
];
const visible = () => PAGES.filter((p) => p.roles.includes(S.me.role));

async function boot() {
  try {
    S.me = (await api('GET', '/auth/me')).data;
  } catch (e) {
    showLogin(e.status === 401 ? null : e.message);
    return;
  }
  if (S.me.role === 'admin') {
    const users = await act(() => api('GET', '/user/list'));
    S.agents = (users?.data || []).filter((u) => u.role === 'agent' || u.role === 'admin');
  }
  connectEvents();
  route();
}

function connectEvents() {
  if (S.events) S.events.close();
  const source = new EventSource('/events');
  S.events = source;
  const kinds = ['session.status', 'session.qr', 'message.status', 'broadcast.progress', 'message.received', 'chat.message', 'chat.updated'];
  for (const kind of kinds) {
    source.addEventListener(kind, (e) => {
      if (S.onEvent) S.onEvent(kind, JSON.parse(e.data));
    });
  }
  source.addEventListener('unauthorized', () => { source.close(); showLogin('Your login ended; log in again.'); });
  source.onopen = () => $('#live')?.classList.add('on');
  source.onerror = () => $('#live')?.classList.remove('on');
}

function route() {
  if (!S.me) return;
  const pages = visible();
  const wanted = location.hash.replace(/^#\/?/, '').split('/')[0];
  const page = pages.find((p) => p.id === wanted) || pages[0];
  S.page = page.id;
  S.onEvent = null;
  const main = h('main', { id: 'main' });
  set(app, 
    h('header', { class: 'top' },
      h('strong', null, 'wagate'),
      h('nav', { 'aria-label': 'Pages' }, pages.map((p) =>
        h('a', { href: `#/${p.id}`, id: `nav-${p.id}`, class: p.id === page.id ? 'active' : null, 'aria-current': p.id === page.id ? 'page' : null }, p.title))),
      h('span', { class: 'who' }, h('span', { id: 'live', class: `live${S.events?.readyState === 1 ? ' on' : ''}`, title: 'live updates' }), ' ',
        S.me.name || S.me.username || S.me.email, ` (${S.me.role})`),
      h('button', { class: 'secondary', id: 'logout', onclick: logout }, 'Log out')),
    main);
  page.render(main);
}
window.addEventListener('hashchange', route);

// ---------- sessions ----------
async function sessionsPage(main) {
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
      ['qr', 'pairing', 'connecting', 'disconnected'].includes(s.status) && !s.phoneNumber ? h('button', { onclick: () => showLink(s.sessionId) }, 'Link') : null, ' ',
      h('button', { class: 'secondary', onclick: () => act(() => api('POST', '/session/restart', { sessionId: s.sessionId }), 'Restarting').then(load) }, 'Restart'), ' ',
      h('button', { class: 'secondary', onclick: () => showLimits(s.sessionId) }, 'Limits'), ' ',
      h('button', { class: 'secondary', onclick: () => confirm(`Log ${s.sessionId} out of WhatsApp?`) && act(() => api('POST', '/session/logout', { sessionId: s.sessionId }), 'Logged out').then(load) }, 'Log out'), ' ',
      h('button', { class: 'danger', onclick: () => confirm(`Delete ${s.sessionId}?`) && act(() => api('DELETE', `/session/${encodeURIComponent(s.sessionId)}`), 'Deleted').then(load) }, 'Delete'),
    ] : null));

  async function load() {
    const answer = await act(() => api('GET', '/session/list'));
    sessions = answer?.data || [];
    set(list, ...sessions.map(row));
    if (!sessions.length) list.append(h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'No sessions yet.')));
  }

  async function showQr(id) {
    const img = $('#qr-image', panel);
    if (!img || linking !== id) return;
    try {
      const qr = (await api('GET', `/session/qr/${encodeURIComponent(id)}`)).data;
      if (qr.image) img.src = qr.image;
      $('#qr-expires', panel).textContent = qr.expiresAt ? `Valid until ${new Date(qr.expiresAt).toLocaleTimeString()}` : '';
      if (qr.pairingCode) $('#pairing', panel).textContent = `Pairing code: ${qr.pairingCode}`;
    } catch (e) {
      if (e.status === 409) { $('#link-state', panel).textContent = e.message; img.removeAttribute('src'); }
    }
  }

  function showLink(id) {
    linking = id;
    set(panel, h('div', { class: 'card qr' },
      h('h2', null, `Link ${id}`),
      h('p', null, 'On the phone: WhatsApp › Linked devices › Link a device, and scan this code. It changes as it expires.'),
      h('img', { id: 'qr-image', alt: `QR code to link ${id}` }),
      h('p', { id: 'qr-expires', class: 'muted' }),
      h('p', { id: 'link-state', role: 'status' }, 'Waiting for the scan…'),
      h('p', { id: 'pairing' }),
      canWrite ? form(async (data) => {
        const code = await act(() => api('POST', '/session/pairing-code', { sessionId: id, phoneNumber: data.get('phone') }));
        if (code) $('#pairing', panel).textContent = `Pairing code: ${code.data.value}`;
      }, h('div', { class: 'row' }, field('Or link with a phone number', h('input', { name: 'phone', placeholder: '628…', required: true })),
        h('button', { type: 'submit' }, 'Get pairing code'))) : null,
      h('button', { class: 'secondary', onclick: () => { linking = null; set(panel); } }, 'Close')));
    showQr(id);
  }

  async function showLimits(id) {
    const answer = await act(() => api('GET', `/session/${encodeURIComponent(id)}/limits`));
    if (!answer) return;
    const l = answer.data.limits;
    const names = ['per_minute', 'per_hour', 'per_recipient_per_hour', 'delay_min_ms', 'delay_max_ms'];
    set(panel, h('div', { class: 'card' }, h('h2', null, `Send limits of ${id}`),
      form(async (data) => {
        const body = {};
        for (const n of names) body[n] = Number(data.get(n));
        await act(() => api('PUT', `/session/${encodeURIComponent(id)}/limits`, body), 'Limits saved');
      }, h('div', { class: 'row' }, names.map((n) => field(n.replaceAll('_', ' '), h('input', { name: n, type: 'number', min: 0, value: l[n] ?? '' })))),
      canWrite ? h('p', null, h('button', { type: 'submit' }, 'Save limits')) : null)));
  }

  main.append(
    h('h1', null, 'Sessions'),
    canWrite ? h('div', { class: 'card' }, form(async (data, el) => {
      const body = { sessionId: data.get('sessionId') };
      if (data.get('phoneNumber')) body.phoneNumber = data.get('phoneNumber');
      const made = await act(() => api('POST', '/session/create', body), 'Session created');
      if (made) { el.reset(); await load(); showLink(made.data.sessionId); }
    }, h('div', { class: 'row' },
      field('New session id', h('input', { name: 'sessionId', id: 'new-session', required: true, pattern: '[A-Za-z0-9_\\-]{1,64}' })),
      field('Phone number (optional, for a pairing code)', h('input', { name: 'phoneNumber' })),
      h('button', { type: 'submit', id: 'create-session' }, 'Create')))) : null,
    panel,
    h('div', { class: 'card scroll' }, h('table', null,
      h('thead', null, h('tr', null, ['Session', 'Phone', 'Status', 'Last connected', ''].map((t) => h('th', null, t)))), list)));
  S.onEvent = (kind, data) => {
    if (kind === 'session.qr' && data.sessionId === linking) showQr(linking);
    if (kind === 'session.status') {
      const i = sessions.findIndex((s) => s.sessionId === data.sessionId);
      if (i >= 0) sessions[i] = data; else sessions.push(data);
      set(list, ...sessions.map(row));
      if (data.sessionId === linking) {
        const waiting = { qr: 'Waiting for the scan…', pairing: 'Waiting for the code to be typed…', connecting: 'Connecting…' }[data.status];
        $('#link-state', panel).textContent = data.status === 'connected' ? `Connected as ${data.phoneNumber}` : `${waiting || data.status}${data.reason ? ` (${data.reason})` : ''}`;
        if (data.status === 'connected') $('#qr-image', panel)?.removeAttribute('src');
      }
    }
  };
  await load();
}

// ---------- inbox ----------
const TICKS = { queued: '🕓', sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠' };

async function inboxPage(main) {
  const canWrite = S.me.role !== 'readonly';
  const filter = { assignee: S.me.role === 'agent' ? 'all' : 'all', mode: '', unread: false, q: '' };
  let chats = [];
  let open = null; // {chat, profile, entries, before}
  const listEl = h('ul', { id: 'chats', 'aria-label': 'Chats' });
  const chatEl = h('section', { class: 'chat', id: 'chat', 'aria-label': 'Chat' }, h('p', { class: 'muted', style: 'padding:1em' }, 'Choose a chat.'));
  const sideEl = h('aside', { class: 'side', id: 'customer' });
  const grid = h('div', { class: 'inbox' });
  const countsEl = h('span', { class: 'muted', id: 'counts' });

  const item = (c) => h('li', {
    tabindex: 0, 'data-chat': c.id, class: open?.chat.id === c.id ? 'selected' : null,
    onclick: () => openChat(c.id), onkeydown: (e) => { if (e.key === 'Enter') openChat(c.id); },
  },
  h('div', { class: 'name' }, h('span', null, c.name || c.phone), c.unread ? h('span', { class: 'badge unread', 'data-unread': c.unread }, c.unread) : null),
  h('div', { class: 'last' }, c.last_message ? `${c.last_message.sender === 'customer' ? '' : '↪ '}${c.last_message.text || `[${c.last_message.type}]`}` : ''),
  h('div', { class: 'muted', style: 'font-size:.78em' }, badge(c.mode, 'mode'), ' ', c.session, c.assigned_agent_id ? ` · agent ${agentName(c.assigned_agent_id)}` : ''));

  function agentName(id) {
    if (id === S.me.id) return 'me';
    return S.agents.find((a) => a.id === id)?.name || `#${id}`;
  }

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

  function drawList() {
    chats.sort((a, b) => (a.last_message_at < b.last_message_at ? 1 : -1));
    set(listEl, ...chats.filter(matches).map(item));
    if (!listEl.children.length) listEl.append(h('li', { class: 'muted' }, 'No chats.'));
  }

  async function loadList(more) {
    const params = new URLSearchParams({ limit: 200 });
    if (filter.assignee !== 'all') params.set('assignee', filter.assignee);
    if (filter.mode) params.set('mode', filter.mode);
    if (filter.unread) params.set('unread', 'true');
    if (filter.q) params.set('q', filter.q);
    if (more && chats.length) params.set('before', chats[chats.length - 1].cursor);
    const page = await act(() => api('GET', `/chats/?${params}`));
    if (!page) return;
    chats = more ? chats.concat(page) : page;
    drawList();
    await loadCounts();
  }

  async function loadCounts() {
    const counts = await act(() => api('GET', '/chats/counts'));
    if (counts) countsEl.textContent = `${counts.all} chats · ${counts.unread} unread · ${counts.mine} mine · ${counts.unassigned} unassigned`;
  }
  listEl.addEventListener('scroll', () => {
    if (listEl.scrollTop + listEl.clientHeight > listEl.scrollHeight - 40 && !loadList.busy && chats.length % 200 === 0 && chats.length) {
      loadList.busy = true;
      loadList(true).finally(() => { loadList.busy = false; });
    }
  });

  function bubble(e) {
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

  function drawTimeline(keepBottom) {
    const tl = $('#timeline', chatEl);
    if (!tl) return;
    const atBottom = keepBottom || tl.scrollTop + tl.clientHeight >= tl.scrollHeight - 30;
    set(tl, ...open.entries.map(bubble));
    if (atBottom) tl.scrollTop = tl.scrollHeight;
  }

  async function olderMessages() {
    if (!open?.before || olderMessages.busy) return;
    olderMessages.busy = true;
    const page = await act(() => api('GET', `/chats/${open.chat.id}/messages?before=${open.before}&limit=50`));
    olderMessages.busy = false;
    if (!page) return;
    const tl = $('#timeline', chatEl);
    const height = tl.scrollHeight;
    open.entries = page.data.concat(open.entries);
    open.before = page.before;
    drawTimeline(false);
    tl.scrollTop = tl.scrollHeight - height;
  }

  async function setChat(change, done) {
    const updated = await act(() => api('PATCH', `/chats/${open.chat.id}`, change), done);
    if (updated) chatUpdated(updated);
  }

  // The chat's head: who, its mode and agent (redrawn as they change, while
  // the timeline and the reply being typed stay).
  function drawHead() {
    const c = open.chat;
    const modes = ['bot', 'agent', 'paused', 'closed'];
    set($('#chat-head', chatEl),
      h('button', { class: 'secondary back', onclick: () => { grid.classList.remove('open'); } }, '‹ Chats'),
      h('span', { class: 'title', id: 'chat-title' }, c.name || c.phone, ' ', h('span', { class: 'muted' }, `+${c.phone}`)),
      badge(c.mode, 'mode'),
      canWrite ? modes.map((m) => h('button', { class: m === c.mode ? '' : 'secondary', 'data-mode': m, 'aria-pressed': m === c.mode, onclick: () => setChat({ mode: m }, `Mode: ${m}`) }, m)) : null,
      canWrite && S.me.role !== 'agent' ? assignControl(c) : null);
  }

  function drawChat() {
    const c = open.chat;
    set(chatEl,
      h('div', { class: 'head', id: 'chat-head' }),
      h('div', { class: 'timeline', id: 'timeline', onscroll: (e) => { if (e.target.scrollTop < 20) olderMessages(); } }),
      canWrite ? form(async (data, el) => {
        const file = data.get('file');
        const text = data.get('text').trim();
        let body;
        if (file && file.size) {
          body = new FormData();
          body.set('chat_id', c.id);
          body.set(file.type.startsWith('image/') ? 'image' : 'document', file, file.name);
          if (text) body.set('caption', text);
        } else if (text) {
          body = { chat_id: c.id, text };
        } else return;
        const sent = await act(() => api('POST', '/chats/messages', body));
        if (sent) {
          // Clear what was sent, not what was typed or attached while it went.
          const box = el.elements.text, picked = el.elements.file.files[0];
          if (box.value.trim() === text) box.value = '';
          if (file && picked && picked.name === file.name && picked.size === file.size && picked.lastModified === file.lastModified) el.elements.file.value = '';
          upsertEntry(sent.entry);
        }
      }, h('div', { class: 'composer' },
        h('label', { class: 'attach', title: 'Attach an image or a document' }, 'Attach', h('input', { type: 'file', name: 'file', id: 'attach' })),
        h('textarea', { name: 'text', id: 'reply', placeholder: 'Write a reply…', 'aria-label': 'Reply', onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); e.target.form.requestSubmit(); } } }),
        h('button', { type: 'submit', id: 'send' }, 'Send'))) : null);
    drawHead();
    drawTimeline(true);
    drawSide();
  }

  function assignControl(c) {
    if (S.agents.length) {
      return h('select', { id: 'assign', 'aria-label': 'Assign to', onchange: (e) => setChat({ assigned_agent_id: e.target.value ? Number(e.target.value) : null }, 'Assigned') },
        h('option', { value: '' }, 'Unassigned'),
        S.agents.map((a) => h('option', { value: a.id, selected: a.id === c.assigned_agent_id }, `${a.name || a.username} (${a.role})`)));
    }
    return form((data) => setChat({ assigned_agent_id: data.get('agent') ? Number(data.get('agent')) : null }, 'Assigned'),
      h('input', { name: 'agent', type: 'number', placeholder: 'agent id', value: c.assigned_agent_id ?? '', style: 'width:7em', 'aria-label': 'Agent id' }),
      h('button', { type: 'submit', class: 'secondary' }, 'Assign'));
  }

  async function drawSide() {
    const p = open.profile;
    const dl = h('dl', null,
      h('dt', null, 'Phone'), h('dd', null, p.phone),
      h('dt', null, 'Session'), h('dd', null, open.chat.session),
      p.address ? [h('dt', null, 'Address'), h('dd', null, p.address)] : null,
      p.email ? [h('dt', null, 'Email'), h('dd', null, p.email)] : null,
      h('dt', null, 'ODP'), h('dd', { id: 'customer-odp' }, p.odp || '—'),
      h('dt', null, 'Last active'), h('dd', null, p.lastActive === 'Online' ? 'Online' : when(p.lastActive)));
    const notices = h('div', { id: 'customer-notices' });
    set(sideEl, h('h2', null, 'Customer'), dl, notices);
    if (p.odp && S.me.role !== 'agent') {
      const list = await act(() => api('GET', '/api/notices?status=active&limit=50'));
      const mine = (list?.data || []).filter((n) => n.odps.includes(p.odp));
      set(notices, h('h2', null, 'Notices on this ODP'),
        mine.length ? mine.map((n) => h('div', { class: 'card' }, h('strong', null, n.title), h('div', null, n.message))) : h('p', { class: 'muted' }, 'None active.'));
    }
  }

  async function openChat(id) {
    const detail = await act(() => api('GET', `/chats/${id}?limit=50`));
    if (!detail) return;
    const { profile, messages, before, ...chat } = detail;
    open = { chat, profile, entries: messages, before };
    grid.classList.add('open');
    drawChat();
    if (open.chat.unread && canWrite) {
      const read = await act(() => api('POST', `/chats/${id}/read`));
      if (read) chatUpdated({ ...open.chat, unread: 0 });
    }
    drawList();
  }

  function chatUpdated(c) {
    if (!c || !c.id) return;
    const i = chats.findIndex((x) => x.id === c.id);
    if (i >= 0) chats[i] = { ...chats[i], ...c }; else chats.unshift(c);
    if (open && open.chat.id === c.id) {
      const modeChanged = open.chat.mode !== c.mode || open.chat.assigned_agent_id !== c.assigned_agent_id;
      open.chat = { ...open.chat, ...c };
      if (modeChanged) drawHead();
    }
    drawList();
  }

  function upsertEntry(e) {
    if (!open || !e) return;
    const i = open.entries.findIndex((x) => x.id === e.id);
    if (i >= 0) open.entries[i] = e; else open.entries.push(e);
    drawTimeline(false);
  }

  const filterButton = (label, apply, pressed) => h('button', { class: pressed() ? '' : 'secondary', 'aria-pressed': pressed(), 'data-filter': label, onclick: () => { apply(); drawFilters(); loadList(); } }, label);
  const filters = h('div', { class: 'filters' });
  function drawFilters() {
    set(filters, 
      h('input', { type: 'search', id: 'chat-search', placeholder: 'Search name or number', 'aria-label': 'Search chats', value: filter.q,
        oninput: (e) => { filter.q = e.target.value.trim(); clearTimeout(drawFilters.t); drawFilters.t = setTimeout(loadList, 250); } }),
      S.me.role !== 'agent' ? [
        filterButton('mine', () => { filter.assignee = 'me'; }, () => filter.assignee === 'me'),
        filterButton('unassigned', () => { filter.assignee = 'unassigned'; }, () => filter.assignee === 'unassigned'),
        filterButton('all', () => { filter.assignee = 'all'; }, () => filter.assignee === 'all'),
      ] : null,
      filterButton('unread', () => { filter.unread = !filter.unread; }, () => filter.unread),
      h('select', { 'aria-label': 'Mode', id: 'mode-filter', onchange: (e) => { filter.mode = e.target.value; loadList(); } },
        ['', 'bot', 'agent', 'paused', 'closed'].map((m) => h('option', { value: m, selected: filter.mode === m }, m || 'any mode'))));
    const search = $('#chat-search', filters);
    if (search && document.activeElement?.id === 'chat-search') search.focus();
  }
  drawFilters();
  grid.append(h('section', { class: 'list' }, filters, listEl), chatEl, sideEl);
  main.append(h('div', { class: 'row', style: 'justify-content:space-between' }, h('h1', null, 'Inbox'), countsEl), grid);

  S.onEvent = (kind, data) => {
    if (kind === 'chat.updated') {
      chatUpdated(data);
      clearTimeout(loadCounts.t);
      loadCounts.t = setTimeout(loadCounts, 500);
    }
    if (kind === 'chat.message' && open && data.chat_id === open.chat.id) {
      upsertEntry(data.message);
      if (data.message.sender === 'customer' && document.visibilityState === 'visible' && canWrite) {
        api('POST', `/chats/${open.chat.id}/read`).then(() => chatUpdated({ ...open.chat, unread: 0 })).catch(() => {});
      }
    }
    if (kind === 'message.status' && open) {
      const e = open.entries.find((x) => x.message_id === data.id);
      if (e) { e.status = data.status; e.reason = data.reason; drawTimeline(false); }
    }
  };
  await loadList();
}

// ---------- broadcasts ----------
async function broadcastsPage(main) {
  const canWrite = S.me.role !== 'readonly';
  const listEl = h('tbody', { id: 'broadcasts' });
  const report = h('div', { id: 'report' });
  const preview = h('div', { id: 'preview' });
  let broadcasts = [];
  const [odps, notices, sessions] = await Promise.all([
    act(() => api('GET', '/api/odps')), act(() => api('GET', '/api/notices?limit=100')), act(() => api('GET', '/session/list')),
  ]);
  const linked = (sessions?.data || []).filter((s) => s.phoneNumber);

  const pct = (b) => {
    const done = b.sent_count + b.failed_count + (b.status === 'cancelled' ? b.pending_count : 0);
    return b.queued_count ? Math.round((100 * Math.min(done, b.queued_count)) / b.queued_count) : 100;
  };
  const row = (b) => h('tr', { 'data-broadcast': b.broadcast_id },
    h('td', null, `#${b.broadcast_id}`), h('td', null, b.kind, b.odp ? ` ${b.odp}` : ''), h('td', null, badge(b.status)),
    h('td', null, h('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': pct(b), 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { style: `width:${pct(b)}%` })),
      h('span', { class: 'muted pct' }, `${pct(b)} % · ${b.sent_count} sent, ${b.failed_count} failed, ${b.skipped_count} skipped of ${b.total_customers}`)),
    h('td', null, when(b.created_at)),
    h('td', null, h('button', { class: 'secondary', onclick: () => showReport(b.broadcast_id) }, 'Report'), ' ',
      canWrite && b.status === 'running' ? h('button', { class: 'danger', onclick: () => act(() => api('POST', `/api/broadcasts/${b.broadcast_id}/cancel`, {}), 'Cancelled').then(load) }, 'Cancel') : null));

  async function load() {
    const page = await act(() => api('GET', '/api/broadcasts?limit=50'));
    broadcasts = page?.data || [];
    set(listEl, ...broadcasts.map(row));
  }

  async function showReport(id) {
    let results = [];
    let b;
    for (let page = 1; ; page++) {
      b = await act(() => api('GET', `/api/broadcasts/${id}?page=${page}&limit=500`));
      if (!b) return;
      results = results.concat(b.results || []);
      if (!b.results || b.results.length < 500) break;
    }
    const bad = (r) => (r.success ? (r.status === 'failed' ? 0 : 2) : 1);
    results.sort((x, y) => bad(x) - bad(y));
    const csv = [['customer_id', 'name', 'phone', 'status', 'error', 'message_id'].join(',')]
      .concat(results.map((r) => [r.customer_id ?? '', r.customer_name, r.phone, r.status, r.error ?? '', r.message_id ?? '']
        .map((v) => `"${String(v).replaceAll('"', '""')}"`).join(','))).join('\n');
    const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    set(report, h('div', { class: 'card' },
      h('h2', null, `Report of broadcast #${id}`), h('p', null, b.message),
      h('a', { href: url, download: `broadcast-${id}.csv`, id: 'report-csv' }, 'Download CSV'),
      h('div', { class: 'scroll' }, h('table', { id: 'report-table' },
        h('thead', null, h('tr', null, ['Customer', 'Phone', 'Status', 'Reason'].map((t) => h('th', null, t)))),
        h('tbody', null, results.map((r) => h('tr', { class: r.success && r.status !== 'failed' ? '' : 'error' },
          h('td', null, r.customer_name), h('td', null, r.phone), h('td', null, badge(r.status)), h('td', null, r.error || '')))))),
      h('button', { class: 'secondary', onclick: () => set(report) }, 'Close')));
  }

  function request(data) {
    const body = {};
    if (data.get('message')) body.message = data.get('message'); else if (data.get('notice_id')) body.notice_id = Number(data.get('notice_id'));
    const picked = data.getAll('sessions');
    if (picked.length) body.sessions = picked;
    const target = data.get('target');
    if (target === 'odp') return { path: `/api/send/by-odp/${encodeURIComponent(data.get('odp'))}`, body };
    const ids = data.get('customer_ids').split(/[\s,]+/).filter(Boolean).map(Number);
    if (target === 'customers') body.customer_ids = ids;
    if (body.message) return { path: '/api/send/custom', body };
    return { path: '/api/send/notification', body };
  }

  const sendForm = form(async (data, el) => {
    const { path, body } = request(data);
    const p = await act(() => api('POST', path, { ...body, dry_run: true }));
    if (!p) return;
    set(preview, h('div', { class: 'card' },
      h('h2', null, 'Before sending'),
      h('p', { id: 'recipient-count' }, `${p.queued_count} messages to send`, p.skipped_count ? `, ${p.skipped_count} recipients skipped` : '', ` (${p.total_customers} customers).`),
      p.preview ? [h('p', { class: 'muted' }, `To ${p.preview_recipient}:`), h('div', { class: 'preview', id: 'preview-text' }, p.preview)] : h('p', null, 'Nothing would be sent.'),
      p.skipped.length ? h('ul', null, p.skipped.map((s) => h('li', null, `${s.name || s.phone}: ${s.reason}`))) : null,
      h('p', null, p.queued_count ? h('button', { id: 'confirm-send', onclick: async () => {
        const sent = await act(() => api('POST', path, body), 'Broadcast queued');
        if (sent) { set(preview); el.reset(); await load(); }
      } }, `Send ${p.queued_count} messages`) : null, ' ', h('button', { class: 'secondary', onclick: () => set(preview) }, 'Cancel'))));
  },
  h('div', { class: 'row' },
    field('To', h('select', { name: 'target', id: 'target' }, h('option', { value: 'odp' }, 'the customers of an ODP'), h('option', { value: 'customers' }, 'chosen customers (ids)'), h('option', { value: 'all' }, 'all active customers'))),
    field('ODP', h('select', { name: 'odp', id: 'odp' }, (odps?.data || []).map((o) => h('option', { value: o.code }, `${o.code} (${o.active_customers} active)`)))),
    field('Customer ids', h('input', { name: 'customer_ids', placeholder: '1, 2, 3' })),
    field('Notice', h('select', { name: 'notice_id', id: 'notice' }, h('option', { value: '' }, 'newest active notice'), (notices?.data || []).map((n) => h('option', { value: n.id }, `${n.title} (${n.status})`)))),
    field('From', h('select', { name: 'sessions', multiple: true, size: Math.min(3, Math.max(1, linked.length)) }, linked.map((s) => h('option', { value: s.sessionId }, `${s.sessionId} (${s.phoneNumber})`))))),
  field('Or a text of its own ({nama} and {odp} are filled in)', h('textarea', { name: 'message', rows: 2 })),
  h('p', null, h('button', { type: 'submit', id: 'preview-send' }, 'Preview')));

  const noticeForm = form(async (data, el) => {
    const body = { title: data.get('title'), message: data.get('message'), odps: data.get('odps').split(/[\s,]+/).filter(Boolean) };
    const id = data.get('id');
    const saved = await act(() => (id ? api('PUT', `/api/notices/${id}`, body) : api('POST', '/api/notices', body)), 'Notice saved');
    if (saved) { el.reset(); route(); }
  }, h('input', { type: 'hidden', name: 'id' }),
  h('div', { class: 'row' }, field('Title', h('input', { name: 'title', required: true })), field('ODPs', h('input', { name: 'odps', placeholder: 'ODP-1, ODP-2' }))),
  field('Message', h('textarea', { name: 'message', rows: 2, required: true })),
  h('button', { type: 'submit' }, 'Save notice'));

  main.append(h('h1', null, 'Broadcasts'),
    canWrite ? h('div', { class: 'card' }, h('h2', null, 'Send'), sendForm) : null, preview, report,
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, ['Id', 'Kind', 'Status', 'Progress', 'Started', ''].map((t) => h('th', null, t)))), listEl)),
    h('div', { class: 'card' }, h('h2', null, 'Notices'),
      h('ul', null, (notices?.data || []).map((n) => h('li', null, h('strong', null, n.title), ` (${n.status}) `, (n.odps || []).join(', '), ' ',
        canWrite ? h('button', { class: 'secondary', onclick: () => {
          noticeForm.elements.id.value = n.id; noticeForm.elements.title.value = n.title;
          noticeForm.elements.message.value = n.message; noticeForm.elements.odps.value = (n.odps || []).join(', ');
        } }, 'Edit') : null))),
      canWrite ? noticeForm : null));
  S.onEvent = (kind, data) => {
    if (kind !== 'broadcast.progress') return;
    const i = broadcasts.findIndex((b) => b.broadcast_id === data.broadcast_id);
    if (i >= 0) broadcasts[i] = { ...broadcasts[i], ...data }; else broadcasts.unshift(data);
    set(listEl, ...broadcasts.map(row));
  };
  await load();
}

// ---------- customers ----------
async function customersPage(main) {
  const canWrite = S.me.role !== 'readonly';
  const body = h('tbody', { id: 'customers' });
  const result = h('div', { id: 'import-result' });
  const query = { q: '', odp: '', page: 1 };
  const odps = await act(() => api('GET', '/api/odps'));
  async function load() {
    const params = new URLSearchParams({ page: query.page, limit: 50 });
    if (query.q) params.set('search', query.q);
    if (query.odp) params.set('odp', query.odp);
    const page = await act(() => api('GET', `/api/customers?${params}`));
    set(body, ...(page?.data || []).map((c) => h('tr', null,
      h('td', null, c.external_id), h('td', null, c.name), h('td', null, c.phone || h('span', { class: 'error' }, c.phone_raw)),
      h('td', null, c.odp || ''), h('td', null, c.active ? 'active' : 'inactive'))));
    $('#customer-total').textContent = page ? `${page.total} customers` : '';
  }
  main.append(h('h1', null, 'Customers'),
    canWrite ? h('div', { class: 'card' }, h('h2', null, 'Import a CSV file'),
      h('p', { class: 'muted' }, 'Columns: external_id, name, phone, and optionally odp and active.'),
      form(async (data) => {
        const file = data.get('file');
        if (!file || !file.size) return;
        const fd = new FormData();
        fd.set('file', file, file.name);
        const report = await act(() => api('POST', '/api/customers/import', fd));
        if (!report) return;
        const r = report.data || report;
        set(result, h('p', { id: 'import-summary' }, `${r.received} lines read: ${r.inserted} new, ${r.updated} updated, ${r.invalid_phones} with an invalid number, ${r.errors.length} not imported.`),
          r.errors.length ? h('ul', { id: 'import-errors', class: 'error' }, r.errors.map((e) => h('li', null, `line ${e.line ?? e.index}: ${e.field ? `${e.field}: ` : ''}${e.message}`))) : null);
        load();
      }, h('div', { class: 'row' }, h('input', { type: 'file', name: 'file', id: 'csv', accept: '.csv,text/csv', 'aria-label': 'CSV file' }), h('button', { type: 'submit', id: 'import' }, 'Import'))), result) : null,
    h('div', { class: 'card' }, h('div', { class: 'row' },
      h('input', { type: 'search', placeholder: 'Search', 'aria-label': 'Search customers', oninput: (e) => { query.q = e.target.value.trim(); query.page = 1; clearTimeout(load.t); load.t = setTimeout(load, 250); } }),
      h('select', { 'aria-label': 'ODP', onchange: (e) => { query.odp = e.target.value; query.page = 1; load(); } }, h('option', { value: '' }, 'all ODPs'), (odps?.data || []).map((o) => h('option', { value: o.code }, o.code))),
      h('button', { class: 'secondary', onclick: () => { if (query.page > 1) { query.page--; load(); } } }, '‹'), h('button', { class: 'secondary', onclick: () => { query.page++; load(); } }, '›'),
      h('span', { id: 'customer-total', class: 'muted' })),
    h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, ['Id', 'Name', 'Phone', 'ODP', ''].map((t) => h('th', null, t)))), body))));
  await load();
}

// ---------- messages ----------
async function messagesPage(main) {
  const queues = h('div', { class: 'row', id: 'queues' });
  const body = h('tbody', { id: 'messages' });
  const history = h('div');
  const sessions = (await act(() => api('GET', '/session/list')))?.data || [];
  async function load() {
    const statuses = await Promise.all(sessions.map((s) => act(() => api('GET', `/message/queue-status?session=${encodeURIComponent(s.sessionId)}`))));
    set(queues, ...statuses.filter(Boolean).map((q) => h('div', { class: 'card' }, h('strong', null, q.session), h('div', null, `${q.pending} pending · ${q.processing} sending · ${q.completed} sent · ${q.failed} failed`))));
    const page = await act(() => api('GET', '/message/list?limit=50'));
    set(body, ...(page?.data || []).map((m) => h('tr', { 'data-message': m.id },
      h('td', null, when(m.created_at)), h('td', null, m.session), h('td', null, m.to), h('td', null, m.type),
      h('td', null, (m.text || m.caption || m.filename || '').slice(0, 80)), h('td', null, badge(m.status), m.reason ? h('div', { class: 'muted' }, m.reason) : null),
      h('td', null, h('button', { class: 'secondary', onclick: async () => {
        const full = await act(() => api('GET', `/message/${encodeURIComponent(m.id)}`));
        const hist = (full?.data || full)?.history || [];
        set(history, h('div', { class: 'card' }, h('h2', null, `History of ${m.id}`), h('ul', null, hist.map((e) => h('li', null, `${when(e.at)}: ${e.status}${e.reason ? ` (${e.reason})` : ''}`)))));
      } }, 'History')))));
  }
  main.append(h('h1', null, 'Messages'), queues, history,
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, ['Queued', 'Session', 'To', 'Kind', 'Content', 'Status', ''].map((t) => h('th', null, t)))), body)));
  S.onEvent = (kind, data) => {
    if (kind !== 'message.status') return;
    const tr = body.querySelector(`tr[data-message="${CSS.escape(data.id)}"]`);
    if (tr) tr.children[5].replaceChildren(badge(data.status), data.reason ? h('div', { class: 'muted' }, data.reason) : '');
    else { clearTimeout(load.t); load.t = setTimeout(load, 1000); }
  };
  await load();
}

// ---------- bot ----------
async function botPage(main) {
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

// ---------- webhooks ----------
async function webhooksPage(main) {
  const canWrite = S.me.role !== 'readonly';
  const listEl = h('div');
  const detail = h('div');
  async function load() {
    const hooks = (await act(() => api('GET', '/webhooks')))?.data || [];
    set(listEl, h('table', null, h('thead', null, h('tr', null, ['Id', 'URL', 'Events', 'State', ''].map((t) => h('th', null, t)))),
      h('tbody', null, hooks.map((w) => h('tr', null, h('td', null, w.id), h('td', null, w.url), h('td', null, (w.events || ['all']).join(', ')),
        h('td', null, w.enabled ? badge('active') : badge('disabled', 'failed'), w.disabled_reason ? h('div', { class: 'muted' }, w.disabled_reason) : null),
        h('td', null, h('button', { class: 'secondary', onclick: () => deliveries(w) }, 'Deliveries'), ' ',
          canWrite ? [h('button', { class: 'secondary', onclick: () => act(() => api('POST', `/webhooks/${w.id}/test`, {}), 'Test event queued') }, 'Test'), ' ',
            h('button', { class: 'secondary', onclick: () => act(() => api('PATCH', `/webhooks/${w.id}`, { enabled: !w.enabled }), 'Saved').then(load) }, w.enabled ? 'Disable' : 'Enable'), ' ',
            h('button', { class: 'danger', onclick: () => confirm('Delete this endpoint?') && act(() => api('DELETE', `/webhooks/${w.id}`), 'Deleted').then(load) }, 'Delete')] : null))))));
  }
  async function deliveries(w) {
    const page = await act(() => api('GET', `/webhooks/${w.id}/deliveries?limit=50`));
    set(detail, h('div', { class: 'card scroll' }, h('h2', null, `Deliveries to ${w.url}`),
      canWrite ? form(async (data) => {
        const done = await act(() => api('POST', `/webhooks/${w.id}/replay`, { since: new Date(data.get('since')).toISOString() }));
        if (done) toast(`${done.data?.count ?? done.count} events queued again`);
      }, h('div', { class: 'row' }, field('Replay events since', h('input', { type: 'datetime-local', name: 'since', required: true })), h('button', { type: 'submit' }, 'Replay'))) : null,
      h('table', null, h('thead', null, h('tr', null, ['When', 'Event', 'Status', 'Attempts', 'Last answer', ''].map((t) => h('th', null, t)))),
        h('tbody', null, (page?.data || []).map((d) => h('tr', null, h('td', null, when(d.created_at)), h('td', null, d.event_type || ''), h('td', null, badge(d.status)),
          h('td', null, d.attempts), h('td', null, d.last_status ?? '', ' ', (d.last_response || '').slice(0, 80)),
          h('td', null, canWrite ? h('button', { class: 'secondary', onclick: () => act(() => api('POST', `/webhooks/${w.id}/deliveries/${d.id}/retry`, {}), 'Retrying').then(() => deliveries(w)) }, 'Retry') : null)))))));
  }
  main.append(h('h1', null, 'Webhooks'),
    canWrite ? h('div', { class: 'card' }, form(async (data, el) => {
      const body = { url: data.get('url') };
      const events = data.get('events').split(/[\s,]+/).filter(Boolean);
      if (events.length) body.events = events;
      const made = await act(() => api('POST', '/webhooks', body));
      if (made) {
        el.reset();
        const m = made.data || made;
        set(detail, h('div', { class: 'card' }, h('p', null, 'The signing secret, shown only now:'), h('pre', { id: 'webhook-secret' }, m.secret)));
        load();
      }
    }, h('div', { class: 'row' }, field('URL', h('input', { name: 'url', type: 'url', required: true, size: 40 })),
      field('Events (empty: all)', h('input', { name: 'events', placeholder: 'chat.message, message.status' })), h('button', { type: 'submit' }, 'Add endpoint')))) : null,
    h('div', { class: 'card scroll' }, listEl), detail);
  await load();
}

// ---------- users ----------
async function usersPage(main) {
  const listEl = h('tbody', { id: 'users' });
  async function load() {
    const users = (await act(() => api('GET', '/user/list')))?.data || [];
    S.agents = users.filter((u) => u.role === 'agent' || u.role === 'admin');
    set(listEl, ...users.map((u) => h('tr', null, h('td', null, u.id), h('td', null, u.username || ''), h('td', null, u.name), h('td', null, u.email),
      h('td', null, h('select', { 'aria-label': `Role of ${u.email}`, onchange: (e) => act(() => api('PUT', `/user/${u.id}`, { role: e.target.value }), 'Role changed').then(load) },
        ALL.map((r) => h('option', { value: r, selected: r === u.role }, r)))),
      h('td', null, u.id === S.me.id ? null : h('button', { class: 'danger', onclick: () => confirm(`Delete ${u.email}?`) && act(() => api('DELETE', `/user/${u.id}`), 'Deleted').then(load) }, 'Delete')))));
  }
  main.append(h('h1', null, 'Users'),
    h('div', { class: 'card' }, form(async (data, el) => {
      const body = { email: data.get('email'), name: data.get('name'), password: data.get('password'), role: data.get('role') };
      if (data.get('username')) body.username = data.get('username');
      if (await act(() => api('POST', '/user/create', body), 'User created')) { el.reset(); load(); }
    }, h('div', { class: 'row' }, field('Name', h('input', { name: 'name', required: true })), field('Username', h('input', { name: 'username' })),
      field('Email', h('input', { name: 'email', type: 'email', required: true })), field('Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' })),
      field('Role', h('select', { name: 'role' }, ALL.map((r) => h('option', { value: r, selected: r === 'agent' }, r)))), h('button', { type: 'submit' }, 'Create')))),
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, ['Id', 'Username', 'Name', 'Email', 'Role', ''].map((t) => h('th', null, t)))), listEl)));
  await load();
}

// ---------- API keys ----------
async function keysPage(main) {
  const listEl = h('tbody', { id: 'keys' });
  const shown = h('div', { id: 'new-key' });
  async function load() {
    const keys = (await act(() => api('GET', '/auth/api-keys')))?.data || [];
    set(listEl, ...keys.map((k) => h('tr', null, h('td', null, k.name), h('td', null, h('code', null, k.prefix)), h('td', null, (k.sessions || ['all']).join(', ')),
      h('td', null, when(k.created_at)), h('td', null, when(k.last_used_at) || 'never'),
      h('td', null, h('button', { class: 'danger', onclick: () => confirm(`Revoke ${k.name}?`) && act(() => api('DELETE', `/auth/api-keys/${k.id}`), 'Revoked').then(load) }, 'Revoke')))));
  }
  main.append(h('h1', null, 'API keys'),
    S.me.role !== 'readonly' ? h('div', { class: 'card' }, form(async (data, el) => {
      const body = { name: data.get('name') };
      const sessions = data.get('sessions').split(/[\s,]+/).filter(Boolean);
      if (sessions.length) body.sessions = sessions;
      const made = await act(() => api('POST', '/auth/api-keys', body));
      if (made) {
        el.reset();
        set(shown, h('p', null, 'The new key, shown only now: copy it.'), h('pre', { id: 'api-key' }, made.data.key));
        load();
      }
    }, h('div', { class: 'row' }, field('Name', h('input', { name: 'name', required: true })), field('Only these sessions (empty: all)', h('input', { name: 'sessions' })),
      h('button', { type: 'submit' }, 'Create key'))), shown) : null,
    h('div', { class: 'card scroll' }, h('table', null, h('thead', null, h('tr', null, ['Name', 'Prefix', 'Sessions', 'Created', 'Last used', ''].map((t) => h('th', null, t)))), listEl)));
  await load();
}

// ---------- profile ----------
async function profilePage(main) {
  main.append(h('h1', null, 'Profile'), h('div', { class: 'card' },
    h('dl', null, h('dt', null, 'Name'), h('dd', { id: 'profile-name' }, S.me.name), h('dt', null, 'Username'), h('dd', null, S.me.username || '—'),
      h('dt', null, 'Email'), h('dd', null, S.me.email), h('dt', null, 'Role'), h('dd', null, S.me.role)),
    h('p', null, h('a', { href: '/docs' }, 'API reference'))));
}

boot();
