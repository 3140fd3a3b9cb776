//! The words of a text as search finds them: runs of letters and digits,
//! lower-case, at least [`MIN`] characters, each taken to its stem by a light
//! stemmer for Bahasa Indonesia (after F. Z. Tala, "A Study of Stemming Effects
//! on Information Retrieval in Bahasa Indonesia", 2003: particles, possessive
//! pronouns, the common prefixes and suffixes). A text and a query go through
//! the same steps, so `internet` finds `internetnya`, `bayar` finds `dibayar`
//! and `pembayaran`. Shared by the gateway (which indexes and searches) and its
//! migrations (which index the texts already kept).

/// Words shorter than this (in characters) are left out: `di`, `ke`, `ya`
/// say nothing a search could use.
pub const MIN: usize = 3;
/// Words longer than this are left out of an index (no one searches them).
pub const MAX: usize = 64;

/// The distinct stems of `text`'s words, in their first order.
pub fn stems(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, word) in words(text) {
        let stem = stem(&word);
        if !out.contains(&stem) {
            out.push(stem);
        }
    }
    out
}

/// `text`'s words of [`MIN`]..=[`MAX`] characters, lower-case, with where each
/// starts (a byte offset into `text`).
pub fn words(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| (MIN..=MAX).contains(&w.chars().count()))
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w.to_lowercase()))
}

fn vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// The stem of a lower-case word. Words of two vowels or fewer (`mati`,
/// `pagi`, `modem`) are their own stems; from longer ones come off, in turn, a
/// particle (`-kah`, `-lah`, `-pun`), a possessive (`-ku`, `-mu`, `-nya`), then
/// either a first-order prefix (`di-`, `ke-`, `ter-`, `me(ng|n|m|ny)-`,
/// `pe(ng|n|m|ny)-`) followed by a suffix (`-kan`, `-an`, `-i`) and a
/// second-order prefix, or a second-order prefix (`ber-`, `be-`, `per-`,
/// `pe-`) followed by a suffix, as long as more than two vowels are left.
pub fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    let mut measure = w.chars().filter(|&c| vowel(c)).count();
    for endings in [&["kah", "lah", "pun"][..], &["nya", "ku", "mu"][..]] {
        if measure <= 2 {
            return w;
        }
        if let Some(end) = endings.iter().find(|e| w.len() > e.len() && w.ends_with(*e)) {
            w.truncate(w.len() - end.len());
            measure -= 1;
        }
    }
    if measure <= 2 {
        return w;
    }
    if let Some((rest, prefix)) = first_order_prefix(&w) {
        w = rest;
        measure -= 1;
        if measure > 2
            && let Some(rest) = suffix(&w, prefix)
        {
            w = rest;
            measure -= 1;
        }
        if measure > 2
            && let Some((rest, _)) = second_order_prefix(&w)
        {
            w = rest;
        }
    } else {
        let mut prefix = Prefix::None;
        if let Some((rest, p)) = second_order_prefix(&w) {
            w = rest;
            prefix = p;
            measure -= 1;
        }
        if measure > 2
            && let Some(rest) = suffix(&w, prefix)
        {
            w = rest;
        }
    }
    w
}

/// Which prefix came off: it rules which suffix may follow.
#[derive(Clone, Copy, PartialEq)]
enum Prefix {
    None,
    /// `di-`, `me(ng|n|m|ny)-`, `ter-`
    DiMeTer,
    /// `ke-`, `pe(ng|n|m|ny)-`
    KePe,
    /// `ber-`, `be-`, `bel-`
    Ber,
}

