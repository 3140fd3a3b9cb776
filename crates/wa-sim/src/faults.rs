//! Faults a test can inject for one phone number, each producing what the real
//! service produces and so the client event a gateway must handle.

use std::time::{Duration, Instant};

use crate::{
    Sim,
    session::{close_all, conflict},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Drop every connection of the number (client: `Disconnected`, then it reconnects).
    Drop,
    /// Drop connections and turn new ones away for this long.
    Refuse(Duration),
    /// Temporary ban: connections close and logins get `<failure reason="402">`
    /// with the remaining time (client: `TemporaryBan`).
    Ban(Duration),
    /// The phone unlinks every device (client: `LoggedOut`).
    Logout,
    /// Another login replaced the stream (client: `StreamReplaced`).
    Replace,
    /// Acks for sent messages come this much later.
    DelayAcks(Duration),
    /// No acks for sent messages for this long.
    WithholdAcks(Duration),
    /// The media host answers downloads with 503 for this long (it is one
    /// host: for every number's media alike).
    MediaDown(Duration),
    /// Lift every fault of the number.
    Clear,
}

impl Fault {
    /// `kind` as the admin API names it; `seconds` where the kind takes one.
    pub fn parse(kind: &str, seconds: Option<u64>) -> anyhow::Result<Fault> {
        let secs = || seconds.map(Duration::from_secs).ok_or_else(|| anyhow::anyhow!("fault {kind} needs seconds"));
        Ok(match kind {
            "drop" => Fault::Drop,
            "refuse" => Fault::Refuse(secs()?),
            "ban" => Fault::Ban(secs()?),
            "logout" => Fault::Logout,
            "replace" => Fault::Replace,
            "delay_acks" => Fault::DelayAcks(secs()?),
            "withhold_acks" => Fault::WithholdAcks(secs()?),
            "media_down" => Fault::MediaDown(secs()?),
            "clear" => Fault::Clear,
            other => anyhow::bail!(
                "unknown fault {other}; one of drop, refuse, ban, logout, replace, delay_acks, withhold_acks, media_down, clear"
            ),
        })
    }
}

pub fn apply(sim: &Sim, phone: &str, fault: Fault) {
    let now = Instant::now();
    match fault {
        Fault::Drop => close_all(sim, phone, || None),
        Fault::Refuse(d) => {
            sim.world().faults.entry(phone.to_owned()).or_default().refuse_until = Some(now + d);
            close_all(sim, phone, || None);
        }
        Fault::Ban(d) => {
            sim.world().faults.entry(phone.to_owned()).or_default().banned_until = Some(now + d);
            close_all(sim, phone, || None);
        }
        Fault::Logout => {
            let devices: Vec<u16> =
                sim.world().accounts.get(phone).map(|a| a.devices.keys().copied().collect()).unwrap_or_default();
            for device in devices {
                crate::phone::unlink(sim, phone, device, true);
            }
        }
        Fault::Replace => close_all(sim, phone, || Some(conflict("replaced"))),
        Fault::DelayAcks(d) => sim.world().faults.entry(phone.to_owned()).or_default().ack_delay = Some(d),
        Fault::WithholdAcks(d) => {
            sim.world().faults.entry(phone.to_owned()).or_default().withhold_acks_until = Some(now + d)
        }
        Fault::MediaDown(d) => sim.media().down_until = Some(now + d),
        Fault::Clear => {
            sim.world().faults.remove(phone);
        }
    }
}
