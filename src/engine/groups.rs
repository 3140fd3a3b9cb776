//! Groups through a device: what WhatsApp says of the groups a number is in,
//! and the changes it makes to them (`w:g2`), reduced to the gateway's words;
//! and the group notifications (`w:gp2`) a device is told, as [`GroupChange`]s.

use whatsapp_rust::{
    Jid,
    features::{GroupCreateOptions, GroupDescription, GroupError, GroupMetadata, GroupSubject, PreviousDescription},
    request::IqError,
    wacore::{
        iq::groups::GroupParticipantOptions,
        stanza::groups::{GroupNotificationAction as Action, GroupParticipantInfo},
        types::events::GroupUpdate,
    },
    wacore_binary::JidExt as _,
};

use super::Sender;

/// A group as WhatsApp tells it to one of its participants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// `<id>@g.us`.
    pub jid: String,
    pub subject: String,
    pub description: Option<String>,
    /// The creator's number, when WhatsApp names it.
    pub creator: Option<String>,
    /// When it was made, in epoch seconds.
    pub created_at: Option<u64>,
    /// Only admins may write.
    pub announce: bool,
    /// Only admins may change its subject and description.
    pub locked: bool,
    pub participants: Vec<Member>,
}

impl GroupInfo {
    /// The role of `phone` in it, if it is in it.
    pub fn role_of(&self, phone: &str) -> Option<Role> {
        self.participants.iter().find(|m| m.phone == phone).map(|m| m.role)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Digits with country code (or, for a participant WhatsApp names by LID
    /// alone, the LID's digits).
    pub phone: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Member,
    Admin,
    /// The creator.
    SuperAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::SuperAdmin => "superadmin",
        }
    }

    pub fn is_admin(self) -> bool {
        self != Role::Member
    }
}

/// Why WhatsApp refused a group request.
#[derive(Debug, thiserror::Error)]
pub enum GroupFailure {
    /// No such group, or this number is not (or no longer) in it.
    #[error("this number is not in that group")]
    NotIn,
    /// Only the group's admins may do that.
    #[error("only the group's admins may do that")]
    NotAdmin,
    /// The description changed since it was read.
    #[error("the group's description changed meanwhile")]
    Conflict,
    /// WhatsApp refused it as malformed (`400`), or the invite link is unknown or revoked (`404` on join).
    #[error("WhatsApp refused it: {0}")]
    Refused(String),
    /// WhatsApp did not answer (in time), or the device is not connected.
    #[error("WhatsApp did not answer: {0}")]
    Unavailable(String),
}

impl From<GroupError> for GroupFailure {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::Iq(IqError::ServerError { code: 403 | 404, .. }) => GroupFailure::NotIn,
            GroupError::Iq(IqError::ServerError { code: 401, .. }) => GroupFailure::NotAdmin,
            GroupError::Iq(IqError::ServerError { code: 409, .. }) | GroupError::DescriptionConflict => {
                GroupFailure::Conflict
            }
            GroupError::Iq(IqError::ServerError { code, text, .. }) if (400..500).contains(&code) => {
                GroupFailure::Refused(format!("{code} {text}"))
            }
            GroupError::InvalidRequest(text) => GroupFailure::Refused(text),
            other => GroupFailure::Unavailable(other.to_string()),
        }
    }
}

/// A participants change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAction {
    Add,
    Remove,
    Promote,
    Demote,
}

impl MemberAction {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberAction::Add => "add",
            MemberAction::Remove => "remove",
            MemberAction::Promote => "promote",
            MemberAction::Demote => "demote",
        }
    }
}

/// A settings change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSetting {
    Subject(String),
    /// `None`: the description is deleted.
    Description(Option<String>),
    Announce(bool),
    Locked(bool),
}

/// The JID of group `<id>@g.us`.
fn group_jid(jid: &str) -> Result<Jid, GroupFailure> {
    let jid: Jid = jid.parse().map_err(|_| GroupFailure::Refused(format!("{jid} is not a group")))?;
    if !jid.is_group() {
        return Err(GroupFailure::Refused(format!("{jid} is not a group")));
    }
    Ok(jid)
}

