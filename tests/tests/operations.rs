//! Operating a running server: backups taken while clients write (over HTTP and through the
//! admin socket with the real `manifesto backup`), restored into an empty directory with
//! `manifesto restore` and served again; `/metrics` in the Prometheus text format with
//! counters that move; `/readyz`; request ids.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use manifesto_server::auth::Role;
use manifesto_tests::{run_manifesto, JsonApi, TestClient, TestServer, PATIENCE};
use serde_json::{json, Value};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// The JSON API of one server as one account, each answer checked against the status
/// expected.
struct Api(JsonApi);

impl Api {
    fn new(server: &TestServer, token: &str) -> Api {
        Api(JsonApi::new(server, token))
    }

    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let (status, answer) = self.0.call(method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        answer
    }

    async fn get(&self, path: &str) -> Value {
        self.expect(reqwest::Method::GET, path, None, 200).await
    }

    async fn post(&self, path: &str, body: Value, expected: u16) -> Value {
        self.expect(reqwest::Method::POST, path, Some(body), expected)
            .await
    }

    async fn patch(&self, path: &str, body: Value) -> Value {
        self.expect(reqwest::Method::PATCH, path, Some(body), 200)
            .await
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        self.expect(reqwest::Method::PUT, path, Some(body), 200)
            .await
    }
}

/// Every record of every tree of `db`, by tree name.
type Dump = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

fn dump(db: &sled::Db) -> Dump {
    let mut all = Dump::new();
    for name in db.tree_names() {
        let records = manifesto_server::backup::open_tree(db, &name)
            .expect("tree")
            .iter()
            .map(|r| r.expect("record"))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        all.insert(String::from_utf8_lossy(&name).into_owned(), records);
    }
    all
}

/// Creates records of every kind through the API: a document with a comment, an amendment,
/// a ballot on it and a vote, and a delegate account.
async fn create_records(server: &TestServer, api: &Api) {
    let delegate = server.add_user("delegate@example.org", Role::Delegate);
    let id = "ops-records";
    api.post(
        "/api/documents",
        json!({ "id": id, "title": "Records", "start_with": "template" }),
        201,
    )
    .await;
    api.patch(
        &format!("/api/documents/{id}"),
        json!({ "secretariat_votes": true }),
    )
    .await;
    let text = api.get(&format!("/api/documents/{id}/text")).await;
    let section = text["sections"][0]["id"]
        .as_str()
        .expect("a section")
        .to_owned();
    let paragraph = text["sections"][0]["paragraphs"][0]["id"]
        .as_str()
        .expect("a paragraph")
        .to_owned();
    Api::new(server, &delegate.token)
        .post(
            &format!("/api/documents/{id}/comments"),
            json!({ "anchor": { "section": section }, "body": "Kept in the backup" }),
            201,
        )
        .await;
    api.post(
        &format!("/api/documents/{id}/phase"),
        json!({ "phase": "amendments" }),
        200,
    )
    .await;
    api.post(
        &format!("/api/documents/{id}/amendments"),
        json!({
            "kind": "insert_after",
            "target": paragraph,
            "text": [{ "text": "A proposal kept in the backup.", "em": false, "strong": false }],
            "rationale": "Backups",
        }),
        201,
    )
    .await;
    api.post(
        &format!("/api/documents/{id}/amendments/1/screen"),
        json!({ "decision": "vote" }),
        200,
    )
    .await;
    api.post(
        &format!("/api/documents/{id}/phase"),
        json!({ "phase": "voting" }),
        200,
    )
    .await;
    let ballot = api
        .post(
            &format!("/api/documents/{id}/ballots"),
            json!({
                "subject": { "kind": "amendment", "amendment": 1 },
                "rules": { "majority": "simple", "visibility": "roll_call" },
            }),
            201,
        )
        .await;
    let ballot = ballot["id"].as_u64().expect("ballot id");
    api.put(
        &format!("/api/documents/{id}/ballots/{ballot}/vote"),
        json!({ "choice": "yes" }),
    )
    .await;
}

/// A client appending numbered words to text `name` of `document` until `stop`, syncing now
/// and then (so it reads what the server relays and never falls behind).
fn spawn_writer(
    url: String,
    name: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut client = TestClient::connect(&url).await.expect("writer connects");
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            client
                .push_text(name, &format!("{name}-{n:05} "))
                .await
                .expect("push");
            if n % 8 == 0 {
                client.sync().await.expect("writer sync");
            }
        }
        client.sync().await.expect("final sync");
        client.close().await;
        n
    })
}

