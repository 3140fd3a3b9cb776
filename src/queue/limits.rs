//! A session's send limits and the pacer that holds it to them: a random pause
//! between sends, most sends per minute, per hour and per recipient per hour,
//! counted over sliding windows, and a shortest time between two sends to one
//! group.
//!
//! Why not `governor`: its GCRA lets a burst of N through and then one more
//! every window/N, so a sliding window can see up to 2N−1 sends. WhatsApp counts
//! what a number sent in the last minute or hour, so the pacer keeps a log of
//! the sends in the longest window and checks every limit against it at once: a
//! send that fails one check spends nothing.

use std::collections::VecDeque;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use super::QueueError;
use crate::{config::LimitsConfig, model::SessionKey};

/// The limits one session sends under (config, then the session's overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    /// 0 = no limit.
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_recipient_per_hour: u32,
    pub max_attempts: u32,
    /// The windows counted over, in milliseconds.
    pub minute_window_ms: u64,
    pub hour_window_ms: u64,
    /// Show "typing…" before each text, inside the pause between sends.
    pub typing: bool,
    /// The shortest time between two sends to one group.
    pub group_interval_ms: u64,
}

/// A session's overrides of `[limits]`; what is left out follows the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    #[serde(default, rename = "delayMinMs", skip_serializing_if = "Option::is_none")]
    #[validate(maximum = 3_600_000)]
    pub delay_min_ms: Option<u64>,
    #[serde(default, rename = "delayMaxMs", skip_serializing_if = "Option::is_none")]
    #[validate(maximum = 3_600_000)]
    pub delay_max_ms: Option<u64>,
    #[serde(default, rename = "perMinute", skip_serializing_if = "Option::is_none")]
    #[validate(maximum = 100_000)]
    pub per_minute: Option<u32>,
    #[serde(default, rename = "perHour", skip_serializing_if = "Option::is_none")]
    #[validate(maximum = 1_000_000)]
    pub per_hour: Option<u32>,
    #[serde(default, rename = "perRecipientPerHour", skip_serializing_if = "Option::is_none")]
    #[validate(maximum = 100_000)]
    pub per_recipient_per_hour: Option<u32>,
    #[serde(default, rename = "maxAttempts", skip_serializing_if = "Option::is_none")]
    #[validate(minimum = 1)]
    #[validate(maximum = 100)]
    pub max_attempts: Option<u32>,
    /// Show "typing…" to the recipient before each text, for a human-looking
    /// time inside the pause between sends (never longer than it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing: Option<bool>,
    /// The shortest time between two sends to one group, in milliseconds.
    #[serde(default, rename = "groupIntervalMs", skip_serializing_if = "Option::is_none")]
    #[validate(maximum = 3_600_000)]
    pub group_interval_ms: Option<u64>,
}

impl Limits {
    pub fn resolve(config: &LimitsConfig, o: &LimitsOverride) -> Limits {
        Limits {
            delay_min_ms: o.delay_min_ms.unwrap_or(config.delay_min_ms),
            delay_max_ms: o.delay_max_ms.unwrap_or(config.delay_max_ms),
            per_minute: o.per_minute.unwrap_or(config.per_minute),
            per_hour: o.per_hour.unwrap_or(config.per_hour),
            per_recipient_per_hour: o.per_recipient_per_hour.unwrap_or(config.per_recipient_per_hour),
            max_attempts: o.max_attempts.unwrap_or(config.max_attempts).max(1),
            minute_window_ms: config.minute_window.as_millis() as u64,
            hour_window_ms: config.hour_window.as_millis() as u64,
            typing: o.typing.unwrap_or(config.typing),
            group_interval_ms: o.group_interval_ms.unwrap_or(config.group_interval.as_millis() as u64),
        }
    }

    /// How far back sends must be remembered to check these limits.
    fn memory_ms(&self) -> u64 {
        let mut memory = 0;
        if self.per_minute > 0 {
            memory = self.minute_window_ms;
        }
        if self.per_hour > 0 || self.per_recipient_per_hour > 0 {
            memory = memory.max(self.hour_window_ms);
        }
        memory
    }
}

