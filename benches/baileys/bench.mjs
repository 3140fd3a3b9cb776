// The Baileys side of `cargo bench --bench baileys`: many Baileys sockets in
// one Node process, as seed 003's wa-multi-session runs them, driven by the
// Rust bench over stdin/stdout with one JSON object per line.
//
//   node bench.mjs <wa-sim http base> <auth dir>
//
// Commands (stdin):
//   {"cmd":"link","n":N,"first":F,"deadline_ms":D}
//                                   link N sockets to numbers 62833{F+i} by QR;
//                                   after D ms, stop: sockets not open are ended
//   {"cmd":"restore","which":[i,...]}  connect those sockets from their saved auth state
//   {"cmd":"stats"}                 this process's RSS and CPU time
//   {"cmd":"send","to":[[i,"<digits>"],...],"text":T}  socket i sends T to each
//   {"cmd":"exit"}
// Answers (stdout): {"ok":<cmd>,...} (link: "linked", the indices that are
// open); each received message: {"in":<text>}. While linking, stderr gets a
// line every 30 s: linked, connections closed by reason, event-loop delay.
//
// Baileys runs with its defaults (which its README recommends) except a
// silent logger (logging each stanza would be an unfair cost) and
// markOnlineOnConnect: false (idle sessions, like the gateway's).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import makeWASocket, { useMultiFileAuthState, DisconnectReason } from 'baileys';
import pino from 'pino';

const [sim, dir] = process.argv.slice(2);
const ws = sim.replace(/^http/, 'ws') + '/ws/chat';
const logger = pino({ level: 'silent' });
// wa-sim's media host is its own plain-HTTP server (see compat.mjs).
const simUrl = new URL(sim);
class SimAgent extends http.Agent {
  createConnection() { return net.connect(Number(simUrl.port), simUrl.hostname); }
}
const fetchAgent = new SimAgent();
fetchAgent.protocol = 'https:';

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sockets = [];
const number = (first, i) => `62833${String(first + i).padStart(7, '0')}`;
// Connections closed, by status code (515 is linking's "restart required").
const closes = {};
// Set when linking gives up: sockets still closing are not reconnected.
let givingUp = false;
const pending = new Map();

// One socket; resolves once open (or with null once linking gave up on it).
function connect(i, phone) {
  return new Promise(async (resolve) => {
    const path = join(dir, String(i));
    mkdirSync(path, { recursive: true });
    const { state, saveCreds } = await useMultiFileAuthState(path);
    if (givingUp) return resolve(null);
    const sock = makeWASocket({ auth: state, logger, waWebSocketUrl: ws, markOnlineOnConnect: false, fetchAgent });
    pending.set(i, sock);
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('messages.upsert', ({ messages, type }) => {
      if (type !== 'notify') return;
      for (const m of messages) {
        const text = m.message?.conversation || m.message?.extendedTextMessage?.text;
        if (!m.key.fromMe && text) out({ in: text });
      }
    });
    sock.ev.on('connection.update', async (u) => {
      if (u.qr && phone) {
        await fetch(`${sim}/admin/scan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: u.qr, phone }) });
      }
      if (u.connection === 'open') { pending.delete(i); sockets[i] = sock; resolve(sock); }
      if (u.connection === 'close') {
        const code = u.lastDisconnect?.error?.output?.statusCode ?? 'none';
        closes[code] = (closes[code] || 0) + 1;
        if (sockets[i] === sock) delete sockets[i];
        // Reconnect on any close but a logout, as Baileys' README does (and
        // wa-multi-session): after linking's "restart required", a lost
        // connection, or a QR code that expired before it was scanned.
        if (code !== DisconnectReason.loggedOut) resolve(await connect(i, state.creds.me ? null : phone));
      }
    });
  });
}

// At most 16 connections being set up at once, like the gateway's bench.
async function many(items, make) {
  let next = 0;
  const worker = async () => { while (next < items.length && !givingUp) { await make(items[next++]); } };
  await Promise.all(Array.from({ length: 16 }, worker));
}

const range = (n) => Array.from({ length: n }, (_, i) => i);

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const c = JSON.parse(line);
  const started = Date.now();
  if (c.cmd === 'link') {
    const delay = monitorEventLoopDelay({ resolution: 20 });
    delay.enable();
    const progress = setInterval(() => {
      const open = sockets.filter(Boolean).length;
      process.stderr.write(`  Baileys: ${open} of ${c.n} open after ${Math.round((Date.now() - started) / 1000)} s; ` +
        `closed by code ${JSON.stringify(closes)}; event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms, ` +
        `max ${(delay.max / 1e6).toFixed(0)} ms\n`);
      delay.reset();
    }, 30000);
    const deadline = setTimeout(() => {
      givingUp = true;
      for (const sock of pending.values()) sock.end(undefined);
    }, c.deadline_ms);
    await many(range(c.n), (i) => connect(i, number(c.first, i)));
    clearTimeout(deadline);
    clearInterval(progress);
    delay.disable();
    givingUp = false;
    pending.clear();
    const linked = range(c.n).filter((i) => sockets[i]);
    out({ ok: 'link', ms: Date.now() - started, linked });
  } else if (c.cmd === 'restore') {
    await many(c.which, (i) => connect(i, null));
    out({ ok: 'restore', ms: Date.now() - started });
  } else if (c.cmd === 'stats') {
    if (global.gc) global.gc();
    const cpu = process.cpuUsage();
    out({ ok: 'stats', rss: process.memoryUsage().rss, cpu_us: cpu.user + cpu.system });
  } else if (c.cmd === 'send') {
    await Promise.all(c.to.map(([i, to]) => sockets[i].sendMessage(`${to}@s.whatsapp.net`, { text: c.text })));
    out({ ok: 'send', ms: Date.now() - started });
  } else if (c.cmd === 'exit') {
    process.exit(0);
  }
}
