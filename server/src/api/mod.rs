//! The JSON API's handlers. Every handler declares its route with `#[utoipa::path]`, so the
//! OpenAPI document served at `/api/openapi.json` lists every route the router has, and the
//! permission-matrix test enumerates them from it.

pub mod account;
pub mod admin;
pub mod amendments;
pub mod audit;
pub mod ballots;
pub mod comments;
pub mod documents;
pub mod events;
pub mod export;
pub mod members;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Role, Session, User};
use crate::http::AppState;

/// Every API route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            account::login,
            account::current_session,
            account::logout
        ))
        .routes(routes!(account::my_sessions))
        .routes(routes!(account::end_session))
        .routes(routes!(account::change_password))
        .routes(routes!(account::update_me))
        .routes(routes!(account::list_tokens, account::create_token))
        .routes(routes!(account::revoke_token))
        .routes(routes!(members::list_users))
        .routes(routes!(members::update_user))
        .routes(routes!(
            members::list_invitations,
            members::create_invitation
        ))
        .routes(routes!(members::revoke_invitation))
        .routes(routes!(members::resend_invitation))
        .routes(routes!(members::preview_invitation))
        .routes(routes!(members::accept_invitation))
        .routes(routes!(audit::list_audit))
        .routes(with_body_limit(
            routes!(documents::list_documents, documents::create_document),
            documents::MAX_IMPORT_BODY_BYTES,
        ))
        .routes(routes!(documents::get_document, documents::update_document))
        .routes(routes!(documents::change_phase))
        .routes(routes!(documents::get_text))
        .routes(routes!(documents::list_versions, documents::create_version))
        .routes(routes!(events::document_events))
        .routes(routes!(comments::list_comments, comments::create_comment))
        .routes(routes!(comments::edit_comment, comments::delete_comment))
        .routes(routes!(comments::resolve_comment))
        .routes(routes!(comments::reopen_comment))
        .routes(routes!(comments::hide_comment))
        .routes(routes!(documents::diff_versions))
        .routes(routes!(documents::block_history))
        .routes(routes!(documents::correct_text))
        .routes(routes!(
            amendments::list_amendments,
            amendments::table_amendment
        ))
        .routes(routes!(
            amendments::get_amendment,
            amendments::edit_amendment
        ))
        .routes(routes!(
            amendments::support_amendment,
            amendments::withdraw_support
        ))
        .routes(routes!(amendments::withdraw_amendment))
        .routes(routes!(amendments::screen_amendment))
        .routes(routes!(amendments::set_voting_order))
        .routes(routes!(ballots::list_ballots, ballots::create_ballot))
        .routes(routes!(ballots::get_ballot))
        .routes(routes!(ballots::cast_vote))
        .routes(routes!(ballots::close_ballot))
        .routes(routes!(ballots::recount_ballot))
        .routes(routes!(ballots::my_decisions))
        .routes(routes!(export::export_document))
}

/// `routes` accepting request bodies of up to `max` bytes (instead of the API's default).
fn with_body_limit(
    routes: utoipa_axum::router::UtoipaMethodRouter<AppState>,
    max: usize,
) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    let (schemas, paths, router) = routes;
    (
        schemas,
        paths,
        router.layer(axum::extract::DefaultBodyLimit::max(max)),
    )
}

/// RFC 3339 time of a unix timestamp.
pub fn timestamp(unix_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A member as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub organisation: Option<String>,
    pub country: Option<String>,
    pub role: Role,
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// The app's language the person chose (`en` or `fr`); absent until they choose.
    pub language: Option<String>,
}

impl From<&User> for MemberView {
    fn from(user: &User) -> MemberView {
        MemberView {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            organisation: user.organisation.clone(),
            country: user.country.clone(),
            role: user.role,
            active: user.active,
            created_at: timestamp(user.created_at),
            language: user.language.clone(),
        }
    }
}

/// A session as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: u64,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    /// Address it logged in from.
    pub address: String,
    pub user_agent: String,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl SessionView {
    fn of(session: &Session, current: Option<u64>) -> SessionView {
        SessionView {
            id: session.id,
            created_at: timestamp(session.created_at),
            last_seen_at: timestamp(session.last_seen_at),
            expires_at: timestamp(session.expires_at),
            address: session.address.clone(),
            user_agent: session.user_agent.clone(),
            current: current == Some(session.id),
        }
    }
}

/// Checks an optional free-text field: trimmed, not empty, at most `max` characters.
pub fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, crate::http::ApiError> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(crate::http::ApiError::InvalidField(format!(
                "{field} has at most {max} characters and no control characters"
            )))
        }
        Some(v) => Ok(Some(v)),
    }
}
