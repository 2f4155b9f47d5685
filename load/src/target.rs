//! The server under test: a WebSocket URL template with a `{doc}` placeholder, checked to
//! point at this machine.
//!
//! Servers name their WebSocket endpoints differently (`/ws/{doc}` for ours, `/{doc}` for the
//! y-websocket reference server, `/d/{doc}/ws/{doc}` for y-sweet), so the tool takes a
//! template and substitutes the document name wherever `{doc}` appears; a query string in the
//! template (`?token=…`) is kept. Servers that require authentication (ours) take an API token
//! as a `token` query parameter, which [`with_token`] appends and [`redact`] hides in anything
//! reported. Only loopback hosts are accepted: a load test must never leave the machine. This
//! module does no IO.

use std::net::IpAddr;

/// The placeholder replaced by a document name.
pub const DOC_PLACEHOLDER: &str = "{doc}";

/// Why a URL template or document name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The template does not start with `ws://`.
    #[error("url template must start with ws:// (got {0:?}); TLS is not needed on loopback")]
    NotWebSocket(String),
    /// The template has a `#fragment`, which is never sent to a server.
    #[error("url template must not contain a #fragment")]
    Fragment,
    /// An API token that is empty, too long or has spaces or control characters.
    #[error("API token must be 1-512 visible characters without spaces")]
    BadToken,
    /// The template has no `{doc}` placeholder in its path.
    #[error("url template must contain {{doc}} in its path, e.g. ws://127.0.0.1:1234/ws/{{doc}}")]
    NoPlaceholder,
    /// The host is not a loopback address.
    #[error(
        "host {0:?} is not loopback; load tests may only target 127.0.0.0/8, ::1 or localhost"
    )]
    NotLoopback(String),
    /// The template is malformed (empty host, user info, placeholder in the authority).
    #[error("malformed url template: {0}")]
    Malformed(&'static str),
    /// A document name with characters that would need escaping in a URL.
    #[error("document name {0:?} must be 1-64 characters of A-Z, a-z, 0-9, '-' or '_'")]
    BadDocName(String),
}

/// A checked WebSocket URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    template: String,
    authority: String,
}

impl UrlTemplate {
    /// Parses and checks `template`.
    pub fn parse(template: &str) -> Result<UrlTemplate, TargetError> {
        let rest = template
            .strip_prefix("ws://")
            .ok_or_else(|| TargetError::NotWebSocket(template.to_owned()))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(TargetError::Malformed("empty host"));
        }
        if authority.contains('@') {
            return Err(TargetError::Malformed("user info is not supported"));
        }
        if authority.contains(DOC_PLACEHOLDER) {
            return Err(TargetError::Malformed("{doc} may only appear in the path"));
        }
        if path.contains('#') {
            return Err(TargetError::Fragment);
        }
        let path_only = path.split('?').next().unwrap_or("");
        if !path_only.contains(DOC_PLACEHOLDER) {
            return Err(TargetError::NoPlaceholder);
        }
        let host = host_of(authority)?;
        if !is_loopback_host(host) {
            return Err(TargetError::NotLoopback(host.to_owned()));
        }
        Ok(UrlTemplate {
            template: template.to_owned(),
            authority: authority.to_owned(),
        })
    }

    /// The URL of document `doc`, which must be a valid document name. The template's query
    /// string, if any, is kept as it is.
    pub fn url_for(&self, doc: &str) -> Result<String, TargetError> {
        check_doc_name(doc)?;
        Ok(self.template.replace(DOC_PLACEHOLDER, doc))
    }

    /// `host:port` of the server, for messages.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The template as given; it may hold a token, so report [`UrlTemplate::redacted`].
    pub fn as_str(&self) -> &str {
        &self.template
    }

    /// The template with the value of any `token` query parameter hidden, for reports.
    pub fn redacted(&self) -> String {
        redact(&self.template)
    }
}

/// Checks an API token given on the command line.
pub fn check_token(token: &str) -> Result<(), TargetError> {
    let ok = !token.is_empty()
        && token.len() <= 512
        && token.chars().all(|c| c.is_ascii_graphic() || !c.is_ascii());
    if ok {
        Ok(())
    } else {
        Err(TargetError::BadToken)
    }
}

/// `url` with the query parameter `token=<token>` appended (percent-encoded), after `?` or,
/// when `url` already has a query string, after `&`.
pub fn with_token(url: &str, token: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut out = String::with_capacity(url.len() + token.len() + 7);
    out.push_str(url);
    out.push(separator);
    out.push_str("token=");
    for byte in token.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL connection number `index` opens: `url` with token `index % tokens.len()`
/// appended, or `url` itself when there are no tokens.
pub fn connect_url(url: &str, tokens: &[String], index: usize) -> String {
    match tokens.get(index % tokens.len().max(1)) {
        Some(token) => with_token(url, token),
        None => url.to_owned(),
    }
}

/// `url` with the value of every `token` query parameter replaced by `REDACTED`, so that
/// results, logs and error messages never carry a secret.
pub fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=REDACTED".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// Accepts names that every peer server takes as-is in a URL path (y-sweet allows only
/// `[A-Za-z0-9_-]`).
pub fn check_doc_name(doc: &str) -> Result<(), TargetError> {
    let ok = !doc.is_empty()
        && doc.len() <= 64
        && doc
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(TargetError::BadDocName(doc.to_owned()))
    }
}

