//! `Accept-Encoding` (RFC 9110 §12.5.3), parsed to the letter: a comma-separated list over every
//! field line (§5.3), codings and parameter names case-insensitive (§5.6.6, §8.4.1), `x-gzip`
//! read as `gzip` (§8.4.1.3), `q` a qvalue of at most three decimals (§12.4.2), `*` for any
//! coding not named, `identity` acceptable unless refused outright or through `*;q=0`.
//!
//! Kept here rather than taken from a crate: `negotiator` (the one maintained parser found)
//! compares the parameter name `q` case-sensitively, so `br;Q=0` would still get br.

use axum::http::{header, HeaderMap};

/// The codings this service has files for, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

/// The client's preferences: each coding's qvalue in thousandths, or `None` when not named.
/// Only the codings this service has (and `*`) are kept; the first member naming one counts.
/// Read without allocating: it runs for every static file served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// `None`: the field is absent, and any coding is acceptable (§12.5.3).
    named: Option<Named>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Named {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl AcceptEncoding {
    /// Reads every `Accept-Encoding` line of `headers`. A member that does not parse is ignored,
    /// as the grammar says nothing of it and the rest of the list still means what it says.
    pub fn from_headers(headers: &HeaderMap) -> AcceptEncoding {
        let mut lines = headers.get_all(header::ACCEPT_ENCODING).iter().peekable();
        if lines.peek().is_none() {
            return AcceptEncoding { named: None };
        }
        let mut named = Named::default();
        for (token, q) in lines
            .filter_map(|line| line.to_str().ok())
            .flat_map(|line| line.split(','))
            .filter_map(member)
        {
            let slot = if token.eq_ignore_ascii_case("br") {
                &mut named.br
            // RFC 9110 §8.4.1.3: a recipient SHOULD consider "x-gzip" equivalent to "gzip".
            } else if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                &mut named.gzip
            } else if token.eq_ignore_ascii_case("identity") {
                &mut named.identity
            } else if token == "*" {
                &mut named.any
            } else {
                continue;
            };
            slot.get_or_insert(q);
        }
        AcceptEncoding { named: Some(named) }
    }

    /// The qvalue (thousandths) the client gives `coding`.
    fn quality(&self, coding: Coding) -> u16 {
        let Some(named) = &self.named else {
            // No field: every coding is acceptable, identity preferred (§12.5.3).
            return if coding == Coding::Identity { 1000 } else { 1 };
        };
        let own = match coding {
            Coding::Brotli => named.br,
            Coding::Gzip => named.gzip,
            Coding::Identity => named.identity,
        };
        match (own, named.any) {
            (Some(q), _) => q,
            (None, Some(q)) => q,
            // identity is acceptable unless excluded (§12.5.3); other codings only if named.
            (None, None) if coding == Coding::Identity => 1,
            (None, None) => 0,
        }
    }

    /// The coding to send, among `available` (identity always is): the highest qvalue, ties
    /// going to the earlier (better) entry. `None` when every available coding is refused,
    /// identity included: a 406 (RFC 9110 §15.5.7).
    pub fn choose(&self, available: &[Coding]) -> Option<Coding> {
        let mut best: Option<(Coding, u16)> = None;
        for &coding in available.iter().chain(std::iter::once(&Coding::Identity)) {
            let q = self.quality(coding);
            if q > 0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((coding, q));
            }
        }
        best.map(|(coding, _)| coding)
    }
}

/// One list member: `token *( OWS ";" OWS name=value )`, with its qvalue.
fn member(text: &str) -> Option<(&str, u16)> {
    let mut parts = text.split(';');
    let token = parts.next()?.trim();
    if token.is_empty() || !token.bytes().all(is_tchar) {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim())?;
        }
    }
    Some((token, q))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The digits read as thousandths: "5" is 500, "05" is 50.
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, digit| n * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ALL: [Coding; 2] = [Coding::Brotli, Coding::Gzip];

    fn choose(lines: &[&'static str]) -> Option<Coding> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static(line));
        }
        AcceptEncoding::from_headers(&headers).choose(&ALL)
    }

    #[test]
    fn without_the_field_identity_is_sent_rfc9110_12_5_3() {
        assert_eq!(choose(&[]), Some(Coding::Identity));
    }

    #[test]
    fn the_best_available_coding_wins() {
        assert_eq!(choose(&["gzip, deflate, br"]), Some(Coding::Brotli));
        assert_eq!(choose(&["gzip"]), Some(Coding::Gzip));
    }

    #[test]
    fn q_zero_refuses_whatever_the_case_of_its_name_rfc9110_12_4_2() {
        assert_eq!(choose(&["br;q=0, gzip"]), Some(Coding::Gzip));
        assert_eq!(choose(&["br;Q=0, gzip"]), Some(Coding::Gzip));
        assert_eq!(choose(&["br ; q=0.000 , gzip"]), Some(Coding::Gzip));
    }

    #[test]
    fn coding_names_are_case_insensitive_rfc9110_8_4_1() {
        assert_eq!(choose(&["GZIP"]), Some(Coding::Gzip));
        assert_eq!(choose(&["Br"]), Some(Coding::Brotli));
    }

    #[test]
    fn x_gzip_is_gzip_rfc9110_8_4_1_3() {
        assert_eq!(choose(&["x-gzip"]), Some(Coding::Gzip));
        assert_eq!(choose(&["X-GZIP;q=0.5, br;q=0.4"]), Some(Coding::Gzip));
        assert_eq!(choose(&["x-gzip;q=0"]), Some(Coding::Identity));
    }

    #[test]
    fn a_higher_qvalue_wins_over_the_server_preference() {
        assert_eq!(choose(&["br;q=0.5, gzip;q=0.9"]), Some(Coding::Gzip));
        assert_eq!(choose(&["br;q=0.9, gzip;q=0.9"]), Some(Coding::Brotli));
    }

    #[test]
    fn several_field_lines_are_one_list_rfc9110_5_3() {
        assert_eq!(choose(&["br;q=0", "gzip"]), Some(Coding::Gzip));
        assert_eq!(choose(&["identity", "gzip"]), Some(Coding::Gzip));
    }

    #[test]
    fn the_wildcard_covers_codings_not_named() {
        assert_eq!(choose(&["*"]), Some(Coding::Brotli));
        assert_eq!(choose(&["*;q=0, gzip"]), Some(Coding::Gzip));
    }

    #[test]
    fn identity_is_acceptable_unless_refused() {
        assert_eq!(
            choose(&[""]),
            Some(Coding::Identity),
            "an empty field: no coding wanted"
        );
        assert_eq!(choose(&["deflate"]), Some(Coding::Identity));
        assert_eq!(choose(&["br;q=0, gzip;q=0, identity;q=0"]), None);
        assert_eq!(choose(&["*;q=0"]), None);
        assert_eq!(choose(&["*;q=0, identity"]), Some(Coding::Identity));
    }

    #[test]
    fn invalid_members_are_ignored_and_the_rest_still_counts() {
        assert_eq!(choose(&["br;q=2, gzip"]), Some(Coding::Gzip), "q above 1");
        assert_eq!(
            choose(&["br;q=0.0001, gzip"]),
            Some(Coding::Gzip),
            "four decimals"
        );
        assert_eq!(
            choose(&["br;q, gzip"]),
            Some(Coding::Gzip),
            "a parameter without a value"
        );
        assert_eq!(choose(&["b r, gzip"]), Some(Coding::Gzip), "not a token");
        assert_eq!(choose(&[",,, gzip ,"]), Some(Coding::Gzip), "empty members");
    }
}
