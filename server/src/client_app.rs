//! The browser app (`client/`, built by Vite into `client_dir`), served by the server:
//!
//! - `/assets/*`: Vite's content-hashed files, cached for a year (`immutable`), served from
//!   their `.br` or `.gz` twin when the browser accepts it (the build writes both);
//! - every other `GET` outside `/api/` and `/ws/` that asks for HTML: `index.html`, never
//!   cached, so a new build reaches people on their next load. The app routes itself.
//!
//! When the app has not been built, those pages say so (503 `client_not_built`) instead of
//! serving something else.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::http::ApiError;

/// `Cache-Control` of the hashed assets.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// The built app on disk.
#[derive(Debug, Clone)]
pub struct ClientApp {
    dir: PathBuf,
}

impl ClientApp {
    /// The app built into `dir` (it need not exist yet: a build can come later).
    pub fn new(dir: impl Into<PathBuf>) -> ClientApp {
        ClientApp { dir: dir.into() }
    }

    /// Where the build is expected.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `index.html` is there.
    pub fn is_built(&self) -> bool {
        self.dir.join("index.html").is_file()
    }

    /// Serves `/assets/...` from the build, precompressed, with long cache lifetimes.
    pub async fn asset(&self, request: Request<Body>) -> Response {
        let service = ServeDir::new(&self.dir)
            .precompressed_br()
            .precompressed_gzip()
            .append_index_html_on_directories(false);
        match service.oneshot(request).await {
            Ok(response) if response.status() == StatusCode::OK => {
                let mut response = response.map(Body::new);
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
                response
            }
            Ok(response) if response.status() == StatusCode::NOT_MODIFIED => {
                response.map(Body::new)
            }
            _ => ApiError::NotFound.into_response(),
        }
    }

    /// `index.html`, not cached; 503 with an explanation when the app is not built.
    pub async fn index(&self) -> Response {
        match tokio::fs::read(self.dir.join("index.html")).await {
            Ok(html) => (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                html,
            )
                .into_response(),
            Err(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                format!(
                    "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
                     <title>Manifesto</title><h1>The browser app is not built</h1>\
                     <p>Code: <code>client_not_built</code>. No <code>index.html</code> in \
                     <code>{}</code>. Build it with <code>npm ci &amp;&amp; npm run build</code> \
                     in <code>client/</code> (<code>./scripts/run.sh</code> does), or point \
                     <code>--client-dir</code> at a build.</p></html>",
                    manifesto_export::html::escape(&self.dir.display().to_string())
                ),
            )
                .into_response(),
        }
    }

    /// What the router does with a request no route matched.
    pub async fn fallback(&self, request: Request<Body>) -> Response {
        let path = request.uri().path();
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return ApiError::NotFound.into_response();
        }
        if path.starts_with("/assets/") {
            return self.asset(request).await;
        }
        if is_app_path(path) && wants_html(&request) {
            return self.index().await;
        }
        ApiError::NotFound.into_response()
    }
}

/// Paths the app routes itself: not the API, not the WebSocket, not a file name.
fn is_app_path(path: &str) -> bool {
    let api_or_socket = path.starts_with("/api/") || path == "/api" || path.starts_with("/ws/");
    let file_name = path.rsplit('/').next().unwrap_or("").contains('.');
    !api_or_socket && !file_name
}

/// A browser navigation (or a client that takes anything).
fn wants_html(request: &Request<Body>) -> bool {
    match request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(accept) => accept.contains("text/html") || accept.contains("*/*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_paths_exclude_the_api_the_socket_and_files() {
        assert!(is_app_path("/"));
        assert!(is_app_path("/documents/demo-en"));
        assert!(is_app_path("/admin/members"));
        assert!(!is_app_path("/api/documents"));
        assert!(!is_app_path("/ws/demo-en"));
        assert!(!is_app_path("/favicon.ico"));
    }
}
