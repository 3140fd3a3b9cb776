//! Message templates: `{nama}` and a notice's fields become the recipient's
//! and the notice's values, `{waktu}` the time of writing. Unknown `{words}`
//! stay as they are, so a message may contain braces of its own.

use crate::config::Zone;
use chrono::DateTime;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] = ["nama", "odp", "judul", "pesan", "mulai", "estimasi", "waktu"];

/// What one recipient's text is made from.
#[derive(Debug, Default, Clone)]
pub struct Values<'a> {
    /// `{nama}`: the customer's name.
    pub name: &'a str,
    /// `{odp}`: the customer's ODP (else the notice's ODPs).
    pub odp: &'a str,
    /// `{judul}`, `{pesan}`: the notice's title and message.
    pub title: &'a str,
    pub message: &'a str,
    /// `{mulai}`, `{estimasi}`: the notice's start and estimated end, formatted.
    pub starts: &'a str,
    pub estimated_end: &'a str,
    /// `{waktu}`: when the text is written, formatted.
    pub now: &'a str,
    /// `{agen}`: who answers (canned replies only; elsewhere empty, and the
    /// placeholder stays as it is).
    pub agent: &'a str,
}

/// Fills the placeholders of `template` in one pass (a value that itself
/// contains `{nama}` is not expanded again).
pub fn render(template: &str, values: &Values) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let value = match &after[..close] {
                "nama" => values.name,
                "odp" => values.odp,
                "judul" => values.title,
                "pesan" => values.message,
                "mulai" => values.starts,
                "estimasi" => values.estimated_end,
                "waktu" => values.now,
                "agen" if !values.agent.is_empty() => values.agent,
                _ => return None,
            };
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A notice time as recipients read it: `23-11-2026 14:00` in `offset`.
pub fn format_time(ms: Option<i64>, offset: Zone) -> String {
    ms.and_then(DateTime::from_timestamp_millis)
        .map(|t| t.with_timezone(&offset).format("%d-%m-%Y %H:%M").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_placeholders_once_and_leaves_the_rest() {
        let values = Values {
            name: "Budi {odp}",
            odp: "ODP-001",
            title: "Gangguan",
            message: "Kabel putus",
            starts: "23-11-2026 14:00",
            estimated_end: "-",
            now: "23-11-2026 15:00",
            agent: "",
        };
        assert_eq!(
            render("Yth. {nama} ({odp}): {judul} - {pesan}, {mulai} s/d {estimasi}. {promo} {waktu} {", &values),
            "Yth. Budi {odp} (ODP-001): Gangguan - Kabel putus, 23-11-2026 14:00 s/d -. {promo} 23-11-2026 15:00 {"
        );
        assert_eq!(render("", &values), "");
        assert_eq!(render("{{nama}}", &values), "{Budi {odp}}");
    }

    #[test]
    fn times_in_the_configured_offset() {
        let wib = crate::config::DEFAULT_ZONE;
        // 2026-11-23T07:00:00Z
        assert_eq!(format_time(Some(1_795_417_200_000), wib), "23-11-2026 14:00");
        assert_eq!(format_time(None, wib), "-");
    }
}
