//! The HTTP side: the router (every route is in the OpenAPI document it serves), request
//! guards (authentication, roles, CSRF, origin), the WebSocket upgrade, and [`ApiError`], the
//! one place where outcomes become status codes and machine-readable error codes.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::live::ConnCredential;
use crate::auth::password::PasswordPolicyError;
use crate::auth::{AccountError, Auth, AuthFailure, Credential, Principal, Role};
use crate::flusher::Flusher;
use crate::ws::{serve_socket, Identity, SocketContext};

/// Initial read buffer of one WebSocket connection.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Outbound bytes buffered before a WebSocket connection writes them out.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Largest request body of the JSON API.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest document name accepted.
pub const MAX_DOCUMENT_NAME_BYTES: usize = 128;

/// An error answered to an HTTP client: a status and a stable code, never internal details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The document name in the path is not acceptable.
    #[error("document names are 1 to 128 characters from A-Z a-z 0-9 . _ - and start with a letter or digit")]
    InvalidDocumentName,
    /// No route or record matches.
    #[error("no such resource")]
    NotFound,
    /// No document with this id.
    #[error("no such document")]
    DocumentNotFound,
    /// No version with this number.
    #[error("no such version of this document")]
    VersionNotFound,
    /// A document with this id exists.
    #[error("a document with this id already exists")]
    DocumentExists,
    /// The phase change is not allowed.
    #[error("{0}")]
    Transition(crate::documents::TransitionError),
    /// The document's phase (or its passed deadline) does not allow this now.
    #[error("{0}")]
    PhaseClosed(String),
    /// The text could not be imported.
    #[error("{0}")]
    ImportFailed(String),
    /// No amendment with this number.
    #[error("no such amendment")]
    AmendmentNotFound,
    /// The amendment's status does not allow this.
    #[error("{0}")]
    AmendmentStatus(String),
    /// Screening needs more supporters.
    #[error("{0}")]
    NotEnoughSupporters(String),
    /// The amendment cannot be merged into the paragraph as it is now.
    #[error("{0}")]
    Conflict(String),
    /// No heading or paragraph with this id.
    #[error("no heading or paragraph with id {0} in the current text")]
    BlockNotFound(String),
    /// Comments are not open in the document's phase, or its deadline has passed.
    #[error(
        "comments are closed: the document's phase takes no comments, or its deadline has passed"
    )]
    CommentsClosed,
    /// No comment with this id in the document.
    #[error("no such comment in this document")]
    CommentNotFound,
    /// A comment's anchor does not fit the current text.
    #[error("{0}")]
    InvalidAnchor(String),
    /// The comment was deleted by its author.
    #[error("this comment has been deleted")]
    CommentDeleted,
    /// The comment was hidden by the secretariat.
    #[error("this comment has been hidden by the secretariat")]
    CommentHidden,
    /// No ballot with this id in the document.
    #[error("no such ballot in this document")]
    BallotNotFound,
    /// The ballot is closed (or its deadline has passed): no more votes.
    #[error("this ballot is closed")]
    BallotClosed,
    /// The ballot is still open: its votes are counted when it closes.
    #[error("this ballot is still open: its votes are counted when it closes")]
    BallotStillOpen,
    /// Another ballot on the same subject is open.
    #[error("an open ballot on this subject already exists; close it first")]
    BallotSubjectBusy,
    /// The person is not among the ballot's eligible voters.
    #[error("you are not among this ballot's eligible voters")]
    NotEligible,
    /// The person may not do this to this record (someone else's comment).
    #[error("{0}")]
    NotAllowed(String),
    /// The route exists, not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No valid session cookie or API token.
    #[error("log in first (session cookie or Authorization: Bearer token)")]
    Unauthenticated,
    /// The session has expired.
    #[error("your session has expired; log in again")]
    SessionExpired,
    /// Wrong email or password (the same answer for an unknown email).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// The current password given to change it is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The person's role does not allow this.
    #[error("your role does not allow this")]
    Forbidden,
    /// A state-changing request without a JSON body or from another origin.
    #[error(
        "request refused: state-changing requests need a JSON body and must come from this site"
    )]
    CsrfRejected,
    /// A WebSocket upgrade from a foreign origin, or a cookie upgrade without an origin.
    #[error("connection refused: wrong or missing Origin")]
    OriginRejected,
    /// The body is not the JSON expected.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// The body is not JSON at all.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The body is larger than accepted.
    #[error("the body is too large")]
    PayloadTooLarge,
    /// A field has an unacceptable value.
    #[error("{0}")]
    InvalidField(String),
    /// A new password does not meet the policy.
    #[error("{0}")]
    WeakPassword(PasswordPolicyError),
    /// An account with this email exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// No invitation with this link.
    #[error("this invitation link is not valid")]
    InvitationNotFound,
    /// The invitation was already accepted.
    #[error("this invitation has already been used")]
    InvitationUsed,
    /// The invitation was revoked.
    #[error("this invitation has been revoked")]
    InvitationRevoked,
    /// The invitation link has expired.
    #[error("this invitation has expired; ask the secretariat for a new link")]
    InvitationExpired,
    /// The change would leave the forum without an active secretariat account.
    #[error("this would leave no active secretariat account")]
    LastSecretariat,
    /// Too many requests; retry later.
    #[error("too many requests; retry later")]
    RateLimited(Duration),
    /// The server is too busy to do this now; retry later.
    #[error("the server is busy; retry shortly")]
    Busy(Duration),
    /// Something failed inside the server (details are in its log).
    #[error("internal error")]
    Internal,
    /// A plain HTTP request on the WebSocket route.
    #[error("this route only accepts WebSocket upgrades")]
    UpgradeRequired,
}

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code.
    code: &'static str,
    /// A sentence for people.
    message: String,
}

