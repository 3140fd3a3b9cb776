// Building the page: the DOM is made with h(), never from HTML strings, so
// nothing a customer writes can become markup.

import { word, dateTime } from './i18n.js';

export function h(tag, attrs, ...kids) {
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

export const $ = (sel, root = document) => root.querySelector(sel);
// Replaces an element's children (arrays flattened, null and false left out).
export const set = (el, ...kids) => el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
// A status, mode or role as a badge, in the user's language.
export const badge = (text, cls) => h('span', { class: `badge ${cls || text}`, 'data-value': text }, word(text));
// A moment, in the gateway's time zone.
export const when = (t) => dateTime(t);
export const field = (label, input) => h('div', null, h('label', null, label, input));

let toastTimer;
export function toast(message, bad) {
  const box = document.getElementById('toast');
  box.textContent = message;
  box.className = `show${bad ? ' bad' : ''}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = ''; }, bad ? 6000 : 2500);
}

export function form(onsubmit, ...kids) {
  return h('form', { onsubmit: (e) => { e.preventDefault(); onsubmit(new FormData(e.target), e.target); } }, ...kids);
}
