//! Members and invitations: the secretariat's side, and the invitee's.

use axum::extract::State;
use axum::http::header::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{optional_text, timestamp, MemberView};
use crate::auth::accounts::{is_plausible_email, normalise_email, InvitationStatus, NewInvitation};
use crate::auth::password::check_policy;
use crate::auth::{now, Accounts, Actor, Invitation, Role};
use crate::http::{ApiError, ApiJson, ApiPath, AppState, ClientAddress, ErrorBody, Secretariat};
use manifesto_protocol::CloseCode;

/// Every member.
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "members",
    responses((status = 200, body = Vec<MemberView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_users(
    State(state): State<AppState>,
    _secretariat: Secretariat,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    let users = state.auth.accounts.users()?;
    Ok(Json(users.iter().map(MemberView::from).collect()))
}

/// A change to a member.
#[derive(Deserialize, ToSchema)]
pub struct MemberChange {
    /// New role.
    pub role: Option<Role>,
    /// `false` deactivates the account (its sessions end, its connections close); `true`
    /// reactivates it.
    pub active: Option<bool>,
}

/// Change a member's role, or deactivate or reactivate the account. The last active
/// secretariat account cannot be demoted or deactivated.
#[utoipa::path(
    patch,
    path = "/api/users/{id}",
    tag = "members",
    params(("id" = u64, Path, description = "Account id")),
    request_body = MemberChange,
    responses(
        (status = 200, body = MemberView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "last_secretariat"),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Secretariat(principal): Secretariat,
    ApiPath(id): ApiPath<u64>,
    ApiJson(change): ApiJson<MemberChange>,
) -> Result<Json<MemberView>, ApiError> {
    let auth = &state.auth;
    // One member change at a time, so that two secretariat members cannot demote each other
    // into a forum without a secretariat.
    let _guard = auth.admin_lock.lock().await;
    let before = auth.accounts.user(id)?;
    let role = change.role.unwrap_or(before.role);
    let active = change.active.unwrap_or(before.active);
    let was_secretariat = before.role == Role::Secretariat && before.active;
    if was_secretariat && (role != Role::Secretariat || !active) {
        let n_active_secretariat = auth
            .accounts
            .users()?
            .iter()
            .filter(|u| u.role == Role::Secretariat && u.active)
            .count();
        if n_active_secretariat <= 1 {
            return Err(ApiError::LastSecretariat);
        }
    }
    let after = auth.accounts.update_user(id, |user| {
        user.role = role;
        user.active = active;
    })?;
    let actor = principal.actor(&address);
    let target = Some(format!("user:{id}"));
    if before.role != after.role {
        auth.live.close_user(
            id,
            CloseCode::PermissionsChanged,
            "your role changed; reconnect",
        );
        auth.record(
            actor.clone(),
            "user.role_changed",
            target.clone(),
            json!({ "from": before.role, "to": after.role }),
        );
    }
    if before.active && !after.active {
        let ended = auth.accounts.delete_sessions_of(id, None)?;
        auth.live
            .close_user(id, CloseCode::SessionEnded, "account deactivated");
        auth.record(
            actor,
            "user.deactivated",
            target,
            json!({ "sessions_ended": ended.len() }),
        );
    } else if !before.active && after.active {
        auth.record(actor, "user.reactivated", target, json!({}));
    }
    super::documents::publish_member(&state, "member.updated", &after);
    state.flush().await?;
    Ok(Json(MemberView::from(&after)))
}

/// An invitation as the secretariat sees it.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    pub id: u64,
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub country: Option<String>,
    /// Account id of who invited.
    pub created_by: u64,
    pub created_at: String,
    pub expires_at: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    /// When it was accepted or revoked.
    pub closed_at: Option<String>,
    /// The account it created.
    pub user_id: Option<u64>,
    /// Links issued (1 + resends); only the last one works.
    pub n_links: u32,
}

impl From<&Invitation> for InvitationView {
    fn from(i: &Invitation) -> InvitationView {
        let status = match i.status {
            InvitationStatus::Pending if i.expires_at <= now() => "expired",
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
        };
        InvitationView {
            id: i.id,
            email: i.email.clone(),
            role: i.role,
            name: i.name.clone(),
            organisation: i.organisation.clone(),
            country: i.country.clone(),
            created_by: i.created_by,
            created_at: timestamp(i.created_at),
            expires_at: timestamp(i.expires_at),
            status: status.into(),
            closed_at: i.closed_at.map(timestamp),
            user_id: i.user_id,
            n_links: i.n_links,
        }
    }
}

/// An invitation and its single-use link, to send to the invitee (Manifesto sends no email).
#[derive(Serialize, ToSchema)]
pub struct IssuedInvitation {
    pub invitation: InvitationView,
    /// `<public URL>/invite#<secret>`: the secret is in the fragment, which browsers never
    /// send to servers or proxies.
    pub link: String,
}

/// A new invitation.
#[derive(Deserialize, ToSchema)]
pub struct InvitationRequest {
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub country: Option<String>,
    /// Days the link works (default from the server's settings, at most 90).
    pub expires_in_days: Option<u32>,
}

/// Every invitation.
#[utoipa::path(
    get,
    path = "/api/invitations",
    tag = "members",
    responses((status = 200, body = Vec<InvitationView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_invitations(
    State(state): State<AppState>,
    _secretariat: Secretariat,
) -> Result<Json<Vec<InvitationView>>, ApiError> {
    let invitations = state.auth.accounts.invitations()?;
    Ok(Json(invitations.iter().map(InvitationView::from).collect()))
}

fn link(state: &AppState, headers: &HeaderMap, secret: &str) -> String {
    format!("{}/invite#{secret}", state.web.base_url(headers))
}

fn ttl_secs(state: &AppState, days: Option<u32>) -> Result<i64, ApiError> {
    match days {
        None => Ok(state.auth.settings.invitation_ttl.as_secs() as i64),
        Some(days @ 1..=90) => Ok(i64::from(days) * 86_400),
        Some(_) => Err(ApiError::InvalidField(
            "expires_in_days is between 1 and 90".into(),
        )),
    }
}

/// Invite someone with a role; answers the link to send them.
#[utoipa::path(
    post,
    path = "/api/invitations",
    tag = "members",
    request_body = InvitationRequest,
    responses(
        (status = 201, body = IssuedInvitation),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "email_taken"),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_invitation(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Secretariat(principal): Secretariat,
    headers: HeaderMap,
    ApiJson(request): ApiJson<InvitationRequest>,
) -> Result<(StatusCode, Json<IssuedInvitation>), ApiError> {
    let email = normalise_email(&request.email);
    if !is_plausible_email(&email) {
        return Err(ApiError::InvalidField(
            "email is not an email address".into(),
        ));
    }
    let (secret, invitation) = state.auth.accounts.create_invitation(NewInvitation {
        email,
        role: request.role,
        name: optional_text("name", request.name, 100)?,
        organisation: optional_text("organisation", request.organisation, 200)?,
        country: optional_text("country", request.country, 64)?,
        created_by: principal.user.id,
        ttl_secs: ttl_secs(&state, request.expires_in_days)?,
    })?;
    state.auth.record(
        principal.actor(&address),
        "invitation.created",
        Some(format!("invitation:{}", invitation.id)),
        json!({ "email": invitation.email, "role": invitation.role }),
    );
    state.flush().await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedInvitation {
            invitation: InvitationView::from(&invitation),
            link: link(&state, &headers, &secret),
        }),
    ))
}

