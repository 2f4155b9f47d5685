//! Access control against the real server: who may call which route (enumerated from the
//! OpenAPI document), what each role's WebSocket may do, CSRF and cross-site WebSocket
//! guards, cookie flags, sessions and tokens ending live connections, session expiry,
//! invitations, the audit log and the last secretariat account.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use manifesto_protocol::yrs::sync::awareness::AwarenessUpdateEntry;
use manifesto_protocol::yrs::sync::{AwarenessUpdate, Message, MessageReader, SyncMessage};
use manifesto_protocol::yrs::updates::decoder::{Decode, DecoderV1};
use manifesto_protocol::yrs::updates::encoder::Encode;
use manifesto_protocol::yrs::{self, ClientID, Doc, ReadTxn, Transact, Update};
use manifesto_protocol::{encode_auth_denied, CloseCode};
use manifesto_server::auth::{Accounts, Role};
use manifesto_tests::{
    stored_document, text_of, TestClient, TestServer, TestUser, PATIENCE, TEST_PASSWORD,
};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Unix time in seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

// ----- HTTP -----

/// How a request proves who it is.
#[derive(Debug, Clone, Copy)]
enum Cred<'a> {
    /// Nothing (but, like a browser, this site's `Origin`).
    Anonymous,
    /// `Authorization: Bearer <token>`, no `Origin` (a script).
    Bearer(&'a str),
    /// `Cookie: <name=value>` with this site's `Origin` (a browser).
    Cookie(&'a str),
}

/// An answer: status, `Set-Cookie` headers and the body as JSON (`Null` when not JSON).
#[derive(Debug)]
struct Reply {
    status: u16,
    set_cookies: Vec<String>,
    body: Value,
}

impl Reply {
    /// The error code of the body, or "".
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The `name=value` of the first `Set-Cookie`.
    fn cookie(&self) -> String {
        let set_cookie = self.set_cookies.first().expect("a Set-Cookie header");
        set_cookie
            .split(';')
            .next()
            .expect("a cookie pair")
            .trim()
            .to_owned()
    }

    #[track_caller]
    fn expect(self, status: u16, code: &str) -> Reply {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {self:?}"
        );
        self
    }
}

/// A JSON API client of one server, sending `origin` as the browser's `Origin`.
struct Http {
    client: reqwest::Client,
    base: String,
    origin: String,
}

impl Http {
    fn new(server: &TestServer) -> Http {
        Http::with_origin(server, &format!("http://{}", server.addr))
    }

    fn with_origin(server: &TestServer, origin: &str) -> Http {
        Http {
            // No cookie store: every test says which cookie it sends.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            base: format!("http://{}", server.addr),
            origin: origin.to_owned(),
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        cred: Cred<'_>,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .timeout(PATIENCE);
        request = match cred {
            Cred::Anonymous => request.header("Origin", &self.origin),
            Cred::Bearer(token) => request.bearer_auth(token),
            Cred::Cookie(cookie) => request
                .header("Cookie", cookie)
                .header("Origin", &self.origin),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        request
    }

    async fn send(&self, method: &str, path: &str, cred: Cred<'_>, body: Option<&Value>) -> Reply {
        reply(self.request(method, path, cred, body)).await
    }

    async fn get(&self, path: &str, cred: Cred<'_>) -> Reply {
        self.send("GET", path, cred, None).await
    }

    async fn post(&self, path: &str, cred: Cred<'_>, body: Value) -> Reply {
        self.send("POST", path, cred, Some(&body)).await
    }

    async fn patch(&self, path: &str, cred: Cred<'_>, body: Value) -> Reply {
        self.send("PATCH", path, cred, Some(&body)).await
    }

    async fn delete(&self, path: &str, cred: Cred<'_>) -> Reply {
        self.send("DELETE", path, cred, None).await
    }

    /// Logs in with `POST /api/session` (JSON, this site's `Origin`).
    async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/session",
            Cred::Anonymous,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Logs in and returns the session's `name=value` cookie and the session id.
    async fn session(&self, email: &str, password: &str) -> (String, u64) {
        let reply = self.login(email, password).await.expect(200, "");
        let id = reply.body["session"]["id"].as_u64().expect("session id");
        (reply.cookie(), id)
    }

    /// Creates an invitation as `cred`; returns its id and the link's secret.
    async fn invite(&self, cred: Cred<'_>, email: &str, role: &str) -> (u64, String) {
        let reply = self
            .post(
                "/api/invitations",
                cred,
                json!({ "email": email, "role": role, "name": format!("Invitee {email}") }),
            )
            .await
            .expect(201, "");
        let link = reply.body["link"].as_str().expect("link");
        let (_, secret) = link.split_once("#").expect("secret in the fragment");
        (
            reply.body["invitation"]["id"].as_u64().expect("id"),
            secret.to_owned(),
        )
    }
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let set_cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ASCII cookie").to_owned())
        .collect();
    let streaming = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    // An event stream never ends: its status is the answer.
    let body = if streaming {
        Value::Null
    } else {
        let bytes = response.bytes().await.expect("body");
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status,
        set_cookies,
        body,
    }
}

// ----- WebSocket -----

/// A plain HTTP `GET path` with the headers of a WebSocket upgrade, to read a refusal's body.
fn upgrade_request(http: &Http, path: &str) -> reqwest::RequestBuilder {
    http.client
        .get(format!("{}{path}", http.base))
        .timeout(PATIENCE)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket with extra request headers: the socket, or the refusal's status and
/// JSON body (`Null` when tungstenite did not read it).
async fn ws_open(url: &str, headers: &[(&str, &str)]) -> Result<Ws, (u16, Value)> {
    let mut request = url.into_client_request().expect("WebSocket request");
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    match tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("upgrade answered in time")
    {
        Ok((ws, response)) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(ws)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("WebSocket to {url} failed: {e}"),
    }
}

/// The upgrade status of `url` with `headers`: 101, or the refusal's.
async fn ws_status(url: &str, headers: &[(&str, &str)]) -> u16 {
    match ws_open(url, headers).await {
        Ok(mut ws) => {
            let _ = ws.close(None).await;
            101
        }
        Err((status, _)) => status,
    }
}

/// One frame from the server.
#[derive(Debug)]
enum Frame {
    Binary(Vec<u8>),
    Closed(u16, String),
}

async fn next_frame(ws: &mut Ws) -> Frame {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Binary(bytes))) => return Frame::Binary(bytes.to_vec()),
            Some(Ok(WsMessage::Close(close))) => {
                return match close {
                    Some(close) => Frame::Closed(u16::from(close.code), close.reason.to_string()),
                    None => Frame::Closed(1005, String::new()),
                }
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Frame::Closed(1006, e.to_string()),
            None => return Frame::Closed(1006, "ended".into()),
        }
    }
}