/// `w` without its first-order prefix (the longest that applies).
fn first_order_prefix(w: &str) -> Option<(String, Prefix)> {
    let after = |p: &str| w.strip_prefix(p).filter(|rest| !rest.is_empty());
    let starts_vowel = |rest: &str| rest.starts_with(vowel);
    for (p, kind) in [("meny", Prefix::DiMeTer), ("peny", Prefix::KePe)] {
        if let Some(rest) = after(p).filter(|r| starts_vowel(r)) {
            return Some((format!("s{rest}"), kind));
        }
    }
    for (p, kind) in [("meng", Prefix::DiMeTer), ("peng", Prefix::KePe)] {
        if let Some(rest) = after(p) {
            return Some((rest.to_owned(), kind));
        }
    }
    for (p, kind) in [("mem", Prefix::DiMeTer), ("pem", Prefix::KePe)] {
        if let Some(rest) = after(p) {
            // memakai → pakai, membeli → beli
            let rest = if starts_vowel(rest) { format!("p{rest}") } else { rest.to_owned() };
            return Some((rest, kind));
        }
    }
    let plain = [
        ("men", Prefix::DiMeTer),
        ("pen", Prefix::KePe),
        ("ter", Prefix::DiMeTer),
        ("me", Prefix::DiMeTer),
        ("di", Prefix::DiMeTer),
        ("ke", Prefix::KePe),
    ];
    plain.into_iter().find_map(|(p, kind)| Some((after(p)?.to_owned(), kind)))
}

/// `w` without its second-order prefix (the longest that applies).
fn second_order_prefix(w: &str) -> Option<(String, Prefix)> {
    let after = |p: &str| w.strip_prefix(p).filter(|rest| !rest.is_empty());
    if w == "belajar" || w == "pelajar" {
        return Some(("ajar".to_owned(), if w.starts_with('b') { Prefix::Ber } else { Prefix::None }));
    }
    if let Some(rest) = after("ber") {
        return Some((rest.to_owned(), Prefix::Ber));
    }
    if let Some(rest) = after("per") {
        return Some((rest.to_owned(), Prefix::None));
    }
    // be + consonant + er: bekerja → kerja
    if let Some(rest) = after("be") {
        let mut chars = rest.chars();
        if chars.next().is_some_and(|c| c.is_alphabetic() && !vowel(c)) && chars.as_str().starts_with("er") {
            return Some((rest.to_owned(), Prefix::Ber));
        }
    }
    after("pe").map(|rest| (rest.to_owned(), Prefix::None))
}

/// `w` without its suffix, where the prefix taken off allows it.
fn suffix(w: &str, prefix: Prefix) -> Option<String> {
    let strip = |end: &str| w.strip_suffix(end).filter(|rest| !rest.is_empty()).map(str::to_owned);
    if prefix != Prefix::KePe
        && let Some(rest) = strip("kan")
    {
        return Some(rest);
    }
    if prefix != Prefix::DiMeTer
        && let Some(rest) = strip("an")
    {
        return Some(rest);
    }
    if matches!(prefix, Prefix::None | Prefix::DiMeTer) && !w.ends_with("si") {
        return strip("i");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affixes_come_off() {
        let cases = [
            ("internetnya", "internet"),
            ("internet", "internet"),
            ("tagihan", "tagih"),
            ("dibayar", "bayar"),
            ("membayar", "bayar"),
            ("pembayaran", "bayar"),
            ("bayarlah", "bayar"),
            ("kebaikan", "baik"),
            ("membeli", "beli"),
            ("menyapu", "sapu"),
            ("bekerja", "kerja"),
            ("berjalan", "jalan"),
            ("belajar", "ajar"),
            ("pelajar", "ajar"),
            ("mengukur", "ukur"),
            ("terbaca", "baca"),
            ("teknisi", "teknisi"),
            ("rumahku", "rumah"),
        ];
        for (word, expected) in cases {
            assert_eq!(stem(word), expected, "{word}");
        }
    }

    #[test]
    fn short_words_and_numbers_stay() {
        for word in ["mati", "pagi", "modem", "billing", "100", "inv0001234", "jl42", "dia", "kami"] {
            assert_eq!(stem(word), word);
        }
    }

    #[test]
    fn texts_become_distinct_stems() {
        assert_eq!(stems("Internetnya MATI, internet mati sejak pagi!"), ["internet", "mati", "sejak", "pagi"]);
        assert_eq!(stems("Sudah dibayar? 100% lunas_ya di ke"), ["sudah", "bayar", "100", "lunas"]);
        assert_eq!(stems(&"x".repeat(65)), Vec::<String>::new());
        assert_eq!(stems("ÉTÉ été"), ["été"]);
    }

    #[test]
    fn words_know_where_they_start() {
        let found: Vec<(usize, String)> = words("Cek: Tagihan ✓ bulan").collect();
        assert_eq!(found, [(0, "cek".to_owned()), (5, "tagihan".to_owned()), (17, "bulan".to_owned())]);
    }
}
