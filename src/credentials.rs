//! What a client shows to be let in (headers, cookies, query parameters, subprotocols, an Origin), sent with every handshake and never written anywhere.
//!
//! Secrets stay in memory: URLs shown in reports are the ones without them, and any text a
//! finding carries (what the server said, its output) has their values replaced by `***`.

use serde::{Deserialize, Serialize};

/// Credentials sent with every handshake, unless a case leaves them out on purpose.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Headers (`Authorization`, `Cookie`, `Sec-WebSocket-Protocol`, ...), in order.
    pub headers: Vec<(String, String)>,
    /// Query parameters added to every URL connected to.
    pub query: Vec<(String, String)>,
    /// The origin a browser on the site would send; a foreign one must then be refused.
    pub origin: Option<String>,
}

/// Credentials as a user gives them (a token, cookies, subprotocols apart), before the spec
/// says where its token goes: what a campaign is set up with, and what its `Reproduce with:`
/// command names (names only, never values).
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// Sent where the spec's security scheme says, as a bearer token if it says nothing.
    pub token: Option<String>,
    pub subprotocols: Vec<String>,
    /// The site's origin; without one, the spec's.
    pub origin: Option<String>,
}

impl Access {
    /// The credentials every handshake sends, given the spec; an error names a header whose
    /// name or value no handshake can carry (never the value itself).
    pub fn credentials(&self, spec: Option<&crate::spec::Spec>) -> Result<Credentials, String> {
        use crate::spec::TokenPlace;
        let mut credentials = Credentials {
            headers: self.headers.clone(),
            query: self.query.clone(),
            origin: self
                .origin
                .clone()
                .or_else(|| spec.and_then(|s| s.origin.clone())),
        };
        let mut cookies = self.cookies.clone();
        if let Some(token) = &self.token {
            match spec.and_then(|s| s.token.clone()) {
                None | Some(TokenPlace::Bearer) => credentials
                    .headers
                    .push(("Authorization".into(), format!("Bearer {token}"))),
                Some(TokenPlace::Header(name)) => credentials.headers.push((name, token.clone())),
                Some(TokenPlace::Query(name)) => credentials.query.push((name, token.clone())),
                Some(TokenPlace::Cookie(name)) => cookies.push((name, token.clone())),
            }
        }
        if !cookies.is_empty() {
            let joined: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
            credentials
                .headers
                .push(("Cookie".into(), joined.join("; ")));
        }
        if !self.subprotocols.is_empty() {
            credentials.headers.push((
                "Sec-WebSocket-Protocol".into(),
                self.subprotocols.join(", "),
            ));
        }
        for (name, value) in &credentials.headers {
            use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("`{name}` is not a valid header name"));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "the value of header `{name}` has characters a header cannot hold"
                ));
            }
        }
        Ok(credentials)
    }

    /// The flags that give these credentials again, each secret value shown as `***`.
    pub fn flags(&self) -> Vec<String> {
        let quote = crate::campaign::shell_quote;
        let mut flags = Vec::new();
        for (name, _) in &self.headers {
            flags.push(format!("--header {}", quote(&format!("{name}: ***"))));
        }
        for (flag, pairs) in [("--cookie", &self.cookies), ("--query", &self.query)] {
            for (name, _) in pairs {
                flags.push(format!("{flag} {}", quote(&format!("{name}=***"))));
            }
        }
        if self.token.is_some() {
            flags.push("--token '***'".into());
        }
        for protocol in &self.subprotocols {
            flags.push(format!("--subprotocol {}", quote(protocol)));
        }
        if let Some(origin) = &self.origin {
            flags.push(format!("--origin {}", quote(origin)));
        }
        flags
    }
}

/// Credentials already put together are given as they are: headers, query and origin.
impl From<Credentials> for Access {
    fn from(credentials: Credentials) -> Access {
        Access {
            headers: credentials.headers,
            query: credentials.query,
            origin: credentials.origin,
            ..Access::default()
        }
    }
}

/// How a case changes the credentials, to see that the server checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// No credentials at all.
    Without,
    /// Each secret altered by one character.
    Wrong,
    /// The right credentials from a foreign site's page (cross-site WebSocket hijacking).
    ForeignOrigin,
}

/// The Origin of a page on a site that is not the server's.
pub const FOREIGN_ORIGIN: &str = "https://wsfuzz-foreign.example";

