//! Input rules shared by every entry point (HTTP bodies through `serde_valid`, the
//! CLI through [`check`]) so a value accepted by one is accepted by all.

use serde_valid::{
    Validate,
    validation::{Error, Errors},
};

/// The first failing field of a validated value: `(field path, message)`.
pub fn check(value: &impl Validate) -> Result<(), (String, String)> {
    value.validate().map_err(|errors| first_error(&errors, String::new()))
}

fn first_error(errors: &Errors, path: String) -> (String, String) {
    match errors {
        Errors::Object(obj) => {
            if let Some((name, inner)) = obj.properties.iter().next() {
                let path = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                return first_error(inner, path);
            }
            let message = obj.errors.first().map(Error::to_string).unwrap_or_default();
            (path, message)
        }
        Errors::Array(arr) => {
            if let Some((index, inner)) = arr.items.iter().next() {
                return first_error(inner, format!("{path}[{index}]"));
            }
            (path, arr.errors.first().map(Error::to_string).unwrap_or_default())
        }
        Errors::NewType(list) => (path, list.first().map(Error::to_string).unwrap_or_default()),
    }
}

fn fail(message: &str) -> Result<(), Error> {
    Err(Error::Custom(message.to_owned()))
}

/// A plain address `local@domain.tld`: no spaces, one `@`, dotted domain of
/// letters, digits and hyphens.
pub fn email(value: &str) -> Result<(), Error> {
    const MSG: &str = "must be a valid email address";
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail(MSG);
    }
    let Some((local, domain)) = value.split_once('@') else { return fail(MSG) };
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
        return fail(MSG);
    }
    Ok(())
}

/// bcrypt reads at most 72 bytes, so longer passwords are refused, not truncated.
pub fn password(value: &str) -> Result<(), Error> {
    if !(6..=72).contains(&value.len()) {
        return fail("must be between 6 and 72 bytes long");
    }
    Ok(())
}

pub fn optional_password(value: &Option<String>) -> Result<(), Error> {
    value.as_deref().map_or(Ok(()), password)
}

pub fn optional_email(value: &Option<String>) -> Result<(), Error> {
    value.as_deref().map_or(Ok(()), email)
}

/// 3–64 of `A-Z a-z 0-9 . _ -`; never an `@`, so a login identifier is unambiguous.
pub fn username(value: &Option<String>) -> Result<(), Error> {
    let Some(value) = value else { return Ok(()) };
    let ok = (3..=64).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return fail("must be 3-64 characters of letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

/// Names: 1–200 characters, not blank, no control characters.
pub fn display_name(value: &str) -> Result<(), Error> {
    if value.trim().is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
        return fail("must be 1-200 characters, not blank, without control characters");
    }
    Ok(())
}

pub fn optional_display_name(value: &Option<String>) -> Result<(), Error> {
    value.as_deref().map_or(Ok(()), display_name)
}

/// Session ids: 1–64 of `A-Z a-z 0-9 _ -` (they name files in `sessions_dir`).
/// A group as the API names it, `<id>@g.us` or the id alone (digits, or the
/// older `<creator>-<time>` form), as its JID `<id>@g.us`.
pub fn group_jid(raw: &str) -> Option<String> {
    let id = raw.trim();
    let id = id.strip_suffix("@g.us").unwrap_or(id);
    let digits =
        |s: &str, len: std::ops::RangeInclusive<usize>| len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    // Today's ids are 18 digits; older groups are `<creator's number>-<epoch seconds>`.
    let ok = match id.split_once('-') {
        Some((creator, time)) => digits(creator, 5..=15) && digits(time, 8..=10),
        None => digits(id, 5..=20),
    };
    ok.then(|| format!("{id}@g.us"))
}

/// The code of a group invite link (`https://chat.whatsapp.com/<code>`, or the code alone).
pub fn invite_code(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let code = match raw.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.strip_prefix("chat.whatsapp.com/")?;
            (scheme == "https" || scheme == "http").then_some(rest)?
        }
        None => raw,
    };
    let code = code.trim_end_matches('/');
    ((10..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| code.to_owned())
}

pub fn session_id(value: &str) -> Result<(), Error> {
    let ok =
        (1..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if !ok {
        return fail("must be 1-64 characters of letters, digits, '_' or '-'");
    }
    Ok(())
}

pub fn optional_session_id(value: &Option<String>) -> Result<(), Error> {
    value.as_deref().map_or(Ok(()), session_id)
}

pub fn optional_session_ids(value: &Option<Vec<String>>) -> Result<(), Error> {
    let Some(ids) = value else { return Ok(()) };
    if ids.len() > 1000 {
        return fail("at most 1000 sessions");
    }
    for (i, id) in ids.iter().enumerate() {
        if session_id(id).is_err() {
            return Err(Error::Custom(format!("item {i} must be 1-64 characters of letters, digits, '_' or '-'")));
        }
    }
    Ok(())
}

/// Not blank and at most `max` characters.
pub fn check_text(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@sub.example.id", "x_y@a-b.c"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", "a", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.co", "a@b.co ", "a@@b.co", "a@-b.co", "a@b_c.co"]
        {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_count_bytes() {
        assert!(password("12345").is_err());
        assert!(password("123456").is_ok());
        assert!(password(&"x".repeat(72)).is_ok());
        assert!(password(&"x".repeat(73)).is_err());
        // 24 three-byte characters = 72 bytes; 25 = 75 bytes.
        assert!(password(&"€".repeat(24)).is_ok());
        assert!(password(&"€".repeat(25)).is_err());
    }

    #[test]
    fn usernames_and_sessions() {
        assert!(username(&Some("admin".into())).is_ok());
        assert!(username(&Some("a@b".into())).is_err());
        assert!(username(&Some("ab".into())).is_err());
        assert!(session_id("my-session_1").is_ok());
        assert!(session_id("../etc").is_err());
        assert!(session_id("").is_err());
    }

    #[test]
    fn groups_and_invites() {
        assert_eq!(group_jid("120363012345678901@g.us").as_deref(), Some("120363012345678901@g.us"));
        assert_eq!(group_jid("120363012345678901").as_deref(), Some("120363012345678901@g.us"));
        assert_eq!(group_jid("6281234567-1600000000").as_deref(), Some("6281234567-1600000000@g.us"));
        for bad in ["", "123", "6281234567@s.whatsapp.net", "1203630123@g.us@g.us", "12036301x3", "-12345678", "../1"] {
            assert_eq!(group_jid(bad), None, "{bad:?}");
        }
        assert_eq!(invite_code("https://chat.whatsapp.com/AbCdEf0123456789").as_deref(), Some("AbCdEf0123456789"));
        assert_eq!(invite_code("AbCdEf0123456789").as_deref(), Some("AbCdEf0123456789"));
        for bad in ["", "https://evil.example/AbCdEf0123456789", "ftp://chat.whatsapp.com/AbCdEf0123456789", "ab/cd"] {
            assert_eq!(invite_code(bad), None, "{bad:?}");
        }
    }
}