impl ApiError {
    /// The stable, machine-readable code sent in the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidDocumentName => "invalid_document_name",
            ApiError::NotFound => "not_found",
            ApiError::DocumentNotFound => "document_not_found",
            ApiError::VersionNotFound => "version_not_found",
            ApiError::DocumentExists => "document_exists",
            ApiError::Transition(e) => e.code(),
            ApiError::PhaseClosed(_) => "phase_closed",
            ApiError::ImportFailed(_) => "import_failed",
            ApiError::BlockNotFound(_) => "block_not_found",
            ApiError::CommentsClosed => "comments_closed",
            ApiError::CommentNotFound => "comment_not_found",
            ApiError::AmendmentNotFound => "amendment_not_found",
            ApiError::AmendmentStatus(_) => "amendment_status",
            ApiError::NotEnoughSupporters(_) => "not_enough_supporters",
            ApiError::Conflict(_) => "conflict",
            ApiError::InvalidAnchor(_) => "invalid_anchor",
            ApiError::CommentDeleted => "comment_deleted",
            ApiError::CommentHidden => "comment_hidden",
            ApiError::BallotNotFound => "ballot_not_found",
            ApiError::BallotClosed => "ballot_closed",
            ApiError::BallotStillOpen => "ballot_open",
            ApiError::BallotSubjectBusy => "ballot_subject_busy",
            ApiError::NotEligible => "not_eligible",
            ApiError::NotAllowed(_) => "forbidden",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::SessionExpired => "session_expired",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::WrongPassword => "wrong_password",
            ApiError::Forbidden => "forbidden",
            ApiError::CsrfRejected => "csrf_rejected",
            ApiError::OriginRejected => "origin_rejected",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::InvalidField(_) => "invalid_field",
            ApiError::WeakPassword(PasswordPolicyError::TooShort) => "password_too_short",
            ApiError::WeakPassword(PasswordPolicyError::TooLong) => "password_too_long",
            ApiError::WeakPassword(PasswordPolicyError::TooCommon) => "password_too_common",
            ApiError::EmailTaken => "email_taken",
            ApiError::InvitationNotFound => "invitation_not_found",
            ApiError::InvitationUsed => "invitation_used",
            ApiError::InvitationRevoked => "invitation_revoked",
            ApiError::InvitationExpired => "invitation_expired",
            ApiError::LastSecretariat => "last_secretariat",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Busy(_) => "busy",
            ApiError::Internal => "internal",
            ApiError::UpgradeRequired => "upgrade_required",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidDocumentName | ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound
            | ApiError::InvitationNotFound
            | ApiError::DocumentNotFound
            | ApiError::VersionNotFound
            | ApiError::BlockNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::DocumentExists | ApiError::Transition(_) | ApiError::PhaseClosed(_) => {
                StatusCode::CONFLICT
            }
            ApiError::ImportFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::CommentsClosed | ApiError::CommentDeleted | ApiError::CommentHidden => {
                StatusCode::CONFLICT
            }
            ApiError::CommentNotFound | ApiError::AmendmentNotFound => StatusCode::NOT_FOUND,
            ApiError::AmendmentStatus(_)
            | ApiError::NotEnoughSupporters(_)
            | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BallotNotFound => StatusCode::NOT_FOUND,
            ApiError::BallotClosed | ApiError::BallotStillOpen | ApiError::BallotSubjectBusy => {
                StatusCode::CONFLICT
            }
            ApiError::NotEligible => StatusCode::FORBIDDEN,
            ApiError::InvalidAnchor(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthenticated | ApiError::SessionExpired | ApiError::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden
            | ApiError::CsrfRejected
            | ApiError::OriginRejected
            | ApiError::WrongPassword => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidField(_) | ApiError::WeakPassword(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::EmailTaken | ApiError::LastSecretariat => StatusCode::CONFLICT,
            ApiError::InvitationUsed
            | ApiError::InvitationRevoked
            | ApiError::InvitationExpired => StatusCode::GONE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
        }
    }