/// The number a participant stands for: its phone number, else its JID's digits.
fn number(jid: &Jid, phone_number: Option<&Jid>) -> String {
    phone_number.filter(|p| p.is_pn()).unwrap_or(jid).user.to_string()
}

fn info_of(meta: GroupMetadata) -> GroupInfo {
    let participants = meta
        .participants
        .iter()
        .map(|p| Member {
            phone: number(&p.jid, p.phone_number.as_ref()),
            role: if p.is_super_admin() {
                Role::SuperAdmin
            } else if p.is_admin() {
                Role::Admin
            } else {
                Role::Member
            },
        })
        .collect();
    GroupInfo {
        jid: meta.id.to_string(),
        subject: meta.subject,
        description: meta.description.filter(|d| !d.is_empty()),
        creator: meta.creator_pn.as_ref().or(meta.creator.as_ref()).filter(|j| j.is_pn()).map(|j| j.user.to_string()),
        created_at: meta.creation_time,
        announce: meta.is_announcement,
        locked: meta.is_locked,
        participants,
    }
}

impl Sender {
    /// The groups this number is in.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, GroupFailure> {
        let found = self.client.groups().get_participating().await?;
        let mut groups: Vec<GroupInfo> = found.into_values().map(info_of).collect();
        groups.sort_by(|a, b| a.jid.cmp(&b.jid));
        Ok(groups)
    }

    /// One group this number is in, as WhatsApp has it now.
    pub async fn group(&self, jid: &str) -> Result<GroupInfo, GroupFailure> {
        Ok(info_of(self.client.groups().get_metadata(&group_jid(jid)?).await?))
    }

    /// Makes a group of this number (its super admin) and `phones` (those on
    /// WhatsApp; WhatsApp leaves the others out).
    pub async fn create_group(&self, subject: &str, phones: &[String]) -> Result<GroupInfo, GroupFailure> {
        let subject = GroupSubject::new(subject).map_err(|e| GroupFailure::Refused(e.to_string()))?;
        let participants = phones.iter().map(|p| GroupParticipantOptions::new(Jid::pn(p.as_str()))).collect();
        let options = GroupCreateOptions::builder().subject(subject.into_string()).participants(participants).build();
        Ok(info_of(self.client.groups().create_group(options).await?.metadata))
    }

    /// Changes a setting of group `jid`.
    pub async fn set_group(&self, jid: &str, setting: GroupSetting) -> Result<(), GroupFailure> {
        let jid = group_jid(jid)?;
        let groups = self.client.groups();
        let refused = |e: anyhow::Error| GroupFailure::Refused(e.to_string());
        match setting {
            GroupSetting::Subject(subject) => {
                groups.set_subject(jid, GroupSubject::new(subject).map_err(refused)?).await?
            }
            GroupSetting::Description(text) => {
                let text = text.map(GroupDescription::new).transpose().map_err(refused)?;
                groups.set_description(jid, text, PreviousDescription::Resolve).await?
            }
            GroupSetting::Announce(on) => groups.set_announce(jid, on).await?,
            GroupSetting::Locked(on) => groups.set_locked(jid, on).await?,
        }
        Ok(())
    }

    /// Adds, removes, promotes or demotes `phones` in group `jid`: for each,
    /// what WhatsApp answered (`None`: done; else its error code).
    pub async fn change_members(
        &self,
        jid: &str,
        action: MemberAction,
        phones: &[String],
    ) -> Result<Vec<(String, Option<String>)>, GroupFailure> {
        let jid = group_jid(jid)?;
        let jids: Vec<Jid> = phones.iter().map(|p| Jid::pn(p.as_str())).collect();
        let groups = self.client.groups();
        let answers = match action {
            MemberAction::Add => groups.add_participants(jid, &jids).await?,
            MemberAction::Remove => groups.remove_participants(jid, &jids).await?,
            MemberAction::Promote => groups.promote_participants(jid, &jids).await?,
            MemberAction::Demote => groups.demote_participants(jid, &jids).await?,
        };
        Ok(phones
            .iter()
            .map(|phone| {
                let answer = answers.iter().find(|a| number(&a.jid, a.phone_number.as_ref()) == *phone);
                let outcome = match answer {
                    Some(a) => a.error.clone(),
                    None => Some("no answer".to_owned()),
                };
                (phone.clone(), outcome)
            })
            .collect())
    }

    /// The invite link of group `jid` (`reset`: a new one; the old stops working).
    pub async fn invite_link(&self, jid: &str, reset: bool) -> Result<String, GroupFailure> {
        Ok(self.client.groups().get_invite_link(group_jid(jid)?, reset).await?)
    }

    /// Joins a group by its invite link (or the link's code): its JID.
    pub async fn join_group(&self, invite: &str) -> Result<String, GroupFailure> {
        Ok(self.client.groups().join_with_invite_code(invite).await?.group_jid().to_string())
    }

    /// Leaves group `jid`.
    pub async fn leave_group(&self, jid: &str) -> Result<(), GroupFailure> {
        Ok(self.client.groups().leave(group_jid(jid)?).await?)
    }
}

