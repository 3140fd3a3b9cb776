// The live events of GET /events, to whoever subscribes: subscribe() gives
// back the unsubscribe (the router calls it when the page goes).

import { $ } from './dom.js';
import { endSession } from './api.js';
import { t } from './i18n.js';

const KINDS = ['session.status', 'session.qr', 'message.status', 'broadcast.progress', 'message.received', 'chat.message', 'chat.updated',
  'message.reaction', 'message.edited', 'message.revoked', 'poll.vote', 'call.received', 'presence.update',
  'group.updated', 'group.participants'];
const listeners = new Set();
let source = null;

export function subscribe(fn) {
  listeners.add(fn);
  return () => { listeners.delete(fn); };
}

export const connected = () => source?.readyState === 1;

export function connect() {
  close();
  const s = new EventSource('/events');
  source = s;
  for (const kind of KINDS) {
    s.addEventListener(kind, (e) => {
      const data = JSON.parse(e.data);
      for (const fn of [...listeners]) fn(kind, data);
    });
  }
  s.addEventListener('unauthorized', () => { s.close(); endSession(t('Your login ended; log in again.')); });
  s.onopen = () => $('#live')?.classList.add('on');
  s.onerror = () => $('#live')?.classList.remove('on');
}

export function close() {
  if (source) { source.close(); source = null; }
}