/// Revoke a pending invitation: its link stops working.
#[utoipa::path(
    delete,
    path = "/api/invitations/{id}",
    tag = "members",
    params(("id" = u64, Path, description = "Invitation id")),
    responses(
        (status = 200, body = InvitationView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "Already accepted or revoked"),
    )
)]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Secretariat(principal): Secretariat,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<InvitationView>, ApiError> {
    let invitation = state.auth.accounts.revoke_invitation(id)?;
    state.auth.record(
        principal.actor(&address),
        "invitation.revoked",
        Some(format!("invitation:{id}")),
        json!({ "email": invitation.email }),
    );
    state.flush().await?;
    Ok(Json(InvitationView::from(&invitation)))
}

/// Optional new lifetime of a resent invitation.
#[derive(Deserialize, ToSchema)]
pub struct ResendRequest {
    pub expires_in_days: Option<u32>,
}

/// Issue a new link for a pending (or expired) invitation; the previous link stops working
/// and the expiry starts again.
#[utoipa::path(
    post,
    path = "/api/invitations/{id}/resend",
    tag = "members",
    params(("id" = u64, Path, description = "Invitation id")),
    request_body = ResendRequest,
    responses(
        (status = 200, body = IssuedInvitation),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "Already accepted or revoked"),
    )
)]
pub async fn resend_invitation(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Secretariat(principal): Secretariat,
    ApiPath(id): ApiPath<u64>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ResendRequest>,
) -> Result<Json<IssuedInvitation>, ApiError> {
    let ttl = ttl_secs(&state, request.expires_in_days)?;
    let (secret, invitation) = state.auth.accounts.renew_invitation(id, ttl)?;
    state.auth.record(
        principal.actor(&address),
        "invitation.resent",
        Some(format!("invitation:{id}")),
        json!({ "email": invitation.email, "n_links": invitation.n_links }),
    );
    state.flush().await?;
    Ok(Json(IssuedInvitation {
        invitation: InvitationView::from(&invitation),
        link: link(&state, &headers, &secret),
    }))
}

