//! What a message carries, checked: text, a media file, a location, contact
//! cards or a poll. What does not fit the message row's columns is its
//! `extra` (JSON, one shape per kind, as the API shows it back); the
//! dispatcher reads it to build the WhatsApp message.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{attachment::Kind, media};
use crate::validation;

/// What a message carries.
#[derive(Debug)]
pub enum Content {
    Text(String),
    /// The file is staged in the media directory ([`media::MediaStore::stage`]).
    Media {
        kind: Kind,
        file: media::Staged,
        mimetype: String,
        filename: Option<String>,
        caption: Option<String>,
        /// Voice notes: [`VoiceDetails`]; videos: [`VideoDetails`].
        extra: Option<Value>,
    },
    Location(Location),
    Contacts(Vec<Card>),
    Poll(Poll),
    /// A reaction to a message of the chat; an empty emoji takes it off.
    Reaction(Reaction),
    /// New text (or caption) for a message the session sent; `previous` is its text until now.
    Edit {
        target: String,
        text: String,
        previous: Option<String>,
    },
    /// Deletes a message the session sent, for everyone.
    Revoke {
        target: String,
    },
}

/// Who a text to a group mentions (its `extra`): these numbers, or (`all`)
/// everyone in the group when it goes out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mentions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    #[serde(default, rename = "mentionAll", skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.mentions.is_empty() && !self.all
    }
}

/// A reaction's `extra`: the message it is on, and whether that is one the session sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    pub message_id: String,
    pub from_me: bool,
    /// One emoji, or empty to take the reaction off.
    pub emoji: String,
}

/// An edit's or a deletion's `extra`: the message it changes (and, for an
/// edit, the text it had).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

impl Content {
    /// The row's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text(_) => "text",
            Content::Media { kind, .. } => kind.field(),
            Content::Location(_) => "location",
            Content::Contacts(_) => "contact",
            Content::Poll(_) => "poll",
            Content::Reaction(_) => "reaction",
            Content::Edit { .. } => "edit",
            Content::Revoke { .. } => "revoke",
        }
    }
}

/// Whether a row's `body` is a caption (media) rather than the message's text.
pub fn has_caption(kind: &str) -> bool {
    matches!(kind, "image" | "video" | "document")
}

/// Why a field is refused: its name and what is wrong.
pub type FieldError = (&'static str, String);

fn refuse(field: &'static str, message: impl Into<String>) -> FieldError {
    (field, message.into())
}

/// A place on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Location {
    /// −90 to 90.
    pub latitude: f64,
    /// −180 to 180.
    pub longitude: f64,
    /// The place's name, up to 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Up to 512 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Location {
    pub fn check(&self) -> Result<(), FieldError> {
        if !(self.latitude.is_finite() && (-90.0..=90.0).contains(&self.latitude)) {
            return Err(refuse("latitude", "must be a number from -90 to 90"));
        }
        if !(self.longitude.is_finite() && (-180.0..=180.0).contains(&self.longitude)) {
            return Err(refuse("longitude", "must be a number from -180 to 180"));
        }
        if let Some(name) = &self.name {
            validation::check_text(name, 256).map_err(|e| refuse("name", e))?;
        }
        if let Some(address) = &self.address {
            validation::check_text(address, 512).map_err(|e| refuse("address", e))?;
        }
        Ok(())
    }

    /// What the timeline shows as its text.
    pub fn label(&self) -> Option<String> {
        self.name.clone().or_else(|| self.address.clone())
    }
}

/// A contact card: a name and phone numbers, written into a vCard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Card {
    pub name: String,
    /// Digits with country code.
    pub phones: Vec<String>,
    /// The vCard WhatsApp carries (built from name and phones, or as given).
    pub vcard: String,
}

/// Most cards in one message, and phone numbers on one card.
pub const MAX_CARDS: usize = 20;
pub const MAX_CARD_PHONES: usize = 10;
/// Largest vCard taken as given.
pub const MAX_VCARD_BYTES: usize = 10_000;