/// Trees that live editing writes: the document store, its events, the block ids issued.
/// Their records may change after a backup; every other tree's may not.
const LIVE_TREES: &[&str] = &["documents", "document_events", "document_block_ids"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_clients_write_restores_everything() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = TestServer::start(&data).await;
    let api = Api::new(&server, &server.admin.token);
    create_records(&server, &api).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writers = [
        spawn_writer(server.ws_url("ops-live"), "w1", stop.clone()),
        spawn_writer(server.ws_url("ops-live"), "w2", stop.clone()),
    ];
    let mut observer = TestClient::connect(&server.ws_url("ops-live"))
        .await
        .expect("observer");
    // Let the writers get going.
    observer
        .wait_until(|c| c.text("w1").len() > 200 && c.text("w2").len() > 200)
        .await
        .expect("the writers write");

    // What a client has seen when the backups are asked for.
    observer.sync().await.expect("observer sync");
    let seen_http = (observer.text("w1"), observer.text("w2"));
    let (status, bytes) = {
        let response = api
            .0
            .request(reqwest::Method::GET, "/api/admin/backup")
            .send()
            .await
            .expect("backup request");
        let status = response.status().as_u16();
        let disposition = response
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            disposition.starts_with("attachment; filename=\"manifesto-"),
            "{disposition}"
        );
        (status, response.bytes().await.expect("backup body"))
    };
    assert_eq!(status, 200);
    let http_backup = dir.path().join("http.mfbk");
    std::fs::write(&http_backup, &bytes).expect("save the backup");

    observer.sync().await.expect("observer sync");
    let seen_socket = (observer.text("w1"), observer.text("w2"));
    // The real binary, while this server holds the data directory: through the admin socket.
    let socket_backup = dir.path().join("socket.mfbk");
    let said = tokio::task::spawn_blocking({
        let data = data.clone();
        let out = socket_backup.clone();
        move || {
            run_manifesto(
                &["backup", "--out", out.to_str().expect("utf-8")],
                &data,
                "",
            )
        }
    })
    .await
    .expect("backup task")
    .expect("manifesto backup while the server runs");
    assert!(
        said.contains("backup of the running server written"),
        "{said}"
    );

    // The writers go on a little after the backups, then stop.
    observer
        .wait_until(|c| c.text("w1").len() > seen_socket.0.len() + 100)
        .await
        .expect("writing goes on after the backups");
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        assert!(writer.await.expect("writer") > 0);
    }
    observer.sync().await.expect("observer sync");
    let last = (observer.text("w1"), observer.text("w2"));
    observer.close().await;
    let comments_before = api.get("/api/documents/ops-records/comments").await;
    let amendments_before = api.get("/api/documents/ops-records/amendments").await;
    let ballots_before = api.get("/api/documents/ops-records/ballots").await;
    let users_before = api.get("/api/users").await;
    let final_dump = dump(&server.db);
    server.stop().await;

    for (backup, seen) in [(&http_backup, &seen_http), (&socket_backup, &seen_socket)] {
        let restored_dir = dir.path().join(format!(
            "restored-{}",
            backup.file_stem().unwrap().to_string_lossy()
        ));
        let said = run_manifesto(
            &["restore", "--from", backup.to_str().expect("utf-8")],
            &restored_dir,
            "",
        )
        .expect("manifesto restore");
        assert!(said.contains("restored"), "{said}");
        // The audit log's hash chain is intact.
        run_manifesto(&["audit", "verify"], &restored_dir, "").expect("audit verify");

        let restored = {
            let db = sled::open(restored_dir.join("store")).expect("open the restored store");
            let restored = dump(&db);
            drop(db);
            restored
        };
        // Every record of every other tree is exactly as the server has it at the end,
        // nothing more, nothing less (the audit log has more entries at the end: the HTTP
        // backup is recorded after it is taken).
        for (tree, records) in &final_dump {
            if LIVE_TREES.contains(&tree.as_str()) {
                continue;
            }
            let restored_records = restored
                .get(tree)
                .unwrap_or_else(|| panic!("tree {tree} missing from the backup"));
            for (key, value) in restored_records {
                assert_eq!(
                    records.get(key),
                    Some(value),
                    "record {key:?} of tree {tree} differs in the backup"
                );
            }
            if tree != "audit" {
                assert_eq!(
                    restored_records.len(),
                    records.len(),
                    "tree {tree} has records missing from the backup"
                );
            }
        }

        // Served again: every document and record, and the text as clients saw it at the
        // backup's moment or later.
        let server = TestServer::start(&restored_dir).await;
        let api = Api::new(&server, &server.admin.token);
        assert_eq!(
            api.get("/api/documents/ops-records/comments").await,
            comments_before
        );
        assert_eq!(
            api.get("/api/documents/ops-records/amendments").await,
            amendments_before
        );
        assert_eq!(
            api.get("/api/documents/ops-records/ballots").await,
            ballots_before
        );
        let users = api.get("/api/users").await;
        assert_eq!(
            users.as_array().map(Vec::len),
            users_before.as_array().map(Vec::len)
        );
        let mut reader = TestClient::connect(&server.ws_url("ops-live"))
            .await
            .expect("reader");
        reader.sync().await.expect("reader sync");
        for (name, seen, last) in [("w1", &seen.0, &last.0), ("w2", &seen.1, &last.1)] {
            let text = reader.text(name);
            assert!(
                text.starts_with(seen.as_str()),
                "{name}: the restored text lacks what clients saw before the backup ({} < {} chars)",
                text.len(),
                seen.len()
            );
            assert!(
                last.starts_with(&text),
                "{name}: the restored text is not a state the clients went through"
            );
        }
        reader.close().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_servers_data_is_backed_up_directly() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = TestServer::start(&data).await;
    let mut client = TestClient::connect(&server.ws_url("offline"))
        .await
        .expect("client");
    client
        .push_text("t", "written before the stop")
        .await
        .expect("push");
    client.sync().await.expect("sync");
    client.close().await;
    server.stop().await;
    assert!(
        !data.join("admin.sock").exists(),
        "the admin socket is removed at shutdown"
    );

    let out = dir.path().join("offline.mfbk");
    let said = run_manifesto(
        &["backup", "--out", out.to_str().expect("utf-8")],
        &data,
        "",
    )
    .expect("manifesto backup of a stopped server");
    assert!(said.contains("stopped server"), "{said}");
    let restored = dir.path().join("restored");
    run_manifesto(
        &["restore", "--from", out.to_str().expect("utf-8")],
        &restored,
        "",
    )
    .expect("restore");
    // Not over existing data.
    let error = run_manifesto(
        &["restore", "--from", out.to_str().expect("utf-8")],
        &restored,
        "",
    )
    .expect_err("restore into a non-empty directory");
    assert!(error.to_string().contains("is not empty"), "{error}");
    let server = TestServer::start(&restored).await;
    let mut reader = TestClient::connect(&server.ws_url("offline"))
        .await
        .expect("reader");
    reader.sync().await.expect("sync");
    assert_eq!(reader.text("t"), "written before the stop");
    reader.close().await;
    server.stop().await;
}

