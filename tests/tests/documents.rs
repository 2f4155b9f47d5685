//! Documents end to end, through the real server: import, the structured text and its ids
//! under live edits, phases turning connections read-only in place, live events with
//! catch-up and the durable state vector, named versions, the demo.

use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use manifesto_server::auth::Role;
use manifesto_tests::{JsonApi, TestClient, TestServer};
use serde_json::{json, Value};
use yrs::types::xml::XmlOut;
use yrs::types::xml::{XmlDeltaPrelim, XmlIn};
use yrs::updates::decoder::Decode;
use yrs::{
    GetString, In, StateVector, Text, Transact, WriteTxn, Xml, XmlElementPrelim, XmlElementRef,
    XmlFragment, XmlTextRef,
};

/// A paragraph element holding `text`, as an editor inserts it.
fn paragraph(text: &str) -> XmlElementPrelim {
    XmlElementPrelim::new(
        "paragraph",
        vec![XmlIn::Text(XmlDeltaPrelim {
            attributes: Default::default(),
            delta: vec![yrs::types::Delta::Inserted(In::from(text), None)],
        })],
    )
}

const DEMO_EN: &str = include_str!("../../server/demo/manifesto-demo.en.md");
const DEMO_FR: &str = include_str!("../../server/demo/manifesto-demo.fr.md");

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The JSON API with one bearer token, and this file's shortcuts.
struct Api(JsonApi);

impl std::ops::Deref for Api {
    type Target = JsonApi;

    fn deref(&self) -> &JsonApi {
        &self.0
    }
}

impl Api {
    fn new(server: &TestServer, token: &str) -> Api {
        Api(JsonApi::new(server, token))
    }

    async fn import(&self, id: &str, markdown: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/documents",
                json!({ "id": id, "start_with": "markdown", "markdown": markdown }),
            )
            .await;
        assert_eq!(status, 201, "import: {body}");
        body
    }

    async fn text(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/documents/{id}/text")).await;
        assert_eq!(status, 200, "text: {body}");
        body
    }

    async fn phase(&self, id: &str, body: Value) -> (u16, Value) {
        self.post(&format!("/api/documents/{id}/phase"), body).await
    }
}

/// Plain text of a rich text JSON (a list of spans).
fn plain(rich: &Value) -> String {
    rich.as_array()
        .expect("spans")
        .iter()
        .map(|span| span["text"].as_str().expect("span text"))
        .collect()
}

