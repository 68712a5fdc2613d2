//! What a campaign aims at: the server's base URL and the spec channels (routes) reached through it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::case::Endpoint;
use crate::spec::{Channel, Spec};

/// The server and the routes a campaign fuzzes.
#[derive(Clone, Debug)]
pub struct Target {
    /// `ws://host:port`, without a path.
    pub base: String,
    /// `?...` from the URL given, or empty.
    pub query: String,
    pub routes: Vec<Route>,
    /// Sent with every handshake, never shown.
    pub credentials: crate::credentials::Credentials,
    /// For `wss://`: the TLS client configuration (by default, the web's roots).
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
    /// The cost of the target process, when wsfuzz started it (`--spawn`).
    pub meter: crate::watch::Meter,
}

/// One channel, with the parameter values the URL fixed (if it named a full endpoint).
#[derive(Clone, Debug)]
pub struct Route {
    pub channel: Arc<Channel>,
    pub fixed: BTreeMap<String, String>,
}

impl Target {
    /// Resolves `url` against `spec`: a base URL fuzzes every channel, a full endpoint URL the
    /// channel it matches; without a spec, the URL's own path is the one endpoint.
    pub fn resolve(url: &str, spec: Option<&Spec>) -> Result<Target, String> {
        let (base, path) = split_url(url)?;
        // A query (a token, say) is kept for every endpoint the campaign connects to.
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path.to_string(), format!("?{query}")),
            None => (path, String::new()),
        };
        let routes = match spec {
            None => vec![Route {
                channel: Arc::new(Channel::generic(if path.is_empty() { "/" } else { &path })),
                fixed: BTreeMap::new(),
            }],
            Some(spec) if path.is_empty() || path == "/" => spec
                .channels
                .iter()
                .map(|c| Route {
                    channel: c.clone(),
                    fixed: BTreeMap::new(),
                })
                .collect(),
            Some(spec) => {
                // Values the user put in the URL are ones the server knows.
                let found = spec.channels.iter().find_map(|c| {
                    match_address(&c.address, &path).map(|fixed| Route {
                        channel: Arc::new(c.knowing(&fixed)),
                        fixed,
                    })
                });
                let addresses: Vec<&str> =
                    spec.channels.iter().map(|c| c.address.as_str()).collect();
                vec![found.ok_or_else(|| {
                    format!(
                        "{path} matches no channel of the spec (channels: {})",
                        addresses.join(", ")
                    )
                })?]
            }
        };
        let tls = base
            .starts_with("wss://")
            .then(|| crate::tls::config(None, false))
            .transpose()?;
        Ok(Target {
            base,
            query,
            routes,
            credentials: Default::default(),
            tls,
            meter: Default::default(),
        })
    }

    /// `host:port` to open TCP connections to.
    pub fn authority(&self) -> String {
        authority(&self.base)
    }

    /// The full URL of an endpoint.
    pub fn url(&self, endpoint: &Endpoint) -> String {
        format!("{}{}{}", self.base, endpoint.path(), self.query)
    }
}

/// The `host:port` of a URL (port 80, or 443 for `wss://`, if it names none).
pub fn authority(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    match (has_port, scheme) {
        (true, _) => authority.to_string(),
        (false, "wss") => format!("{authority}:443"),
        (false, _) => format!("{authority}:80"),
    }
}

