//! Test fixtures for Manifesto's integration tests.
//!
//! [`TestServer`] runs the real server in-process on `127.0.0.1:0` over a data directory the
//! test owns, so it can be stopped and started again on the same data. [`TestClient`] is a
//! y-websocket client made of a yrs `Doc` and a tokio-tungstenite connection, driven
//! explicitly by the test (no background task), so tests decide when frames are sent and read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use manifesto_protocol::yrs;
use manifesto_server::auth::accounts::NewUser;
use manifesto_server::auth::password::hash_blocking;
use manifesto_server::auth::{Accounts, Role};
use manifesto_server::config::{Config, Durability};
use manifesto_server::documents::{DocumentError, Documents, InitialText};
use manifesto_server::room::Room;
use manifesto_server::store::{Store, StoreError, StoredDocument, SyncMode};
use manifesto_server::text::Metadata;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message, MessageReader, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{ClientID, Doc, GetString, ReadTxn, StateVector, Transact, TransactionMut, Update};

/// Email of the secretariat account every [`TestServer`] starts with.
pub const ADMIN_EMAIL: &str = "secretariat@example.org";

/// How long a test waits for something that should take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// An account made by a test, with its password and a personal API token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: u64,
    pub email: String,
    pub password: String,
    pub role: Role,
    /// A personal API token (`?token=` on the WebSocket, `Authorization: Bearer` over HTTP).
    pub token: String,
}

/// The password of every account tests make with [`TestServer::add_user`].
pub const TEST_PASSWORD: &str = "a sovereign and solidary future";

/// Creates an account with `role` and an API token in `db`, through the server's own account
/// records (as `manifesto user add` does).
pub fn add_user(db: &sled::Db, email: &str, role: Role) -> anyhow::Result<TestUser> {
    let accounts = Accounts::open(db)?;
    let user = accounts.create_user(NewUser {
        email: email.into(),
        name: format!(
            "{} {}",
            role.as_str(),
            email.split('@').next().unwrap_or("")
        ),
        organisation: None,
        country: None,
        role,
        password_hash: hash_blocking(TEST_PASSWORD),
    })?;
    let (token, _) = accounts.create_token(user.id, "tests")?;
    accounts.flush()?;
    Ok(TestUser {
        id: user.id,
        email: user.email,
        password: TEST_PASSWORD.into(),
        role,
        token,
    })
}

