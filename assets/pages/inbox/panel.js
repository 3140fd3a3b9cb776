// The side panel of the open chat: who the customer is, and the notices
// active on their ODP; for a group, the group and who wrote in it.

import { h, set, when } from '../../lib/dom.js';
import { api, act } from '../../lib/api.js';
import { S } from '../../lib/state.js';
import { t } from '../../lib/i18n.js';

export function customerPanel(inbox) {
  const el = h('aside', { class: 'side', id: 'customer' });
  async function draw() {
    const open = inbox.open;
    const p = open.profile;
    if (open.chat.kind === 'group') {
      // Who wrote in it, as the timeline shows.
      const writers = new Map(open.entries.filter((e) => e.participant && e.type !== 'group_update').map((e) => [e.participant, e.push_name]));
      set(el, h('h2', null, t('Group')), h('dl', null,
        h('dt', null, t('Group')), h('dd', null, p.phone),
        h('dt', null, t('Session')), h('dd', null, open.chat.session)),
      h('h2', null, t('Wrote here')), h('ul', { id: 'group-writers' }, [...writers].map(([phone, name]) => h('li', null, name ? `${name} (+${phone})` : `+${phone}`))));
      return;
    }
    const dl = h('dl', null,
      h('dt', null, t('Phone')), h('dd', null, p.phone),
      h('dt', null, t('Session')), h('dd', null, open.chat.session),
      p.address ? [h('dt', null, t('Address')), h('dd', null, p.address)] : null,
      p.email ? [h('dt', null, t('Email')), h('dd', null, p.email)] : null,
      h('dt', null, t('ODP')), h('dd', { id: 'customer-odp' }, p.odp || '—'),
      h('dt', null, t('Last active')), h('dd', null, p.lastActive === 'Online' ? t('Online') : when(p.lastActive)));
    const notices = h('div', { id: 'customer-notices' });
    set(el, h('h2', null, t('Customer')), dl, notices);
    if (p.odp && S.me.role !== 'agent') {
      const list = await act(() => api('GET', '/api/notices?status=active&limit=50'));
      const mine = (list?.data || []).filter((n) => n.odps.includes(p.odp));
      set(notices, h('h2', null, t('Notices on this ODP')),
        mine.length ? mine.map((n) => h('div', { class: 'card' }, h('strong', null, n.title), h('div', null, n.message))) : h('p', { class: 'muted' }, t('None active.')));
    }
  }
  return { el, draw };
}