/// The secret of an invitation link.
#[derive(Deserialize, ToSchema)]
pub struct InvitationSecret {
    pub token: String,
}

/// What the invitee sees before accepting.
#[derive(Serialize, ToSchema)]
pub struct InvitationPreview {
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub country: Option<String>,
    pub expires_at: String,
}

fn usable_invitation(state: &AppState, secret: &str) -> Result<Invitation, ApiError> {
    let invitation = match state.auth.accounts.invitation_by_secret(secret) {
        Ok(invitation) => invitation,
        Err(crate::auth::AccountError::NotFound) => return Err(ApiError::InvitationNotFound),
        Err(e) => return Err(e.into()),
    };
    Accounts::check_usable(&invitation)?;
    Ok(invitation)
}

/// Look at an invitation from its link (no account needed).
#[utoipa::path(
    post,
    path = "/api/invitations/preview",
    tag = "members",
    request_body = InvitationSecret,
    responses(
        (status = 200, body = InvitationPreview),
        (status = 404, body = ErrorBody, description = "invitation_not_found"),
        (status = 410, body = ErrorBody, description = "invitation_used, invitation_revoked, invitation_expired"),
        (status = 429, body = ErrorBody),
    )
)]
pub async fn preview_invitation(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<InvitationSecret>,
) -> Result<Json<InvitationPreview>, ApiError> {
    state.auth.limits.invitation_per_address.check(&address)?;
    let invitation = usable_invitation(&state, &request.token)?;
    Ok(Json(InvitationPreview {
        email: invitation.email,
        role: invitation.role,
        name: invitation.name,
        organisation: invitation.organisation,
        country: invitation.country,
        expires_at: timestamp(invitation.expires_at),
    }))
}

/// Accepting an invitation: the link's secret, a password, and a name if the invitation
/// has none.
#[derive(Deserialize, ToSchema)]
pub struct AcceptInvitation {
    pub token: String,
    pub password: String,
    pub name: Option<String>,
}

/// Accept an invitation: creates the account and logs in (sets the session cookie). A link
/// works once.
#[utoipa::path(
    post,
    path = "/api/invitations/accept",
    tag = "members",
    request_body = AcceptInvitation,
    responses(
        (status = 201, body = crate::api::account::LoginResponse, description = "Account created; logged in"),
        (status = 404, body = ErrorBody, description = "invitation_not_found"),
        (status = 409, body = ErrorBody, description = "email_taken"),
        (status = 410, body = ErrorBody, description = "invitation_used, invitation_revoked, invitation_expired"),
        (status = 422, body = ErrorBody, description = "password_too_short, password_too_long, password_too_common"),
        (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    ApiJson(request): ApiJson<AcceptInvitation>,
) -> Result<Response, ApiError> {
    state.auth.limits.invitation_per_address.check(&address)?;
    let invitation = usable_invitation(&state, &request.token)?;
    check_policy(&request.password).map_err(ApiError::WeakPassword)?;
    let name = optional_text("name", request.name, 100)?;
    if invitation.name.is_none() && name.is_none() {
        return Err(ApiError::InvalidField("name is required".into()));
    }
    let hash = state.auth.hasher.hash(request.password).await?;
    let (invitation, user) = state
        .auth
        .accounts
        .accept_invitation(&request.token, name, hash)
        .map_err(|e| match e {
            crate::auth::AccountError::NotFound => ApiError::InvitationNotFound,
            e => e.into(),
        })?;
    state.auth.record(
        Actor {
            user_id: Some(user.id),
            label: user.email.clone(),
            address: Some(address.clone()),
        },
        "invitation.accepted",
        Some(format!("invitation:{}", invitation.id)),
        json!({ "user": user.id, "role": user.role }),
    );
    super::documents::publish_member(&state, "member.joined", &user);
    super::account::start_session(&state, &user, &address, &headers, StatusCode::CREATED).await
}
