//! Creating documents on a server that only serves documents created beforehand.
//!
//! Manifesto answers a WebSocket upgrade to a document that does not exist with HTTP 404
//! `document_not_found`; its secretariat creates documents with `POST /api/documents`. With
//! `--create-documents`, every document a scenario joins is created that way first, on the
//! host and port of the WebSocket URL template (so on loopback only), with a secretariat's
//! API token as `Authorization: Bearer`. The peers (the reference server, y-sweet without
//! `--auth`) create documents on first connect and are never sent this request.
//! A document that already exists (409 `document_exists`) is fine: a `cold-open` measured
//! after a restart, or a second run with the same `--doc-prefix`, joins it as it is.

use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::target::UrlTemplate;

/// The path of the document collection, relative to the server's base URL.
pub const DOCUMENTS_PATH: &str = "/api/documents";

/// Creates documents through the server's HTTP API.
#[derive(Debug, Clone)]
pub struct DocumentCreator {
    /// `http://HOST:PORT/api/documents`, from the (loopback-checked) URL template.
    endpoint: String,
    /// A secretariat's API token; never shown.
    token: String,
    /// Makes the requests; its timeout bounds each one.
    client: reqwest::Client,
}

/// What creating a document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// 201: the document is new.
    Created,
    /// 409 `document_exists`: it was there already.
    Existed,
}

/// The error body of the server's API: a stable code and a message.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

impl DocumentCreator {
    /// A creator for the server `url` points at, authenticated by `token`; each request
    /// gives up after `timeout`.
    pub fn new(
        url: &UrlTemplate,
        token: String,
        timeout: Duration,
    ) -> anyhow::Result<DocumentCreator> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .context("cannot set up the HTTP client that creates documents")?;
        Ok(DocumentCreator {
            endpoint: endpoint_for(url),
            token,
            client,
        })
    }

    /// Where documents are created, for messages (it holds no secret).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates the empty document `id` (titled with its id); an existing one is kept as it is.
    pub async fn create(&self, id: &str) -> anyhow::Result<Creation> {
        let body = serde_json::json!({ "id": id, "title": id, "start_with": "empty" });
        let response = self
            .client
            .post(&self.endpoint)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot create document {id}: POST {}", self.endpoint))?;
        let status = response.status().as_u16();
        // The body only matters for the outcome's code and the error message.
        let text = response.text().await.unwrap_or_default();
        outcome(status, &text).with_context(|| {
            format!(
                "cannot create document {id}: POST {} answered HTTP {status}",
                self.endpoint
            )
        })
    }
}

/// `http://` + the template's `host:port` + [`DOCUMENTS_PATH`].
fn endpoint_for(url: &UrlTemplate) -> String {
    format!("http://{}{DOCUMENTS_PATH}", url.authority())
}

/// Reads the server's answer to a creation: 201 and 409 `document_exists` are fine, anything
/// else is an error saying what the server said and, where it helps, what to do.
fn outcome(status: u16, body: &str) -> anyhow::Result<Creation> {
    let error = serde_json::from_str::<ErrorBody>(body).ok();
    let code = error.as_ref().map(|e| e.code.as_str());
    match (status, code) {
        (201, _) => return Ok(Creation::Created),
        (409, Some("document_exists")) => return Ok(Creation::Existed),
        _ => {}
    }
    let said = match &error {
        Some(ErrorBody {
            code,
            message: Some(message),
        }) => format!("{code}: {message}"),
        Some(ErrorBody {
            code,
            message: None,
        }) => code.clone(),
        None => body.chars().take(200).collect(),
    };
    let hint = match (status, code) {
        (401, _) => "; the token is unknown or revoked (give a secretariat's API token)",
        (403, Some("forbidden")) => {
            "; creating documents needs a secretariat's token (--secretariat-token)"
        }
        (404 | 405, _) => {
            "; this server has no document API: drop --create-documents for servers other than Manifesto"
        }
        (429, _) => "; the token's rate limit was hit, wait or use another token",
        _ => "",
    };
    anyhow::bail!("{said}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_on_the_websocket_host() {
        let url = UrlTemplate::parse("ws://127.0.0.1:8080/ws/{doc}?x=1").unwrap();
        assert_eq!(endpoint_for(&url), "http://127.0.0.1:8080/api/documents");
        let url = UrlTemplate::parse("ws://[::1]:9/ws/{doc}").unwrap();
        assert_eq!(endpoint_for(&url), "http://[::1]:9/api/documents");
    }

    #[test]
    fn created_and_existing_documents_are_fine() {
        assert_eq!(outcome(201, r#"{"id":"a"}"#).unwrap(), Creation::Created);
        assert_eq!(
            outcome(409, r#"{"code":"document_exists","message":"exists"}"#).unwrap(),
            Creation::Existed
        );
    }

    #[test]
    fn anything_else_is_an_error_with_the_servers_words() {
        let e = outcome(403, r#"{"code":"forbidden","message":"secretariat only"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("forbidden: secretariat only"), "{e}");
        assert!(e.contains("secretariat's token"), "{e}");
        // Another conflict than an existing document is not fine.
        let e = outcome(409, r#"{"code":"something_else"}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "something_else");
        let e = outcome(404, "Not Found").unwrap_err().to_string();
        assert!(
            e.starts_with("Not Found; this server has no document API"),
            "{e}"
        );
        let e = outcome(422, r#"{"code":"invalid_field","message":"id is 1 to 64"}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "invalid_field: id is 1 to 64");
    }
}