/// Reads until the server closes `ws`, failing after `within`; returns code and reason.
async fn closed_within(ws: &mut Ws, within: Duration) -> (u16, String) {
    tokio::time::timeout(within, async {
        loop {
            if let Frame::Closed(code, reason) = next_frame(ws).await {
                return (code, reason);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server did not close the socket within {within:?}"))
}

fn decode_messages(frame: &[u8]) -> Vec<Message> {
    let mut decoder = DecoderV1::from(frame);
    MessageReader::new(&mut decoder)
        .map(|m| m.expect("the server sent a decodable message"))
        .collect()
}

/// A y-websocket peer over a raw socket, so that the test sees every frame's bytes.
struct Peer {
    ws: Ws,
    doc: Doc,
    /// Every auth (type 2) frame received, as bytes.
    auth_frames: Vec<Vec<u8>>,
    /// Awareness states received, by client id (JSON).
    awareness: HashMap<u64, String>,
    /// Awareness frames received.
    n_awareness_frames: usize,
    closed: Option<(u16, String)>,
}

impl Peer {
    fn new(ws: Ws) -> Peer {
        Peer {
            ws,
            doc: Doc::new(),
            auth_frames: Vec::new(),
            awareness: HashMap::new(),
            n_awareness_frames: 0,
            closed: None,
        }
    }

    async fn send(&mut self, message: &Message) {
        self.ws
            .send(WsMessage::Binary(message.encode_v1().into()))
            .await
            .expect("send frame");
    }

    /// Reads one frame and records what it holds; returns its messages.
    async fn read(&mut self) -> Vec<Message> {
        let frame = tokio::time::timeout(PATIENCE, next_frame(&mut self.ws))
            .await
            .expect("a frame within the patience");
        let bytes = match frame {
            Frame::Binary(bytes) => bytes,
            Frame::Closed(code, reason) => {
                self.closed = Some((code, reason));
                return Vec::new();
            }
        };
        let messages = decode_messages(&bytes);
        for message in &messages {
            match message {
                Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
                    let update = Update::decode_v1(update).expect("a valid update");
                    self.doc
                        .transact_mut()
                        .apply_update(update)
                        .expect("apply the server's update");
                }
                Message::Awareness(update) => {
                    self.n_awareness_frames += 1;
                    for (id, entry) in &update.clients {
                        self.awareness.insert(id.get(), entry.json.to_string());
                    }
                }
                Message::Auth(_) => self.auth_frames.push(bytes.clone()),
                _ => {}
            }
        }
        messages
    }

    /// Sends SyncStep1 and reads until the server's SyncStep2, which it sends only after
    /// handling everything this peer sent before. Returns the SyncStep2's update.
    async fn barrier(&mut self) -> Vec<u8> {
        let sv = self.doc.transact().state_vector();
        self.send(&Message::Sync(SyncMessage::SyncStep1(sv))).await;
        loop {
            for message in self.read().await {
                if let Message::Sync(SyncMessage::SyncStep2(update)) = message {
                    return update;
                }
            }
            if let Some(closed) = &self.closed {
                panic!("closed during a barrier: {closed:?}");
            }
        }
    }

    /// Appends `text` to root text `t` locally; returns the update.
    fn edit(&self, text: &str) -> Vec<u8> {
        let root = self.doc.get_or_insert_text("t");
        let mut txn = self.doc.transact_mut();
        yrs::Text::push(&root, &mut txn, text);
        txn.encode_update_v1()
    }

    async fn set_awareness(&mut self, client_id: u64, json: &str) {
        self.send_awareness(&[(client_id, 1, json)]).await;
    }

    /// Sends one awareness message with an entry (client id, clock, JSON) per client.
    async fn send_awareness(&mut self, entries: &[(u64, u32, &str)]) {
        let clients = entries
            .iter()
            .map(|&(id, clock, json)| {
                (
                    ClientID::new(id),
                    AwarenessUpdateEntry {
                        clock,
                        json: json.into(),
                    },
                )
            })
            .collect();
        self.send(&Message::Awareness(AwarenessUpdate { clients }))
            .await;
    }
}

// ----- fixtures -----

/// The name `TestServer::add_user` gives an account.
fn account_name(user: &TestUser) -> String {
    format!(
        "{} {}",
        user.role.as_str(),
        user.email.split('@').next().expect("local part")
    )
}

/// Rewrites the JSON record of session `session_id` in sled.
fn rewrite_session(server: &TestServer, session_id: u64, change: impl Fn(&mut Value)) {
    let tree = server.db.open_tree("sessions").expect("sessions tree");
    for entry in tree.iter() {
        let (key, value) = entry.expect("session entry");
        let mut record: Value = serde_json::from_slice(&value).expect("JSON session");
        if record["id"].as_u64() == Some(session_id) {
            change(&mut record);
            tree.insert(key, serde_json::to_vec(&record).expect("JSON"))
                .expect("rewrite the session");
            return;
        }
    }
    panic!("no session {session_id} in sled");
}

/// Rewrites the JSON record of invitation `id` in sled.
fn rewrite_invitation(server: &TestServer, id: u64, change: impl Fn(&mut Value)) {
    let tree = server
        .db
        .open_tree("invitations")
        .expect("invitations tree");
    let value = tree
        .get(id.to_be_bytes())
        .expect("read")
        .expect("the invitation exists");
    let mut record: Value = serde_json::from_slice(&value).expect("JSON invitation");
    change(&mut record);
    tree.insert(id.to_be_bytes(), serde_json::to_vec(&record).expect("JSON"))
        .expect("rewrite the invitation");
}

// ----- 1. the permission matrix -----

/// What a route answers to each caller: anonymous, observer, delegate, secretariat.
struct Expected {
    method: &'static str,
    path: &'static str,
    anonymous: u16,
    observer: u16,
    delegate: u16,
    secretariat: u16,
    /// What every role gets instead when authenticated by an API token, when different.
    with_token: Option<u16>,
}

const fn route(
    method: &'static str,
    path: &'static str,
    [anonymous, observer, delegate, secretariat]: [u16; 4],
) -> Expected {
    Expected {
        method,
        path,
        anonymous,
        observer,
        delegate,
        secretariat,
        with_token: None,
    }
}

const PUBLIC: [u16; 4] = [200, 200, 200, 200];
const MEMBERS: [u16; 4] = [401, 200, 200, 200];
const SECRETARIAT: [u16; 4] = [401, 403, 403, 200];

/// Every route of the OpenAPI document and who may use it.
const MATRIX: &[Expected] = &[
    route("GET", "/", PUBLIC),
    route("GET", "/login", PUBLIC),
    route("GET", "/invite", PUBLIC),
    route("GET", "/healthz", PUBLIC),
    route("GET", "/readyz", PUBLIC),
    // Open without a metrics token (the proxy examples refuse it from outside).
    route("GET", "/metrics", PUBLIC),
    route("GET", "/api/admin/backup", SECRETARIAT),
    route("GET", "/api/openapi.json", PUBLIC),
    route("GET", "/ws/{document}", [401, 101, 101, 101]),
    route("POST", "/api/session", PUBLIC),
    route("GET", "/api/session", MEMBERS),
    Expected {
        // A token cannot log out: it is revoked instead.
        with_token: Some(422),
        ..route("DELETE", "/api/session", [401, 204, 204, 204])
    },
    route("GET", "/api/me/sessions", MEMBERS),
    route("DELETE", "/api/me/sessions/{id}", [401, 204, 204, 204]),
    route("POST", "/api/me/password", [401, 204, 204, 204]),
    route("PATCH", "/api/me", MEMBERS),
    route("GET", "/api/me/tokens", MEMBERS),
    route("POST", "/api/me/tokens", [401, 201, 201, 201]),
    route("DELETE", "/api/me/tokens/{id}", [401, 204, 204, 204]),
    route("GET", "/api/users", SECRETARIAT),
    route("PATCH", "/api/users/{id}", SECRETARIAT),
    route("GET", "/api/invitations", SECRETARIAT),
    route("POST", "/api/invitations", [401, 403, 403, 201]),
    route("DELETE", "/api/invitations/{id}", SECRETARIAT),
    route("POST", "/api/invitations/{id}/resend", SECRETARIAT),
    route("POST", "/api/invitations/preview", PUBLIC),
    route("POST", "/api/invitations/accept", [201, 201, 201, 201]),
    route("GET", "/api/audit", SECRETARIAT),
    route("GET", "/api/documents/{id}/comments", MEMBERS),
    route("POST", "/api/documents/{id}/comments", [401, 403, 201, 201]),
    route(
        "PATCH",
        "/api/documents/{id}/comments/{comment}",
        [401, 403, 200, 200],
    ),
    route(
        "DELETE",
        "/api/documents/{id}/comments/{comment}",
        [401, 403, 200, 200],
    ),
    route(
        "POST",
        "/api/documents/{id}/comments/{comment}/resolve",
        [401, 403, 200, 200],
    ),
    route(
        "POST",
        "/api/documents/{id}/comments/{comment}/reopen",
        [401, 403, 200, 200],
    ),
    route(
        "POST",
        "/api/documents/{id}/comments/{comment}/hide",
        SECRETARIAT,
    ),
    route("GET", "/api/documents", MEMBERS),
    route("POST", "/api/documents", [401, 403, 403, 201]),
    route("GET", "/api/documents/{id}", MEMBERS),
    route("PATCH", "/api/documents/{id}", SECRETARIAT),
    route("POST", "/api/documents/{id}/phase", SECRETARIAT),
    route("GET", "/api/documents/{id}/text", MEMBERS),
    route("GET", "/api/documents/{id}/export.{format}", MEMBERS),
    route("GET", "/api/documents/{id}/versions", MEMBERS),
    route("POST", "/api/documents/{id}/versions", [401, 403, 403, 201]),
    route("GET", "/api/documents/{id}/events", MEMBERS),
    route("GET", "/api/documents/{id}/diff", MEMBERS),
    route("GET", "/api/documents/{id}/amendments", MEMBERS),
    route(
        "POST",
        "/api/documents/{id}/amendments",
        [401, 403, 201, 201],
    ),
    route("GET", "/api/documents/{id}/amendments/{amendment}", MEMBERS),
    route(
        "PATCH",
        "/api/documents/{id}/amendments/{amendment}",
        [401, 403, 200, 200],
    ),
    route(
        "POST",
        "/api/documents/{id}/amendments/{amendment}/support",
        [401, 403, 200, 200],
    ),
    route(
        "DELETE",
        "/api/documents/{id}/amendments/{amendment}/support",
        [401, 403, 200, 200],
    ),
    route(
        "POST",
        "/api/documents/{id}/amendments/{amendment}/withdraw",
        [401, 403, 200, 200],
    ),
    route(
        "POST",
        "/api/documents/{id}/amendments/{amendment}/screen",
        SECRETARIAT,
    ),
    route("PUT", "/api/documents/{id}/amendments/order", SECRETARIAT),
    route("GET", "/api/documents/{id}/blocks/{block}/history", MEMBERS),
    route(
        "POST",
        "/api/documents/{id}/corrections",
        [401, 403, 403, 201],
    ),
    route("GET", "/api/documents/{id}/ballots", MEMBERS),
    route("POST", "/api/documents/{id}/ballots", [401, 403, 403, 201]),
    route("GET", "/api/documents/{id}/ballots/{ballot}", MEMBERS),
    // The matrix's ballots let the secretariat vote (`secretariat_votes`).
    route(
        "PUT",
        "/api/documents/{id}/ballots/{ballot}/vote",
        [401, 403, 200, 200],
    ),
    route(
        "POST",
        "/api/documents/{id}/ballots/{ballot}/close",
        SECRETARIAT,
    ),
    route(
        "GET",
        "/api/documents/{id}/ballots/{ballot}/recount",
        MEMBERS,
    ),
    route("GET", "/api/me/decisions", MEMBERS),
];

/// One caller of the matrix.
struct Caller<'a> {
    label: &'static str,
    /// The account (for anonymous: the observer, whose records are the targets).
    account: &'a TestUser,
    cred: Cred<'a>,
    expected: fn(&Expected) -> u16,
}

/// A request made concrete for one call: path, body, and the cookie to use instead of the
/// caller's (a throwaway session for logging out).
struct Call {
    path: String,
    body: Option<Value>,
    cookie: Option<String>,
}

struct Matrix<'a> {
    server: &'a TestServer,
    http: Http,
    accounts: Accounts,
    n_made: u32,
}

impl Matrix<'_> {
    fn unique(&mut self, what: &str) -> String {
        self.n_made += 1;
        format!("{what}-{}@example.org", self.n_made)
    }

    /// A document made from the template (once), and its first paragraph's id.
    async fn template_document(&mut self) -> (String, String) {
        let admin = Cred::Bearer(&self.server.admin.token);
        let id = "matrix-template";
        let existing = self
            .http
            .get(&format!("/api/documents/{id}/text"), admin)
            .await;
        let text = if existing.status == 200 {
            existing.body
        } else {
            let created = self
                .http
                .post(
                    "/api/documents",
                    admin,
                    json!({ "id": id, "title": "Template", "start_with": "template" }),
                )
                .await;
            assert_eq!(created.status, 201, "{created:?}");
            self.http
                .get(&format!("/api/documents/{id}/text"), admin)
                .await
                .body
        };
        let paragraph = text["sections"][0]["paragraphs"][0]["id"]
            .as_str()
            .expect("a paragraph id")
            .to_owned();
        (id.to_owned(), paragraph)
    }

    fn throwaway_session(&self, owner: &TestUser) -> (String, u64) {
        let (secret, session) = self
            .accounts
            .create_session(owner.id, 3600, "127.0.0.1", "tests")
            .expect("session");
        (format!("manifesto_session={secret}"), session.id)
    }

    /// Makes `method path` concrete for a call by `owner`, creating the targets it needs
    /// (real ones, so that a missing check would show as a success, not a 404).
    async fn prepare(&mut self, method: &str, path: &str, owner: &TestUser) -> Call {
        let admin = Cred::Bearer(&self.server.admin.token);
        let call = |path: &str, body: Option<Value>| Call {
            path: path.to_owned(),
            body,
            cookie: None,
        };
        match (method, path) {
            (
                "GET",
                "/" | "/login" | "/invite" | "/healthz" | "/readyz" | "/metrics"
                | "/api/openapi.json" | "/api/admin/backup",
            ) => call(path, None),
            ("GET", "/ws/{document}") => {
                self.server.ensure_document("matrix");
                call("/ws/matrix", None)
            }
            ("GET", "/api/documents") => call(path, None),
            ("POST", "/api/documents") => call(
                path,
                Some(json!({ "title": "Matrix", "start_with": "template" })),
            ),
            (
                "GET" | "PATCH",
                "/api/documents/{id}"
                | "/api/documents/{id}/text"
                | "/api/documents/{id}/versions"
                | "/api/documents/{id}/events",
            )
            | ("POST", "/api/documents/{id}/versions") => {
                self.server.ensure_document("matrix");
                let body = match (method, path) {
                    ("PATCH", _) => Some(json!({ "description": "Checked by the matrix" })),
                    ("POST", _) => Some(json!({ "name": "Matrix version" })),
                    _ => None,
                };
                call(&path.replace("{id}", "matrix"), body)
            }
            ("GET", "/api/documents/{id}/export.{format}") => {
                self.server.ensure_document("matrix");
                call("/api/documents/matrix/export.md", None)
            }
            ("GET" | "POST", "/api/documents/{id}/amendments") => {
                let (document, paragraph) = amendment_document(&self.http, self.server).await;
                let body = (method == "POST").then(|| {
                    json!({ "kind": "replace", "target": paragraph, "text": [{ "text": "Matrix", "em": false, "strong": false }], "rationale": "Matrix" })
                });
                call(&format!("/api/documents/{document}/amendments"), body)
            }
            ("GET" | "PATCH", "/api/documents/{id}/amendments/{amendment}")
            | ("POST", "/api/documents/{id}/amendments/{amendment}/withdraw") => {
                // The caller's own amendment (the secretariat's for an observer).
                let author = comment_author(self.server, owner);
                let path_of = amendment_by(&self.http, self.server, author).await;
                let body = match method {
                    "PATCH" => Some(json!({ "rationale": "Changed by the matrix" })),
                    "POST" => Some(json!({})),
                    _ => None,
                };
                let suffix = if path.ends_with("/withdraw") {
                    "/withdraw"
                } else {
                    ""
                };
                call(&format!("{path_of}{suffix}"), body)
            }
            ("POST" | "DELETE", "/api/documents/{id}/amendments/{amendment}/support") => {
                // Someone else's amendment: a delegate made for the purpose.
                let email = self.unique("author");
                let author = self.server.add_user(&email, Role::Delegate);
                let path_of = amendment_by(&self.http, self.server, &author).await;
                let body = (method == "POST").then(|| json!({}));
                call(&format!("{path_of}/support"), body)
            }
            ("POST", "/api/documents/{id}/amendments/{amendment}/screen") => {
                let path_of = amendment_by(&self.http, self.server, &self.server.admin).await;
                call(
                    &format!("{path_of}/screen"),
                    Some(json!({ "decision": "vote" })),
                )
            }
            ("PUT", "/api/documents/{id}/amendments/order") => {
                let (document, _) = amendment_document(&self.http, self.server).await;
                let text = self
                    .http
                    .get(&format!("/api/documents/{document}/text"), admin)
                    .await;
                let section = text.body["sections"][0]["id"]
                    .as_str()
                    .expect("a section")
                    .to_owned();
                call(
                    &format!("/api/documents/{document}/amendments/order"),
                    Some(json!({ "target": section, "order": [] })),
                )
            }
            ("GET", "/api/documents/{id}/diff") => {
                self.server.ensure_document("matrix");
                call("/api/documents/matrix/diff?from=1", None)
            }
            ("GET", "/api/documents/{id}/blocks/{block}/history") => {
                let paragraph = self.template_document().await;
                call(
                    &format!(
                        "/api/documents/{}/blocks/{}/history",
                        paragraph.0, paragraph.1
                    ),
                    None,
                )
            }
            ("POST", "/api/documents/{id}/corrections") => {
                let (document, paragraph) = self.template_document().await;
                self.n_made += 1;
                call(
                    &format!("/api/documents/{document}/corrections"),
                    Some(json!({
                        "block": paragraph,
                        "text": [{ "text": format!("Corrected {}", self.n_made), "em": false, "strong": false }],
                        "reason": "matrix",
                    })),
                )
            }
            ("POST", "/api/documents/{id}/phase") => {
                // A fresh document each time, so that every allowed call is a real move.
                self.n_made += 1;
                let id = format!("phase-{}", self.n_made);
                self.server.ensure_document(&id);
                call(
                    &format!("/api/documents/{id}/phase"),
                    Some(json!({ "phase": "amendments" })),
                )
            }
            ("POST", "/api/session") => call(
                path,
                Some(json!({ "email": owner.email, "password": TEST_PASSWORD })),
            ),
            ("GET", "/api/session") => call(path, None),
            ("DELETE", "/api/session") => {
                // Log out of a throwaway session, not the caller's.
                let (cookie, _) = self.throwaway_session(owner);
                Call {
                    cookie: Some(cookie),
                    ..call(path, None)
                }
            }
            ("GET", "/api/me/sessions" | "/api/me/tokens" | "/api/users" | "/api/invitations") => {
                call(path, None)
            }
            ("GET", "/api/audit") => call("/api/audit?limit=1000", None),
            ("DELETE", "/api/me/sessions/{id}") => {
                let (_, id) = self.throwaway_session(owner);
                call(&format!("/api/me/sessions/{id}"), None)
            }
            ("POST", "/api/me/password") => call(
                path,
                Some(json!({ "current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD })),
            ),
            ("POST", "/api/me/tokens") => call(path, Some(json!({ "name": "matrix" }))),
            ("PATCH", "/api/me") => call(path, Some(json!({ "language": "fr" }))),
            ("DELETE", "/api/me/tokens/{id}") => {
                let (_, token) = self
                    .accounts
                    .create_token(owner.id, "throwaway")
                    .expect("token");
                call(&format!("/api/me/tokens/{}", token.id), None)
            }
            ("PATCH", "/api/users/{id}") => {
                let email = self.unique("target");
                let target = self.server.add_user(&email, Role::Observer);
                call(
                    &format!("/api/users/{}", target.id),
                    Some(json!({ "role": "delegate" })),
                )
            }
            ("POST", "/api/invitations") => {
                let email = self.unique("invitee");
                call(path, Some(json!({ "email": email, "role": "observer" })))
            }
            ("DELETE", "/api/invitations/{id}") => {
                let email = self.unique("revoked");
                let (id, _) = self.http.invite(admin, &email, "observer").await;
                call(&format!("/api/invitations/{id}"), None)
            }
            ("POST", "/api/invitations/{id}/resend") => {
                let email = self.unique("resent");
                let (id, _) = self.http.invite(admin, &email, "observer").await;
                call(&format!("/api/invitations/{id}/resend"), Some(json!({})))
            }
            ("POST", "/api/invitations/preview") => {
                let email = self.unique("previewed");
                let (_, secret) = self.http.invite(admin, &email, "observer").await;
                call(path, Some(json!({ "token": secret })))
            }
            ("POST", "/api/invitations/accept") => {
                let email = self.unique("accepted");
                let (_, secret) = self.http.invite(admin, &email, "delegate").await;
                call(
                    path,
                    Some(json!({ "token": secret, "password": TEST_PASSWORD })),
                )
            }
            ("GET" | "POST", "/api/documents/{id}/comments") => {
                let (document, section) = comment_document(&self.http, self.server).await;
                let body = (method == "POST")
                    .then(|| json!({ "anchor": { "section": section }, "body": "Matrix" }));
                call(&format!("/api/documents/{document}/comments"), body)
            }
            ("PATCH" | "DELETE", "/api/documents/{id}/comments/{comment}") => {
                let comment = comment_by(&self.http, self.server, owner).await;
                let body = (method == "PATCH").then(|| json!({ "body": "Edited by the matrix" }));
                call(&comment, body)
            }
            ("POST", "/api/documents/{id}/comments/{comment}/resolve") => {
                let comment = comment_by(&self.http, self.server, owner).await;
                call(&format!("{comment}/resolve"), Some(json!({})))
            }
            ("POST", "/api/documents/{id}/comments/{comment}/reopen") => {
                let comment = comment_by(&self.http, self.server, owner).await;
                let author = comment_author(self.server, owner);
                self.http
                    .post(
                        &format!("{comment}/resolve"),
                        Cred::Bearer(&author.token),
                        json!({}),
                    )
                    .await
                    .expect(200, "");
                call(&format!("{comment}/reopen"), Some(json!({})))
            }
            ("POST", "/api/documents/{id}/comments/{comment}/hide") => {
                let comment = comment_by(&self.http, self.server, &self.server.admin).await;
                call(
                    &format!("{comment}/hide"),
                    Some(json!({ "reason": "Matrix" })),
                )
            }
            ("GET" | "POST", "/api/documents/{id}/ballots") => {
                let document = ballot_document(&self.http, self.server).await;
                self.n_made += 1;
                let body = (method == "POST").then(next_ballot_body);
                call(&format!("/api/documents/{document}/ballots"), body)
            }
            ("GET", "/api/documents/{id}/ballots/{ballot}")
            | ("PUT", "/api/documents/{id}/ballots/{ballot}/vote")
            | ("POST", "/api/documents/{id}/ballots/{ballot}/close") => {
                // A fresh ballot each time, opened after every caller's account exists (so
                // each is eligible) and still open (so every allowed call succeeds).
                self.n_made += 1;
                let ballot = open_ballot(&self.http, self.server, self.n_made).await;
                let (suffix, body) = match method {
                    "PUT" => ("/vote", Some(json!({ "choice": "yes" }))),
                    "POST" => ("/close", Some(json!({}))),
                    _ => ("", None),
                };
                call(&format!("{ballot}{suffix}"), body)
            }
            ("GET", "/api/documents/{id}/ballots/{ballot}/recount") => {
                self.n_made += 1;
                let ballot = open_ballot(&self.http, self.server, self.n_made).await;
                self.http
                    .post(&format!("{ballot}/close"), admin, json!({}))
                    .await
                    .expect(200, "");
                call(&format!("{ballot}/recount"), None)
            }
            ("GET", "/api/me/decisions") => call(path, None),
            _ => panic!("the matrix has no request for {method} {path}"),
        }
    }

    /// Sends one call as `caller`; returns the status and error code.
    async fn run(&mut self, expected: &Expected, caller: &Caller<'_>) -> (u16, String) {
        let call = self
            .prepare(expected.method, expected.path, caller.account)
            .await;
        if expected.path.starts_with("/ws/") {
            let origin = self.http.origin.clone();
            let (path, headers) = match caller.cred {
                Cred::Anonymous => (call.path, vec![("Origin", origin.as_str())]),
                Cred::Bearer(token) => (format!("{}?token={token}", call.path), vec![]),
                Cred::Cookie(cookie) => (
                    call.path,
                    vec![("Cookie", cookie), ("Origin", origin.as_str())],
                ),
            };
            let status = ws_status(&format!("ws://{}{path}", self.server.addr), &headers).await;
            if status == 101 {
                return (status, String::new());
            }
            // tungstenite does not keep a refusal's body: ask again over plain HTTP, with the
            // upgrade headers, for the code.
            let mut request = upgrade_request(&self.http, &path);
            for (name, value) in &headers {
                request = request.header(*name, *value);
            }
            let answer = reply(request).await;
            assert_eq!(answer.status, status, "the same refusal over plain HTTP");
            return (status, answer.code().to_owned());
        }
        let cred = match (&call.cookie, caller.cred) {
            (Some(cookie), Cred::Cookie(_)) => Cred::Cookie(cookie),
            _ => caller.cred,
        };
        let reply = self
            .http
            .send(expected.method, &call.path, cred, call.body.as_ref())
            .await;
        (reply.status, reply.code().to_owned())
    }
}

/// The matrix's document for comments (made once) and its first section's id.
async fn comment_document(http: &Http, server: &TestServer) -> (&'static str, String) {
    let admin = Cred::Bearer(&server.admin.token);
    let id = "matrix-comments";
    let mut text = http.get(&format!("/api/documents/{id}/text"), admin).await;
    if text.status != 200 {
        let markdown = "# 1. Comments\n\nA paragraph to comment on.\n";
        http.post(
            "/api/documents",
            admin,
            json!({ "id": id, "title": "Comments", "start_with": "markdown", "markdown": markdown }),
        )
        .await
        .expect(201, "");
        text = http.get(&format!("/api/documents/{id}/text"), admin).await;
    }
    let section = text.body["sections"][0]["id"].as_str().expect("a section");
    (id, section.to_owned())
}

/// A document in the Amendments phase (made once, with room for many amendments per person)
/// and its first paragraph's id.
async fn amendment_document(http: &Http, server: &TestServer) -> (&'static str, String) {
    let admin = Cred::Bearer(&server.admin.token);
    let id = "matrix-amendments";
    let mut text = http.get(&format!("/api/documents/{id}/text"), admin).await;
    if text.status != 200 {
        http.post(
            "/api/documents",
            admin,
            json!({ "id": id, "title": "Amendments", "start_with": "template" }),
        )
        .await
        .expect(201, "");
        http.patch(
            &format!("/api/documents/{id}"),
            admin,
            json!({ "max_pending_amendments": 1000 }),
        )
        .await
        .expect(200, "");
        http.post(
            &format!("/api/documents/{id}/phase"),
            admin,
            json!({ "phase": "amendments" }),
        )
        .await
        .expect(200, "");
        text = http.get(&format!("/api/documents/{id}/text"), admin).await;
    }
    let paragraph = text.body["sections"][0]["paragraphs"][0]["id"]
        .as_str()
        .expect("a paragraph");
    (id, paragraph.to_owned())
}

/// A fresh amendment by `author` in the amendments document; returns its path.
async fn amendment_by(http: &Http, server: &TestServer, author: &TestUser) -> String {
    let (document, paragraph) = amendment_document(http, server).await;
    let created = http
        .post(
            &format!("/api/documents/{document}/amendments"),
            Cred::Bearer(&author.token),
            json!({ "kind": "replace", "target": paragraph, "text": [{ "text": "Matrix", "em": false, "strong": false }], "rationale": "Matrix" }),
        )
        .await
        .expect(201, "");
    let id = created.body["id"].as_u64().expect("amendment id");
    format!("/api/documents/{document}/amendments/{id}")
}

/// Who writes the comment a call by `owner` targets: `owner`, or the secretariat for an
/// observer (who may not write one).
fn comment_author<'a>(server: &'a TestServer, owner: &'a TestUser) -> &'a TestUser {
    if owner.role == Role::Observer {
        &server.admin
    } else {
        owner
    }
}

/// A fresh thread in the comments document for a call by `owner`; returns its path.
async fn comment_by(http: &Http, server: &TestServer, owner: &TestUser) -> String {
    let (document, section) = comment_document(http, server).await;
    let author = comment_author(server, owner);
    let created = http
        .post(
            &format!("/api/documents/{document}/comments"),
            Cred::Bearer(&author.token),
            json!({ "anchor": { "section": section }, "body": "Matrix" }),
        )
        .await
        .expect(201, "");
    let id = created.body["id"].as_u64().expect("comment id");
    format!("/api/documents/{document}/comments/{id}")
}

/// Amendments awaiting a vote in the ballots document: one per ballot the matrix opens.
const BALLOT_AMENDMENTS: u64 = 120;
/// The next of them to put to a vote.
static NEXT_BALLOT_AMENDMENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The matrix's document for ballots (made once): in the Voting phase, with amendments 1 to
/// [`BALLOT_AMENDMENTS`] awaiting a vote, the secretariat voting too.
async fn ballot_document(http: &Http, server: &TestServer) -> &'static str {
    let admin = Cred::Bearer(&server.admin.token);
    let id = "matrix-ballots";
    let document = http.get(&format!("/api/documents/{id}"), admin).await;
    if document.status == 200 {
        return id;
    }
    http.post(
        "/api/documents",
        admin,
        json!({ "id": id, "title": "Ballots", "start_with": "template" }),
    )
    .await
    .expect(201, "");
    http.patch(
        &format!("/api/documents/{id}"),
        admin,
        json!({ "secretariat_votes": true, "max_pending_amendments": 1000 }),
    )
    .await
    .expect(200, "");
    http.post(
        &format!("/api/documents/{id}/phase"),
        admin,
        json!({ "phase": "amendments" }),
    )
    .await
    .expect(200, "");
    let text = http.get(&format!("/api/documents/{id}/text"), admin).await;
    let target = text.body["sections"][0]["paragraphs"][0]["id"]
        .as_str()
        .expect("a paragraph")
        .to_owned();
    for n in 1..=BALLOT_AMENDMENTS {
        http.post(
            &format!("/api/documents/{id}/amendments"),
            admin,
            json!({
                "kind": "insert_after",
                "target": target,
                "text": [{ "text": format!("Proposal {n}."), "em": false, "strong": false }],
                "rationale": "Matrix",
            }),
        )
        .await
        .expect(201, "");
        http.post(
            &format!("/api/documents/{id}/amendments/{n}/screen"),
            admin,
            json!({ "decision": "vote" }),
        )
        .await
        .expect(200, "");
    }
    http.post(
        &format!("/api/documents/{id}/phase"),
        admin,
        json!({ "phase": "voting" }),
    )
    .await
    .expect(200, "");
    id
}

/// The body opening a ballot on the next amendment awaiting one.
fn next_ballot_body() -> Value {
    let n = NEXT_BALLOT_AMENDMENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    assert!(
        n <= BALLOT_AMENDMENTS,
        "the matrix needs more amendments to vote on"
    );
    json!({
        "subject": { "kind": "amendment", "amendment": n },
        "rules": { "majority": "simple", "visibility": "secret" },
    })
}

/// A fresh open ballot in the ballots document; returns its path.
async fn open_ballot(http: &Http, server: &TestServer, _n: u32) -> String {
    let document = ballot_document(http, server).await;
    let opened = http
        .post(
            &format!("/api/documents/{document}/ballots"),
            Cred::Bearer(&server.admin.token),
            next_ballot_body(),
        )
        .await
        .expect(201, "");
    let id = opened.body["id"].as_u64().expect("ballot id");
    format!("/api/documents/{document}/ballots/{id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_role_as_the_matrix_says() {
    let dir = tempdir();
    // The app's pages need a build of it (what it is does not matter here).
    let build = dir.path().join("client-build");
    std::fs::create_dir_all(&build).unwrap();
    std::fs::write(build.join("index.html"), "<!doctype html>").unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.client_dir = build).await;
    let http = Http::new(&server);

    // Every (method, path) of the OpenAPI document is in the matrix, and nothing else.
    let doc = http.get("/api/openapi.json", Cred::Anonymous).await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"]
        .as_object()
        .expect("paths in the document");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            if matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
            ) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let tabled: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    assert_eq!(tabled.len(), MATRIX.len(), "the matrix lists a route twice");
    let missing: Vec<String> = documented
        .difference(&tabled)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes in the OpenAPI document but not in the permission matrix: {missing:?}"
    );
    let stale: Vec<String> = tabled
        .difference(&documented)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "routes in the permission matrix but not in the OpenAPI document: {stale:?}"
    );

    let observer = server.add_user("observer@example.org", Role::Observer);
    let delegate = server.add_user("delegate@example.org", Role::Delegate);
    let secretariat = server.add_user("secretariat2@example.org", Role::Secretariat);
    let (observer_cookie, _) = http.session(&observer.email, TEST_PASSWORD).await;
    let (delegate_cookie, _) = http.session(&delegate.email, TEST_PASSWORD).await;
    let (secretariat_cookie, _) = http.session(&secretariat.email, TEST_PASSWORD).await;

    fn anonymous(e: &Expected) -> u16 {
        e.anonymous
    }
    fn observer_status(e: &Expected) -> u16 {
        e.observer
    }
    fn delegate_status(e: &Expected) -> u16 {
        e.delegate
    }
    fn secretariat_status(e: &Expected) -> u16 {
        e.secretariat
    }
    fn observer_token(e: &Expected) -> u16 {
        e.with_token.unwrap_or(e.observer)
    }
    fn delegate_token(e: &Expected) -> u16 {
        e.with_token.unwrap_or(e.delegate)
    }
    fn secretariat_token(e: &Expected) -> u16 {
        e.with_token.unwrap_or(e.secretariat)
    }
    // Sessions first: changing the password with a token ends every session.
    let callers = [
        Caller {
            label: "anonymous",
            account: &observer,
            cred: Cred::Anonymous,
            expected: anonymous,
        },
        Caller {
            label: "observer (session)",
            account: &observer,
            cred: Cred::Cookie(&observer_cookie),
            expected: observer_status,
        },
        Caller {
            label: "delegate (session)",
            account: &delegate,
            cred: Cred::Cookie(&delegate_cookie),
            expected: delegate_status,
        },
        Caller {
            label: "secretariat (session)",
            account: &secretariat,
            cred: Cred::Cookie(&secretariat_cookie),
            expected: secretariat_status,
        },
        Caller {
            label: "observer (token)",
            account: &observer,
            cred: Cred::Bearer(&observer.token),
            expected: observer_token,
        },
        Caller {
            label: "delegate (token)",
            account: &delegate,
            cred: Cred::Bearer(&delegate.token),
            expected: delegate_token,
        },
        Caller {
            label: "secretariat (token)",
            account: &secretariat,
            cred: Cred::Bearer(&secretariat.token),
            expected: secretariat_token,
        },
    ];

    let mut matrix = Matrix {
        server: &server,
        http,
        accounts: Accounts::open(&server.db).expect("accounts"),
        n_made: 0,
    };
    let mut failures = Vec::new();
    let mut n_calls = 0;
    for caller in &callers {
        for expected in MATRIX {
            let want = (caller.expected)(expected);
            let (status, code) = matrix.run(expected, caller).await;
            n_calls += 1;
            let want_code = match want {
                401 => "unauthenticated",
                403 => "forbidden",
                _ => code.as_str(),
            };
            if status != want || code != want_code {
                failures.push(format!(
                    "{} {} as {}: expected {want} {want_code}, got {status} {code}",
                    expected.method, expected.path, caller.label
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n_calls} calls answered otherwise:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
}

// ----- 1b. what each role's WebSocket may do -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_websocket_upgrades_are_refused_with_401() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let refused = ws_open(&server.ws_url_anonymous("doc"), &[]).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(401));
    let refused = ws_open(&server.ws_url_with_token("doc", "mfst_not-a-token"), &[]).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(401));
    // The answer's code, read over plain HTTP with the upgrade headers.
    reply(upgrade_request(&http, "/ws/doc"))
        .await
        .expect(401, "unauthenticated");
    reply(upgrade_request(&http, "/ws/doc?token=mfst_not-a-token"))
        .await
        .expect(401, "unauthenticated");
    // A plain request (no upgrade) is told so.
    http.get("/ws/doc", Cred::Bearer(&server.admin.token))
        .await
        .expect(426, "upgrade_required");
    server.stop().await;
}

/// Runs every y-websocket message type on a connection of `user` to `document`, with a
/// secretariat watcher on the same document.
async fn websocket_messages_as(server: &TestServer, user: &TestUser, document: &str) {
    let can_write = user.role >= Role::Delegate;
    let label = user.role.as_str();
    let mut watcher = TestClient::connect(&server.ws_url(document))
        .await
        .expect("watcher connects");
    watcher.push_text("t", "seed.").await.expect("seed");
    watcher.sync().await.expect("seed stored");

    let ws = ws_open(&server.ws_url_with_token(document, &user.token), &[])
        .await
        .expect("upgrade with a token");
    let mut peer = Peer::new(ws);

    // SyncStep1 is answered with SyncStep2, for every role.
    let step2 = peer.barrier().await;
    assert!(!step2.is_empty());
    assert_eq!(
        text_of(&peer.doc, "t"),
        "seed.",
        "{label}: SyncStep2 answer"
    );

    // An empty SyncStep2 (the usual answer to the server's SyncStep1) is not a write.
    let empty = Update::new().encode_v1();
    peer.send(&Message::Sync(SyncMessage::SyncStep2(empty)))
        .await;
    peer.barrier().await;
    assert!(
        peer.auth_frames.is_empty(),
        "{label}: told read-only for nothing"
    );

    // SyncStep2 and Update with content.
    let step2 = peer.edit(&format!("{label}-step2."));
    peer.send(&Message::Sync(SyncMessage::SyncStep2(step2)))
        .await;
    let update = peer.edit(&format!("{label}-update."));
    peer.send(&Message::Sync(SyncMessage::Update(update))).await;
    peer.barrier().await;
    let written = format!("seed.{label}-step2.{label}-update.");
    if can_write {
        watcher
            .wait_until(|c| c.text("t") == written)
            .await
            .unwrap_or_else(|e| panic!("{label}: the watcher gets both writes: {e}"));
        assert!(peer.auth_frames.is_empty(), "{label}: a writer was refused");
    } else {
        assert_eq!(
            peer.auth_frames,
            vec![encode_auth_denied("read-only")],
            "{label}: told read-only once"
        );
        let mut wire = vec![2, 0, 9];
        wire.extend_from_slice(b"read-only");
        assert_eq!(
            peer.auth_frames[0], wire,
            "[2, 0, \"read-only\"] on the wire"
        );
        // Another write: dropped, and not told again.
        let again = peer.edit("again.");
        peer.send(&Message::Sync(SyncMessage::Update(again))).await;
        peer.barrier().await;
        assert_eq!(peer.auth_frames.len(), 1, "{label}: told read-only twice");
        watcher.sync().await.expect("watcher barrier");
        assert_eq!(
            watcher.text("t"),
            "seed.",
            "{label}: the watcher saw a write"
        );
        // The server's answer does not include the refused edits either.
        let fresh = TestClient::connect(&server.ws_url(document))
            .await
            .expect("fresh client");
        assert_eq!(fresh.text("t"), "seed.", "{label}: the document changed");
        fresh.close().await;
    }

    // Awareness for the connection's own client id: relayed with the account's name.
    let own_id = 7_000 + user.id;
    peer.set_awareness(
        own_id,
        r##"{"user":{"name":"The Secretary-General","id":1,"color":"#c00"},"cursor":null}"##,
    )
    .await;
    let name = account_name(user);
    watcher
        .wait_until(|c| c.awareness.contains_key(&own_id))
        .await
        .unwrap_or_else(|e| panic!("{label}: awareness relayed: {e}"));
    let shown: Value = serde_json::from_str(&watcher.awareness[&own_id].1).expect("JSON state");
    assert_eq!(
        shown,
        json!({ "user": { "name": name, "id": user.id, "color": "#c00" }, "cursor": null }),
        "{label}: awareness as relayed"
    );
    // The sender gets its own state back too.
    while !peer.awareness.contains_key(&own_id) {
        peer.read().await;
        assert!(peer.closed.is_none(), "{label}: closed: {:?}", peer.closed);
    }

    // AwarenessQuery is answered with the known states.
    let n_before = peer.n_awareness_frames;
    peer.awareness.clear();
    peer.send(&Message::AwarenessQuery).await;
    while peer.n_awareness_frames == n_before {
        peer.read().await;
        assert!(peer.closed.is_none(), "{label}: closed: {:?}", peer.closed);
    }
    assert!(
        peer.awareness[&own_id].contains(&name),
        "{label}: the query's answer holds the connection's state"
    );

    // Auth messages from a client are ignored: nothing is answered, nothing changes.
    let n_auth = peer.auth_frames.len();
    peer.send(&Message::Auth(Some("let me write".into()))).await;
    peer.send(&Message::Auth(None)).await;
    peer.barrier().await;
    assert!(peer.closed.is_none());
    assert_eq!(peer.auth_frames.len(), n_auth, "{label}: auth answered");
    if !can_write {
        let update = peer.edit("after-auth.");
        peer.send(&Message::Sync(SyncMessage::Update(update))).await;
        peer.barrier().await;
        watcher.sync().await.expect("watcher barrier");
        assert_eq!(
            watcher.text("t"),
            "seed.",
            "{label}: auth gave write access"
        );
    }

    // Awareness for another client id on the same connection is dropped (the stock provider
    // re-sends other people's states), alone or beside the connection's own entry, which
    // passes. The connection stays open.
    let other_id = own_id + 1;
    peer.set_awareness(other_id, r#"{"user":{"name":"someone else"}}"#)
        .await;
    peer.send_awareness(&[
        (own_id, 2, r#"{"user":{"name":"x"},"cursor":{"anchor":1}}"#),
        (other_id, 2, r#"{"user":{"name":"someone else"}}"#),
    ])
    .await;
    // Relays keep the order of what they relay: once the second message's own entry has
    // arrived, anything relayed of the first would have too.
    watcher
        .wait_until(|c| {
            c.awareness
                .get(&own_id)
                .is_some_and(|(clock, _)| *clock == 2)
        })
        .await
        .unwrap_or_else(|e| panic!("{label}: own entry of a mixed message relayed: {e}"));
    assert!(
        !watcher.awareness.contains_key(&other_id),
        "{label}: another client id was relayed"
    );
    assert!(watcher.awareness[&own_id].1.contains(&name));
    peer.barrier().await;
    assert!(peer.closed.is_none(), "{label}: closed: {:?}", peer.closed);

    // The own id is the first one sent alone: a first message with several ids sets nothing
    // and passes nothing.
    let ws = ws_open(&server.ws_url_with_token(document, &user.token), &[])
        .await
        .expect("second connection");
    let mut second = Peer::new(ws);
    second.barrier().await;
    let (a, b, c) = (own_id + 10, own_id + 11, own_id + 12);
    second.send_awareness(&[(a, 1, "{}"), (b, 1, "{}")]).await;
    second.set_awareness(c, "{}").await;
    second.set_awareness(a, "{}").await;
    second.send_awareness(&[(c, 2, "{}")]).await;
    watcher
        .wait_until(|w| w.awareness.get(&c).is_some_and(|(clock, _)| *clock == 2))
        .await
        .unwrap_or_else(|e| panic!("{label}: the single id is the own one: {e}"));
    assert!(
        !watcher.awareness.contains_key(&a) && !watcher.awareness.contains_key(&b),
        "{label}: ids other than the connection's own were relayed"
    );
    second.barrier().await;
    watcher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_message_matrix_for_each_role() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let observer = server.add_user("observer@example.org", Role::Observer);
    let delegate = server.add_user("delegate@example.org", Role::Delegate);
    let secretariat = server.add_user("secretariat2@example.org", Role::Secretariat);
    for user in [&observer, &delegate, &secretariat] {
        websocket_messages_as(&server, user, &format!("ws-{}", user.role.as_str())).await;
    }
    server.stop().await;
    for (role, expected) in [
        ("observer", "seed."),
        ("delegate", "seed.delegate-step2.delegate-update."),
        ("secretariat", "seed.secretariat-step2.secretariat-update."),
    ] {
        let stored = stored_document(dir.path(), &format!("ws-{role}")).expect("stored");
        assert_eq!(text_of(stored.doc(), "t"), expected, "{role}: stored text");
    }
}

// ----- 2. CSRF -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_need_json_and_this_sites_origin() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let (cookie, _) = http.session(&user.email, TEST_PASSWORD).await;
    let origin = http.origin.clone();
    let url = format!("{}/api/me/tokens", http.base);
    let n_tokens = || async {
        let tokens = http.get("/api/me/tokens", Cred::Bearer(&user.token)).await;
        tokens.body.as_array().expect("tokens").len()
    };
    let before = n_tokens().await;

    let refused: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "form body, same origin",
            http.client
                .post(&url)
                .header("Cookie", &cookie)
                .header("Origin", &origin)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("name=csrf"),
        ),
        (
            "text/plain body, same origin",
            http.client
                .post(&url)
                .header("Cookie", &cookie)
                .header("Origin", &origin)
                .header("Content-Type", "text/plain")
                .body(r#"{"name":"csrf"}"#),
        ),
        (
            "JSON from another site",
            http.client
                .post(&url)
                .header("Cookie", &cookie)
                .header("Origin", "http://evil.example")
                .json(&json!({ "name": "csrf" })),
        ),
        (
            "JSON without Origin or Sec-Fetch-Site",
            http.client
                .post(&url)
                .header("Cookie", &cookie)
                .json(&json!({ "name": "csrf" })),
        ),
        (
            "JSON without Origin, Sec-Fetch-Site: cross-site",
            http.client
                .post(&url)
                .header("Cookie", &cookie)
                .header("Sec-Fetch-Site", "cross-site")
                .json(&json!({ "name": "csrf" })),
        ),
    ];
    for (what, request) in refused {
        let answer = reply(request).await;
        assert_eq!(
            (answer.status, answer.code()),
            (403, "csrf_rejected"),
            "{what}: {answer:?}"
        );
    }
    assert_eq!(
        n_tokens().await,
        before,
        "a refused request created a token"
    );

    // A logout from another site is refused too, and the session goes on.
    let answer = reply(
        http.client
            .delete(format!("{}/api/session", http.base))
            .header("Cookie", &cookie)
            .header("Origin", "http://evil.example"),
    )
    .await;
    answer.expect(403, "csrf_rejected");
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(200, "");
    // So is a login form posted from another site.
    let answer = reply(
        http.client
            .post(format!("{}/api/session", http.base))
            .header("Origin", "http://evil.example")
            .json(&json!({ "email": user.email, "password": TEST_PASSWORD })),
    )
    .await;
    answer.expect(403, "csrf_rejected");

    // A browser that sends no Origin but says same-origin is allowed.
    let answer = reply(
        http.client
            .post(&url)
            .header("Cookie", &cookie)
            .header("Sec-Fetch-Site", "same-origin")
            .json(&json!({ "name": "same-origin" })),
    )
    .await;
    answer.expect(201, "");
    // A script with a bearer token needs no Origin.
    let answer = reply(
        http.client
            .post(&url)
            .bearer_auth(&user.token)
            .json(&json!({ "name": "script" })),
    )
    .await;
    answer.expect(201, "");
    // A made-up bearer token skips the CSRF guard but is then the credential, not the
    // cookie: no way around the guard.
    let answer = reply(
        http.client
            .post(&url)
            .header("Cookie", &cookie)
            .header("Origin", "http://evil.example")
            .bearer_auth("mfst_made-up")
            .json(&json!({ "name": "sneaky" })),
    )
    .await;
    answer.expect(401, "unauthenticated");
    assert_eq!(n_tokens().await, before + 2);
    server.stop().await;
}

// ----- 3. cross-site WebSocket -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_websockets_need_this_sites_origin() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let (cookie, _) = http.session(&user.email, TEST_PASSWORD).await;
    let url = server.ws_url_anonymous("doc");
    let origin = http.origin.clone();

    let refused = ws_open(
        &url,
        &[("Cookie", &cookie), ("Origin", "http://evil.example")],
    )
    .await;
    assert_eq!(refused.err().map(|(s, _)| s), Some(403), "foreign Origin");
    let refused = ws_open(&url, &[("Cookie", &cookie)]).await;
    assert_eq!(refused.err().map(|(s, _)| s), Some(403), "no Origin");
    // The codes, over plain HTTP with the upgrade headers.
    for (what, foreign) in [("foreign Origin", true), ("no Origin", false)] {
        let mut request = upgrade_request(&http, "/ws/doc").header("Cookie", &cookie);
        if foreign {
            request = request.header("Origin", "http://evil.example");
        }
        let answer = reply(request).await;
        assert_eq!(
            (answer.status, answer.code()),
            (403, "origin_rejected"),
            "{what}"
        );
    }

    let ws = ws_open(&url, &[("Cookie", &cookie), ("Origin", &origin)])
        .await
        .expect("cookie and this site's Origin");
    let mut peer = Peer::new(ws);
    peer.barrier().await;
    // A token needs no Origin (scripts send none).
    ws_open(&server.ws_url_with_token("doc", &user.token), &[])
        .await
        .expect("token without Origin");
    server.stop().await;
}

// ----- 4. cookie flags -----

fn cookie_attributes(set_cookie: &str) -> (String, String, Vec<String>) {
    let mut parts = set_cookie.split(';').map(|p| p.trim().to_owned());
    let pair = parts.next().expect("name=value");
    let (name, value) = pair.split_once('=').expect("name=value");
    (name.to_owned(), value.to_owned(), parts.collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_flags_and_logout_over_http() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let login = http.login(&user.email, TEST_PASSWORD).await.expect(200, "");
    assert_eq!(login.set_cookies.len(), 1);
    let (name, value, attributes) = cookie_attributes(&login.set_cookies[0]);
    assert_eq!(name, "manifesto_session");
    assert_eq!(value.len(), 22, "128 random bits");
    assert_eq!(
        attributes,
        ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=604800"],
        "no Secure over plain http"
    );
    let cookie = login.cookie();
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(200, "");

    let logout = http
        .delete("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(204, "");
    let (name, value, attributes) = cookie_attributes(&logout.set_cookies[0]);
    assert_eq!((name.as_str(), value.as_str()), ("manifesto_session", ""));
    assert!(
        attributes.contains(&"Max-Age=0".to_owned()),
        "{attributes:?}"
    );
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "unauthenticated");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_public_url_makes_secure_host_prefixed_cookies() {
    const PUBLIC: &str = "https://manifesto.example.org";
    let dir = tempdir();
    let server = TestServer::start_with(dir.path(), |c| c.public_url = Some(PUBLIC.into())).await;
    let user = server.add_user("delegate@example.org", Role::Delegate);
    // Requests must now come from the public origin.
    Http::new(&server)
        .login(&user.email, TEST_PASSWORD)
        .await
        .expect(403, "csrf_rejected");
    let http = Http::with_origin(&server, PUBLIC);
    let login = http.login(&user.email, TEST_PASSWORD).await.expect(200, "");
    let (name, value, attributes) = cookie_attributes(&login.set_cookies[0]);
    assert_eq!(name, "__Host-manifesto_session");
    assert_eq!(
        attributes,
        [
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=604800",
            "Secure"
        ]
    );
    let cookie = login.cookie();
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(200, "");
    // The unprefixed name is not read.
    http.get(
        "/api/session",
        Cred::Cookie(&format!("manifesto_session={value}")),
    )
    .await
    .expect(401, "unauthenticated");
    // Invitation links use the public URL.
    let reply = http
        .post(
            "/api/invitations",
            Cred::Bearer(&server.admin.token),
            json!({ "email": "new@example.org", "role": "observer", "name": "New" }),
        )
        .await
        .expect(201, "");
    assert!(reply.body["link"]
        .as_str()
        .expect("link")
        .starts_with("https://manifesto.example.org/invite#"));
    // WebSockets with the cookie must come from the public origin too.
    let url = server.ws_url_anonymous("doc");
    let local = format!("http://{}", server.addr);
    assert_eq!(
        ws_open(&url, &[("Cookie", &cookie), ("Origin", &local)])
            .await
            .err()
            .map(|(s, _)| s),
        Some(403)
    );
    ws_open(&url, &[("Cookie", &cookie), ("Origin", PUBLIC)])
        .await
        .expect("public origin");

    let logout = http
        .delete("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(204, "");
    let (name, value, attributes) = cookie_attributes(&logout.set_cookies[0]);
    assert_eq!(
        (name.as_str(), value.as_str()),
        ("__Host-manifesto_session", "")
    );
    assert!(attributes.contains(&"Max-Age=0".to_owned()));
    assert!(attributes.contains(&"Secure".to_owned()));
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "unauthenticated");
    server.stop().await;
}

// ----- 5. ending sessions and tokens closes live connections -----

/// A WebSocket opened with a session cookie and this site's Origin, in sync.
async fn cookie_socket(server: &TestServer, cookie: &str, document: &str) -> Peer {
    let origin = format!("http://{}", server.addr);
    let ws = ws_open(
        &server.ws_url_anonymous(document),
        &[("Cookie", cookie), ("Origin", &origin)],
    )
    .await
    .expect("cookie WebSocket");
    let mut peer = Peer::new(ws);
    peer.barrier().await;
    peer
}

async fn token_socket(server: &TestServer, token: &str, document: &str) -> Peer {
    let ws = ws_open(&server.ws_url_with_token(document, token), &[])
        .await
        .expect("token WebSocket");
    let mut peer = Peer::new(ws);
    peer.barrier().await;
    peer
}

const PROMPTLY: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_closes_the_sessions_websocket() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let (cookie, _) = http.session(&user.email, TEST_PASSWORD).await;
    let (other_cookie, _) = http.session(&user.email, TEST_PASSWORD).await;
    let mut socket = cookie_socket(&server, &cookie, "doc").await;
    let mut other = cookie_socket(&server, &other_cookie, "doc").await;
    let mut by_token = token_socket(&server, &user.token, "doc").await;

    http.delete("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(204, "");
    let (code, _) = closed_within(&mut socket.ws, PROMPTLY).await;
    assert_eq!(code, CloseCode::SessionEnded.code());
    // Only that session's connections.
    other.barrier().await;
    by_token.barrier().await;
    let refused = ws_open(
        &server.ws_url_anonymous("doc"),
        &[("Cookie", &cookie), ("Origin", &http.origin)],
    )
    .await;
    assert_eq!(refused.err().map(|(s, _)| s), Some(401));

    // Ending a session from the list closes its connections too.
    let (third_cookie, third_id) = http.session(&user.email, TEST_PASSWORD).await;
    let mut third = cookie_socket(&server, &third_cookie, "doc").await;
    http.delete(
        &format!("/api/me/sessions/{third_id}"),
        Cred::Cookie(&other_cookie),
    )
    .await
    .expect(204, "");
    let (code, _) = closed_within(&mut third.ws, PROMPTLY).await;
    assert_eq!(code, CloseCode::SessionEnded.code());
    other.barrier().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_closes_the_other_sessions_websockets() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let (current, _) = http.session(&user.email, TEST_PASSWORD).await;
    let (other, _) = http.session(&user.email, TEST_PASSWORD).await;
    let mut current_socket = cookie_socket(&server, &current, "doc").await;
    let mut other_socket = cookie_socket(&server, &other, "doc").await;
    let mut token_socket = token_socket(&server, &user.token, "doc").await;

    const NEW_PASSWORD: &str = "an entirely new passphrase";
    // A wrong current password changes nothing.
    http.post(
        "/api/me/password",
        Cred::Cookie(&current),
        json!({ "current_password": "not my password", "new_password": NEW_PASSWORD }),
    )
    .await
    .expect(403, "wrong_password");
    http.post(
        "/api/me/password",
        Cred::Cookie(&current),
        json!({ "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await
    .expect(204, "");
    let (code, _) = closed_within(&mut other_socket.ws, PROMPTLY).await;
    assert_eq!(code, CloseCode::SessionEnded.code());
    http.get("/api/session", Cred::Cookie(&other))
        .await
        .expect(401, "unauthenticated");
    // This session and the API tokens go on.
    current_socket.barrier().await;
    token_socket.barrier().await;
    http.get("/api/session", Cred::Cookie(&current))
        .await
        .expect(200, "");
    http.login(&user.email, TEST_PASSWORD)
        .await
        .expect(401, "invalid_credentials");
    http.login(&user.email, NEW_PASSWORD).await.expect(200, "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_closes_websockets_and_stops_tokens() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let admin = Cred::Bearer(&server.admin.token);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let bystander = server.add_user("bystander@example.org", Role::Delegate);
    let (cookie, _) = http.session(&user.email, TEST_PASSWORD).await;
    let mut by_cookie = cookie_socket(&server, &cookie, "doc").await;
    let mut by_token = token_socket(&server, &user.token, "doc").await;
    let mut unrelated = token_socket(&server, &bystander.token, "doc").await;

    let reply = http
        .patch(
            &format!("/api/users/{}", user.id),
            admin,
            json!({ "active": false }),
        )
        .await
        .expect(200, "");
    assert_eq!(reply.body["active"], json!(false));
    for socket in [&mut by_cookie, &mut by_token] {
        let (code, _) = closed_within(&mut socket.ws, PROMPTLY).await;
        assert_eq!(code, CloseCode::SessionEnded.code());
    }
    unrelated.barrier().await;
    http.get("/api/session", Cred::Bearer(&user.token))
        .await
        .expect(401, "unauthenticated");
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "unauthenticated");
    assert_eq!(
        ws_status(&server.ws_url_with_token("doc", &user.token), &[]).await,
        401
    );
    http.login(&user.email, TEST_PASSWORD)
        .await
        .expect(401, "invalid_credentials");

    // Reactivated, the token works again (sessions stay ended).
    http.patch(
        &format!("/api/users/{}", user.id),
        admin,
        json!({ "active": true }),
    )
    .await
    .expect(200, "");
    http.get("/api/session", Cred::Bearer(&user.token))
        .await
        .expect(200, "");
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "unauthenticated");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_change_closes_websockets_with_4003_and_reconnecting_applies_it() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let (cookie, _) = http.session(&user.email, TEST_PASSWORD).await;
    let mut by_cookie = cookie_socket(&server, &cookie, "doc").await;
    let mut by_token = token_socket(&server, &user.token, "doc").await;

    http.patch(
        &format!("/api/users/{}", user.id),
        Cred::Bearer(&server.admin.token),
        json!({ "role": "observer" }),
    )
    .await
    .expect(200, "");
    for socket in [&mut by_cookie, &mut by_token] {
        let (code, _) = closed_within(&mut socket.ws, PROMPTLY).await;
        assert_eq!(code, CloseCode::PermissionsChanged.code());
    }
    // The session survives a role change; reconnected, the connection is read-only.
    let mut again = cookie_socket(&server, &cookie, "doc").await;
    let update = again.edit("demoted write.");
    again
        .send(&Message::Sync(SyncMessage::Update(update)))
        .await;
    again.barrier().await;
    assert_eq!(again.auth_frames, vec![encode_auth_denied("read-only")]);
    let check = TestClient::connect(&server.ws_url("doc"))
        .await
        .expect("check");
    assert_eq!(check.text("t"), "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_revocation_closes_its_websockets() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let created = http
        .post(
            "/api/me/tokens",
            Cred::Bearer(&user.token),
            json!({ "name": "laptop" }),
        )
        .await
        .expect(201, "");
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    let id = created.body["token"]["id"].as_u64().expect("id");
    assert!(secret.starts_with("mfst_"));
    let mut revoked = token_socket(&server, &secret, "doc").await;
    let mut kept = token_socket(&server, &user.token, "doc").await;

    http.delete(&format!("/api/me/tokens/{id}"), Cred::Bearer(&user.token))
        .await
        .expect(204, "");
    let (code, _) = closed_within(&mut revoked.ws, PROMPTLY).await;
    assert_eq!(code, CloseCode::SessionEnded.code());
    kept.barrier().await;
    http.get("/api/session", Cred::Bearer(&secret))
        .await
        .expect(401, "unauthenticated");
    assert_eq!(
        ws_status(&server.ws_url_with_token("doc", &secret), &[]).await,
        401
    );
    // Someone else's token cannot be revoked.
    let other = server.add_user("other@example.org", Role::Delegate);
    let mine = http
        .post(
            "/api/me/tokens",
            Cred::Bearer(&user.token),
            json!({ "name": "second" }),
        )
        .await
        .expect(201, "");
    let mine_id = mine.body["token"]["id"].as_u64().expect("id");
    http.delete(
        &format!("/api/me/tokens/{mine_id}"),
        Cred::Bearer(&other.token),
    )
    .await
    .expect(404, "not_found");
    let mine_secret = mine.body["secret"].as_str().expect("secret");
    http.get("/api/session", Cred::Bearer(mine_secret))
        .await
        .expect(200, "");
    server.stop().await;
}

// ----- 6. expired sessions -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_idle_sessions_are_refused() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let user = server.add_user("delegate@example.org", Role::Delegate);

    // Absolute expiry.
    let (cookie, id) = http.session(&user.email, TEST_PASSWORD).await;
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(200, "");
    rewrite_session(&server, id, |s| s["expires_at"] = json!(now() - 1));
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "session_expired");
    // An expired session is gone: the next request is simply unauthenticated.
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "unauthenticated");

    // Idle for less than 12 hours: still valid.
    let (cookie, id) = http.session(&user.email, TEST_PASSWORD).await;
    rewrite_session(&server, id, |s| {
        s["last_seen_at"] = json!(now() - 11 * 3600)
    });
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(200, "");
    // Idle for 12 hours: expired.
    rewrite_session(&server, id, |s| {
        s["last_seen_at"] = json!(now() - 12 * 3600 - 1)
    });
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "session_expired");

    // An expired session cannot open a WebSocket either.
    let (cookie, id) = http.session(&user.email, TEST_PASSWORD).await;
    rewrite_session(&server, id, |s| s["expires_at"] = json!(now() - 1));
    let refused = ws_open(
        &server.ws_url_anonymous("doc"),
        &[("Cookie", &cookie), ("Origin", &http.origin)],
    )
    .await;
    assert_eq!(refused.err().map(|(s, _)| s), Some(401));

    // A connection opened with a session closes when the session reaches its expiry.
    let (cookie, id) = http.session(&user.email, TEST_PASSWORD).await;
    rewrite_session(&server, id, |s| s["expires_at"] = json!(now() + 2));
    let mut socket = cookie_socket(&server, &cookie, "doc").await;
    let mut by_token = token_socket(&server, &user.token, "doc").await;
    let (code, _) = closed_within(&mut socket.ws, Duration::from_secs(5)).await;
    assert_eq!(code, CloseCode::SessionEnded.code());
    by_token.barrier().await;

    // A connection whose session is found idle-expired closes too (an open WebSocket does
    // not count as use).
    let (cookie, id) = http.session(&user.email, TEST_PASSWORD).await;
    let mut socket = cookie_socket(&server, &cookie, "doc").await;
    rewrite_session(&server, id, |s| {
        s["last_seen_at"] = json!(now() - 12 * 3600 - 1)
    });
    http.get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(401, "session_expired");
    let (code, _) = closed_within(&mut socket.ws, Duration::from_secs(1)).await;
    assert_eq!(code, CloseCode::SessionEnded.code());
    server.stop().await;
}

// ----- 7. invitations -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_from_creation_to_acceptance() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let admin = Cred::Bearer(&server.admin.token);

    // Create: the link is this server's /invite with the secret in the fragment.
    let created = http
        .post(
            "/api/invitations",
            admin,
            json!({ "email": " Dee@Example.org ", "role": "delegate", "name": "Dee",
                    "organisation": "Forum", "country": "CH" }),
        )
        .await
        .expect(201, "");
    let link = created.body["link"].as_str().expect("link").to_owned();
    let prefix = format!("http://{}/invite#", server.addr);
    assert!(link.starts_with(&prefix), "{link}");
    let secret = link[prefix.len()..].to_owned();
    assert!(secret.len() >= 32, "192 random bits");
    assert_eq!(created.body["invitation"]["status"], "pending");
    assert_eq!(created.body["invitation"]["email"], "dee@example.org");

    // Preview, without an account.
    let preview = http
        .post(
            "/api/invitations/preview",
            Cred::Anonymous,
            json!({ "token": secret }),
        )
        .await
        .expect(200, "");
    assert_eq!(preview.body["email"], "dee@example.org");
    assert_eq!(preview.body["role"], "delegate");
    assert_eq!(preview.body["name"], "Dee");

    // Weak passwords are refused, and the link still works afterwards.
    for (password, code) in [
        ("short", "password_too_short"),
        ("qwertyuiop", "password_too_common"),
        ("1234567890", "password_too_common"),
    ] {
        http.post(
            "/api/invitations/accept",
            Cred::Anonymous,
            json!({ "token": secret, "password": password }),
        )
        .await
        .expect(422, code);
    }

    // Accept: 201, logged in with the invited role.
    let accepted = http
        .post(
            "/api/invitations/accept",
            Cred::Anonymous,
            json!({ "token": secret, "password": TEST_PASSWORD }),
        )
        .await
        .expect(201, "");
    assert_eq!(accepted.body["user"]["role"], "delegate");
    assert_eq!(accepted.body["user"]["name"], "Dee");
    assert_eq!(accepted.body["user"]["organisation"], "Forum");
    let cookie = accepted.cookie();
    assert!(cookie.starts_with("manifesto_session="));
    let me = http
        .get("/api/session", Cred::Cookie(&cookie))
        .await
        .expect(200, "");
    assert_eq!(me.body["user"]["email"], "dee@example.org");
    assert_eq!(me.body["user"]["role"], "delegate");
    assert_eq!(me.body["via"], "session");
    http.login("dee@example.org", TEST_PASSWORD)
        .await
        .expect(200, "");

    // A link works once.
    http.post(
        "/api/invitations/accept",
        Cred::Anonymous,
        json!({ "token": secret, "password": TEST_PASSWORD }),
    )
    .await
    .expect(410, "invitation_used");
    http.post(
        "/api/invitations/preview",
        Cred::Anonymous,
        json!({ "token": secret }),
    )
    .await
    .expect(410, "invitation_used");
    // An unknown link.
    http.post(
        "/api/invitations/preview",
        Cred::Anonymous,
        json!({ "token": "not-a-link" }),
    )
    .await
    .expect(404, "invitation_not_found");

    // Inviting an existing account's email.
    for email in [
        "dee@example.org",
        "DEE@example.org",
        server.admin.email.as_str(),
    ] {
        http.post(
            "/api/invitations",
            admin,
            json!({ "email": email, "role": "observer" }),
        )
        .await
        .expect(409, "email_taken");
    }

    // Revoked.
    let (id, secret) = http.invite(admin, "rev@example.org", "observer").await;
    let revoked = http
        .delete(&format!("/api/invitations/{id}"), admin)
        .await
        .expect(200, "");
    assert_eq!(revoked.body["status"], "revoked");
    http.post(
        "/api/invitations/preview",
        Cred::Anonymous,
        json!({ "token": secret }),
    )
    .await
    .expect(410, "invitation_revoked");
    http.post(
        "/api/invitations/accept",
        Cred::Anonymous,
        json!({ "token": secret, "password": TEST_PASSWORD }),
    )
    .await
    .expect(410, "invitation_revoked");
    http.delete(&format!("/api/invitations/{id}"), admin)
        .await
        .expect(410, "invitation_revoked");

    // Expired.
    let reply = http
        .post(
            "/api/invitations",
            admin,
            json!({ "email": "late@example.org", "role": "observer", "name": "Late",
                    "expires_in_days": 1 }),
        )
        .await
        .expect(201, "");
    let id = reply.body["invitation"]["id"].as_u64().expect("id");
    let expires_at = reply.body["invitation"]["expires_at"]
        .as_str()
        .expect("expires_at")
        .to_owned();
    let late_secret = reply.body["link"]
        .as_str()
        .and_then(|l| l.split_once('#'))
        .map(|(_, s)| s.to_owned())
        .expect("secret");
    assert_ne!(expires_at, created.body["invitation"]["expires_at"]);
    rewrite_invitation(&server, id, |i| i["expires_at"] = json!(now() - 1));
    http.post(
        "/api/invitations/preview",
        Cred::Anonymous,
        json!({ "token": late_secret }),
    )
    .await
    .expect(410, "invitation_expired");
    http.post(
        "/api/invitations/accept",
        Cred::Anonymous,
        json!({ "token": late_secret, "password": TEST_PASSWORD }),
    )
    .await
    .expect(410, "invitation_expired");
    let list = http.get("/api/invitations", admin).await.expect(200, "");
    let listed = list
        .body
        .as_array()
        .expect("invitations")
        .iter()
        .find(|i| i["id"] == id)
        .expect("listed");
    assert_eq!(listed["status"], "expired");

    // Resent (an expired one too): the old link is gone, the new one works.
    let resent = http
        .post(
            &format!("/api/invitations/{id}/resend"),
            admin,
            json!({ "expires_in_days": 3 }),
        )
        .await
        .expect(200, "");
    assert_eq!(resent.body["invitation"]["n_links"], 2);
    assert_eq!(resent.body["invitation"]["status"], "pending");
    let new_link = resent.body["link"].as_str().expect("link");
    assert!(new_link.starts_with(&prefix));
    let new_secret = &new_link[prefix.len()..];
    assert_ne!(new_secret, late_secret);
    http.post(
        "/api/invitations/preview",
        Cred::Anonymous,
        json!({ "token": late_secret }),
    )
    .await
    .expect(404, "invitation_not_found");
    http.post(
        "/api/invitations/accept",
        Cred::Anonymous,
        json!({ "token": late_secret, "password": TEST_PASSWORD }),
    )
    .await
    .expect(404, "invitation_not_found");
    let accepted = http
        .post(
            "/api/invitations/accept",
            Cred::Anonymous,
            json!({ "token": new_secret, "password": TEST_PASSWORD }),
        )
        .await
        .expect(201, "");
    assert_eq!(accepted.body["user"]["role"], "observer");
    // An accepted invitation cannot be resent.
    http.post(&format!("/api/invitations/{id}/resend"), admin, json!({}))
        .await
        .expect(410, "invitation_used");

    // The secretariat's list shows what became of each.
    let list = http.get("/api/invitations", admin).await.expect(200, "");
    let statuses: Vec<(String, String)> = list
        .body
        .as_array()
        .expect("invitations")
        .iter()
        .map(|i| {
            (
                i["email"].as_str().unwrap_or("").to_owned(),
                i["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("dee@example.org".to_owned(), "accepted".to_owned()),
            ("rev@example.org".to_owned(), "revoked".to_owned()),
            ("late@example.org".to_owned(), "accepted".to_owned()),
        ]
    );
    let users = http.get("/api/users", admin).await.expect(200, "");
    let late = users
        .body
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "late@example.org")
        .expect("the account exists");
    assert_eq!(late["role"], "observer");
    assert_eq!(late["active"], true);
    server.stop().await;
}

// ----- 8. the audit log -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_records_access_changes_in_a_hash_chain() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let admin = Cred::Bearer(&server.admin.token);
    let user = server.add_user("delegate@example.org", Role::Delegate);
    let observer = server.add_user("observer@example.org", Role::Observer);

    http.login(&user.email, TEST_PASSWORD).await.expect(200, "");
    http.login(&user.email, "not the password")
        .await
        .expect(401, "invalid_credentials");
    http.login("nobody@example.org", TEST_PASSWORD)
        .await
        .expect(401, "invalid_credentials");
    http.invite(admin, "new@example.org", "observer").await;
    http.patch(
        &format!("/api/users/{}", user.id),
        admin,
        json!({ "role": "observer" }),
    )
    .await
    .expect(200, "");
    http.patch(
        &format!("/api/users/{}", user.id),
        admin,
        json!({ "active": false }),
    )
    .await
    .expect(200, "");
    let token = http
        .post(
            "/api/me/tokens",
            Cred::Bearer(&observer.token),
            json!({ "name": "audited" }),
        )
        .await
        .expect(201, "");
    let token_id = token.body["token"]["id"].as_u64().expect("id");
    http.delete(
        &format!("/api/me/tokens/{token_id}"),
        Cred::Bearer(&observer.token),
    )
    .await
    .expect(204, "");

    // Only the secretariat reads it.
    http.get("/api/audit", Cred::Anonymous)
        .await
        .expect(401, "unauthenticated");
    http.get("/api/audit", Cred::Bearer(&observer.token))
        .await
        .expect(403, "forbidden");
    let (cookie, _) = http.session(&observer.email, TEST_PASSWORD).await;
    http.get("/api/audit", Cred::Cookie(&cookie))
        .await
        .expect(403, "forbidden");

    let log = http
        .get("/api/audit?limit=1000", admin)
        .await
        .expect(200, "");
    let entries = log.body.as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    for expected in [
        "login.succeeded",
        "login.failed",
        "invitation.created",
        "user.role_changed",
        "user.deactivated",
        "token.created",
        "token.revoked",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    // Each entry is chained to the one before it.
    assert_eq!(entries[0]["seq"], 1);
    assert_eq!(entries[0]["prev_hash"], "0".repeat(64));
    for pair in entries.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|s| s + 1)
        );
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["hash"],
            "chain at {}",
            pair[1]
        );
    }
    let hashes: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["hash"].as_str().expect("hash"))
        .collect();
    assert_eq!(hashes.len(), entries.len(), "hashes are distinct");

    // What the entries say.
    let find = |action: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .collect::<Vec<_>>()
    };
    let failed = find("login.failed");
    let reasons: Vec<&Value> = failed.iter().map(|e| &e["details"]["reason"]).collect();
    assert_eq!(reasons, [&json!("wrong_password"), &json!("unknown_email")]);
    assert_eq!(failed[0]["actor"]["user_id"], user.id);
    assert_eq!(failed[1]["actor"]["user_id"], Value::Null);
    assert_eq!(failed[1]["actor"]["label"], "nobody@example.org");
    let changed = find("user.role_changed");
    assert_eq!(changed[0]["target"], format!("user:{}", user.id));
    assert_eq!(changed[0]["actor"]["user_id"], server.admin.id);
    assert_eq!(
        changed[0]["details"],
        json!({ "from": "delegate", "to": "observer" })
    );
    assert_eq!(
        find("user.deactivated")[0]["target"],
        format!("user:{}", user.id)
    );
    assert_eq!(
        find("token.revoked")[0]["target"],
        format!("token:{token_id}")
    );
    assert_eq!(find("token.created")[0]["actor"]["user_id"], observer.id);
    // No secret ends up in the log.
    let text = serde_json::to_string(&log.body).expect("JSON");
    assert!(!text.contains(TEST_PASSWORD));
    assert!(!text.contains(token.body["secret"].as_str().expect("secret")));

    // Pages.
    let page = http.get("/api/audit?after=2&limit=2", admin).await;
    let page = page.body.as_array().expect("page");
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["seq"], 3);
    assert_eq!(page[0]["prev_hash"], entries[1]["hash"]);
    server.stop().await;
}

