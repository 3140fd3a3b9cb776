// Groups of a session: the list, making one, a group's participants (add,
// remove, promote, demote), its invite link, leaving it, and a text into it
// that mentions participants (@ picks one). Group conversations themselves
// are chats in the inbox when `inbox.groups` is on.

import { h, $, set, badge, field, form } from '../lib/dom.js';
import { api, act } from '../lib/api.js';
import { S } from '../lib/state.js';
import { mentionPicker } from '../lib/mentions.js';
import { t, word } from '../lib/i18n.js';

const q = encodeURIComponent;
// Numbers typed in one box: separated by commas, spaces or lines.
const numbers = (text) => text.split(/[\s,;]+/).map((p) => p.trim()).filter(Boolean);

export default async function groupsPage(main) {
  const canWrite = S.me.role !== 'readonly';
  const sessions = ((await act(() => api('GET', '/session/list')))?.data || []).filter((s) => s.status === 'connected');
  let session = sessions[0]?.sessionId || null;
  const list = h('tbody', { id: 'groups' });
  const detail = h('div', { id: 'group-detail' });

  async function load() {
    if (!session) { set(list, h('tr', null, h('td', { colspan: 4, class: 'muted' }, t('No connected session.')))); return; }
    const answer = await act(() => api('GET', `/groups?session=${q(session)}`));
    const groups = answer?.data || [];
    set(list, groups.length ? groups.map((g) => h('tr', { 'data-group': g.jid },
      h('td', null, h('a', { href: '#/groups', onclick: (e) => { e.preventDefault(); open(g.jid); } }, g.subject || g.jid)),
      h('td', null, String(g.participantCount)),
      h('td', null, badge(g.role, 'mode')),
      h('td', null, g.canSend ? 'yes' : h('span', { class: 'muted' }, g.announce ? t('admins only') : 'no'))))
      : h('tr', null, h('td', { colspan: 4, class: 'muted' }, t('This session is in no group.'))));
  }

  async function change(jid, action, phones) {
    const answer = await act(() => api('POST', `/groups/${q(jid)}/participants`, { session, [action]: phones }));
    if (!answer) return;
    const refused = answer.data.results.filter((r) => !r.ok);
    if (refused.length) alert(refused.map((r) => `+${r.phone}: ${r.reason}`).join('\n'));
    await open(jid);
    await load();
  }

  async function open(jid) {
    const answer = await act(() => api('GET', `/groups/${q(jid)}?session=${q(session)}`));
    if (!answer) return;
    const g = answer.data;
    const admin = g.role === 'admin' || g.role === 'superadmin';
    const invite = h('p', { id: 'invite' });
    const text = h('textarea', { name: 'text', id: 'group-text', placeholder: t('Write to the group; @ mentions a participant'), 'aria-label': t('Message to the group'), required: true });
    const own = sessions.find((s) => s.sessionId === session)?.phoneNumber;
    const picker = mentionPicker(text, async () => g.participants.filter((p) => p.phone !== own));
    set(detail, h('div', { class: 'card', id: 'group-card', 'data-group': g.jid },
      h('h2', null, g.subject, ' ', h('span', { class: 'muted' }, g.jid)),
      g.description ? h('p', null, g.description) : null,
      h('p', { class: 'muted' }, `${g.announce ? t('Only admins may write') : t('Everyone may write')} · ${g.locked ? t('only admins change its info') : t('everyone may change its info')} · ${t('this session is {role}', { role: word(g.role) })}`),
      h('table', null, h('thead', null, h('tr', null, [t('Participant'), t('Role'), ''].map((x) => h('th', null, x)))),
        h('tbody', { id: 'participants' }, g.participants.map((p) => h('tr', { 'data-phone': p.phone },
          h('td', null, `+${p.phone}`), h('td', null, word(p.role)),
          h('td', null, canWrite && admin && p.role !== 'superadmin' ? [
            p.role === 'member' ? h('button', { class: 'secondary small', onclick: () => change(g.jid, 'promote', [p.phone]) }, t('Make admin'))
              : h('button', { class: 'secondary small', onclick: () => change(g.jid, 'demote', [p.phone]) }, t('Dismiss admin')), ' ',
            h('button', { class: 'secondary small danger', onclick: () => confirm(t('Remove {name}?', { name: `+${p.phone}` })) && change(g.jid, 'remove', [p.phone]) }, t('Remove')),
          ] : null))))),
      canWrite && admin ? form((data, el) => { change(g.jid, 'add', numbers(data.get('phones'))); el.reset(); },
        h('div', { class: 'row' }, field(t('Add participants'), h('input', { name: 'phones', id: 'add-participants', placeholder: '628…, 628…', required: true })),
          h('button', { type: 'submit' }, t('Add')))) : null,
      admin ? h('div', { class: 'row' }, h('button', { class: 'secondary', id: 'show-invite', onclick: async () => {
        const link = await act(() => api('GET', `/groups/${q(g.jid)}/invite?session=${q(session)}`));
        if (link) set(invite, h('a', { href: link.data.link, target: '_blank', rel: 'noopener' }, link.data.link));
      } }, t('Invite link')), canWrite ? h('button', { class: 'secondary', onclick: async () => {
        if (!confirm(t('Revoke the invite link? The old one stops working.'))) return;
        const link = await act(() => api('POST', `/groups/${q(g.jid)}/invite/revoke`, { session }), t('Invite link revoked'));
        if (link) set(invite, h('a', { href: link.data.link, target: '_blank', rel: 'noopener' }, link.data.link));
      } }, t('Revoke link')) : null, invite) : null,
      canWrite && g.canSend ? form(async (data, el) => {
        const body = { session, to: g.jid, text: data.get('text') };
        const mentions = picker.mentioned(body.text);
        if (mentions.length) body.mentions = mentions;
        if (await act(() => api('POST', '/message/send-text', body), t('Queued'))) el.reset();
      }, h('h2', null, t('Send to the group')), text, picker.menu, h('p', null, h('button', { type: 'submit', id: 'group-send' }, t('Send')))) : null,
      canWrite ? h('p', null, h('button', { class: 'danger', onclick: async () => {
        if (!confirm(t('Leave {group}?', { group: g.subject }))) return;
        if (await act(() => api('POST', `/groups/${q(g.jid)}/leave`, { session }), t('Left the group'))) { set(detail); load(); }
      } }, t('Leave the group'))) : null));
  }

  const picker = h('select', { id: 'group-session', 'aria-label': t('Session'), onchange: (e) => { session = e.target.value; set(detail); load(); } },
    sessions.map((s) => h('option', { value: s.sessionId }, `${s.sessionId} (+${s.phoneNumber})`)));
  main.append(h('h1', null, t('Groups')),
    h('div', { class: 'card' }, h('div', { class: 'row' }, field(t('Session'), picker)),
      canWrite ? form(async (data, el) => {
        const body = { session, subject: data.get('subject'), participants: numbers(data.get('participants')) };
        const made = await act(() => api('POST', '/groups', body), t('Group created'));
        if (!made) return;
        const refused = made.data.results.filter((r) => !r.ok);
        if (refused.length) alert(refused.map((r) => `+${r.phone}: ${r.reason}`).join('\n'));
        el.reset();
        await load();
        open(made.data.jid);
      }, h('div', { class: 'row' },
        field(t('New group'), h('input', { name: 'subject', id: 'group-subject', placeholder: t('Subject'), required: true, maxlength: 100 })),
        field(t('Participants'), h('input', { name: 'participants', id: 'group-participants', placeholder: '628…, 628…', required: true })),
        h('button', { type: 'submit', id: 'create-group' }, t('Create')))) : null),
    detail,
    h('div', { class: 'card scroll' }, h('table', null,
      h('thead', null, h('tr', null, [t('Group'), t('Participants'), t('This session'), t('May write')].map((x) => h('th', null, x)))), list)));
  await load();
}
