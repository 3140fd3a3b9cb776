//! The inbox's analytics (`GET /analytics/inbox`): the conversations opened
//! in a period (see [`super::conversations`]), per day (in the gateway's time
//! zone), per agent or per session — chats opened, first response and
//! resolution times (p50/p90, nearest rank), messages in and out, chats the
//! bot answered alone, the customers' ratings. Every figure of a row is about
//! the conversations opened in it.

use crate::config::Zone;
use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use sea_orm::{ColumnTrait, Condition, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ChatScope, Inbox, InboxError, store::user_names};
use crate::{db::entities::conversations, model::SessionKey};

/// How the rows are cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One row per day of the period (days without conversations too).
    #[default]
    Day,
    /// One row per agent (the one answering; `none`: nobody yet).
    Agent,
    /// One row per session.
    Session,
}

/// The days `from..=to` in the zone `offset`.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub offset: Zone,
}

impl Period {
    /// Epoch ms: the start of `from`, the end of `to`.
    fn bounds(&self) -> (i64, i64) {
        let start = |day: NaiveDate| {
            day.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(self.offset).earliest())
                .map_or(0, |t| t.timestamp_millis())
        };
        (start(self.from), self.to.checked_add_days(Days::new(1)).map_or(i64::MAX, start))
    }

    fn day_of(&self, at: i64) -> NaiveDate {
        chrono::DateTime::from_timestamp_millis(at).unwrap_or_default().with_timezone(&self.offset).date_naive()
    }
}

/// Durations of the conversations that have one.
#[derive(Debug, Default, Clone, PartialEq, Serialize, ToSchema)]
pub struct Durations {
    /// How many conversations have it.
    pub count: u64,
    /// Milliseconds; the median by nearest rank (`null`: none).
    pub p50_ms: Option<i64>,
    /// Milliseconds; the 90th percentile by nearest rank.
    pub p90_ms: Option<i64>,
}

impl Durations {
    fn of(mut values: Vec<i64>) -> Durations {
        values.sort_unstable();
        let rank = |p: u64| {
            let n = values.len() as u64;
            // The smallest value with at least p% of them at or below it.
            (n > 0).then(|| values[Ord::max((p * n).div_ceil(100), 1) as usize - 1])
        };
        Durations { count: values.len() as u64, p50_ms: rank(50), p90_ms: rank(90) }
    }
}

/// The figures of a row (or of the whole period).
#[derive(Debug, Default, Clone, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Conversations opened: a customer wrote while none was open.
    pub chats_opened: u64,
    /// From the customer's first message to a person's first answer (an
    /// agent's, or from the phone).
    pub first_response: Durations,
    /// From the customer's first message to the close.
    pub resolution: Durations,
    /// The customers' messages.
    pub messages_in: i64,
    /// Messages to the customers (the bot's, agents', the phone's, API and broadcast ones).
    pub messages_out: i64,
    /// Conversations the bot answered, never handed to the agents nor answered by a person.
    pub bot_only: u64,
    /// Ratings given (1–5).
    pub csat_count: u64,
    /// Their mean (`null`: none).
    pub csat_average: Option<f64>,
}

/// One row: a day (`YYYY-MM-DD`), an agent (user id; `none`) or a session (its name).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnalyticsRow {
    pub key: String,
    /// The agent's name; the day or the session's name again.
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InboxAnalytics {
    /// The first day.
    pub from: String,
    /// The last day (included).
    pub to: String,
    /// The time zone days are cut in (`[server] timezone`: `Asia/Jakarta`).
    pub timezone: String,
    pub group_by: GroupBy,
    /// Days in order; agents and sessions by conversations opened, most first.
    pub rows: Vec<AnalyticsRow>,
    /// The whole period.
    pub total: Figures,
}

/// Conversations summed up.
#[derive(Default)]
struct Tally {
    opened: u64,
    first: Vec<i64>,
    resolution: Vec<i64>,
    messages_in: i64,
    messages_out: i64,
    bot_only: u64,
    ratings: Vec<i32>,
}

impl Tally {
    fn add(&mut self, c: &Row) {
        self.opened += 1;
        if let Some(at) = c.first_response_at {
            self.first.push(at - c.opened_at);
        }
        if let Some(at) = c.closed_at {
            self.resolution.push(at - c.opened_at);
        }
        self.messages_in += i64::from(c.messages_in);
        self.messages_out += i64::from(c.messages_out);
        if c.bot_replies > 0 && c.first_response_at.is_none() && c.handed_at.is_none() {
            self.bot_only += 1;
        }
        self.ratings.extend(c.rating);
    }

    fn figures(self) -> Figures {
        let sum: i64 = self.ratings.iter().map(|r| i64::from(*r)).sum();
        Figures {
            chats_opened: self.opened,
            first_response: Durations::of(self.first),
            resolution: Durations::of(self.resolution),
            messages_in: self.messages_in,
            messages_out: self.messages_out,
            bot_only: self.bot_only,
            csat_count: self.ratings.len() as u64,
            csat_average: (!self.ratings.is_empty()).then(|| sum as f64 / self.ratings.len() as f64),
        }
    }
}