fn paragraph_ids(text: &Value) -> Vec<String> {
    text["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .flat_map(|s| s["paragraphs"].as_array().expect("paragraphs").iter())
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Server-Sent Events read from the byte stream.
struct Events {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

#[derive(Debug)]
struct SseEvent {
    id: Option<u64>,
    kind: String,
    data: Value,
}

impl Events {
    async fn open(
        server: &TestServer,
        token: &str,
        document: &str,
        last_id: Option<u64>,
    ) -> Events {
        let mut request = reqwest::Client::new()
            .get(server.http_url(&format!("/api/documents/{document}/events")))
            .bearer_auth(token);
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("events request");
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream"));
        Events {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), waiting at most `patience`.
    async fn next(&mut self, patience: Duration) -> SseEvent {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    kind: "message".into(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                event.data = serde_json::from_str(&data).expect("JSON data");
                return event;
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("an event in time")
                .expect("the stream goes on")
                .expect("bytes");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next event of `kind`, skipping others.
    async fn next_of(&mut self, kind: &str, patience: Duration) -> SseEvent {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await;
            if event.kind == kind {
                return event;
            }
        }
    }
}

/// The top-level block of `client`'s document with attribute id `id`, and its index.
fn block(client: &TestClient, id: &str) -> (u32, XmlElementRef) {
    let fragment = client.doc.get_or_insert_xml_fragment("prosemirror");
    let txn = client.doc.transact();
    for (index, child) in fragment.children(&txn).enumerate() {
        if let XmlOut::Element(element) = child {
            if element.get_attribute(&txn, "id").map(|v| v.to_string(&txn)) == Some(id.to_owned()) {
                return (index as u32, element);
            }
        }
    }
    panic!("no block {id} in the client's document");
}

fn text_of(client: &TestClient, element: &XmlElementRef) -> (XmlTextRef, String) {
    let txn = client.doc.transact();
    match element.get(&txn, 0) {
        Some(XmlOut::Text(text)) => {
            let s = text.get_string(&txn);
            (text, s)
        }
        _ => panic!("a block without text"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_drafts_import_with_numbers_ids_and_italic_verbs_and_read_back_stably() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    for (id, markdown, first_heading, closing) in [
        ("demo-en", DEMO_EN, "Preamble", "Call"),
        ("demo-fr", DEMO_FR, "Préambule", "Appel"),
    ] {
        let created = api.import(id, markdown).await;
        assert_eq!(created["phase"], "drafting");
        assert!(created["title"].as_str().expect("title").len() > 20);
        let text = api.text(id).await;
        let sections = text["sections"].as_array().expect("sections");
        assert!(sections.len() >= 6, "{id}: {} sections", sections.len());
        assert_eq!(sections[0]["kind"], "preamble");
        assert!(plain(&sections[0]["heading"]).starts_with(first_heading));
        assert_eq!(sections.last().expect("closing")["kind"], "closing");
        assert!(plain(&sections.last().expect("closing")["heading"]).contains(closing));
        for paragraph in sections[0]["paragraphs"].as_array().expect("paragraphs") {
            assert_eq!(paragraph["number"], Value::Null, "preamble unnumbered");
            assert_eq!(
                paragraph["text"][0]["em"], true,
                "opens with an italic verb"
            );
        }
        assert_eq!(sections[1]["number"], 1);
        assert_eq!(sections[1]["paragraphs"][0]["number"], "1.1");
        assert_eq!(sections[2]["paragraphs"][1]["number"], "2.2");
        let ids = paragraph_ids(&text);
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "ids are unique");
        assert!(ids.iter().all(|id| id.starts_with("p-") && id.len() == 12));
        // Reading again gives exactly the same JSON.
        let mut again = api.text(id).await;
        again["state_vector"] = text["state_vector"].clone();
        assert_eq!(again, text);
        // The creation is version 1, holding the same text.
        let (status, v1) = api
            .get(&format!("/api/documents/{id}/text?version=1"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(v1["sections"], text["sections"]);
    }
    // Accents and guillemets survive.
    let fr = api.text("demo-fr").await.to_string();
    assert!(
        fr.contains('é') && fr.contains('«'),
        "French typography kept"
    );

    // Importing the same id again, bad Markdown, a missing title.
    let (status, body) = api
        .post(
            "/api/documents",
            json!({ "id": "demo-en", "start_with": "markdown", "markdown": DEMO_EN }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("document_exists"))
    );
    let (status, body) = api
        .post("/api/documents", json!({ "start_with": "markdown", "markdown": "---\ntitle: [unclosed\n---\n# A\n\nText" }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("import_failed")),
        "{body}"
    );
    let (status, body) = api
        .post("/api/documents", json!({ "start_with": "empty" }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_field"))
    );
    let (status, body) = api.get("/api/documents/nothing-here/text").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("document_not_found"))
    );

    // A delegate lists and reads, but cannot create.
    let delegate = server.add_user("delegate@example.org", Role::Delegate);
    let as_delegate = Api::new(&server, &delegate.token);
    let (status, list) = as_delegate.get("/api/documents").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().expect("list").len(), 2);
    let (status, _) = as_delegate
        .post(
            "/api/documents",
            json!({ "title": "Mine", "start_with": "template" }),
        )
        .await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_survive_live_edits_splits_and_merges_made_by_a_yjs_client() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    api.import("ids", DEMO_EN).await;
    let before = api.text("ids").await;
    let ids = paragraph_ids(&before);
    let target = ids[6].clone();

    let mut client = TestClient::connect(&server.ws_url("ids"))
        .await
        .expect("connect");
    client.sync().await.expect("sync");
    // An ordinary edit inside the paragraph.
    let (_, element) = block(&client, &target);
    let (text, content) = text_of(&client, &element);
    let update = client.edit(|txn| text.insert(txn, 0, "Indeed, "));
    client.send_update(update).await.expect("send");
    // A split as ProseMirror makes it: the tail moves to a new paragraph that copies the
    // attributes, id included.
    let cut = content.len() as u32 / 2 + 8;
    let (index, element) = block(&client, &target);
    let (text, full) = text_of(&client, &element);
    let tail: String = full.chars().skip(cut as usize).collect();
    let update = client.edit(|txn| {
        text.remove_range(txn, cut, full.chars().count() as u32 - cut);
        let fragment = txn.get_or_insert_xml_fragment("prosemirror");
        let new = fragment.insert(txn, index + 1, paragraph(&tail));
        new.insert_attribute(txn, "id", target.as_str());
    });
    client.send_update(update).await.expect("send split");
    client.sync().await.expect("sync");

    let after = api.text("ids").await;
    let after_ids = paragraph_ids(&after);
    assert_eq!(after_ids.len(), ids.len() + 1, "one more paragraph");
    let at = after_ids
        .iter()
        .position(|id| *id == target)
        .expect("first half keeps the id");
    let fresh = after_ids[at + 1].clone();
    assert_ne!(fresh, target, "the second half got a fresh id");
    assert!(!ids.contains(&fresh), "never a reused id");
    for id in &ids {
        assert!(after_ids.contains(id), "{id} survived the edits");
    }
    // The client got the fresh id too (the server's normalisation is relayed).
    client.sync().await.expect("sync");
    block(&client, &fresh);

    // Merge back: the second paragraph's text joins the first; the element goes.
    let (index, second) = block(&client, &fresh);
    let (_, second_text) = text_of(&client, &second);
    let (_, first) = block(&client, &target);
    let (first_text, first_content) = text_of(&client, &first);
    let update = client.edit(|txn| {
        first_text.insert(txn, first_content.chars().count() as u32, &second_text);
        txn.get_or_insert_xml_fragment("prosemirror")
            .remove_range(txn, index, 1);
    });
    client.send_update(update).await.expect("send merge");
    client.sync().await.expect("sync");
    let merged = api.text("ids").await;
    assert_eq!(
        paragraph_ids(&merged),
        ids,
        "the merge keeps the first id, the rest unchanged"
    );

    // A deleted paragraph's id is never issued again, even after a restart: a paragraph
    // added at the end without id gets a new one.
    let fragment = client.doc.get_or_insert_xml_fragment("prosemirror");
    let n = fragment.len(&client.doc.transact());
    let update = client.edit(|txn| {
        fragment.insert(txn, n, paragraph("Added."));
    });
    client.send_update(update).await.expect("send");
    client.sync().await.expect("sync");
    client.close().await;
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    let last = api.text("ids").await;
    let last_ids = paragraph_ids(&last);
    let added = last_ids.last().expect("added").clone();
    assert!(added.starts_with("p-") && !ids.contains(&added) && added != fresh);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_freeze_the_text_in_place_and_versions_and_events_follow() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    api.import("plenary", DEMO_EN).await;
    let delegate = server.add_user("amina@example.org", Role::Delegate);
    let reader = server.add_user("observer@example.org", Role::Observer);
    let mut events = Events::open(&server, &reader.token, "plenary", None).await;
    assert_eq!(events.next(Duration::from_secs(5)).await.kind, "ready");

    let mut writer = TestClient::connect(&server.ws_url_with_token("plenary", &delegate.token))
        .await
        .expect("writer");
    let mut watcher = TestClient::connect(&server.ws_url("plenary"))
        .await
        .expect("watcher");
    writer.sync().await.expect("sync");
    watcher.sync().await.expect("sync");
    let first = paragraph_ids(&api.text("plenary").await)[0].clone();

    // Drafting: an edit reaches the other client and the store, and the `saved` event
    // says it is durable.
    let (_, element) = block(&writer, &first);
    let (text, _) = text_of(&writer, &element);
    let update = writer.edit(|txn| text.insert(txn, 0, "DRAFTING "));
    writer.send_update(update).await.expect("send");
    watcher
        .wait_until(|c| {
            let (_, e) = block(c, &first);
            text_of(c, &e).1.starts_with("DRAFTING ")
        })
        .await
        .expect("the edit reaches the watcher");
    let writer_sv = writer.state_vector();
    let saved_deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = saved_deadline.saturating_duration_since(tokio::time::Instant::now());
        let saved = events.next_of("saved", left).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(saved.data["state_vector"].as_str().expect("sv"))
            .expect("base64");
        let stored = StateVector::decode_v1(&bytes).expect("state vector");
        if writer_sv
            .iter()
            .all(|(client, clock)| stored.get(client) >= *clock)
        {
            break;
        }
    }

    // Amendments: the same connections become read-only at once, without reconnecting.
    let started = std::time::Instant::now();
    let (status, doc) = api
        .phase(
            "plenary",
            json!({ "phase": "amendments", "deadline": "2099-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["phase"], "amendments");
    assert_eq!(doc["text_open"], false);
    let event = events
        .next_of("phase.changed", Duration::from_secs(1))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the event came within a second"
    );
    assert_eq!(event.data["data"]["phase"], "amendments");
    let phase_event_id = event.id.expect("an event id");

    let update = writer.edit(|txn| text.insert(txn, 0, "FROZEN "));
    writer.send_update(update).await.expect("send");
    writer.sync().await.expect("the connection stays open");
    watcher.drain_for(Duration::from_millis(300)).await;
    let (_, e) = block(&watcher, &first);
    assert!(!text_of(&watcher, &e).1.contains("FROZEN"), "never relayed");
    let current = api.text("plenary").await;
    assert!(!current.to_string().contains("FROZEN"), "never stored");
    assert!(
        current.to_string().contains("DRAFTING"),
        "the drafting edit stayed"
    );

    // A version was taken at the change, and holds the drafting edit.
    let (_, versions) = api.get("/api/documents/plenary/versions").await;
    let versions = versions.as_array().expect("versions").clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["kind"], "phase");
    assert_eq!(versions[1]["name"], "Drafting → Amendments");
    let (_, v2) = api.get("/api/documents/plenary/text?version=2").await;
    assert!(v2.to_string().contains("DRAFTING"));
    let (_, v1) = api.get("/api/documents/plenary/text?version=1").await;
    assert!(!v1.to_string().contains("DRAFTING"));
    let (status, body) = api.get("/api/documents/plenary/text?version=99").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("version_not_found"))
    );

    // Going back needs a reason; with one, the same connection writes again.
    let (status, body) = api.phase("plenary", json!({ "phase": "drafting" })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("reason_required"))
    );
    let (status, _) = api
        .phase(
            "plenary",
            json!({ "phase": "drafting", "reason": "Section 2 needs more work" }),
        )
        .await;
    assert_eq!(status, 200);
    let update = writer.edit(|txn| text.insert(txn, 0, "AGAIN "));
    writer.send_update(update).await.expect("send");
    // The server asked every member for what it lacks when the text reopened: the writer
    // answers (as any y-websocket client does), so its edit made while frozen no longer
    // holds back the new one.
    writer.sync().await.expect("sync");
    watcher
        .wait_until(|c| {
            let (_, e) = block(c, &first);
            text_of(c, &e).1.starts_with("AGAIN ")
        })
        .await
        .expect("writable again in place");

    // A client that was away catches up from the last event it saw.
    drop(events);
    let (status, _) = api
        .patch(
            "/api/documents/plenary",
            json!({ "description": "For the plenary of Friday" }),
        )
        .await;
    assert_eq!(status, 200);
    let mut resumed = Events::open(&server, &reader.token, "plenary", Some(phase_event_id)).await;
    let mut kinds = Vec::new();
    loop {
        let event = resumed.next(Duration::from_secs(2)).await;
        if event.kind == "ready" || event.kind == "saved" {
            continue;
        }
        kinds.push(event.kind.clone());
        if event.kind == "document.updated" {
            break;
        }
    }
    assert_eq!(kinds, vec!["phase.changed", "document.updated"]);

    // An id no server ever gave (the largest there is) asks for a resync, without harm.
    let mut far = Events::open(&server, &reader.token, "plenary", Some(u64::MAX)).await;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        kinds.push(far.next(Duration::from_secs(2)).await.kind);
    }
    assert!(kinds.contains(&"resync".to_owned()), "{kinds:?}");

    // An observer cannot move phases.
    let as_observer = Api::new(&server, &reader.token);
    let (status, _) = as_observer
        .phase("plenary", json!({ "phase": "voting" }))
        .await;
    assert_eq!(status, 403);
    writer.close().await;
    watcher.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_freezes_the_text_and_is_announced() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    api.import("deadline", DEMO_EN).await;
    let mut events = Events::open(&server, &server.admin.token, "deadline", None).await;
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let deadline = deadline
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let (status, doc) = api
        .patch("/api/documents/deadline", json!({ "deadline": deadline }))
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["text_open"], true);
    let changed = events
        .next_of("deadline.changed", Duration::from_secs(1))
        .await;
    assert!(changed.data["data"]["deadline"].as_str().is_some());
    let passed = events
        .next_of("phase.deadline_passed", Duration::from_secs(5))
        .await;
    assert_eq!(passed.data["data"]["phase"], "drafting");
    let (_, doc) = api.get("/api/documents/deadline").await;
    assert_eq!(doc["text_open"], false);
    assert_eq!(doc["deadline_passed"], true);

    // The live connection is read-only now.
    let first = paragraph_ids(&api.text("deadline").await)[0].clone();
    let mut client = TestClient::connect(&server.ws_url("deadline"))
        .await
        .expect("connect");
    client.sync().await.expect("sync");
    let (_, element) = block(&client, &first);
    let (text, _) = text_of(&client, &element);
    let update = client.edit(|txn| text.insert(txn, 0, "LATE "));
    client.send_update(update).await.expect("send");
    client.sync().await.expect("sync");
    assert!(!api.text("deadline").await.to_string().contains("LATE"));

    // A deadline in the past is refused; removing it reopens the text.
    let (status, body) = api
        .patch(
            "/api/documents/deadline",
            json!({ "deadline": "2001-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_field"))
    );
    let (status, doc) = api
        .patch("/api/documents/deadline", json!({ "deadline": null }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(doc["text_open"], true);
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_documents_are_refused_and_the_demo_is_seeded_once() {
    let dir = tempdir();
    let server = TestServer::start_with(dir.path(), |config| config.demo = true).await;
    let api = Api::new(&server, &server.admin.token);
    let (_, list) = api.get("/api/documents").await;
    let ids: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"demo-en") && ids.contains(&"demo-fr"));
    let text = api.text("demo-fr").await;
    assert!(paragraph_ids(&text).len() > 15);

    // The live document is there for any Yjs client.
    let mut client = TestClient::connect(&format!(
        "ws://{}/ws/demo-en?token={}",
        server.addr, server.admin.token
    ))
    .await
    .expect("connect");
    client.sync().await.expect("sync");
    let fragment = client.doc.get_or_insert_xml_fragment("prosemirror");
    assert!(fragment.len(&client.doc.transact()) > 20);
    client.close().await;

    // No document, no room: 404 before the upgrade.
    let response = reqwest::Client::new()
        .get(server.http_url(&format!("/ws/not-a-document?token={}", server.admin.token)))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "document_not_found");
    server.stop().await;

    // A restart with --demo does not seed again.
    let server = TestServer::start_with(dir.path(), |config| config.demo = true).await;
    let api = Api::new(&server, &server.admin.token);
    let (_, list) = api.get("/api/documents").await;
    assert_eq!(list.as_array().expect("list").len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_stay_readable_after_the_log_is_compacted() {
    let dir = tempdir();
    let server = TestServer::start_with(dir.path(), |config| {
        config.compact_after_updates = 5;
    })
    .await;
    let api = Api::new(&server, &server.admin.token);
    api.import("compacted", DEMO_EN).await;
    let first = paragraph_ids(&api.text("compacted").await)[0].clone();
    let mut client = TestClient::connect(&server.ws_url("compacted"))
        .await
        .expect("connect");
    client.sync().await.expect("sync");
    let (_, element) = block(&client, &first);
    let (text, _) = text_of(&client, &element);
    let original = plain(&api.text("compacted").await["sections"][0]["paragraphs"][0]["text"]);
    let (status, _) = api
        .post(
            "/api/documents/compacted/versions",
            json!({ "name": "Before the rewrite" }),
        )
        .await;
    assert_eq!(status, 201);
    // Rewrite the paragraph entirely, many times, so its old text is deleted and compacted.
    for i in 0..20 {
        let n = text.len(&client.doc.transact());
        let update = client.edit(|txn| {
            text.remove_range(txn, 0, n);
            text.insert(txn, 0, &format!("Rewritten {i}"));
        });
        client.send_update(update).await.expect("send");
    }
    client.sync().await.expect("sync");
    client.close().await;
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    let (_, v2) = api.get("/api/documents/compacted/text?version=2").await;
    let paragraph = &v2["sections"][0]["paragraphs"][0];
    assert_eq!(paragraph["id"], first.as_str());
    assert_eq!(plain(&paragraph["text"]), original);
    let now = api.text("compacted").await;
    assert_eq!(
        plain(&now["sections"][0]["paragraphs"][0]["text"]),
        "Rewritten 19"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diffs_histories_and_editorial_corrections() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    api.import("diffs", DEMO_EN).await;
    let v1 = api.text("diffs").await;
    let ids = paragraph_ids(&v1);
    let (changed, removed) = (ids[5].clone(), ids[7].clone());

    // Live edits by a delegate: one word replaced, one paragraph deleted, one added.
    let delegate = server.add_user("delegate@example.org", Role::Delegate);
    let mut client = TestClient::connect(&server.ws_url_with_token("diffs", &delegate.token))
        .await
        .expect("connect");
    client.sync().await.expect("sync");
    let (_, element) = block(&client, &changed);
    let (text, content) = text_of(&client, &element);
    let word_at = content.find(" should ").expect("a 'should' to replace") as u32;
    let update = client.edit(|txn| {
        text.remove_range(txn, word_at + 1, "should".len() as u32);
        text.insert(txn, word_at + 1, "must");
    });
    client.send_update(update).await.expect("send");
    let (index, _) = block(&client, &removed);
    let update = client.edit(|txn| {
        txn.get_or_insert_xml_fragment("prosemirror")
            .remove_range(txn, index, 1);
    });
    client.send_update(update).await.expect("send");
    let (index, _) = block(&client, &ids[2]);
    let update = client.edit(|txn| {
        txn.get_or_insert_xml_fragment("prosemirror").insert(
            txn,
            index + 1,
            paragraph("A paragraph added in the plenary."),
        );
    });
    client.send_update(update).await.expect("send");
    client.sync().await.expect("sync");
    let (status, v2) = api
        .post(
            "/api/documents/diffs/versions",
            json!({ "name": "After the first reading" }),
        )
        .await;
    assert_eq!((status, v2["number"].as_u64()), (201, Some(2)));

    let (status, diff) = api.get("/api/documents/diffs/diff?from=1&to=2").await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(
        diff["summary"],
        json!({ "added": 1, "removed": 1, "changed": 1, "moved": 0 })
    );
    let paragraphs = diff["paragraphs"].as_array().expect("paragraphs");
    let by_kind =
        |kind: &str| -> Vec<&Value> { paragraphs.iter().filter(|p| p["change"] == kind).collect() };
    assert_eq!(by_kind("removed")[0]["id"], removed.as_str());
    assert_eq!(by_kind("changed")[0]["id"], changed.as_str());
    let ops = by_kind("changed")[0]["diff"]
        .as_array()
        .expect("ops")
        .clone();
    assert!(
        ops.contains(&json!({ "kind": "delete", "text": "should" })),
        "{ops:?}"
    );
    assert!(
        ops.contains(&json!({ "kind": "insert", "text": "must" })),
        "{ops:?}"
    );
    let added = by_kind("added")[0];
    assert!(!ids.contains(&added["id"].as_str().expect("id").to_owned()));
    assert_eq!(
        plain(&added["new_text"]),
        "A paragraph added in the plenary."
    );
    // The current text compared with version 2: nothing changed since.
    let (_, same) = api.get("/api/documents/diffs/diff?from=2").await;
    assert_eq!(same["paragraphs"], json!([]));
    let (status, body) = api.get("/api/documents/diffs/diff?from=7").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("version_not_found"))
    );

    // Frozen text: an editorial correction reaches live clients and is recorded.
    let (status, _) = api.phase("diffs", json!({ "phase": "amendments" })).await;
    assert_eq!(status, 200);
    let target = ids[3].clone();
    let before = plain(
        &api.text("diffs").await["sections"]
            .as_array()
            .expect("sections")
            .iter()
            .flat_map(|s| s["paragraphs"].as_array().expect("p").clone())
            .find(|p| p["id"] == target.as_str())
            .expect("target")["text"],
    );
    let corrected = format!("{before} (see annex)");
    let (status, result) = api
        .post(
            "/api/documents/diffs/corrections",
            json!({
                "block": target,
                "text": [{ "text": corrected, "em": false, "strong": false }],
                "reason": "Reference to the annex added",
            }),
        )
        .await;
    assert_eq!(status, 201, "{result}");
    client
        .wait_until(|c| {
            let (_, e) = block(c, &target);
            text_of(c, &e).1.ends_with("(see annex)")
        })
        .await
        .expect("the correction reaches the live client");
    let (_, history) = api
        .get(&format!("/api/documents/diffs/blocks/{target}/history"))
        .await;
    let history = history.as_array().expect("history");
    assert_eq!(history[0]["change"], "added");
    let last = history.last().expect("a correction entry");
    assert_eq!(last["change"], "changed");
    assert_eq!(last["kind"], "correction");
    assert_eq!(last["note"], "Reference to the annex added");
    assert!(last["diff"].to_string().contains("annex"));
    // The changed paragraph's history shows the plenary's edit in version 2.
    let (_, history) = api
        .get(&format!("/api/documents/diffs/blocks/{changed}/history"))
        .await;
    assert_eq!(history[1]["version"], 2);
    let (_, history) = api
        .get(&format!("/api/documents/diffs/blocks/{removed}/history"))
        .await;
    assert_eq!(history[1]["change"], "removed");

    // Refusals.
    let (status, body) = api
        .post(
            "/api/documents/diffs/corrections",
            json!({ "block": "p-aaaaaaaaaa", "text": [], "reason": "x" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("block_not_found"))
    );
    let (status, body) = api
        .post(
            "/api/documents/diffs/corrections",
            json!({ "block": target, "text": [{ "text": "x", "em": false, "strong": false }] }),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_json")));
    let (status, _) = api.phase("diffs", json!({ "phase": "adopted" })).await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(
            "/api/documents/diffs/corrections",
            json!({ "block": target, "text": [{ "text": "x", "em": false, "strong": false }], "reason": "late" }),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("phase_closed")));
    let (status, body) = api
        .phase("diffs", json!({ "phase": "drafting", "reason": "reopen" }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("document_adopted"))
    );
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_changes_reach_every_document_live() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server, &server.admin.token);
    api.import("members", DEMO_EN).await;
    let delegate = server.add_user("mira@example.org", Role::Delegate);
    let mut events = Events::open(&server, &delegate.token, "members", None).await;
    let target = server.add_user("otto@example.org", Role::Observer);
    let (status, _) = api
        .patch(
            &format!("/api/users/{}", target.id),
            json!({ "role": "delegate" }),
        )
        .await;
    assert_eq!(status, 200);
    let event = events
        .next_of("member.updated", Duration::from_secs(1))
        .await;
    assert_eq!(event.data["data"]["id"], target.id);
    assert_eq!(event.data["data"]["role"], "delegate");
    assert!(
        event.data["data"].get("email").is_none(),
        "no email to other members"
    );
    server.stop().await;
}
