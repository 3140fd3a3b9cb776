// Baileys against wa-sim: link by QR, send a text, an image and a document that
// wa-sim's contact decrypts, get its receipts, receive one message, and link a
// second number by pairing code. Run by scripts/baileys-compat.
//   node compat.mjs http://127.0.0.1:7080
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import makeWASocket, { useMultiFileAuthState, DisconnectReason } from 'baileys';
import pino from 'pino';
import sharp from 'sharp';
import http from 'node:http';
import net from 'node:net';

const sim = process.argv[2] || 'http://127.0.0.1:7080';
const ws = sim.replace(/^http/, 'ws') + '/ws/chat';
const PHONE = '6281500000001';
const CONTACT = '6281500000002';
const logger = pino({ level: process.env.BAILEYS_LOG || 'warn' });
// wa-sim's media host (`mmg.wa-sim.local`, from its media_conn answer) is
// its own plain-HTTP server, as a simulator build of wagate reaches it too:
// Baileys' uploads (node's https module, with `fetchAgent`) and downloads
// (fetch) are pointed there.
const mediaHost = 'https://mmg.wa-sim.local';
const simUrl = new URL(sim);
class SimAgent extends http.Agent {
  createConnection() { return net.connect(Number(simUrl.port), simUrl.hostname); }
}
const fetchAgent = new SimAgent();
fetchAgent.protocol = 'https:';
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => realFetch(String(url).startsWith(mediaHost) ? sim + String(url).slice(mediaHost.length) : url, init);
const dir = mkdtempSync(join(tmpdir(), 'baileys-compat-'));
const step = (what) => console.log(`ok   ${what}`);
const fail = (what) => { console.log(`FAIL ${what}`); rmSync(dir, { recursive: true, force: true }); process.exit(1); };
const post = async (path, body) => {
  const r = await fetch(sim + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const get = async (path) => (await fetch(sim + path)).json();
const until = async (what, secs, check) => {
  const end = Date.now() + secs * 1000;
  while (Date.now() < end) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`${what} (waited ${secs} s)`);
};

// A Baileys socket on the auth state in `dir`, reconnected on any close but a
// logout, as Baileys' README does: after linking WhatsApp ends the stream
// ("restart required", 515) and closes it, and Baileys may see the socket
// close (428) before it has decoded that last stanza.
async function session(dir, onQr) {
  const { state, saveCreds } = await useMultiFileAuthState(dir);
  const s = { sock: null, open: false, ended: false, received: [], closes: [], statuses: {} };
  s.end = () => { s.ended = true; s.sock.end(undefined); };
  const connect = () => {
    const sock = makeWASocket({ auth: state, logger, waWebSocketUrl: ws, markOnlineOnConnect: false, fetchAgent });
    s.sock = sock;
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('messages.upsert', ({ messages }) => { for (const m of messages) if (!m.key.fromMe) s.received.push(m); });
    // Receipts for what it sent: 3 delivered, 4 read (WebMessageInfo.Status).
    sock.ev.on('messages.update', (updates) => {
      for (const { key, update } of updates) if (update.status) s.statuses[key.id] = Math.max(s.statuses[key.id] || 0, update.status);
    });
    sock.ev.on('connection.update', async (u) => {
      if (u.qr) {
        try { await onQr(sock, u.qr); } catch (e) { console.log(`linking: ${e.message}`); }
      }
      if (u.connection === 'open') s.open = true;
      if (u.connection === 'close') {
        s.open = false;
        const code = u.lastDisconnect?.error?.output?.statusCode;
        s.closes.push(code);
        if (!s.ended && code !== DisconnectReason.loggedOut) connect();
      }
    });
  };
  connect();
  return s;
}

const first = await session(dir, (_, qr) => post('/admin/scan', { qr, phone: PHONE }));
await until('link by QR and connection: open', 30, () => first.open);
step(`linked ${PHONE} by QR; connection open (closes before: ${first.closes.join(', ')})`);

await post('/admin/contacts', { phones: [CONTACT] });
const to = `${CONTACT}@s.whatsapp.net`;
const text = await first.sock.sendMessage(to, { text: 'halo dari Baileys' });
await until('the contact decrypts the text', 20, async () =>
  (await get(`/admin/messages?to=${CONTACT}`)).find((m) => m.text === 'halo dari Baileys'));
step('text sent; wa-sim\'s contact decrypted it');

const png = await sharp({ create: { width: 48, height: 48, channels: 3, background: '#128c7e' } }).png().toBuffer();
await first.sock.sendMessage(to, { image: png, caption: 'foto ODP', mimetype: 'image/png' });
await until('the contact decrypts the image', 30, async () =>
  (await get(`/admin/messages?to=${CONTACT}`)).find((m) => m.type === 'image' && m.caption === 'foto ODP'));
step('image uploaded and sent; wa-sim\'s contact downloaded and decrypted it');

await first.sock.sendMessage(to, { document: Buffer.from('%PDF-1.4 tagihan Desember'), mimetype: 'application/pdf', fileName: 'tagihan.pdf' });
await until('the contact decrypts the document', 30, async () =>
  (await get(`/admin/messages?to=${CONTACT}`)).find((m) => m.type === 'document' && m.filename === 'tagihan.pdf'));
step('document uploaded and sent; wa-sim\'s contact downloaded and decrypted it');

for (const [type, status] of [['delivered', 3], ['read', 4]]) {
  await post('/admin/receipts', { message_id: text.key.id, type });
  await until(`the ${type} receipt reaches Baileys`, 20, () => (first.statuses[text.key.id] || 0) >= status);
}
step('delivered and read receipts for the text received');

await post('/admin/inbound', { from: CONTACT, to: PHONE, text: 'halo dari pelanggan', pushName: 'Budi' });
await until('the inbound message reaches Baileys', 20, () =>
  first.received.find((m) => (m.message?.conversation || m.message?.extendedTextMessage?.text) === 'halo dari pelanggan'));
step('inbound message received and decrypted');

// A second number links by pairing code: Baileys asks for a code, the phone's user types it.
const PAIRED = '6281500000003';
const dir2 = mkdtempSync(join(tmpdir(), 'baileys-compat-'));
let asked = false;
const second = await session(dir2, async (sock) => {
  if (asked) return;
  asked = true;
  const code = await sock.requestPairingCode(PAIRED);
  // Baileys returns the code once its request is written, not answered: the
  // phone's user types it once the server has the request (a 404 until then).
  for (let tries = 0; ; tries++) {
    try { return await post('/admin/pair-code', { phone: PAIRED, code }); } catch (e) {
      if (tries >= 50 || !e.message.includes('404')) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});
await until('link by pairing code and connection: open', 30, () => second.open);
step(`linked ${PAIRED} by pairing code; connection open (closes before: ${second.closes.join(', ')})`);

second.end();
first.end();
rmSync(dir, { recursive: true, force: true });
rmSync(dir2, { recursive: true, force: true });
console.log('baileys compat: all passed');
process.exit(0);