// ----- 9. the last secretariat account -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_active_secretariat_cannot_be_demoted_or_deactivated() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let admin = Cred::Bearer(&server.admin.token);
    let me = format!("/api/users/{}", server.admin.id);

    http.patch(&me, admin, json!({ "role": "delegate" }))
        .await
        .expect(409, "last_secretariat");
    http.patch(&me, admin, json!({ "active": false }))
        .await
        .expect(409, "last_secretariat");
    http.patch(&me, admin, json!({ "role": "observer", "active": false }))
        .await
        .expect(409, "last_secretariat");
    // Nothing changed.
    let who = http.get("/api/session", admin).await.expect(200, "");
    assert_eq!(who.body["user"]["role"], "secretariat");
    assert_eq!(who.body["user"]["active"], true);

    // An inactive secretariat account does not count.
    let second = server.add_user("second@example.org", Role::Secretariat);
    http.patch(
        &format!("/api/users/{}", second.id),
        admin,
        json!({ "active": false }),
    )
    .await
    .expect(200, "");
    http.patch(&me, admin, json!({ "role": "delegate" }))
        .await
        .expect(409, "last_secretariat");

    // With a second active one, either may step down, but not both.
    http.patch(
        &format!("/api/users/{}", second.id),
        admin,
        json!({ "active": true }),
    )
    .await
    .expect(200, "");
    http.patch(&me, admin, json!({ "role": "delegate" }))
        .await
        .expect(200, "");
    // The demoted account has lost its rights at once.
    http.get("/api/users", admin).await.expect(403, "forbidden");
    let second_cred = Cred::Bearer(&second.token);
    http.patch(
        &format!("/api/users/{}", second.id),
        second_cred,
        json!({ "role": "delegate" }),
    )
    .await
    .expect(409, "last_secretariat");
    http.patch(
        &format!("/api/users/{}", second.id),
        second_cred,
        json!({ "active": false }),
    )
    .await
    .expect(409, "last_secretariat");
    // Promoting someone else is allowed, and demoting a non-secretariat is never refused.
    http.patch(&me, second_cred, json!({ "role": "secretariat" }))
        .await
        .expect(200, "");
    http.patch(&me, second_cred, json!({ "role": "observer" }))
        .await
        .expect(200, "");
    server.stop().await;
}