/// The host of a URL, as its certificate names it (no port, no IPv6 brackets).
pub fn host(url: &str) -> String {
    let authority = authority(url);
    let host = authority
        .rsplit_once(':')
        .map_or(authority.as_str(), |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

impl Route {
    /// The endpoint a healthy server must accept: fixed values, else the first known ones.
    pub fn probe_endpoint(&self) -> Endpoint {
        let mut params = self.channel.known_params().unwrap_or_default();
        params.extend(self.fixed.clone());
        Endpoint {
            channel: self.channel.id.clone(),
            address: self.channel.address.clone(),
            params,
        }
    }
}

/// Splits `ws://host:port/path?query` into (`ws://host:port`, `/path?query`), checking the scheme.
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme @ ("ws" | "wss"), rest)) => (scheme, rest),
        Some((scheme, _)) => {
            return Err(format!(
                "{url}: the scheme must be ws:// or wss://, not {scheme}://"
            ))
        }
        None => {
            return Err(format!(
                "{url}: not a WebSocket URL (expected ws://HOST:PORT/PATH)"
            ))
        }
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (&rest[..at], rest[at..].to_string()),
        None => (rest, String::new()),
    };
    if authority.is_empty() || authority.contains(char::is_whitespace) || authority.contains('@') {
        return Err(format!(
            "{url}: not a WebSocket URL (expected ws://HOST:PORT/PATH)"
        ));
    }
    // An IPv6 literal without a port ends in `]`; anything else after the last `:` is the port.
    if let Some((_, port)) = authority
        .rsplit_once(':')
        .filter(|_| !authority.ends_with(']'))
    {
        if port.parse::<u16>().is_err() {
            return Err(format!("{url}: `{port}` is not a port number"));
        }
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    Ok((format!("{scheme}://{authority}"), path))
}

/// Matches a concrete path against a template, returning the parameter values it fixes.
fn match_address(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let path = path.split('?').next().unwrap_or(path);
    let (want, got): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    if want.len() != got.len() {
        return None;
    }
    let mut fixed = BTreeMap::new();
    for (w, g) in want.iter().zip(&got) {
        match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) if !g.is_empty() => {
                fixed.insert(
                    name.to_string(),
                    percent_encoding::percent_decode_str(g)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
            }
            _ if w == g => {}
            _ => return None,
        }
    }
    Some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::parse(include_str!("../specs/prompt-manager.asyncapi.yaml"), "pm").unwrap()
    }

    #[test]
    fn urls_split_and_bad_ones_are_refused() {
        assert_eq!(
            split_url("ws://127.0.0.1:8081").unwrap(),
            ("ws://127.0.0.1:8081".into(), "".into())
        );
        assert_eq!(
            split_url("ws://h:1/a/b?x=1").unwrap(),
            ("ws://h:1".into(), "/a/b?x=1".into())
        );
        assert!(split_url("http://h:1/")
            .unwrap_err()
            .contains("must be ws://"));
        assert_eq!(
            split_url("wss://h:1/x").unwrap(),
            ("wss://h:1".into(), "/x".into())
        );
        assert_eq!(authority("wss://h/x"), "h:443");
        assert_eq!(host("wss://[::1]:9/x"), "::1");
        assert!(split_url("h:1")
            .unwrap_err()
            .contains("not a WebSocket URL"));
        assert!(split_url("ws://h:99999/")
            .unwrap_err()
            .contains("not a port number"));
        assert!(split_url("ws:///x")
            .unwrap_err()
            .contains("not a WebSocket URL"));
    }

    #[test]
    fn base_url_fuzzes_every_channel_and_full_url_one() {
        let spec = spec();
        assert_eq!(
            Target::resolve("ws://h:1", Some(&spec))
                .unwrap()
                .routes
                .len(),
            2
        );
        let one = Target::resolve("ws://h:1/ws/prompts/summary", Some(&spec)).unwrap();
        assert_eq!(one.routes.len(), 1);
        assert_eq!(one.routes[0].fixed["prompt_id"], "summary");
        assert_eq!(one.routes[0].probe_endpoint().path(), "/ws/prompts/summary");
        assert!(Target::resolve("ws://h:1/nope", Some(&spec))
            .unwrap_err()
            .contains("matches no channel"));
        let with_token =
            Target::resolve("ws://h:1/ws/prompts/summary?token=t", Some(&spec)).unwrap();
        assert_eq!(
            with_token.url(&with_token.routes[0].probe_endpoint()),
            "ws://h:1/ws/prompts/summary?token=t"
        );
        let generic = Target::resolve("ws://h:1/anything", None).unwrap();
        assert_eq!(
            generic.url(&generic.routes[0].probe_endpoint()),
            "ws://h:1/anything"
        );
    }
}
