import { h } from '../lib/dom.js';
import { S } from '../lib/state.js';

export default async function profilePage(main, page) {
  main.append(h('h1', null, 'Profile'), h('div', { class: 'card' },
    h('dl', null, h('dt', null, 'Name'), h('dd', { id: 'profile-name' }, S.me.name), h('dt', null, 'Username'), h('dd', null, S.me.username || '—'),
      h('dt', null, 'Email'), h('dd', null, S.me.email), h('dt', null, 'Role'), h('dd', null, S.me.role)),
    h('p', null, h('a', { href: '/docs' }, 'API reference'))));
}