/// The real server, running in this process.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The secretariat account every test server starts with; [`TestServer::ws_url`] uses its
    /// token.
    pub admin: TestUser,
    /// The server's database, for tests that create accounts or look at records.
    pub db: sled::Db,
    /// The server's document store (as wrapped by the test).
    pub store: Arc<dyn Store>,
    /// Its data directory.
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server on `data_dir` with the default configuration.
    pub async fn start(data_dir: &Path) -> TestServer {
        TestServer::start_with(data_dir, |_| {}).await
    }

    /// Starts a server on `data_dir` after `adjust` has changed the default configuration.
    pub async fn start_with(data_dir: &Path, adjust: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_full(data_dir, adjust, |store| store).await
    }

    /// Starts a server whose store is `wrap`ped (to inject faults) after `adjust`.
    pub async fn start_full(
        data_dir: &Path,
        adjust: impl FnOnce(&mut Config),
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
    ) -> TestServer {
        // Server logs appear in a test's output when MANIFESTO_LOG is set (e.g. to "debug").
        if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("MANIFESTO_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let mut config = Config::new(addr, data_dir.to_path_buf());
        // Tests run many servers; power-loss durability costs an fdatasync per batch and
        // proves nothing more in-process. The crash test uses the binary's default.
        config.durability = Durability::ProcessCrash;
        adjust(&mut config);
        // The directory lock is sometimes released a few milliseconds after `stop` returns
        // (seen in about one restart in a hundred, always free 50 ms later): a restart right
        // after `stop` waits for it rather than fail.
        let mut attempts = 0;
        let mut data = loop {
            match manifesto_server::open_store(&config).await {
                Ok(data) => break data,
                Err(e) if attempts < 60 && format!("{e:#}").contains("in use") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("open the store: {e:#}"),
            }
        };
        if attempts > 0 {
            eprintln!("the store opened after {attempts} retries");
        }
        data.store = wrap(data.store);
        let db = data.db.clone();
        let store = data.store.clone();
        let admin = match Accounts::open(&db)
            .expect("accounts")
            .user_by_email(ADMIN_EMAIL)
        {
            // A restart on the same data: make a new token for the existing account.
            Ok(user) => {
                let accounts = Accounts::open(&db).expect("accounts");
                let (token, _) = accounts.create_token(user.id, "tests").expect("token");
                TestUser {
                    id: user.id,
                    email: user.email,
                    password: TEST_PASSWORD.into(),
                    role: Role::Secretariat,
                    token,
                }
            }
            Err(_) => add_user(&db, ADMIN_EMAIL, Role::Secretariat).expect("first account"),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(manifesto_server::run_with_store(
            listener,
            config,
            data,
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            admin,
            db,
            store,
            data_dir: data_dir.to_path_buf(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The WebSocket URL of document `document`, authenticated as the secretariat account.
    pub fn ws_url(&self, document: &str) -> String {
        self.ws_url_with_token(document, &self.admin.token)
    }

    /// The WebSocket URL of document `document` with API token `token`. The document is
    /// created (empty, in Drafting) if it does not exist.
    pub fn ws_url_with_token(&self, document: &str, token: &str) -> String {
        self.ensure_document(document);
        format!("ws://{}/ws/{document}?token={token}", self.addr)
    }

    /// The WebSocket URL of document `document` without any credential (the document is
    /// created if needed).
    pub fn ws_url_anonymous(&self, document: &str) -> String {
        self.ensure_document(document);
        format!("ws://{}/ws/{document}", self.addr)
    }

    /// Creates document `id` (empty, in Drafting) unless it exists or its name is invalid.
    pub fn ensure_document(&self, id: &str) {
        if !manifesto_server::http::is_valid_document_name(id) {
            return;
        }
        let documents = Documents::open(&self.db).expect("document records");
        if documents.exists(id).expect("read records") {
            return;
        }
        match documents.create_offline(
            &*self.store,
            id.to_owned(),
            Metadata {
                title: Some(format!("Test document {id}")),
                ..Metadata::default()
            },
            InitialText::Empty,
            self.admin.id,
        ) {
            Ok(_) | Err(DocumentError::Exists) => {}
            Err(e) => panic!("cannot create test document {id}: {e}"),
        }
    }

    /// Creates an account with `role` (password [`TEST_PASSWORD`]) and an API token.
    pub fn add_user(&self, email: &str, role: Role) -> TestUser {
        add_user(&self.db, email, role).expect("create a test account")
    }

    /// The HTTP URL of `path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts the server down gracefully and waits until it has released its data directory.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("server stops within 30 s")
                .expect("server task did not panic");
            result.expect("server shut down cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A store that fails appends while `fail_appends` is set, and loads while `fail_loads` is.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    /// While true, every append fails with an injected fault.
    pub fail_appends: Arc<AtomicBool>,
    /// While true, every load fails with an injected fault.
    pub fail_loads: Arc<AtomicBool>,
}

impl FaultyStore {
    /// Wraps `inner`; appends fail while `fail_appends` is true.
    pub fn new(inner: Arc<dyn Store>, fail_appends: Arc<AtomicBool>) -> FaultyStore {
        FaultyStore {
            inner,
            fail_appends,
            fail_loads: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Loads fail too while `fail_loads` is true.
    pub fn with_failing_loads(mut self, fail_loads: Arc<AtomicBool>) -> FaultyStore {
        self.fail_loads = fail_loads;
        self
    }
}

impl Store for FaultyStore {
    fn load_document(&self, name: &str) -> Result<StoredDocument, StoreError> {
        if self.fail_loads.load(Ordering::SeqCst) {
            return Err(StoreError::Injected("load refused by the test".into()));
        }
        self.inner.load_document(name)
    }
    fn append_updates(
        &self,
        name: &str,
        first_seq: u64,
        updates: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        if self.fail_appends.load(Ordering::SeqCst) {
            return Err(StoreError::Injected("append refused by the test".into()));
        }
        self.inner.append_updates(name, first_seq, updates)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
    fn compact(&self, name: &str, snapshot: &[u8], through_seq: u64) -> Result<(), StoreError> {
        self.inner.compact(name, snapshot, through_seq)
    }
    fn document_names(&self) -> Result<Vec<String>, StoreError> {
        self.inner.document_names()
    }
}

/// The JSON API of a [`TestServer`], as the account whose API token it holds.
pub struct JsonApi {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl JsonApi {
    /// The API of `server` with the API token `token`.
    pub fn new(server: &TestServer, token: &str) -> JsonApi {
        JsonApi {
            client: reqwest::Client::new(),
            base: server.http_url(""),
            token: token.to_owned(),
        }
    }

    /// A request for `path` with the token, failing after [`PATIENCE`].
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(PATIENCE)
    }

    /// `method path` with `body` as JSON; returns the status and the answer (`Null` when it
    /// is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with `body`.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PATCH path` with `body`.
    pub async fn patch(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// `PUT path` with `body`.
    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
}

/// `GET path` on `addr`; returns the status and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Reads the document `name` as stored in a (stopped) server's data directory.
pub fn stored_document(data_dir: &Path, name: &str) -> anyhow::Result<Room> {
    // Right after `TestServer::stop` the directory lock may still be held for a few
    // milliseconds (see `TestServer::start_full`): wait for it rather than fail.
    let mut attempts = 0;
    let store = loop {
        match manifesto_server::open_sled_unchecked(data_dir, SyncMode::ProcessCrash) {
            Ok(store) => break store,
            Err(e) if attempts < 60 && format!("{e:#}").contains("in use") => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e.context("open the store")),
        }
    };
    let stored = store.load_document(name).context("load document")?;
    Ok(Room::from_stored(&stored)?)
}

/// The text of root `Y.Text` `name` of `doc`.
pub fn text_of(doc: &Doc, name: &str) -> String {
    let text = doc.get_or_insert_text(name);
    text.get_string(&doc.transact())
}

/// The `manifesto` binary built beside this test (cargo builds it for the server package's
/// own integration tests), or `MANIFESTO_BIN`.
pub fn manifesto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MANIFESTO_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    // target/<profile>/deps/<test> -> target/<profile>/manifesto
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("manifesto"))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` or `cargo build --bin manifesto`",
        path.display()
    );
    path
}

/// The `manifesto serve` process, spawned and killed by the test.
pub struct ServerProcess {
    child: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A secretariat API token, made with the operator commands before the first start and
    /// kept in the data directory's parent for restarts.
    pub token: String,
}

/// Runs `manifesto ARGS` with `stdin` as standard input; returns standard output.
pub fn run_manifesto(args: &[&str], data_dir: &Path, stdin: &str) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new(manifesto_binary())
        .args(args)
        .arg("--data")
        .arg(data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("spawn manifesto")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "manifesto {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// A secretariat token for the binary's data directory `data_dir`: created with `manifesto
/// user add` and `manifesto token create` the first time, then read back.
fn process_token(data_dir: &Path) -> anyhow::Result<String> {
    let saved = data_dir.join("test-token");
    if let Ok(token) = std::fs::read_to_string(&saved) {
        return Ok(token);
    }
    run_manifesto(
        &[
            "user",
            "add",
            "--email",
            ADMIN_EMAIL,
            "--role",
            "secretariat",
            "--name",
            "Tests",
        ],
        data_dir,
        &format!("{TEST_PASSWORD}\n"),
    )?;
    let token = run_manifesto(
        &["token", "create", "--email", ADMIN_EMAIL, "--name", "tests"],
        data_dir,
        "",
    )?
    .trim()
    .to_owned();
    std::fs::write(&saved, &token)?;
    Ok(token)
}

impl ServerProcess {
    /// Spawns `manifesto serve --listen 127.0.0.1:0 --data DATA_DIR` plus `extra` arguments and
    /// waits for its "listening" line.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> anyhow::Result<ServerProcess> {
        use std::io::BufRead;
        let token = process_token(data_dir)?;
        let mut child = std::process::Command::new(manifesto_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data_dir)
            .args(extra)
            .env("MANIFESTO_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("spawn manifesto")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(stdout);
        stdout.read_line(&mut line).context("read listening line")?;
        let addr = line
            .trim()
            .strip_prefix("manifesto listening on http://")
            .with_context(|| format!("unexpected first line {line:?}"))?
            .parse()
            .context("parse address")?;
        // The rest of standard output is not read; keep the pipe drained so that the server
        // never blocks writing to it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Ok(ServerProcess { child, addr, token })
    }

    /// Creates document `id` (empty) in the stopped server's `data_dir` with the operator
    /// command, once; the accounts are set up first if needed.
    pub fn prepare_document(data_dir: &Path, id: &str) -> anyhow::Result<()> {
        process_token(data_dir)?;
        let listed = run_manifesto(&["document", "list"], data_dir, "")?;
        if !listed
            .lines()
            .any(|line| line.split_whitespace().next() == Some(id))
        {
            run_manifesto(&["document", "create", "--id", id], data_dir, "")?;
        }
        Ok(())
    }

    /// The WebSocket URL of `document`, with the secretariat token.
    pub fn ws_url(&self, document: &str) -> String {
        format!("ws://{}/ws/{document}?token={}", self.addr, self.token)
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("kill -TERM")?;
        Ok(self.child.wait()?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A y-websocket client driven step by step by the test.
pub struct TestClient {
    /// The client's replica of the document.
    pub doc: Doc,
    socket: Socket,
    /// Awareness states received, by client id: (clock, JSON, or "null" once removed).
    pub awareness: HashMap<u64, (u32, String)>,
    /// The close frame received, once the server has closed the connection.
    pub closed: Option<(u16, String)>,
    /// Number of update messages (Update or SyncStep2) received.
    pub n_updates_received: usize,
}

fn encode(message: &Message) -> Vec<u8> {
    let mut encoder = EncoderV1::new();
    message.encode(&mut encoder);
    encoder.to_vec()
}

impl TestClient {
    /// Connects with an empty document and waits until it is in sync with the server.
    pub async fn connect(url: &str) -> anyhow::Result<TestClient> {
        TestClient::connect_with(url, Doc::new()).await
    }

    /// Connects with `doc` (which may hold edits made offline) and waits until both sides
    /// have exchanged what the other lacks.
    pub async fn connect_with(url: &str, doc: Doc) -> anyhow::Result<TestClient> {
        let mut client = TestClient::connect_raw(url, doc).await?;
        let own_state = client.doc.transact().state_vector();
        client
            .send(&Message::Sync(SyncMessage::SyncStep1(own_state)))
            .await?;
        let mut synced = false;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !synced {
            let message = tokio::time::timeout_at(deadline, client.read_message())
                .await
                .map_err(|_| anyhow!("no SyncStep2 from the server within {PATIENCE:?}"))??;
            if let Some(Message::Sync(SyncMessage::SyncStep2(_))) = message {
                synced = true;
            }
            if client.closed.is_some() {
                bail!("closed during the handshake: {:?}", client.closed);
            }
        }
        Ok(client)
    }

    /// Opens the WebSocket without any handshake message.
    pub async fn connect_raw(url: &str, doc: Doc) -> anyhow::Result<TestClient> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("connect to {url}"))?;
        Ok(TestClient {
            doc,
            socket,
            awareness: HashMap::new(),
            closed: None,
            n_updates_received: 0,
        })
    }

    /// Sends one y-sync message.
    pub async fn send(&mut self, message: &Message) -> anyhow::Result<()> {
        self.send_raw(encode(message)).await
    }

    /// Sends arbitrary bytes as one binary frame.
    pub async fn send_raw(&mut self, frame: Vec<u8>) -> anyhow::Result<()> {
        self.socket
            .send(WsMessage::Binary(frame.into()))
            .await
            .context("send frame")
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket
            .send(WsMessage::Text(text.into()))
            .await
            .context("send text frame")
    }

    /// Makes a local edit and returns its update (v1), without sending it.
    pub fn edit(&self, change: impl FnOnce(&mut TransactionMut)) -> Vec<u8> {
        let mut txn = self.doc.transact_mut();
        change(&mut txn);
        txn.encode_update_v1()
    }

    /// Sends a v1 update as an Update message.
    pub async fn send_update(&mut self, update: Vec<u8>) -> anyhow::Result<()> {
        self.send(&Message::Sync(SyncMessage::Update(update))).await
    }

    /// Appends `text` to root text `name` and sends the update.
    pub async fn push_text(&mut self, name: &str, text: &str) -> anyhow::Result<()> {
        let root = self.doc.get_or_insert_text(name);
        let update = self.edit(|txn| yrs::Text::push(&root, txn, text));
        self.send_update(update).await
    }

    /// Publishes an awareness state for `client_id`.
    pub async fn set_awareness(
        &mut self,
        client_id: u64,
        clock: u32,
        json: &str,
    ) -> anyhow::Result<()> {
        let mut clients = HashMap::new();
        clients.insert(
            ClientID::new(client_id),
            AwarenessUpdateEntry {
                clock,
                json: json.into(),
            },
        );
        self.send(&Message::Awareness(AwarenessUpdate { clients }))
            .await
    }

    /// The text of root text `name`.
    pub fn text(&self, name: &str) -> String {
        text_of(&self.doc, name)
    }

    /// Reads one frame and acts on it like the npm client: applies updates, answers a
    /// SyncStep1, records awareness and close frames. Returns the first message of the frame.
    pub async fn read_message(&mut self) -> anyhow::Result<Option<Message>> {
        let frame = match self.socket.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                if self.closed.is_none() {
                    self.closed = Some((1006, format!("connection error: {e}")));
                }
                return Ok(None);
            }
            None => {
                if self.closed.is_none() {
                    self.closed = Some((1006, "connection ended".into()));
                }
                return Ok(None);
            }
        };
        let bytes = match frame {
            WsMessage::Binary(bytes) => bytes,
            WsMessage::Close(close) => {
                let (code, reason) = close
                    .map(|c| (u16::from(c.code), c.reason.to_string()))
                    .unwrap_or((u16::from(WsCloseCode::Status), String::new()));
                self.closed = Some((code, reason));
                return Ok(None);
            }
            _ => return Ok(None),
        };
        let mut decoder = DecoderV1::from(bytes.as_ref());
        let mut first = None;
        let mut replies = Vec::new();
        for message in MessageReader::new(&mut decoder) {
            let message = message.context("server sent an undecodable message")?;
            match &message {
                Message::Sync(SyncMessage::SyncStep1(sv)) => {
                    let diff = self.doc.transact().encode_diff_v1(sv);
                    replies.push(Message::Sync(SyncMessage::SyncStep2(diff)));
                }
                Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
                    let update = Update::decode_v1(update).context("server sent a bad update")?;
                    self.doc
                        .transact_mut()
                        .apply_update(update)
                        .context("apply server update")?;
                    self.n_updates_received += 1;
                }
                Message::Awareness(update) => {
                    for (id, entry) in &update.clients {
                        self.awareness
                            .insert(id.get(), (entry.clock, entry.json.to_string()));
                    }
                }
                Message::Auth(_) | Message::AwarenessQuery => {}
                Message::Custom(tag, _) => bail!("server sent unknown message type {tag}"),
            }
            if first.is_none() {
                first = Some(message);
            }
        }
        for reply in replies {
            self.send(&reply).await?;
        }
        Ok(first)
    }

    /// Reads frames until `done` holds, failing after [`PATIENCE`].
    pub async fn wait_until(&mut self, done: impl Fn(&TestClient) -> bool) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            if let Some(closed) = &self.closed {
                bail!("connection closed while waiting: {closed:?}");
            }
            tokio::time::timeout_at(deadline, self.read_message())
                .await
                .map_err(|_| anyhow!("condition not reached within {PATIENCE:?}"))??;
        }
        Ok(())
    }

    /// A barrier: sends a SyncStep1 and reads until the server's SyncStep2 answer, which the
    /// server sends only after every message this client sent before has been handled and
    /// made durable.
    pub async fn sync(&mut self) -> anyhow::Result<()> {
        let sv = self.state_vector();
        self.send(&Message::Sync(SyncMessage::SyncStep1(sv)))
            .await?;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(closed) = &self.closed {
                bail!("connection closed while syncing: {closed:?}");
            }
            let message = tokio::time::timeout_at(deadline, self.read_message())
                .await
                .map_err(|_| anyhow!("no SyncStep2 within {PATIENCE:?}"))??;
            if let Some(Message::Sync(SyncMessage::SyncStep2(_))) = message {
                return Ok(());
            }
        }
    }

    /// Reads frames until the server closes the connection; returns its code and reason.
    pub async fn wait_closed(&mut self) -> anyhow::Result<(u16, String)> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(closed) = &self.closed {
                return Ok(closed.clone());
            }
            tokio::time::timeout_at(deadline, self.read_message())
                .await
                .map_err(|_| anyhow!("not closed within {PATIENCE:?}"))?
                .ok();
        }
    }

    /// Reads whatever arrives during `period` (for checking that nothing does).
    pub async fn drain_for(&mut self, period: Duration) {
        let deadline = tokio::time::Instant::now() + period;
        while self.closed.is_none() {
            match tokio::time::timeout_at(deadline, self.read_message()).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    /// The client's state vector.
    pub fn state_vector(&self) -> StateVector {
        self.doc.transact().state_vector()
    }
}