/// What a conversation is read as.
#[derive(Debug, sea_orm::FromQueryResult)]
struct Row {
    id: i64,
    session_id: SessionKey,
    agent_id: Option<i64>,
    opened_at: i64,
    first_response_at: Option<i64>,
    handed_at: Option<i64>,
    closed_at: Option<i64>,
    rating: Option<i32>,
    messages_in: i32,
    messages_out: i32,
    bot_replies: i32,
}

/// Conversations read at a time.
const PAGE: u64 = 5_000;

/// The key a conversation is counted under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Day(NaiveDate),
    Agent(Option<i64>),
    Session(SessionKey),
}

impl Inbox {
    /// The analytics of the conversations `scope` sees (an agent: those they
    /// answered or closed) opened in `period`.
    pub async fn analytics(
        &self,
        scope: &ChatScope,
        period: Period,
        group_by: GroupBy,
    ) -> Result<InboxAnalytics, InboxError> {
        use conversations::Column as C;
        let (start, end) = period.bounds();
        let mut condition = Condition::all().add(C::OpenedAt.gte(start)).add(C::OpenedAt.lt(end));
        if let Some(owner) = scope.owner {
            condition = condition.add(C::UserId.eq(owner));
        }
        if let Some(sessions) = &scope.sessions {
            condition = condition.add(C::SessionId.is_in(sessions.iter().cloned()));
        }
        if let Some(agent) = scope.agent {
            condition = condition.add(C::AgentId.eq(agent));
        }
        let mut tallies: BTreeMap<Key, Tally> = BTreeMap::new();
        if group_by == GroupBy::Day {
            let mut day = period.from;
            while day <= period.to {
                tallies.insert(Key::Day(day), Tally::default());
                match day.succ_opt() {
                    Some(next) => day = next,
                    None => break,
                }
            }
        }
        let mut total = Tally::default();
        // Read a page at a time, in (opened_at, id) order.
        let mut after: Option<(i64, i64)> = None;
        loop {
            let mut page = condition.clone();
            if let Some((at, id)) = after {
                page = page.add(Condition::any().add(C::OpenedAt.gt(at)).add(C::OpenedAt.eq(at).and(C::Id.gt(id))));
            }
            let rows: Vec<Row> = conversations::Entity::find()
                .select_only()
                .columns([
                    C::Id,
                    C::SessionId,
                    C::AgentId,
                    C::OpenedAt,
                    C::FirstResponseAt,
                    C::HandedAt,
                    C::ClosedAt,
                    C::Rating,
                    C::MessagesIn,
                    C::MessagesOut,
                    C::BotReplies,
                ])
                .filter(page)
                .order_by_asc(C::OpenedAt)
                .order_by_asc(C::Id)
                .limit(PAGE)
                .into_model()
                .all(self.db())
                .await?;
            for row in &rows {
                let key = match group_by {
                    GroupBy::Day => Key::Day(period.day_of(row.opened_at)),
                    GroupBy::Agent => Key::Agent(row.agent_id),
                    GroupBy::Session => Key::Session(row.session_id.clone()),
                };
                tallies.entry(key).or_default().add(row);
                total.add(row);
            }
            match rows.last() {
                Some(last) if rows.len() as u64 == PAGE => after = Some((last.opened_at, last.id)),
                _ => break,
            }
        }
        let agents: Vec<i64> = tallies.keys().filter_map(|k| if let Key::Agent(a) = k { *a } else { None }).collect();
        let names = user_names(self.db(), &agents).await?;
        let mut rows: Vec<AnalyticsRow> = tallies
            .into_iter()
            .map(|(key, tally)| {
                let (key, name) = match key {
                    Key::Day(day) => (day.to_string(), day.to_string()),
                    Key::Agent(None) => ("none".to_owned(), String::new()),
                    Key::Agent(Some(id)) => (id.to_string(), names.get(&id).cloned().unwrap_or_default()),
                    Key::Session(session) => (session.name().to_owned(), session.name().to_owned()),
                };
                AnalyticsRow { key, name, figures: tally.figures() }
            })
            .collect();
        if group_by != GroupBy::Day {
            rows.sort_by(|a, b| b.figures.chats_opened.cmp(&a.figures.chats_opened).then_with(|| a.key.cmp(&b.key)));
        }
        Ok(InboxAnalytics {
            from: period.from.to_string(),
            to: period.to.to_string(),
            timezone: period.offset.name().to_owned(),
            group_by,
            rows,
            total: total.figures(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Durations;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(Durations::of(vec![]), Durations { count: 0, p50_ms: None, p90_ms: None });
        assert_eq!(Durations::of(vec![7]), Durations { count: 1, p50_ms: Some(7), p90_ms: Some(7) });
        // 4 values: the 2nd and the 4th (ceil(0.9 × 4) = 4).
        assert_eq!(Durations::of(vec![40, 10, 30, 20]), Durations { count: 4, p50_ms: Some(20), p90_ms: Some(40) });
        // 10 values: the 5th and the 9th.
        let ten: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(Durations::of(ten), Durations { count: 10, p50_ms: Some(5), p90_ms: Some(9) });
    }
}
