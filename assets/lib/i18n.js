// Every string the dashboard shows goes through t(): its English text is the
// key of one table per language (lang/en.js, lang/id.js; a test fails when a
// key is missing from either). `{name}` in a text is filled from `vars`.
// Times are shown in the gateway's time zone (GET /auth/me: `timezone`).

// Each table is fetched when its language is first chosen (the first load stays small).
const TABLES = { en: () => import('../lang/en.js'), id: () => import('../lang/id.js') };
export const LANGUAGE_NAMES = { en: 'English', id: 'Bahasa Indonesia' };
let table = {};
let language = 'en';
let zone;

export async function setLanguage(code) {
  const wanted = TABLES[code] ? code : 'en';
  table = (await TABLES[wanted]()).default;
  language = wanted;
  document.documentElement.lang = language;
}
export const currentLanguage = () => language;

// The gateway's IANA time zone (`Asia/Jakarta`).
export function setZone(name) { zone = name; }

export function t(key, vars) {
  const text = table[key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
}

const locale = () => (language === 'id' ? 'id-ID' : 'en-GB');
// A moment (RFC 3339 or epoch ms) as its date and HH:MM (as the timeline
// shows times), in the gateway's zone.
export function dateTime(at) {
  if (!at) return '';
  return `${new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: zone }).format(new Date(at))} ${clock(at)}`;
}
// As HH:MM, in the gateway's zone.
export function clock(at) {
  return at ? new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone }).format(new Date(at)) : '';
}
// A calendar day (YYYY-MM-DD) of a moment, in the gateway's zone.
export function day(at) {
  return new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: zone }).format(new Date(at));
}

// The gateway's words for states, modes and roles (the API's values), as shown.
export function word(value) {
  const words = {
    // sessions
    qr: t('QR code'), pairing: t('pairing'), connecting: t('connecting'), connected: t('connected'),
    disconnected: t('disconnected'), logged_out: t('logged out'), banned: t('banned'), stopped: t('stopped'),
    // messages, broadcasts, webhook deliveries, notices
    queued: t('queued'), sending: t('sending'), sent: t('sent'), delivered: t('delivered'), read: t('read'),
    failed: t('failed'), skipped: t('skipped'), pending: t('pending'), succeeded: t('succeeded'),
    running: t('running'), completed: t('completed'), cancelled: t('cancelled'), done: t('done'),
    active: t('active'), resolved: t('resolved'), disabled: t('disabled'), received: t('received'),
    // chats
    customer: t('customer'), phone: t('phone'), api: t('API'), broadcast: t('broadcast'), call: t('call'), note: t('note'),
    bot: t('bot'), agent: t('agent'), paused: t('paused'), closed: t('closed'), group: t('group'),
    // people
    admin: t('admin'), user: t('user'), readonly: t('readonly'), member: t('member'), superadmin: t('superadmin'),
  };
  return words[value] ?? value;
}