fn host_of(authority: &str) -> Result<&str, TargetError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let end = bracketed
            .find(']')
            .ok_or(TargetError::Malformed("unclosed [ in host"))?;
        return Ok(&bracketed[..end]);
    }
    let host = authority.split(':').next().unwrap_or("");
    if host.is_empty() {
        return Err(TargetError::Malformed("empty host"));
    }
    Ok(host)
}

fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_every_placeholder() {
        let t = UrlTemplate::parse("ws://127.0.0.1:8080/d/{doc}/ws/{doc}").unwrap();
        assert_eq!(
            t.url_for("plenary-1").unwrap(),
            "ws://127.0.0.1:8080/d/plenary-1/ws/plenary-1"
        );
        assert_eq!(t.authority(), "127.0.0.1:8080");
    }

    #[test]
    fn keeps_the_query_string() {
        let t = UrlTemplate::parse("ws://127.0.0.1:8080/ws/{doc}?token=mfst_a-b_C").unwrap();
        assert_eq!(
            t.url_for("plenary-1").unwrap(),
            "ws://127.0.0.1:8080/ws/plenary-1?token=mfst_a-b_C"
        );
        assert_eq!(t.redacted(), "ws://127.0.0.1:8080/ws/{doc}?token=REDACTED");
        // `{doc}` in the query only is not a document path.
        assert_eq!(
            UrlTemplate::parse("ws://127.0.0.1:1/ws?doc={doc}"),
            Err(TargetError::NoPlaceholder)
        );
        assert_eq!(
            UrlTemplate::parse("ws://127.0.0.1:1/ws/{doc}#x"),
            Err(TargetError::Fragment)
        );
    }

    #[test]
    fn appends_and_redacts_tokens() {
        assert_eq!(
            with_token("ws://127.0.0.1:1/ws/a", "mfst_AZaz09-_"),
            "ws://127.0.0.1:1/ws/a?token=mfst_AZaz09-_"
        );
        assert_eq!(
            with_token("ws://127.0.0.1:1/ws/a?x=1", "a+b/c="),
            "ws://127.0.0.1:1/ws/a?x=1&token=a%2Bb%2Fc%3D"
        );
        assert_eq!(
            redact("ws://127.0.0.1:1/d/a/ws/a?x=1&token=secret&y=token"),
            "ws://127.0.0.1:1/d/a/ws/a?x=1&token=REDACTED&y=token"
        );
        assert_eq!(redact("ws://127.0.0.1:1/ws/a"), "ws://127.0.0.1:1/ws/a");
        let tokens = ["a".to_owned(), "b".to_owned()];
        assert_eq!(connect_url("ws://h/x", &tokens, 3), "ws://h/x?token=b");
        assert_eq!(connect_url("ws://h/x", &[], 3), "ws://h/x");
        assert!(check_token("mfst_abc").is_ok());
        assert_eq!(check_token(""), Err(TargetError::BadToken));
        assert_eq!(check_token("a b"), Err(TargetError::BadToken));
    }

    #[test]
    fn accepts_loopback_forms() {
        for ok in [
            "ws://localhost:1/{doc}",
            "ws://127.0.0.9/ws/{doc}",
            "ws://[::1]:9/ws/{doc}",
        ] {
            assert!(UrlTemplate::parse(ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn refuses_non_loopback_and_malformed() {
        assert_eq!(
            UrlTemplate::parse("ws://10.0.0.1:1234/ws/{doc}"),
            Err(TargetError::NotLoopback("10.0.0.1".into()))
        );
        assert_eq!(
            UrlTemplate::parse("ws://example.org/ws/{doc}"),
            Err(TargetError::NotLoopback("example.org".into()))
        );
        assert!(matches!(
            UrlTemplate::parse("wss://127.0.0.1/{doc}"),
            Err(TargetError::NotWebSocket(_))
        ));
        assert_eq!(
            UrlTemplate::parse("ws://127.0.0.1:1/ws/"),
            Err(TargetError::NoPlaceholder)
        );
        assert!(matches!(
            UrlTemplate::parse("ws://u@127.0.0.1/{doc}"),
            Err(TargetError::Malformed(_))
        ));
        assert!(matches!(
            UrlTemplate::parse("ws://[::1/{doc}"),
            Err(TargetError::Malformed(_))
        ));
    }

    #[test]
    fn refuses_doc_names_needing_escapes() {
        let t = UrlTemplate::parse("ws://127.0.0.1:1/{doc}").unwrap();
        assert!(t.url_for("a/b").is_err());
        assert!(t.url_for("").is_err());
        assert!(t.url_for("a?b").is_err());
        assert!(t.url_for(&"x".repeat(65)).is_err());
    }
}