impl LimitsOverride {
    /// The overrides, checked against each other and the config.
    pub fn check(&self, config: &LimitsConfig) -> Result<(), (&'static str, String)> {
        let min = self.delay_min_ms.unwrap_or(config.delay_min_ms);
        let max = self.delay_max_ms.unwrap_or(config.delay_max_ms);
        if min > max {
            let field = if self.delay_max_ms.is_some() { "delayMaxMs" } else { "delayMinMs" };
            return Err((field, format!("the delay range is empty: {min} ms > {max} ms")));
        }
        Ok(())
    }
}

/// The log of one session's recent sends, in epoch milliseconds.
#[derive(Debug, Default)]
pub struct Pacer {
    sends: VecDeque<(i64, String)>,
    /// The last send and the random pause drawn after it. The pause is held
    /// to the current range, so new limits apply at once.
    last: Option<(i64, u64)>,
    /// The last send to each group, while its interval may still hold it.
    groups: std::collections::HashMap<String, i64>,
}

impl Pacer {
    /// A pacer that remembers the sends made before it (`(at, recipient)`, oldest first).
    pub fn with_history(limits: &Limits, history: Vec<(i64, String)>, now: i64) -> Pacer {
        let mut pacer = Pacer::default();
        if let Some((last, _)) = history.last() {
            // The pause after the last send is not known; the shortest one is assumed.
            pacer.last = Some((*last, limits.delay_min_ms));
        }
        for (at, to) in &history {
            if crate::model::is_group(to) {
                pacer.groups.insert(to.clone(), *at);
            }
        }
        pacer.sends = history.into();
        pacer.forget(limits, now);
        pacer
    }

    fn forget(&mut self, limits: &Limits, now: i64) {
        let horizon = now - limits.memory_ms() as i64;
        while self.sends.front().is_some_and(|(at, _)| *at <= horizon) {
            self.sends.pop_front();
        }
        self.groups.retain(|_, at| *at + limits.group_interval_ms as i64 > now);
    }

    /// The earliest time the session may send again, to anyone: after the
    /// pause, and once the minute and hour windows have room.
    pub fn ready_at(&mut self, limits: &Limits, now: i64) -> i64 {
        self.forget(limits, now);
        let pause_end = self.last.map(|(at, pause)| at + pause.clamp(limits.delay_min_ms, limits.delay_max_ms) as i64);
        let mut at = pause_end.unwrap_or(now).max(now);
        for (limit, window) in [(limits.per_minute, limits.minute_window_ms), (limits.per_hour, limits.hour_window_ms)]
        {
            at = at.max(self.room_at(limit, window, now, |_| true));
        }
        at
    }

    /// Recipients that may not be sent to now, with when they may again.
    pub fn blocked(&mut self, limits: &Limits, now: i64) -> Vec<(String, i64)> {
        self.forget(limits, now);
        let mut seen: Vec<&str> = self.groups.keys().map(String::as_str).collect();
        if limits.per_recipient_per_hour > 0 {
            for (_, to) in &self.sends {
                if !seen.contains(&to.as_str()) {
                    seen.push(to);
                }
            }
        }
        let seen: Vec<String> = seen.into_iter().map(str::to_owned).collect();
        seen.into_iter()
            .filter_map(|to| {
                let at = self.recipient_room_at(limits, &to, now);
                (at > now).then_some((to, at))
            })
            .collect()
    }

    /// When `to` may be sent to again as far as its own limits go: its sends
    /// in the hour, and for a group the time since the last send to it.
    fn recipient_room_at(&self, limits: &Limits, to: &str, now: i64) -> i64 {
        let at = self.room_at(limits.per_recipient_per_hour, limits.hour_window_ms, now, |r| r == to);
        match self.groups.get(to) {
            Some(last) => at.max(last + limits.group_interval_ms as i64),
            None => at,
        }
    }

