//! Your own account: log in and out, sessions, password, API tokens.

use axum::extract::State;
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{optional_text, timestamp, MemberView, SessionView};
use crate::auth::accounts::{normalise_email, MAX_EMAIL_BYTES};
use crate::auth::password::{check_policy, MAX_PASSWORD_CHARS};
use crate::auth::{AccountError, Actor, ApiToken, Credential, Principal, Session, User};
use crate::http::{ApiError, ApiJson, ApiPath, AppState, ClientAddress, ErrorBody};

/// Email and password.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Who is logged in, and the session that was started.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: MemberView,
    pub session: SessionView,
}

/// Who is making the request.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub user: MemberView,
    /// `session` (cookie) or `token` (API token).
    pub via: String,
    /// The session, when authenticated by one.
    pub session: Option<SessionView>,
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Starts a session for `user` and answers with it and its cookie.
pub(crate) async fn start_session(
    state: &AppState,
    user: &User,
    address: &str,
    headers: &HeaderMap,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let absolute = state.auth.settings.session_absolute;
    let (secret, session) = state.auth.accounts.create_session(
        user.id,
        absolute.as_secs() as i64,
        address,
        user_agent(headers),
    )?;
    state.flush().await?;
    let body = LoginResponse {
        user: MemberView::from(user),
        session: SessionView::of(&session, Some(session.id)),
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        state.web.session_cookie(Some(&secret), absolute),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Log in with email and password; sets the session cookie. A wrong password and an unknown
/// email get the same answer in the same time.
#[utoipa::path(
    post,
    path = "/api/session",
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse, description = "Logged in; the session cookie is set"),
        (status = 401, body = ErrorBody, description = "invalid_credentials"),
        (status = 429, body = ErrorBody, description = "rate_limited, with Retry-After"),
        (status = 503, body = ErrorBody, description = "busy, with Retry-After"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    state.metrics.login_attempts_total.inc();
    let result = attempt_login(&state, address, headers, request).await;
    if let Err(e) = &result {
        use crate::metrics::LoginFailure;
        state.metrics.login_failed(match e {
            ApiError::InvalidCredentials => LoginFailure::InvalidCredentials,
            ApiError::RateLimited(_) => LoginFailure::RateLimited,
            ApiError::Busy(_) => LoginFailure::Busy,
            _ => LoginFailure::Other,
        });
    }
    result
}

async fn attempt_login(
    state: &AppState,
    address: String,
    headers: HeaderMap,
    request: LoginRequest,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let email = normalise_email(&request.email);
    // No account has a longer email; refusing it here keeps rate-limit keys small.
    if email.len() > MAX_EMAIL_BYTES {
        return Err(ApiError::InvalidCredentials);
    }
    // A place in the hashing pool first: a client told "busy" has made no attempt, and its
    // retry does not count against the rate limits.
    let reservation = auth.hasher.reserve()?;
    auth.limits.login_per_address.check(&address)?;
    auth.limits.login_per_account.check(&email)?;
    let user = match auth.accounts.user_by_email(&email) {
        Ok(user) => Some(user),
        Err(AccountError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let matched = if request.password.chars().count() > MAX_PASSWORD_CHARS {
        false
    } else {
        reservation
            .verify(
                request.password,
                user.as_ref().map(|u| u.password_hash.clone()),
            )
            .await?
    };
    let actor = Actor {
        user_id: user.as_ref().map(|u| u.id),
        label: email.clone(),
        address: Some(address.clone()),
    };
    let user = match user {
        Some(user) if matched && user.active => user,
        other => {
            let reason = match other {
                None => "unknown_email",
                Some(user) if !user.active => "inactive_account",
                Some(_) => "wrong_password",
            };
            auth.record(actor, "login.failed", None, json!({ "reason": reason }));
            state.flush().await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    auth.record(
        actor,
        "login.succeeded",
        Some(format!("user:{}", user.id)),
        json!({}),
    );
    start_session(state, &user, &address, &headers, StatusCode::OK).await
}

/// Who you are, and how you authenticated.
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "session",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody))
)]
pub async fn current_session(principal: Principal) -> Json<WhoAmI> {
    let (via, session) = match &principal.credential {
        Credential::Session(session) => {
            ("session", Some(SessionView::of(session, Some(session.id))))
        }
        Credential::Token(_) => ("token", None),
    };
    Json(WhoAmI {
        user: MemberView::from(&principal.user),
        via: via.into(),
        session,
    })
}

/// The languages the app speaks.
pub const LANGUAGES: [&str; 2] = ["en", "fr"];

/// What a person may change about themselves.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// The app's language: `en` or `fr`.
    pub language: Option<String>,
}

/// Change your own preferences (the app's language, remembered across devices).
#[utoipa::path(
    patch,
    path = "/api/me",
    tag = "session",
    request_body = UpdateMe,
    responses(
        (status = 200, body = MemberView),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_field: an unknown language"),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<UpdateMe>,
) -> Result<Json<MemberView>, ApiError> {
    let language = match request.language {
        Some(language) if LANGUAGES.contains(&language.as_str()) => Some(language),
        Some(other) => {
            return Err(ApiError::InvalidField(format!(
                "language must be one of {LANGUAGES:?}, not {other:?}"
            )))
        }
        None => None,
    };
    let user = state.auth.accounts.update_user(principal.user.id, |user| {
        if let Some(language) = &language {
            user.language = Some(language.clone());
        }
    })?;
    state.flush().await?;
    Ok(Json(MemberView::from(&user)))
}