/// A change to a group, as a device was told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChange {
    /// `<id>@g.us`.
    pub group: String,
    /// Who made it (a number), when WhatsApp names them.
    pub by: Option<String>,
    /// The name they gave themselves.
    pub by_name: Option<String>,
    /// WhatsApp's id of the notification, and this change's place in it (one
    /// may carry several): together, the change's id.
    pub notification: Option<String>,
    pub index: u32,
    pub at_ms: i64,
    pub what: GroupChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChangeKind {
    /// Participants were added, removed (or left), promoted or demoted.
    /// `reason`: WhatsApp's (`invite`: joined by the link; `leave`: left).
    Members {
        action: MemberAction,
        phones: Vec<String>,
        reason: Option<String>,
    },
    /// The group was made with this number in it.
    Created {
        subject: String,
    },
    Subject(String),
    Description(Option<String>),
    Announce(bool),
    Locked(bool),
    /// The invite link was replaced.
    InviteReset,
}

fn numbers(participants: &[GroupParticipantInfo]) -> Vec<String> {
    participants.iter().map(|p| number(&p.jid, p.phone_number.as_ref())).collect()
}

/// What the gateway keeps of a group notification (`None`: nothing).
pub(super) fn change_of(update: &GroupUpdate) -> Option<GroupChange> {
    let what = match &update.action {
        Action::Add { participants, reason } => GroupChangeKind::Members {
            action: MemberAction::Add,
            phones: numbers(participants),
            reason: reason.clone(),
        },
        Action::Remove { participants, reason } => GroupChangeKind::Members {
            action: MemberAction::Remove,
            phones: numbers(participants),
            reason: reason.clone(),
        },
        Action::Promote { participants } => {
            GroupChangeKind::Members { action: MemberAction::Promote, phones: numbers(participants), reason: None }
        }
        Action::Demote { participants } => {
            GroupChangeKind::Members { action: MemberAction::Demote, phones: numbers(participants), reason: None }
        }
        Action::Create { raw } => {
            let subject = raw
                .get_optional_child("group")
                .and_then(|g| g.attrs().optional_string("subject").map(|s| s.into_owned()))
                .unwrap_or_default();
            GroupChangeKind::Created { subject }
        }
        Action::Subject { subject, .. } => GroupChangeKind::Subject(subject.clone()),
        Action::Description { description, .. } => GroupChangeKind::Description(description.clone()),
        Action::Announce => GroupChangeKind::Announce(true),
        Action::NotAnnounce => GroupChangeKind::Announce(false),
        Action::Locked { .. } => GroupChangeKind::Locked(true),
        Action::Unlocked => GroupChangeKind::Locked(false),
        Action::RevokeInvite => GroupChangeKind::InviteReset,
        _ => return None,
    };
    let by = update.participant_pn.as_ref().or(update.participant.as_ref()).filter(|j| j.is_pn());
    Some(GroupChange {
        group: update.group_jid.to_string(),
        by: by.map(|j| j.user.to_string()),
        by_name: update.notify.clone(),
        notification: update.notification_id.clone(),
        index: update.action_index,
        at_ms: update.timestamp.timestamp_millis(),
        what,
    })
}