/// One sample of a metrics text: name with labels → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').expect("name and value");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// `promtool check metrics` (Prometheus's own parser and linter) on `text`.
fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "promtool is needed to check the metrics format ({e}): install Debian's prometheus package, as scripts/test.sh does"
        ),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let output = child.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool refuses the metrics:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn metrics_text(server: &TestServer) -> String {
    let response = reqwest::get(server.http_url("/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    response.text().await.expect("metrics body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_move_with_clients() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let before_text = metrics_text(&server).await;
    promtool_check(&before_text);
    let before = samples(&before_text);
    assert_eq!(before["manifesto_connections_open"], 0.0);
    assert_eq!(before["manifesto_ready"], 1.0);

    let mut a = TestClient::connect(&server.ws_url("metrics"))
        .await
        .expect("a");
    let mut b = TestClient::connect(&server.ws_url("metrics"))
        .await
        .expect("b");
    for n in 0..20 {
        a.push_text("t", &format!("{n} ")).await.expect("push");
    }
    a.sync().await.expect("sync");
    b.wait_until(|c| c.text("t").len() >= 40)
        .await
        .expect("b receives");
    // A failed and a successful login.
    let client = reqwest::Client::new();
    for password in ["wrong password!", manifesto_tests::TEST_PASSWORD] {
        client
            .post(server.http_url("/api/session"))
            .header("Origin", format!("http://{}", server.addr))
            .json(&json!({ "email": server.admin.email, "password": password }))
            .send()
            .await
            .expect("login");
    }
    let export = client
        .get(server.http_url("/api/documents/metrics/export.md"))
        .bearer_auth(&server.admin.token)
        .send()
        .await
        .expect("export");
    assert_eq!(export.status().as_u16(), 200);

    let during_text = metrics_text(&server).await;
    promtool_check(&during_text);
    let during = samples(&during_text);
    let moved = |name: &str| during[name] - before[name];
    assert_eq!(during["manifesto_connections_open"], 2.0);
    assert_eq!(during["manifesto_rooms_live"], 1.0);
    assert_eq!(moved("manifesto_connections_total"), 2.0);
    assert!(moved("manifesto_updates_total") >= 20.0, "{during_text}");
    assert!(moved("manifesto_update_bytes_total") > 0.0);
    assert!(moved("manifesto_fanout_seconds_count") >= 1.0);
    assert!(moved("manifesto_store_flush_seconds_count") >= 1.0);
    assert_eq!(moved("manifesto_login_attempts_total"), 2.0);
    assert_eq!(
        moved("manifesto_login_failures_total{reason=\"invalid_credentials\"}"),
        1.0
    );
    assert_eq!(moved("manifesto_export_seconds_count{format=\"md\"}"), 1.0);
    assert!(moved("manifesto_http_responses_total{class=\"2xx\"}") >= 2.0);

    a.close().await;
    b.close().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let after = samples(&metrics_text(&server).await);
        if after["manifesto_connections_open"] == 0.0 {
            assert_eq!(
                after["manifesto_disconnects_total{code=\"going_away\"}"]
                    - before["manifesto_disconnects_total{code=\"going_away\"}"],
                2.0
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "connections still counted as open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token() {
    let dir = tempdir();
    let server = TestServer::start_with(dir.path(), |c| {
        c.metrics_token = Some(manifesto_server::config::Secret(
            "a metrics token of some length".into(),
        ))
    })
    .await;
    let client = reqwest::Client::new();
    let refused = client
        .get(server.http_url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(refused.status().as_u16(), 401);
    let wrong = client
        .get(server.http_url("/metrics"))
        .bearer_auth(&server.admin.token)
        .send()
        .await
        .expect("metrics");
    assert_eq!(wrong.status().as_u16(), 401);
    let allowed = client
        .get(server.http_url("/metrics"))
        .bearer_auth("a metrics token of some length")
        .send()
        .await
        .expect("metrics");
    assert_eq!(allowed.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_request_ids() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let client = reqwest::Client::new();
    let ready = client
        .get(server.http_url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let id = ready
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id")
        .to_owned();
    assert_eq!(id.len(), 16, "{id}");
    assert_eq!(
        ready.json::<Value>().await.expect("json"),
        json!({ "status": "ready" })
    );
    // A proxy's request id is kept; a strange one is replaced.
    let kept = client
        .get(server.http_url("/healthz"))
        .header("X-Request-Id", "caddy-1234.abc")
        .send()
        .await
        .expect("healthz");
    assert_eq!(kept.headers()["x-request-id"], "caddy-1234.abc");
    let replaced = client
        .get(server.http_url("/healthz"))
        .header("X-Request-Id", "a b <script>")
        .send()
        .await
        .expect("healthz");
    assert_ne!(replaced.headers()["x-request-id"], "a b <script>");
    server.stop().await;
}

/// The format version is stored where the documentation says, as ASCII decimal.
#[test]
fn the_format_version_is_stamped_on_new_data() {
    let dir = tempdir();
    run_manifesto(&["user", "list"], dir.path(), "").expect_err("no data yet");
    let data: &Path = dir.path();
    run_manifesto(
        &[
            "user",
            "add",
            "--email",
            "a@example.org",
            "--role",
            "secretariat",
            "--name",
            "A",
        ],
        data,
        "a sovereign and solidary future\n",
    )
    .expect("user add creates the data");
    let db = sled::open(data.join("store")).expect("open");
    let version = db
        .open_tree(manifesto_server::format::META_TREE)
        .expect("meta tree")
        .get(manifesto_server::format::VERSION_KEY)
        .expect("read")
        .expect("a version");
    assert_eq!(
        version.as_ref(),
        manifesto_server::format::FORMAT_VERSION
            .to_string()
            .as_bytes()
    );
}