/// Log out: ends this session, clears the cookie, closes its live connections.
#[utoipa::path(
    delete,
    path = "/api/session",
    tag = "session",
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Authenticated by a token, not a session"),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    principal: Principal,
) -> Result<Response, ApiError> {
    let Credential::Session(session) = &principal.credential else {
        return Err(ApiError::InvalidField(
            "logging out ends a session; revoke a token with DELETE /api/me/tokens/{id}".into(),
        ));
    };
    state
        .auth
        .accounts
        .delete_session(principal.user.id, session.id)?;
    state
        .auth
        .live
        .close_sessions(principal.user.id, &[session.id]);
    state.auth.record(
        principal.actor(&address),
        "logout",
        Some(format!("session:{}", session.id)),
        json!({}),
    );
    state.flush().await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        state
            .web
            .session_cookie(None, std::time::Duration::from_secs(0)),
    );
    Ok(response)
}

/// Your sessions.
#[utoipa::path(
    get,
    path = "/api/me/sessions",
    tag = "session",
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody))
)]
pub async fn my_sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let current = principal.session_id();
    let sessions: Vec<Session> = state.auth.accounts.sessions_of(principal.user.id)?;
    Ok(Json(
        sessions
            .iter()
            .map(|s| SessionView::of(s, current))
            .collect(),
    ))
}

/// End one of your sessions (and close its live connections).
#[utoipa::path(
    delete,
    path = "/api/me/sessions/{id}",
    tag = "session",
    params(("id" = u64, Path, description = "Session id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn end_session(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    principal: Principal,
    ApiPath(id): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    if !state.auth.accounts.delete_session(principal.user.id, id)? {
        return Err(ApiError::NotFound);
    }
    state.auth.live.close_sessions(principal.user.id, &[id]);
    state.auth.record(
        principal.actor(&address),
        "session.ended",
        Some(format!("session:{id}")),
        json!({}),
    );
    state.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current and the new password.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change your password. Every other session ends (their live connections close); this one,
/// and your API tokens, go on.
#[utoipa::path(
    post,
    path = "/api/me/password",
    tag = "session",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "wrong_password"),
        (status = 422, body = ErrorBody, description = "password_too_short, password_too_long, password_too_common"),
        (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    principal: Principal,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let auth = &state.auth;
    let reservation = auth.hasher.reserve()?;
    auth.limits.login_per_account.check(&principal.user.email)?;
    let matched = change.current_password.chars().count() <= MAX_PASSWORD_CHARS
        && reservation
            .verify(
                change.current_password,
                Some(principal.user.password_hash.clone()),
            )
            .await?;
    if !matched {
        auth.record(
            principal.actor(&address),
            "password.change_failed",
            Some(format!("user:{}", principal.user.id)),
            json!({}),
        );
        state.flush().await?;
        return Err(ApiError::WrongPassword);
    }
    check_policy(&change.new_password).map_err(ApiError::WeakPassword)?;
    let hash = auth.hasher.hash(change.new_password).await?;
    auth.accounts
        .update_user(principal.user.id, |user| user.password_hash = hash.clone())?;
    let ended = auth
        .accounts
        .delete_sessions_of(principal.user.id, principal.session_id())?;
    auth.live.close_sessions(principal.user.id, &ended);
    auth.record(
        principal.actor(&address),
        "password.changed",
        Some(format!("user:{}", principal.user.id)),
        json!({ "sessions_ended": ended.len() }),
    );
    state.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API token, without its secret.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: u64,
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&ApiToken> for TokenView {
    fn from(token: &ApiToken) -> TokenView {
        TokenView {
            id: token.id,
            name: token.name.clone(),
            prefix: token.prefix.clone(),
            created_at: timestamp(token.created_at),
            last_used_at: token.last_used_at.map(timestamp),
        }
    }
}

/// A new token: its secret is shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// Use as `Authorization: Bearer <secret>` or `?token=<secret>` on the WebSocket.
    pub secret: String,
}

/// What to call a new token.
#[derive(Deserialize, ToSchema)]
pub struct NewToken {
    pub name: String,
}

/// Your API tokens.
#[utoipa::path(
    get,
    path = "/api/me/tokens",
    tag = "session",
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let tokens = state.auth.accounts.tokens_of(principal.user.id)?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

/// Most API tokens one person may hold.
const MAX_TOKENS_PER_USER: usize = 20;

/// Create an API token; the secret is in the answer and never shown again.
#[utoipa::path(
    post,
    path = "/api/me/tokens",
    tag = "session",
    request_body = NewToken,
    responses(
        (status = 201, body = CreatedToken),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    principal: Principal,
    ApiJson(new): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let name = optional_text("name", Some(new.name), 100)?
        .ok_or_else(|| ApiError::InvalidField("name is required".into()))?;
    if state.auth.accounts.tokens_of(principal.user.id)?.len() >= MAX_TOKENS_PER_USER {
        return Err(ApiError::InvalidField(format!(
            "at most {MAX_TOKENS_PER_USER} tokens; revoke one first"
        )));
    }
    let (secret, token) = state.auth.accounts.create_token(principal.user.id, &name)?;
    state.auth.record(
        principal.actor(&address),
        "token.created",
        Some(format!("token:{}", token.id)),
        json!({ "name": name }),
    );
    state.flush().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: TokenView::from(&token),
            secret,
        }),
    ))
}

/// Revoke one of your API tokens (its live connections close).
#[utoipa::path(
    delete,
    path = "/api/me/tokens/{id}",
    tag = "session",
    params(("id" = u64, Path, description = "Token id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    principal: Principal,
    ApiPath(id): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    state.auth.accounts.delete_token(principal.user.id, id)?;
    state.auth.live.close_token(id);
    state.auth.record(
        principal.actor(&address),
        "token.revoked",
        Some(format!("token:{id}")),
        json!({}),
    );
    state.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}