    /// An internal failure: logged here with its cause, answered as [`ApiError::Internal`].
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::Internal
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::RateLimited(wait) | ApiError::Busy(wait) = &self {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::NotFound => ApiError::NotFound,
            AccountError::EmailTaken => ApiError::EmailTaken,
            AccountError::InvitationUsed => ApiError::InvitationUsed,
            AccountError::InvitationRevoked => ApiError::InvitationRevoked,
            AccountError::InvitationExpired => ApiError::InvitationExpired,
            AccountError::Database(e) => ApiError::internal(e),
        }
    }
}

impl From<crate::documents::DocumentError> for ApiError {
    fn from(e: crate::documents::DocumentError) -> ApiError {
        use crate::documents::DocumentError;
        match e {
            DocumentError::NotFound => ApiError::DocumentNotFound,
            DocumentError::Exists => ApiError::DocumentExists,
            DocumentError::Transition(e) => ApiError::Transition(e),
            DocumentError::Invalid(message) => ApiError::InvalidField(message),
            DocumentError::VersionNotFound => ApiError::VersionNotFound,
            DocumentError::Write(message) => ApiError::ImportFailed(message),
            DocumentError::Database(_) | DocumentError::Room(_) => ApiError::internal(e),
        }
    }
}

impl From<AuthFailure> for ApiError {
    fn from(e: AuthFailure) -> ApiError {
        match e {
            AuthFailure::Unauthenticated => ApiError::Unauthenticated,
            AuthFailure::SessionExpired => ApiError::SessionExpired,
            AuthFailure::Limited(wait) => ApiError::RateLimited(wait),
            AuthFailure::Database(e) => ApiError::internal(e),
        }
    }
}

impl From<crate::auth::password::HasherBusy> for ApiError {
    fn from(_: crate::auth::password::HasherBusy) -> ApiError {
        // Spread the retries of a wave over a few seconds rather than all in the next one.
        use rand::Rng;
        ApiError::Busy(Duration::from_secs(rand::thread_rng().gen_range(1..=3)))
    }
}

impl From<crate::auth::Limited> for ApiError {
    fn from(crate::auth::Limited(wait): crate::auth::Limited) -> ApiError {
        ApiError::RateLimited(wait)
    }
}

/// Whether `name` is an acceptable document name.
pub fn is_valid_document_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_DOCUMENT_NAME_BYTES
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// How the server is reached from outside.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// `scheme://host[:port]` people use, when configured.
    pub public_origin: Option<String>,
    /// Cookies are `Secure` and `__Host-` prefixed (public URL is https).
    pub secure_cookies: bool,
    /// Client addresses come from the last `X-Forwarded-For` entry.
    pub trust_forwarded_for: bool,
    /// The browser app's build.
    pub client: crate::client_app::ClientApp,
}