impl Credentials {
    /// Whether there is anything to check: credentials, or an origin.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.query.is_empty() && self.origin.is_none()
    }

    /// The changes worth trying: leaving out and altering secrets, and a foreign origin.
    pub fn changes(&self) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.has_secrets() {
            changes.extend([Change::Without, Change::Wrong]);
        }
        if self.origin.is_some() {
            changes.push(Change::ForeignOrigin);
        }
        changes
    }

    /// Whether there are secrets (credentials proper: not just an origin or a subprotocol).
    pub fn has_secrets(&self) -> bool {
        let secret = |name: &str| !name.eq_ignore_ascii_case("sec-websocket-protocol");
        self.headers.iter().any(|(name, _)| secret(name)) || !self.query.is_empty()
    }

    /// The headers a handshake sends, with `change` applied.
    pub fn headers(&self, change: Option<Change>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = match change {
            Some(Change::Without) => Vec::new(),
            Some(Change::Wrong) => self
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), wrong(name, value)))
                .collect(),
            _ => self.headers.clone(),
        };
        let origin = match change {
            Some(Change::ForeignOrigin) => Some(FOREIGN_ORIGIN.to_string()),
            _ => self.origin.clone(),
        };
        if let Some(origin) = origin {
            out.push(("Origin".into(), origin));
        }
        out
    }

    /// `url` (as shown in reports) with the query credentials added, as connected to.
    pub fn url(&self, url: &str, change: Option<Change>) -> String {
        let pairs: Vec<String> = match change {
            Some(Change::Without) => Vec::new(),
            Some(Change::Wrong) => self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(&altered(v))))
                .collect(),
            _ => self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect(),
        };
        if pairs.is_empty() {
            return url.to_string();
        }
        let joint = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joint}{}", pairs.join("&"))
    }

    /// `text` with every secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.redactor()(text)
    }

    /// `redact` for many texts: the secrets are worked out once.
    pub fn redactor(&self) -> impl Fn(&str) -> String {
        let secrets = self.secrets();
        move |text| {
            let mut out = text.to_string();
            for secret in &secrets {
                out = out.replace(secret.as_str(), "***");
            }
            out
        }
    }

    /// The secret values, longest first (so a value inside another is not half replaced).
    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = Vec::new();
        for (name, value) in &self.headers {
            // A scheme word (`Bearer`) is no secret; what follows it is.
            let value = value.trim();
            let secret = match value.split_once(' ') {
                Some((scheme, rest))
                    if name.eq_ignore_ascii_case("authorization") && !scheme.is_empty() =>
                {
                    rest
                }
                _ => value,
            };
            if name.eq_ignore_ascii_case("cookie") {
                secrets.extend(
                    secret
                        .split(';')
                        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.trim().to_string())),
                );
            } else if !name.eq_ignore_ascii_case("sec-websocket-protocol") {
                secrets.push(secret.to_string());
            }
        }
        for (_, value) in &self.query {
            secrets.push(value.clone());
            secrets.push(encode(value));
        }
        // Altered secrets are near-secrets: they go too.
        let altered: Vec<String> = secrets.iter().map(|s| altered(s)).collect();
        secrets.extend(altered);
        secrets.retain(|s| s.len() >= 3);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }
}

/// A header's value with every secret in it altered: each cookie of a `Cookie`, the whole of
/// anything else; a subprotocol is no secret and stays.
fn wrong(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("sec-websocket-protocol") {
        return value.to_string();
    }
    if !name.eq_ignore_ascii_case("cookie") {
        return altered(value);
    }
    let cookies: Vec<String> = value
        .split(';')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => format!("{name}={}", altered(value.trim())),
            None => pair.to_string(),
        })
        .collect();
    cookies.join(";")
}

/// `value` with its last character changed: close to right, still wrong.
fn altered(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    match chars.last_mut() {
        Some(last) => *last = if *last == 'x' { 'y' } else { 'x' },
        None => chars.push('x'),
    }
    chars.into_iter().collect()
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            headers: vec![
                ("Authorization".into(), "Bearer s3cr3t-token".into()),
                ("Cookie".into(), "session=abc123; theme=dark".into()),
            ],
            query: vec![("key".into(), "q/secret".into())],
            origin: Some("https://app.example".into()),
        }
    }

    #[test]
    fn secrets_are_redacted_wherever_they_turn_up() {
        let c = credentials();
        let text = "Bearer s3cr3t-token and s3cr3t-tokex, abc123, q%2Fsecret, q/secret";
        assert_eq!(c.redact(text), "Bearer *** and ***, ***, ***, ***");
        assert_eq!(c.redact("Bearer and theme"), "Bearer and theme");
    }

    #[test]
    fn changes_leave_out_alter_or_replace() {
        let c = credentials();
        assert_eq!(
            c.headers(Some(Change::Without)),
            [("Origin".to_string(), "https://app.example".to_string())]
        );
        let wrong = c.headers(Some(Change::Wrong));
        assert_eq!(wrong[0].1, "Bearer s3cr3t-tokex");
        assert_eq!(
            wrong[1].1, "session=abc12x; theme=darx",
            "every cookie altered"
        );
        let foreign = c.headers(Some(Change::ForeignOrigin));
        assert_eq!(foreign.last().unwrap().1, FOREIGN_ORIGIN);
        assert_eq!(c.url("ws://h/a", None), "ws://h/a?key=q%2Fsecret");
        assert_eq!(c.url("ws://h/a?x=1", Some(Change::Without)), "ws://h/a?x=1");
    }
}
