//! An inbox's worth of data, written straight into a stopped gateway's
//! database: `chats` chats of one session and `messages` received messages
//! spread over them, each in its chat's timeline and in the search index, as
//! the gateway writes them. The texts are Indonesian support talk drawn from a
//! fixed vocabulary with Zipf frequencies (a few words in many messages, most
//! in few), plus a long tail of names and invoice numbers; seeded, so every
//! run writes the same data.

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

/// The vocabulary, most frequent first.
pub const WORDS: &[&str] = &[
    "internet",
    "mati",
    "sudah",
    "tidak",
    "bisa",
    "tolong",
    "kak",
    "pak",
    "bu",
    "wifi",
    "modem",
    "lampu",
    "merah",
    "kedip",
    "sejak",
    "pagi",
    "siang",
    "malam",
    "kemarin",
    "hari",
    "ini",
    "lambat",
    "sekali",
    "sinyal",
    "hilang",
    "bayar",
    "tagihan",
    "bulan",
    "lunas",
    "transfer",
    "bukti",
    "nomor",
    "pelanggan",
    "alamat",
    "rumah",
    "teknisi",
    "datang",
    "kapan",
    "jam",
    "berapa",
    "gangguan",
    "daerah",
    "kabel",
    "putus",
    "tiang",
    "jatuh",
    "hujan",
    "petir",
    "restart",
    "cabut",
    "colok",
    "ulang",
    "password",
    "ganti",
    "nama",
    "paket",
    "upgrade",
    "mbps",
    "kecepatan",
    "speedtest",
    "ping",
    "game",
    "youtube",
    "zoom",
    "kantor",
    "sekolah",
    "anak",
    "belajar",
    "online",
    "terima",
    "kasih",
    "mohon",
    "maaf",
    "segera",
    "cek",
    "dicek",
    "sudahkah",
    "belum",
    "masih",
    "lagi",
    "terus",
    "putus",
    "nyambung",
    "loss",
    "los",
    "indikator",
    "pon",
    "router",
    "ont",
    "odp",
    "tetangga",
    "juga",
    "sama",
    "kompensasi",
    "potongan",
    "diskon",
    "promo",
    "pasang",
    "baru",
    "pindah",
    "berhenti",
    "langganan",
    "cabut",
    "kontrak",
    "denda",
    "jatuh",
    "tempo",
    "invoice",
    "kwitansi",
    "rekening",
    "virtual",
    "account",
    "qris",
    "dana",
    "ovo",
    "gopay",
    "alfamart",
    "indomaret",
    "struk",
    "foto",
    "kirim",
    "tunggu",
    "antrian",
    "lama",
    "kecewa",
    "komplain",
];

/// Names and places of the long tail.
const NAMES: &[&str] = &[
    "budi", "sari", "agus", "dewi", "rina", "joko", "wati", "andi", "siti", "eko", "yanti", "hendra", "lestari",
    "bambang", "nur", "fajar", "indah", "rudi", "ayu", "dedi",
];

/// A small seeded generator (xorshift): the same data every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A vocabulary word's rank, Zipf-distributed (weight 1/(rank+1)).
    pub fn zipf(&mut self, n: usize) -> usize {
        // Inverse of the harmonic CDF, approximated by exp(u * ln(n+1)) - 1.
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (((n as f64 + 1.0).ln() * u).exp() as usize).saturating_sub(1).min(n - 1)
    }
}

/// The next message's text.
pub fn text_of(rng: &mut Rng) -> String {
    let n = 4 + rng.below(7) as usize;
    let mut words: Vec<String> = (0..n).map(|_| WORDS[rng.zipf(WORDS.len())].to_owned()).collect();
    match rng.below(10) {
        0 => words.push(format!("inv{:07}", rng.below(200_000))),
        1 => words.push(NAMES[rng.below(NAMES.len() as u64) as usize].to_owned()),
        2 => words.push(format!("jl{}", rng.below(5_000))),
        _ => {}
    }
    words.join(" ")
}

/// Fills the database (the gateway stopped: one writer) with `chats` chats of
/// session `session` (owned by `owner`) and `messages` received messages.
pub async fn fill(db: &DatabaseConnection, session: &str, owner: i64, chats: usize, messages: usize) {
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - messages as i64 * 10;
    // One connection of the pool: a transaction (committed every 50,000 messages).
    let mut tx = db.begin().await.expect("begin");
    for first in (0..chats).step_by(500) {
        let rows: Vec<String> = (first..(first + 500).min(chats))
            .map(|c| {
                let at = start + ((c as i64 * 7919) % messages as i64) * 10;
                format!("({}, '{session}', {owner}, '62833{c:07}', 'Pelanggan {c}', 'bot', 0, {at}, {at}, {at})", c + 1)
            })
            .collect();
        run(&tx, format!(
            "INSERT INTO chats (id, session_id, user_id, contact, name, mode, unread, last_message_at, created_at, updated_at) VALUES {}",
            rows.join(",")
        ))
        .await;
    }
    let mut rng = Rng::new(0x5eed);
    for first in (0..messages).step_by(500) {
        let range = first..(first + 500).min(messages);
        let texts: Vec<String> = range.clone().map(|_| text_of(&mut rng)).collect();
        let inbound: Vec<String> = range
            .clone()
            .zip(&texts)
            .map(|(m, text)| {
                let chat = m % chats;
                let at = start + m as i64 * 10;
                format!(
                    "({}, '{session}', {}, '62833{chat:07}@s.whatsapp.net', '62833{chat:07}@s.whatsapp.net', 'W{m:012}', 0, 'text', '{text}', {at}, {at})",
                    m + 1,
                    chat + 1
                )
            })
            .collect();
        run(&tx, format!(
            "INSERT INTO inbound_messages (id, session_id, chat_id, chat_jid, sender_jid, wa_id, from_me, kind, body, sent_at, received_at) VALUES {}",
            inbound.join(",")
        ))
        .await;
        let entries: Vec<String> = range
            .clone()
            .map(|m| format!("({}, {}, 'customer', {}, {})", m + 1, m % chats + 1, m + 1, start + m as i64 * 10))
            .collect();
        run(
            &tx,
            format!("INSERT INTO chat_entries (id, chat_id, sender, inbound_id, at) VALUES {}", entries.join(",")),
        )
        .await;
        // The search index, as `inbox::search::index` writes it (stems are letters and digits).
        let words: Vec<String> = range
            .zip(&texts)
            .flat_map(|(m, text)| {
                words::stems(text).into_iter().map(move |w| format!("('{w}', {}, {})", m + 1, m % chats + 1))
            })
            .collect();
        run(&tx, format!("INSERT INTO chat_words (word, entry_id, chat_id) VALUES {}", words.join(","))).await;
        if first % 50_000 == 49_500 {
            tx.commit().await.expect("commit");
            tx = db.begin().await.expect("begin");
        }
    }
    tx.commit().await.expect("commit");
}

async fn run(tx: &sea_orm::DatabaseTransaction, sql: String) {
    tx.execute_unprepared(&sql).await.expect("fill");
}
