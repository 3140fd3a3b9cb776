//! Who is on WhatsApp: the dispatcher asks before a number's first send and
//! `POST /contacts/check` asks for up to 500 numbers at once. Answers are
//! shared by all sessions (an account exists or not, whoever asks) and trusted
//! for a while (a day for "yes", ten minutes for "no"); what the cache does not
//! know is asked in one query.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use serde::Serialize;
use utoipa::ToSchema;

use crate::{engine::Sender, model::now_ms};

/// How long a number's on-WhatsApp answer is trusted.
const REGISTERED_TTL_MS: i64 = 24 * 3600 * 1000;
const UNREGISTERED_TTL_MS: i64 = 10 * 60 * 1000;
/// A query must answer within this.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);
/// Past this many numbers, answers older than the shorter TTL are dropped.
const CAPACITY: usize = 100_000;
/// Most numbers asked in one query.
pub const MAX_CHECK: usize = 500;

/// Whether a number is on WhatsApp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Checked {
    /// Digits with country code.
    pub phone: String,
    pub registered: bool,
    /// Its WhatsApp JID (`…@s.whatsapp.net`), when registered.
    pub jid: Option<String>,
    /// Its LID (`…@lid`), when WhatsApp told it.
    pub lid: Option<String>,
}

#[derive(Clone, Copy)]
struct Known {
    registered: bool,
    at: i64,
}

#[derive(Default)]
pub struct Registry {
    known: Mutex<HashMap<String, (Known, Option<String>)>>,
}

impl Registry {
    /// The answers for `phones` (digits), in order: from the cache where it
    /// still holds, the rest asked through `sender` in one query.
    pub async fn check(&self, sender: &Sender, phones: &[String]) -> anyhow::Result<Vec<Checked>> {
        let now = now_ms();
        let mut answers: HashMap<String, Checked> = HashMap::new();
        let mut ask = Vec::new();
        {
            let known = self.known.lock().expect("registry lock");
            for phone in phones {
                match known.get(phone) {
                    Some((k, lid))
                        if now - k.at < if k.registered { REGISTERED_TTL_MS } else { UNREGISTERED_TTL_MS } =>
                    {
                        answers.insert(phone.clone(), checked(phone, k.registered, lid.clone()));
                    }
                    _ if !ask.contains(phone) => ask.push(phone.clone()),
                    _ => {}
                }
            }
        }
        for chunk in ask.chunks(MAX_CHECK) {
            let asked = tokio::time::timeout(CHECK_TIMEOUT, sender.check(chunk))
                .await
                .map_err(|_| anyhow::anyhow!("no answer in time"))??;
            let mut known = self.known.lock().expect("registry lock");
            if known.len() + asked.len() >= CAPACITY {
                known.retain(|_, (k, _)| now - k.at < UNREGISTERED_TTL_MS);
            }
            for (phone, registered, lid) in asked {
                known.insert(phone.clone(), (Known { registered, at: now }, lid.clone()));
                answers.insert(phone.clone(), checked(&phone, registered, lid));
            }
        }
        Ok(phones.iter().filter_map(|p| answers.get(p).cloned()).collect())
    }
}

fn checked(phone: &str, registered: bool, lid: Option<String>) -> Checked {
    Checked {
        phone: phone.to_owned(),
        registered,
        jid: registered.then(|| format!("{phone}@s.whatsapp.net")),
        lid: lid.map(|l| format!("{l}@lid")),
    }
}