impl Card {
    /// A card from a name and numbers (already normalized to digits).
    pub fn new(name: &str, phones: Vec<String>) -> Card {
        let mut vcard = format!("BEGIN:VCARD\nVERSION:3.0\nFN:{}\n", escape(name));
        for phone in &phones {
            vcard.push_str(&format!("TEL;type=CELL;type=VOICE;waid={phone}:+{phone}\n"));
        }
        vcard.push_str("END:VCARD");
        Card { name: name.to_owned(), phones, vcard }
    }

    /// A card as the caller wrote it; its name and numbers read from its `FN`
    /// and `TEL` lines for display. `Err`: what is wrong with it.
    pub fn from_vcard(vcard: &str) -> Result<Card, String> {
        if vcard.len() > MAX_VCARD_BYTES {
            return Err(format!("must be at most {MAX_VCARD_BYTES} bytes"));
        }
        let lines: Vec<&str> = vcard.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
        if !lines.first().is_some_and(|l| l.eq_ignore_ascii_case("BEGIN:VCARD"))
            || !lines.last().is_some_and(|l| l.eq_ignore_ascii_case("END:VCARD"))
        {
            return Err("must be one vCard, from BEGIN:VCARD to END:VCARD".into());
        }
        if vcard.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
            return Err("must not contain control characters".into());
        }
        let value = |line: &str| line.split_once(':').map(|(_, v)| v.trim().to_owned());
        let name = lines
            .iter()
            .find(|l| l.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("FN:") || p.eq_ignore_ascii_case("FN;")))
            .and_then(|l| value(l))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| "must have a name (an FN line)".to_owned())?;
        let phones = lines
            .iter()
            .filter(|l| l.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("TEL")))
            .filter_map(|l| value(l))
            .map(|v| v.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|d| !d.is_empty())
            .collect();
        Ok(Card { name: unescape(&name), phones, vcard: vcard.replace("\r\n", "\n") })
    }
}

/// A vCard 3.0 text value: a name can never start a line or a field of its own.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// A poll: a question and 2–12 distinct options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Poll {
    pub question: String,
    pub options: Vec<String>,
    /// How many options a voter may pick: 1 (one choice) up to all of them.
    pub selectable: u32,
}

pub const MIN_POLL_OPTIONS: usize = 2;
pub const MAX_POLL_OPTIONS: usize = 12;

impl Poll {
    pub fn check(&self) -> Result<(), FieldError> {
        validation::check_text(&self.question, 255).map_err(|e| refuse("question", e))?;
        let n = self.options.len();
        if !(MIN_POLL_OPTIONS..=MAX_POLL_OPTIONS).contains(&n) {
            return Err(refuse(
                "options",
                format!("must have {MIN_POLL_OPTIONS} to {MAX_POLL_OPTIONS} options, not {n}"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for option in &self.options {
            validation::check_text(option, 100).map_err(|e| refuse("options", format!("an option {e}")))?;
            if !seen.insert(option.trim().to_lowercase()) {
                return Err(refuse("options", format!("the option {option:?} is given twice")));
            }
        }
        if self.selectable < 1 || self.selectable as usize > n {
            return Err(refuse("selectable", format!("must be from 1 to {n} (the number of options)")));
        }
        Ok(())
    }
}

/// The message a reply answers, as WhatsApp shows it in the reply: copied
/// from the sent or received message when the reply is queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    /// Its WhatsApp message id.
    pub id: String,
    /// Its author's JID (the linked number's own for a message it sent).
    pub author: String,
    /// Its type, as in a message's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its text or caption, if any.
    pub text: Option<String>,
}

/// A voice note's `extra`: how long it plays and its waveform (64 values of 0–100, base64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VoiceDetails {
    pub seconds: u32,
    pub waveform: String,
}

/// A video's `extra`: whether it plays as a looping GIF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VideoDetails {
    pub gif: bool,
}

/// Contact cards' `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContactsDetails {
    pub contacts: Vec<Card>,
}

