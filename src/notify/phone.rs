//! Phone numbers as people type them, to the digits WhatsApp knows a number by
//! (country code first, no `+`). The one normaliser every entry point uses.

/// Why a number was refused; the text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number may contain only digits, spaces, dashes, dots, parentheses and a leading +")]
    Characters,
    #[error("phone number must have 8 to 15 digits with its country code")]
    Length,
}

/// `08123456789`, `8123456789`, `+628123456789`, `628123456789`, `0062 812...`,
/// `+62 (812) 3456-789` all become `628123456789` with `country_code` 62.
/// A national number (leading `0`, or none of the country code) gets the country
/// code; `+` or `00` mean the number already has one.
pub fn normalize(raw: &str, country_code: &str) -> Result<String, PhoneError> {
    let trimmed = raw.trim();
    let (international, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len() + country_code.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(PhoneError::Characters),
        }
    }
    if digits.trim_start_matches('0').is_empty() {
        return Err(PhoneError::Empty);
    }
    let full = if international {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("{country_code}{rest}")
    } else if digits.starts_with(country_code) {
        digits
    } else {
        format!("{country_code}{digits}")
    };
    if !(8..=15).contains(&full.len()) || full.starts_with('0') {
        return Err(PhoneError::Length);
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_table_and_common_spellings() {
        for raw in [
            "08123456789",
            "8123456789",
            "+628123456789",
            "628123456789",
            "+62 812-3456-789",
            "0812.3456.789",
            "(0812) 3456 789",
            "00628123456789",
            " 08123456789 ",
        ] {
            assert_eq!(normalize(raw, "62").as_deref(), Ok("628123456789"), "{raw:?}");
        }
        assert_eq!(normalize("+1 (555) 010-9999", "62").as_deref(), Ok("15550109999"));
    }

    #[test]
    fn invalid_numbers_are_refused_with_a_reason() {
        assert_eq!(normalize("0", "62"), Err(PhoneError::Empty));
        assert_eq!(normalize("", "62"), Err(PhoneError::Empty));
        assert_eq!(normalize("  - ", "62"), Err(PhoneError::Empty));
        assert_eq!(normalize("0812abc", "62"), Err(PhoneError::Characters));
        assert_eq!(normalize("+62+812", "62"), Err(PhoneError::Characters));
        assert_eq!(normalize("0812", "62"), Err(PhoneError::Length));
        assert_eq!(normalize("0812345678901234567", "62"), Err(PhoneError::Length));
    }
}