impl WebSettings {
    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-manifesto_session"
        } else {
            "manifesto_session"
        }
    }

    /// The origin this request should come from: the configured one, or the request's own
    /// host over http(s).
    fn expected_origins(&self, headers: &HeaderMap) -> Vec<String> {
        if let Some(origin) = &self.public_origin {
            return vec![origin.clone()];
        }
        match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => {
                let host = host.to_ascii_lowercase();
                vec![format!("http://{host}"), format!("https://{host}")]
            }
            None => Vec::new(),
        }
    }

    /// Whether the request's `Origin` is this site. `None` when there is no `Origin`.
    fn origin_matches(&self, headers: &HeaderMap) -> Option<bool> {
        let origin = headers
            .get(header::ORIGIN)?
            .to_str()
            .ok()?
            .to_ascii_lowercase();
        Some(self.expected_origins(headers).contains(&origin))
    }

    /// The public base URL for links in answers.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        self.public_origin.clone().unwrap_or_else(|| {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        })
    }

    /// A `Set-Cookie` value for a session token, or one that clears it.
    pub fn session_cookie(&self, secret: Option<&str>, max_age: Duration) -> HeaderValue {
        let name = self.cookie_name();
        let mut cookie = match secret {
            Some(secret) => format!(
                "{name}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
                max_age.as_secs()
            ),
            None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        };
        if self.secure_cookies {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).expect("cookie values are ASCII")
    }
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// What WebSocket connections need.
    pub sockets: Arc<SocketContext>,
    /// Accounts and access control.
    pub auth: Arc<Auth>,
    /// Document records, versions and events.
    pub documents: Arc<crate::documents::Documents>,
    /// How the server is reached.
    pub web: Arc<WebSettings>,
    /// Makes record writes durable (group commit with the documents).
    pub flusher: Flusher,
    /// The OpenAPI document, set once the router is built.
    pub openapi: Arc<OnceLock<serde_json::Value>>,
    /// Rendered exports (cache) and the bound on concurrent PDF renders.
    pub exports: Arc<crate::export::Exports>,
    /// The server's counters and histograms (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Consistent backups, and the gate every write holds while none is being copied.
    pub backups: Arc<crate::backup::Backups>,
    /// The bearer token `GET /metrics` requires, when configured.
    pub metrics_token: Option<Arc<str>>,
}

impl AppState {
    /// Waits until every record written so far is durable.
    pub async fn flush(&self) -> Result<(), ApiError> {
        self.flusher.flush().await.map_err(ApiError::internal)
    }
}

/// The client's address: the peer, or behind a trusted proxy the last `X-Forwarded-For` hop.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.web.trust_forwarded_for {
            if let Some(last) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|v| !v.is_empty())
            {
                return Ok(ClientAddress(last.chars().take(64).collect()));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddress(peer))
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Authenticates a request: a bearer token wins over a cookie.
pub(crate) fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(token) = bearer_token(headers) {
        return Ok(state.auth.authenticate_token(token)?);
    }
    if let Some(secret) = cookie_value(headers, state.web.cookie_name()) {
        return Ok(state.auth.authenticate_session(secret)?);
    }
    Err(ApiError::Unauthenticated)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(&parts.headers, state)
    }
}

/// A request by a secretariat member.
pub struct Secretariat(pub Principal);

impl FromRequestParts<AppState> for Secretariat {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(&parts.headers, state)?;
        if principal.user.role != Role::Secretariat {
            return Err(ApiError::Forbidden);
        }
        Ok(Secretariat(principal))
    }
}

/// A JSON body, with errors as [`ApiError`]s.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_content_type(request.headers(), "application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::InvalidJson("the body could not be read".into())
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::InvalidJson(e.to_string()))
    }
}

/// Path parameters, with errors as [`ApiError`]s.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|e| ApiError::InvalidField(format!("invalid path: {}", e.body_text())))
    }
}

/// Query parameters, with errors as [`ApiError`]s.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::InvalidField(format!("invalid query: {}", e.body_text())))
    }
}

fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// CSRF guard for every state-changing request not authenticated by a bearer token: it must
/// come from this site (`Origin`, or `Sec-Fetch-Site: same-origin` when a browser sends no
/// `Origin`) and, when it has a body, carry JSON (or multipart, for uploads). A form posted
/// from another site fails both.
async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method();
    let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && bearer_token(request.headers()).is_none() {
        let headers = request.headers();
        let same_site = match state.web.origin_matches(headers) {
            Some(matches) => matches,
            None => headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == "same-origin"),
        };
        let has_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        let typed = !has_body
            || has_content_type(headers, "application/json")
            || has_content_type(headers, "multipart/form-data");
        if !same_site || !typed {
            return ApiError::CsrfRejected.into_response();
        }
    }
    next.run(request).await
}

