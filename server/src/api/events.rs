//! The live events of a document over Server-Sent Events: beside the y-websocket connection,
//! so that vanilla Yjs clients never see a message type they do not know.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use base64::Engine;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;

use crate::auth::Principal;
use crate::documents::Event;
use crate::http::{ApiError, ApiPath, ApiQuery, AppState, ErrorBody};

/// Query of the event stream.
#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Replay the events after this id (as the `Last-Event-ID` header does; the header wins).
    pub after: Option<u64>,
}

/// What the stream sends next.
enum Step {
    Send(SseEvent),
    End,
}

struct Feed {
    document: String,
    missed: std::vec::IntoIter<Arc<Event>>,
    preface: Vec<SseEvent>,
    live: broadcast::Receiver<Arc<Event>>,
    saved: watch::Receiver<Vec<u8>>,
    shutdown: CancellationToken,
    /// The request's credential, checked again now and then: the stream ends with the
    /// session or token (logout, revocation, deactivation, expiry).
    credential: (HeaderMap, AppState),
    recheck: tokio::time::Interval,
}

/// How often an open stream checks that its credential is still valid.
const RECHECK_EVERY: Duration = Duration::from_secs(15);

fn event_frame(event: &Event) -> SseEvent {
    SseEvent::default()
        .id(event.id.to_string())
        .event(event.kind.clone())
        .json_data(event)
        .unwrap_or_else(|_| SseEvent::default().comment("unencodable event"))
}

fn saved_frame(state_vector: &[u8]) -> SseEvent {
    let encoded = base64::engine::general_purpose::STANDARD.encode(state_vector);
    SseEvent::default()
        .event("saved")
        .json_data(serde_json::json!({ "state_vector": encoded }))
        .unwrap_or_else(|_| SseEvent::default().comment("unencodable state vector"))
}

fn resync_frame(last_id: u64) -> SseEvent {
    SseEvent::default()
        .event("resync")
        .json_data(serde_json::json!({ "last_event_id": last_id }))
        .unwrap_or_else(|_| SseEvent::default().comment("resync"))
}

impl Feed {
    async fn next(&mut self) -> Step {
        if let Some(frame) = self.preface.pop() {
            return Step::Send(frame);
        }
        if let Some(event) = self.missed.next() {
            return Step::Send(event_frame(&event));
        }
        tokio::select! {
            _ = self.shutdown.cancelled() => Step::End,
            _ = self.recheck.tick() => {
                let (headers, state) = &self.credential;
                match crate::http::authenticate(headers, state) {
                    Ok(_) => Step::Send(SseEvent::default().comment("credential checked")),
                    Err(_) => Step::End,
                }
            }
            received = self.live.recv() => match received {
                Ok(event) => Step::Send(event_frame(&event)),
                // Too far behind: the client reloads the state and goes on from here.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    tracing::info!(document = %self.document, "event subscriber lagged; asking it to resync");
                    Step::Send(resync_frame(0))
                }
                Err(broadcast::error::RecvError::Closed) => Step::End,
            },
            changed = self.saved.changed() => match changed {
                Ok(()) => {
                    let state_vector = self.saved.borrow_and_update().clone();
                    Step::Send(saved_frame(&state_vector))
                }
                Err(_) => Step::End,
            },
        }
    }
}

/// The document's live events (Server-Sent Events). Each event has an `id`, a type
/// (`phase.changed`, `deadline.changed`, `document.updated`, `version.created`,
/// `comment.created`…, `member.updated`) and the changed object as JSON data. After a reconnect
/// the browser sends `Last-Event-ID` and gets what it missed; when that is no longer kept, a
/// `resync` event says to reload the state. `saved` events carry the state vector (v1,
/// base64) of what the server has durably stored of the live text, so a client can show
/// "all changes saved". A `ready` event opens the stream with the latest event id.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/events",
    tag = "documents",
    params(("id" = String, Path, description = "Document id"), EventsQuery),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn document_events(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    state.documents.get(&id)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(query.after);
    let catch_up = state
        .documents
        .events
        .subscribe(&id, after)
        .map_err(ApiError::internal)?;
    let last_id = state
        .documents
        .events
        .last_id(&id)
        .map_err(ApiError::internal)?;
    let mut saved = state.documents.saved(&id);
    let current = saved.borrow_and_update().clone();
    // Sent in reverse order (popped).
    let mut preface = Vec::new();
    if !current.is_empty() {
        preface.push(saved_frame(&current));
    }
    if catch_up.gap {
        preface.push(resync_frame(last_id));
    }
    preface.push(
        SseEvent::default()
            .event("ready")
            .json_data(serde_json::json!({ "document": id, "last_event_id": last_id }))
            .map_err(ApiError::internal)?,
    );
    let feed = Feed {
        document: id,
        missed: if catch_up.gap {
            Vec::new().into_iter()
        } else {
            catch_up.missed.into_iter()
        },
        preface,
        live: catch_up.live,
        saved,
        shutdown: state.sockets.shutdown.clone(),
        credential: (headers, state.clone()),
        recheck: tokio::time::interval_at(
            tokio::time::Instant::now() + RECHECK_EVERY,
            RECHECK_EVERY,
        ),
    };
    let events = stream::unfold(feed, |mut feed| async move {
        match feed.next().await {
            Step::Send(frame) => Some((Ok(frame), feed)),
            Step::End => None,
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}