    /// When the window has room for one more send (of those `matching`):
    /// `now` if it has room already.
    fn room_at(&self, limit: u32, window_ms: u64, now: i64, matching: impl Fn(&str) -> bool) -> i64 {
        if limit == 0 {
            return now;
        }
        let window = window_ms as i64;
        let inside: Vec<i64> =
            self.sends.iter().filter(|(at, to)| at + window > now && matching(to)).map(|(at, _)| *at).collect();
        if inside.len() < limit as usize {
            return now;
        }
        // The oldest sends must leave the window until one slot is free.
        inside[inside.len() - limit as usize] + window
    }

    /// Checks every limit for a send to `to` now and, only if all pass, spends
    /// it: records the send and draws the pause before the next one. Otherwise
    /// nothing is spent and the error says when to try again.
    pub fn try_spend(&mut self, limits: &Limits, to: &str, now: i64, rng: &mut impl Rng) -> Result<(), i64> {
        let mut at = self.ready_at(limits, now);
        at = at.max(self.recipient_room_at(limits, to, now));
        if at > now {
            return Err(at);
        }
        if limits.memory_ms() > 0 {
            self.sends.push_back((now, to.to_owned()));
        }
        if limits.group_interval_ms > 0 && crate::model::is_group(to) {
            self.groups.insert(to.to_owned(), now);
        }
        self.last = Some((now, rng.random_range(limits.delay_min_ms..=limits.delay_max_ms)));
        Ok(())
    }
}

/// A session's limits: its overrides (kept in `sessions.limits`) over the config's.
impl super::Queue {
    /// The limits the session sends under.
    pub async fn limits(&self, session: &SessionKey) -> Result<Limits, QueueError> {
        let lane = self.lane(session);
        if let Some(limits) = lane.limits.lock().expect("limits lock").clone() {
            return Ok(limits);
        }
        let overrides = self.overrides(session).await?;
        let limits = Limits::resolve(&self.0.config.limits, &overrides);
        *lane.limits.lock().expect("limits lock") = Some(limits.clone());
        Ok(limits)
    }

    pub async fn overrides(&self, session: &SessionKey) -> Result<LimitsOverride, QueueError> {
        use sea_orm::EntityTrait;
        let row = crate::db::entities::sessions::Entity::find_by_id(session.to_owned()).one(&self.0.db).await?;
        Ok(row.and_then(|r| r.limits).and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default())
    }

    /// Sets the session's overrides (all of them: what is left out follows the config).
    pub async fn set_overrides(&self, session: &SessionKey, overrides: &LimitsOverride) -> Result<Limits, QueueError> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