/// The OpenAPI document's frame; paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Manifesto API",
        description = "Write, amend and adopt a forum's Manifesto together. Browser clients \
            authenticate with the session cookie set by `POST /api/session`; scripts with \
            `Authorization: Bearer <token>` (and `?token=` on the WebSocket). State-changing \
            requests with a cookie need `Content-Type: application/json` and a same-origin \
            `Origin`. Every error is JSON `{code, message}`."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "session", description = "Log in and out, your sessions, password and API tokens"),
        (name = "members", description = "Members and invitations (secretariat)"),
        (name = "audit", description = "The audit log (secretariat)"),
        (name = "live", description = "The live document channel and health"),
        (name = "documents", description = "Documents, phases, text and versions"),
        (name = "comments", description = "Comments anchored in the text"),
        (name = "amendments", description = "Amendments: tabling, support, screening, application"),
        (name = "admin", description = "Operating the server: backups")
    )
)]
struct ApiDoc;

/// The router of the whole server.
pub fn router(state: AppState) -> axum::Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(index))
        .routes(routes!(login_page))
        .routes(routes!(invite_page))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(crate::api::admin::download_backup))
        .routes(routes!(openapi_json))
        .routes(routes!(upgrade_document_socket))
        .merge(crate::api::routes())
        .split_for_parts();
    let _ = state
        .openapi
        .set(serde_json::to_value(&api).expect("the OpenAPI document serialises"));
    router
        .fallback(
            |State(state): State<AppState>, request: axum::extract::Request| async move {
                state.web.client.fallback(request).await
            },
        )
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::admin::write_gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::admin::request_id,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The browser app (it routes itself). 503 `client_not_built` when it is not built.
#[utoipa::path(get, path = "/", tag = "live", responses((status = 200, description = "The browser app", content_type = "text/html")))]
async fn index(State(state): State<AppState>) -> Response {
    state.web.client.index().await
}

/// The browser app, at its login view; it posts to `POST /api/session`.
#[utoipa::path(get, path = "/login", tag = "session", responses((status = 200, description = "The browser app", content_type = "text/html")))]
async fn login_page(State(state): State<AppState>) -> Response {
    state.web.client.index().await
}

/// Where an invitation link leads (`/invite#SECRET`): the browser app shows the invitation
/// and lets the invitee choose a password.
#[utoipa::path(get, path = "/invite", tag = "members", responses((status = 200, description = "The browser app", content_type = "text/html")))]
async fn invite_page(State(state): State<AppState>) -> Response {
    state.web.client.index().await
}

/// The body of `GET /healthz`.
#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
    /// Documents currently loaded in memory.
    live_rooms: usize,
    /// Open WebSocket connections.
    connections: usize,
}

/// Health: 200 while the server serves.
#[utoipa::path(get, path = "/healthz", tag = "live", responses((status = 200, body = Health)))]
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        live_rooms: state.sockets.rooms.n_live_rooms(),
        connections: state
            .sockets
            .n_connections
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// The body of `GET /readyz`.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ready`, or `not_ready`.
    status: &'static str,
    /// Why not: `shutting_down` or `store_failing` (the last store flush failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Why the server is not ready (`shutting_down`, `store_failing`), or `None` when it is.
fn not_ready_reason(state: &AppState) -> Option<&'static str> {
    if state.sockets.shutdown.is_cancelled() {
        Some("shutting_down")
    } else if !state.flusher.is_healthy() {
        Some("store_failing")
    } else {
        None
    }
}

/// Readiness: 200 while the store is open and flushes succeed and the server is not shutting
/// down; 503 otherwise (a load balancer then sends no new client here).
#[utoipa::path(get, path = "/readyz", tag = "live", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> Response {
    let reason = not_ready_reason(&state);
    let (status, body) = match reason {
        None => (StatusCode::OK, "ready"),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
    };
    (
        status,
        Json(Readiness {
            status: body,
            reason,
        }),
    )
        .into_response()
}

/// Metrics in the Prometheus text format: connections, live documents, updates, fan-out and
/// flush latency, queue overflows and disconnects, logins, exports, backups. Open unless the
/// server has a metrics token (`Authorization: Bearer <token>`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "live",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 401, body = ErrorBody, description = "A metrics token is configured and was not given"),
    )
)]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(expected) = &state.metrics_token {
        use sha2::{Digest, Sha256};
        // Digests compared, so that the time taken says nothing about the token.
        let given = bearer_token(&headers).unwrap_or_default();
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ApiError::Unauthenticated);
        }
    }
    let snapshot = crate::metrics::Snapshot {
        connections_open: state
            .sockets
            .n_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        rooms_live: state.sockets.rooms.n_live_rooms(),
        ready: not_ready_reason(&state).is_none(),
    };
    let mut response = state.metrics.render(snapshot).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "live", responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.openapi.get().cloned().unwrap_or_default())
}