/// Whether `value` is one emoji (one grapheme of emoji code points: with its
/// variation selector, skin tone, keycap, tags, and people or flags joined by
/// zero-width joiners or paired as regional indicators).
pub fn is_one_emoji(value: &str) -> bool {
    let pictographic = |c: char| {
        matches!(c as u32,
            0x2190..=0x21FF | 0x2300..=0x23FF | 0x2460..=0x27BF | 0x2900..=0x297F | 0x2B00..=0x2BFF
            | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139
            | 0x1F000..=0x1FAFF)
    };
    let regional = |c: char| (0x1F1E6..=0x1F1FF).contains(&(c as u32));
    let modifier = |c: char| matches!(c as u32, 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF | 0x20E3 | 0xE0020..=0xE007F);
    let chars: Vec<char> = value.chars().collect();
    if chars.is_empty() || chars.len() > 16 {
        return false;
    }
    let mut bases = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if regional(c) {
            // A flag is two regional indicators.
            if i + 1 >= chars.len() || !regional(chars[i + 1]) {
                return false;
            }
            bases += 1;
            i += 2;
            continue;
        }
        if c == '\u{200D}' {
            // Joins the next emoji to this one: not a new grapheme.
            if i + 1 >= chars.len() || !pictographic(chars[i + 1]) {
                return false;
            }
            i += 2;
            continue;
        }
        if modifier(c) {
            if i == 0 {
                return false;
            }
        } else if pictographic(c)
            || (matches!(c, '0'..='9' | '#' | '*') && chars.get(i + 1..).is_some_and(|r| r.contains(&'\u{20E3}')))
        {
            bases += 1;
        } else {
            return false;
        }
        i += 1;
    }
    bases == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cannot_add_lines_to_a_vcard() {
        let card = Card::new("Budi\nTEL:999;x\r\nEND:VCARD", vec!["6281234".into()]);
        assert_eq!(
            card.vcard,
            "BEGIN:VCARD\nVERSION:3.0\nFN:Budi\\nTEL:999\\;x\\nEND:VCARD\n\
             TEL;type=CELL;type=VOICE;waid=6281234:+6281234\nEND:VCARD"
        );
        let back = Card::from_vcard(&card.vcard).unwrap();
        assert_eq!(back.name, "Budi\nTEL:999;x\nEND:VCARD");
        assert_eq!(back.phones, ["6281234"]);
    }

    #[test]
    fn a_given_vcard_is_read_for_its_name_and_numbers() {
        let card =
            Card::from_vcard("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Siti\r\nTEL;TYPE=CELL:+62 812-0000\r\nEND:VCARD\r\n")
                .unwrap();
        assert_eq!((card.name.as_str(), card.phones.as_slice()), ("Siti", &["628120000".to_owned()][..]));
        assert!(Card::from_vcard("FN:x").is_err());
        assert!(Card::from_vcard("BEGIN:VCARD\nTEL:1\nEND:VCARD").unwrap_err().contains("FN"));
    }

    #[test]
    fn one_emoji_is_one_grapheme() {
        for one in ["👍", "❤️", "👍🏽", "👨‍👩‍👧", "🇮🇩", "1️⃣", "🏳️‍🌈", "🙏"]
        {
            assert!(is_one_emoji(one), "{one}");
        }
        for not in ["", "👍👍", "ok", "a👍", "🇮", "👍 ", "❤️❤️", "\u{200D}👍", "🇮🇩🇮🇩"]
        {
            assert!(!is_one_emoji(not), "{not:?}");
        }
    }

    #[test]
    fn polls_and_locations_are_checked() {
        let poll = |options: &[&str], selectable| Poll {
            question: "Jam berapa?".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            selectable,
        };
        assert!(poll(&["a", "b"], 1).check().is_ok());
        assert_eq!(poll(&["a"], 1).check().unwrap_err().0, "options");
        assert_eq!(poll(&["a"; 13], 1).check().unwrap_err().0, "options");
        assert!(poll(&["Pagi", "pagi "], 1).check().unwrap_err().1.contains("twice"));
        assert_eq!(poll(&["a", "b"], 3).check().unwrap_err().0, "selectable");
        let at = |latitude, longitude| Location { latitude, longitude, name: None, address: None };
        assert!(at(-6.2, 106.8).check().is_ok());
        assert_eq!(at(91.0, 0.0).check().unwrap_err().0, "latitude");
        assert_eq!(at(0.0, -180.5).check().unwrap_err().0, "longitude");
        assert_eq!(at(f64::NAN, 0.0).check().unwrap_err().0, "latitude");
    }
}