// ----- the app's language, remembered per person -----

#[tokio::test]
async fn each_person_keeps_the_language_they_chose() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let http = Http::new(&server);
    let delegate =
        manifesto_tests::add_user(&server.db, "lang@example.org", Role::Delegate).unwrap();
    let me = http
        .get("/api/session", Cred::Bearer(&delegate.token))
        .await;
    assert_eq!(me.body["user"]["language"], Value::Null);
    let changed = http
        .patch(
            "/api/me",
            Cred::Bearer(&delegate.token),
            json!({ "language": "fr" }),
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body["language"], "fr");
    http.patch(
        "/api/me",
        Cred::Bearer(&delegate.token),
        json!({ "language": "de" }),
    )
    .await
    .expect(422, "invalid_field");
    http.patch(
        "/api/me",
        Cred::Bearer(&delegate.token),
        json!({ "colour": "red" }),
    )
    .await
    .expect(400, "invalid_json");
    // Someone else's choice is theirs alone, and it survives a restart.
    let admin = http
        .get("/api/session", Cred::Bearer(&server.admin.token))
        .await;
    assert_eq!(admin.body["user"]["language"], Value::Null);
    let token = delegate.token.clone();
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let me = Http::new(&server)
        .get("/api/session", Cred::Bearer(&token))
        .await;
    assert_eq!(me.body["user"]["language"], "fr");
    server.stop().await;
}