/// Query of the WebSocket route.
#[derive(Deserialize, utoipa::IntoParams)]
struct SocketQuery {
    /// A personal API token, for clients that cannot send headers.
    token: Option<String>,
}

/// The live document: the standard y-websocket protocol (sync, awareness; `[2, 0, reason]`
/// when a write is refused). Authenticated at the upgrade by the session cookie (with this
/// site's `Origin`) or `?token=`. Observers' connections are read-only.
#[utoipa::path(
    get,
    path = "/ws/{document}",
    tag = "live",
    params(("document" = String, Path, description = "Document name"), SocketQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = ErrorBody, description = "Invalid document name"),
        (status = 404, body = ErrorBody, description = "No such document (`document_not_found`)"),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "Foreign or missing Origin"),
        (status = 426, body = ErrorBody, description = "Not a WebSocket upgrade"),
    )
)]
async fn upgrade_document_socket(
    State(state): State<AppState>,
    ApiPath(document): ApiPath<String>,
    ApiQuery(query): ApiQuery<SocketQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !is_valid_document_name(&document) {
        return Err(ApiError::InvalidDocumentName);
    }
    let upgrade = upgrade.map_err(|_| ApiError::UpgradeRequired)?;
    // Cross-site WebSocket hijacking: a browser always sends `Origin`, and a page on another
    // site would carry this site's cookie. Non-browser clients send none and use a token.
    let origin = state.web.origin_matches(&headers);
    if origin == Some(false) {
        return Err(ApiError::OriginRejected);
    }
    let principal = match &query.token {
        Some(token) => state.auth.authenticate_token(token)?,
        None => {
            let principal = authenticate(&headers, &state)?;
            if matches!(principal.credential, Credential::Session(_)) && origin.is_none() {
                return Err(ApiError::OriginRejected);
            }
            principal
        }
    };
    // After authentication, so that only members learn which documents exist.
    if !state.documents.exists(&document)? {
        return Err(ApiError::DocumentNotFound);
    }
    let identity = Identity {
        user_id: principal.user.id,
        name: principal.user.name.clone(),
        credential: match &principal.credential {
            Credential::Session(session) => ConnCredential::Session(session.id),
            Credential::Token(token) => ConnCredential::Token(token.id),
        },
        can_write: principal.user.role.can_edit(),
        expires_at: match &principal.credential {
            Credential::Session(session) => Some(session.expires_at),
            Credential::Token(_) => None,
        },
    };
    let limits = &state.sockets.limits;
    let context = state.sockets.clone();
    let auth = state.auth.clone();
    Ok(upgrade
        // tungstenite allocates its read buffer up front (128 KiB by default), which would
        // be most of the server's memory with 1,500 idle connections; it grows for larger
        // frames. Outbound frames are written as soon as a few KiB are queued.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| serve_socket(socket, document, identity, context, auth)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names() {
        assert!(is_valid_document_name("manifesto-2026"));
        assert!(is_valid_document_name("a.b_c-1"));
        assert!(is_valid_document_name(&"a".repeat(128)));
        assert!(!is_valid_document_name(""));
        assert!(!is_valid_document_name(&"a".repeat(129)));
        assert!(!is_valid_document_name("-leading"));
        assert!(!is_valid_document_name(".hidden"));
        assert!(!is_valid_document_name("with space"));
        assert!(!is_valid_document_name("slash/inside"));
        assert!(!is_valid_document_name("é"));
    }

    #[test]
    fn cookies_and_bearer_tokens_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; manifesto_session=xyz ; b=2"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer mfst_abc"),
        );
        assert_eq!(cookie_value(&headers, "manifesto_session"), Some("xyz"));
        assert_eq!(cookie_value(&headers, "other"), None);
        assert_eq!(bearer_token(&headers), Some("mfst_abc"));
    }

    #[test]
    fn secure_cookies_have_the_host_prefix() {
        let web = WebSettings {
            public_origin: Some("https://m.example.org".into()),
            secure_cookies: true,
            trust_forwarded_for: false,
            client: crate::client_app::ClientApp::new("client/dist"),
        };
        let cookie = web.session_cookie(Some("s3cret"), Duration::from_secs(60));
        assert_eq!(
            cookie.to_str().expect("ascii"),
            "__Host-manifesto_session=s3cret; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
    }
}