        use crate::db::entities::sessions as rows;
        let json = (overrides != &LimitsOverride::default())
            .then(|| serde_json::to_string(overrides))
            .transpose()
            .map_err(anyhow::Error::from)?;
        rows::Entity::update_many()
            .col_expr(rows::Column::Limits, Expr::value(json))
            .filter(rows::Column::Id.eq(session))
            .exec(&self.0.db)
            .await?;
        let limits = Limits::resolve(&self.0.config.limits, overrides);
        let lane = self.lane(session);
        *lane.limits.lock().expect("limits lock") = Some(limits.clone());
        lane.wake.notify_one();
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, per_hour: u32, per_recipient: u32) -> Limits {
        Limits {
            delay_min_ms: 0,
            delay_max_ms: 0,
            per_minute,
            per_hour,
            per_recipient_per_hour: per_recipient,
            max_attempts: 3,
            minute_window_ms: 1_000,
            hour_window_ms: 10_000,
            typing: false,
            group_interval_ms: 0,
        }
    }

    #[test]
    fn a_group_waits_its_interval_while_others_go() {
        let limits = Limits { group_interval_ms: 5_000, ..limits(0, 0, 0) };
        let mut pacer = Pacer::default();
        let mut rng = rand::rng();
        let group = "120363000000000001@g.us";
        assert_eq!(pacer.try_spend(&limits, group, 0, &mut rng), Ok(()));
        assert_eq!(pacer.try_spend(&limits, group, 1_000, &mut rng), Err(5_000));
        assert_eq!(pacer.blocked(&limits, 1_000), vec![(group.to_owned(), 5_000)]);
        // A person is not held by a group's interval, nor by its own sends.
        assert_eq!(pacer.try_spend(&limits, "628222000001", 1_000, &mut rng), Ok(()));
        assert_eq!(pacer.try_spend(&limits, "628222000001", 1_001, &mut rng), Ok(()));
        assert_eq!(pacer.try_spend(&limits, group, 5_000, &mut rng), Ok(()));
    }

    #[test]
    fn no_sliding_window_ever_holds_more_than_the_limit() {
        let limits = limits(3, 7, 0);
        let mut pacer = Pacer::default();
        let mut rng = rand::rng();
        let mut sent = Vec::new();
        let mut now = 0;
        while now < 30_000 {
            match pacer.try_spend(&limits, "a", now, &mut rng) {
                Ok(()) => sent.push(now),
                Err(at) => assert!(at > now),
            }
            now += 7;
        }
        for &start in &sent {
            assert!(sent.iter().filter(|&&t| t >= start && t < start + 1_000).count() <= 3);
            assert!(sent.iter().filter(|&&t| t >= start && t < start + 10_000).count() <= 7);
        }
        // And the limit is used, not just respected: 7 in the first 10 s.
        assert_eq!(sent.iter().filter(|&&t| t < 10_000).count(), 7);
    }

    #[test]
    fn a_refused_check_spends_nothing() {
        let limits = limits(10, 10, 2);
        let mut pacer = Pacer::default();
        let mut rng = rand::rng();
        assert!(pacer.try_spend(&limits, "a", 0, &mut rng).is_ok());
        assert!(pacer.try_spend(&limits, "a", 1, &mut rng).is_ok());
        // "a" is at its limit until its first send leaves the hour window.
        assert_eq!(pacer.try_spend(&limits, "a", 2, &mut rng), Err(10_000));
        assert_eq!(pacer.blocked(&limits, 2), vec![("a".to_owned(), 10_000)]);
        // The refusals spent nothing of the minute limit: eight others still fit.
        for i in 0..8 {
            assert!(pacer.try_spend(&limits, &format!("b{i}"), 3, &mut rng).is_ok(), "{i}");
        }
        assert!(pacer.try_spend(&limits, "c", 4, &mut rng).is_err());
    }

    #[test]
    fn pauses_fall_within_the_range_and_history_counts() {
        let mut limits = limits(0, 0, 0);
        limits.delay_min_ms = 100;
        limits.delay_max_ms = 200;
        let mut pacer = Pacer::default();
        let mut rng = rand::rng();
        let mut now = 0;
        for _ in 0..50 {
            pacer.try_spend(&limits, "a", now, &mut rng).unwrap();
            let next = pacer.ready_at(&limits, now);
            assert!((now + 100..=now + 200).contains(&next), "{now} -> {next}");
            assert!(pacer.try_spend(&limits, "a", next - 1, &mut rng).is_err());
            now = next;
        }
        // A shorter range applies at once to the pause already drawn.
        let mut pacer = Pacer::default();
        limits.delay_min_ms = 60_000;
        limits.delay_max_ms = 60_000;
        pacer.try_spend(&limits, "a", 0, &mut rng).unwrap();
        assert_eq!(pacer.ready_at(&limits, 1), 60_000);
        limits.delay_min_ms = 0;
        limits.delay_max_ms = 10;
        assert_eq!(pacer.ready_at(&limits, 1), 10);
        // Sends before a restart count against the windows after it.
        let limits = self::limits(2, 0, 0);
        let mut pacer = Pacer::with_history(&limits, vec![(0, "a".into()), (500, "b".into())], 600);
        assert_eq!(pacer.ready_at(&limits, 600), 1_000);
    }
}
