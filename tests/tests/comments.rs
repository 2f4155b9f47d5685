//! Comments end to end, through the real server: range anchors that follow concurrent edits
//! made by real WebSocket clients and are orphaned (quote kept) when their words go, anchors
//! from a client's own relative positions, threads and replies, edits with revisions,
//! resolution, soft deletion, hiding, who may write, phases and deadlines closing comments,
//! limits, and the live events.

use std::time::{Duration, Instant};

use base64::Engine;
use manifesto_server::auth::Role;
use manifesto_tests::{JsonApi, TestClient, TestServer, TestUser, PATIENCE};
use serde_json::{json, Value};
use yrs::types::xml::XmlOut;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Assoc, Doc, GetString, IndexedSequence, OffsetKind, Options, Out, Text, Transact, Xml,
    XmlFragment, XmlTextRef,
};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// The draft every test starts from.
const DRAFT: &str = "\
# 1. Energy

Our 🌍 energy is a common good of humankind.

Every village deserves light.

# 2. Water

Water belongs to all.
";

/// The JSON API as one account (bearer token).
struct Api(JsonApi);

/// An answer: status, `Retry-After` and the JSON body (`Null` when not JSON).
#[derive(Debug)]
struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl Reply {
    /// Checks the status and error code (`""` for a success) and returns the body.
    #[track_caller]
    fn expect(self, status: u16, code: &str) -> Value {
        assert_eq!(
            (self.status, self.body["code"].as_str().unwrap_or("")),
            (status, code),
            "unexpected answer: {self:?}"
        );
        self.body
    }
}

impl Api {
    fn new(server: &TestServer, user: &TestUser) -> Api {
        Api(JsonApi::new(server, &user.token))
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.0.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let retry_after =
            (response.headers().get("retry-after")).and_then(|v| v.to_str().ok()?.parse().ok());
        let bytes = response.bytes().await.expect("body");
        Reply {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }

    /// Opens a thread or replies; returns the answer.
    async fn comment(&self, document: &str, body: Value) -> Reply {
        self.post(&format!("/api/documents/{document}/comments"), body)
            .await
    }

    /// The document's comments as this account sees them.
    async fn comments(&self, document: &str, query: &str) -> Value {
        self.get(&format!("/api/documents/{document}/comments{query}"))
            .await
            .expect(200, "")
    }
}

/// A document's sections: (section id, [(paragraph id, plain text)]).
type Outline = Vec<(String, Vec<(String, String)>)>;

/// Creates document `id` from [`DRAFT`] as the secretariat; returns its outline.
async fn create_document(server: &TestServer, id: &str) -> Outline {
    let admin = Api::new(server, &server.admin);
    admin
        .post(
            "/api/documents",
            json!({ "id": id, "title": "Comments", "start_with": "markdown", "markdown": DRAFT }),
        )
        .await
        .expect(201, "");
    let text = admin
        .get(&format!("/api/documents/{id}/text"))
        .await
        .expect(200, "");
    let sections = text["sections"].as_array().expect("sections");
    (sections.iter())
        .map(|section| {
            let paragraphs = (section["paragraphs"].as_array().expect("paragraphs").iter())
                .map(|p| {
                    let plain: String = (p["text"].as_array().expect("spans").iter())
                        .map(|span| span["text"].as_str().expect("span text"))
                        .collect();
                    (p["id"].as_str().expect("id").to_owned(), plain)
                })
                .collect();
            (section["id"].as_str().expect("id").to_owned(), paragraphs)
        })
        .collect()
}

/// UTF-16 offset of `needle` in `haystack`, as a browser counts.
fn utf16_offset(haystack: &str, needle: &str) -> u32 {
    let at = haystack.find(needle).expect("needle in haystack");
    haystack[..at].encode_utf16().count() as u32
}

fn utf16_len(text: &str) -> u32 {
    text.encode_utf16().count() as u32
}

/// A range anchor on `needle` within `paragraph` (id, text).
fn range_on(paragraph: &(String, String), needle: &str) -> Value {
    let start = utf16_offset(&paragraph.1, needle);
    json!({ "paragraph": paragraph.0, "start": start, "end": start + utf16_len(needle) })
}

/// A yrs document indexed like the browser's.
fn browser_doc() -> Doc {
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    })
}

/// The text of paragraph `id` in `doc`.
fn paragraph_text(doc: &Doc, id: &str) -> XmlTextRef {
    let fragment = doc.get_or_insert_xml_fragment("prosemirror");
    let txn = doc.transact();
    for child in fragment.children(&txn) {
        let XmlOut::Element(element) = child else {
            continue;
        };
        let holds_id = matches!(
            element.get_attribute(&txn, "id"),
            Some(Out::Any(Any::String(value))) if &*value == id
        );
        if !holds_id {
            continue;
        }
        for inner in element.children(&txn) {
            if let XmlOut::Text(text) = inner {
                return text;
            }
        }
    }
    panic!("no paragraph {id} with a text in the client's document");
}

fn string_of(doc: &Doc, text: &XmlTextRef) -> String {
    text.get_string(&doc.transact())
}

/// A relative position in `text` of `doc`, encoded as the browser's
/// `Y.encodeRelativePosition`, in base64.
fn position(doc: &Doc, text: &XmlTextRef, index: u32, assoc: Assoc) -> String {
    let txn = doc.transact();
    let index = text.sticky_index(&txn, index, assoc).expect("an index");
    base64::engine::general_purpose::STANDARD.encode(index.encode_v1())
}

/// The one thread of `list` whose root is `id`.
fn thread(list: &Value, id: u64) -> &Value {
    (list["threads"].as_array().expect("threads").iter())
        .find(|t| t["root"]["id"].as_u64() == Some(id))
        .unwrap_or_else(|| panic!("no thread {id} in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_anchor_follows_concurrent_edits_and_is_orphaned_when_its_words_go() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "anchors").await;
    let paragraph = outline[0].1[0].clone();
    assert_eq!(paragraph.1, "Our 🌍 energy is a common good of humankind.");
    let ada = server.add_user("ada@example.org", Role::Delegate);
    let bo = server.add_user("bo@example.org", Role::Delegate);
    let api = Api::new(&server, &ada);

    let created = api
        .comment(
            "anchors",
            json!({ "anchor": range_on(&paragraph, "common good"), "body": "Whose good?" }),
        )
        .await
        .expect(201, "");
    let id = created["id"].as_u64().expect("id");
    assert_eq!(created["anchor"]["kind"], "range");
    assert_eq!(created["anchor"]["quote"], "common good");
    assert_eq!(created["anchor"]["text_now"], "common good");
    assert_eq!(created["anchor"]["section_id"], outline[0].0.as_str());
    // The emoji before the words counts two UTF-16 units, as in the browser.
    assert_eq!(created["anchor"]["start"], 19);

    // Two real clients edit the paragraph concurrently: one before the words and right at
    // their start, the other right after their end. Neither insertion joins the range.
    let url_ada = server.ws_url_with_token("anchors", &ada.token);
    let url_bo = server.ws_url_with_token("anchors", &bo.token);
    let mut first = TestClient::connect_with(&url_ada, browser_doc())
        .await
        .expect("connect");
    let mut second = TestClient::connect_with(&url_bo, browser_doc())
        .await
        .expect("connect");
    let text_first = paragraph_text(&first.doc, &paragraph.0);
    let text_second = paragraph_text(&second.doc, &paragraph.0);
    let start = utf16_offset(&paragraph.1, "common good");
    let end = start + utf16_len("common good");
    let update_first = first.edit(|txn| {
        text_first.insert(txn, start, "shared, ");
        text_first.insert(txn, 0, "Clean, ");
    });
    let update_second = second.edit(|txn| text_second.insert(txn, end, " and a right"));
    first.send_update(update_first).await.expect("send");
    second.send_update(update_second).await.expect("send");
    first.sync().await.expect("sync");
    second.sync().await.expect("sync");
    let expected = "Clean, Our 🌍 energy is a shared, common good and a right of humankind.";
    first
        .wait_until(|c| string_of(&c.doc, &text_first) == expected)
        .await
        .expect("the first client converges");
    second
        .wait_until(|c| string_of(&c.doc, &text_second) == expected)
        .await
        .expect("the second client converges");

    let list = api.comments("anchors", "").await;
    let anchor = &thread(&list, id)["root"]["anchor"];
    assert_eq!(anchor["orphaned"], false, "{anchor}");
    assert_eq!(anchor["text_now"], "common good", "{anchor}");
    assert_eq!(anchor["paragraph_id"], paragraph.0.as_str());
    let now_start = utf16_offset(expected, "common good");
    assert_eq!(anchor["start"], now_start);
    assert_eq!(anchor["end"], now_start + utf16_len("common good"));

    // The anchored words are deleted (with a little around them): the comment is orphaned
    // and keeps its quote.
    let from = utf16_offset(expected, "shared, common good");
    let update =
        first.edit(|txn| text_first.remove_range(txn, from, utf16_len("shared, common good and")));
    first.send_update(update).await.expect("send");
    first.sync().await.expect("sync");
    assert_eq!(
        string_of(&first.doc, &text_first),
        "Clean, Our 🌍 energy is a  a right of humankind."
    );
    let list = api.comments("anchors", "").await;
    let root = &thread(&list, id)["root"];
    assert_eq!(root["anchor"]["orphaned"], true, "{root}");
    assert_eq!(root["anchor"]["quote"], "common good");
    assert_eq!(root["anchor"]["text_now"], Value::Null);
    assert_eq!(root["body"], "Whose good?");
    // An orphaned thread no longer counts in its section's outline.
    assert_eq!(list["open_threads_by_section"], json!({}));

    first.close().await;
    second.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_may_anchor_with_its_own_relative_positions() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "positions").await;
    let (paragraph, other) = (outline[0].1[1].clone(), outline[1].1[0].clone());
    let ada = server.add_user("ada@example.org", Role::Delegate);
    let api = Api::new(&server, &ada);
    let url = server.ws_url_with_token("positions", &ada.token);
    let mut client = TestClient::connect_with(&url, browser_doc())
        .await
        .expect("connect");
    let text = paragraph_text(&client.doc, &paragraph.0);
    let start = utf16_offset(&paragraph.1, "village");
    let end = start + utf16_len("village");
    let anchor = json!({
        "paragraph": paragraph.0,
        "start_position": position(&client.doc, &text, start, Assoc::After),
        "end_position": position(&client.doc, &text, end, Assoc::Before),
    });
    let created = api
        .comment(
            "positions",
            json!({ "anchor": anchor, "body": "Towns too." }),
        )
        .await
        .expect(201, "");
    assert_eq!(created["anchor"]["quote"], "village");
    assert_eq!(
        (
            created["anchor"]["start"].as_u64(),
            created["anchor"]["end"].as_u64()
        ),
        (Some(start as u64), Some(end as u64))
    );

    // The anchor follows an edit made after it, like one the server placed.
    let update = client.edit(|txn| text.insert(txn, 0, "Truly, "));
    client.send_update(update).await.expect("send");
    client.sync().await.expect("sync");
    let list = api.comments("positions", "").await;
    let id = created["id"].as_u64().expect("id");
    assert_eq!(thread(&list, id)["root"]["anchor"]["text_now"], "village");

    // Positions in another paragraph, or that are not positions at all, are refused.
    let elsewhere = paragraph_text(&client.doc, &other.0);
    let wrong = json!({
        "paragraph": paragraph.0,
        "start_position": position(&client.doc, &elsewhere, 0, Assoc::After),
        "end_position": position(&client.doc, &elsewhere, 4, Assoc::Before),
    });
    api.comment("positions", json!({ "anchor": wrong, "body": "Hm" }))
        .await
        .expect(422, "invalid_anchor");
    let garbage =
        json!({ "paragraph": paragraph.0, "start_position": "%%%", "end_position": "AAAA" });
    api.comment("positions", json!({ "anchor": garbage, "body": "Hm" }))
        .await
        .expect(422, "invalid_anchor");
    client.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_replies_edits_resolution_deletion_and_hiding() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "threads").await;
    let (energy, water) = (outline[0].0.clone(), outline[1].0.clone());
    let ada = Api::new(&server, &server.add_user("ada@example.org", Role::Delegate));
    let bo = Api::new(&server, &server.add_user("bo@example.org", Role::Delegate));
    let secretariat = Api::new(&server, &server.admin);

    // A thread on a section, a reply, and a reply to the reply (which joins the thread).
    let root = ada
        .comment(
            "threads",
            json!({ "anchor": { "section": energy }, "body": "Too vague." }),
        )
        .await
        .expect(201, "");
    let root_id = root["id"].as_u64().expect("id");
    assert_eq!(root["status"], "open");
    assert_eq!(root["anchor"]["kind"], "section");
    assert_eq!(root["anchor"]["section_id"], energy.as_str());
    let reply = bo
        .comment("threads", json!({ "parent": root_id, "body": "Agreed." }))
        .await
        .expect(201, "");
    let reply_id = reply["id"].as_u64().expect("id");
    assert_eq!(
        (reply["parent"].as_u64(), reply["thread"].as_u64()),
        (Some(root_id), Some(root_id))
    );
    assert_eq!(
        reply["status"],
        Value::Null,
        "replies have no status of their own"
    );
    let nested = ada
        .comment(
            "threads",
            json!({ "parent": reply_id, "body": "Then fix it\twith me." }),
        )
        .await
        .expect(201, "");
    assert_eq!(nested["parent"].as_u64(), Some(root_id));
    let nested_id = nested["id"].as_u64().expect("id");
    let other = bo
        .comment(
            "threads",
            json!({ "anchor": { "section": water }, "body": "Rivers?" }),
        )
        .await
        .expect(201, "");
    let other_id = other["id"].as_u64().expect("id");

    let list = bo.comments("threads", "").await;
    let replies: Vec<u64> = (thread(&list, root_id)["replies"]
        .as_array()
        .expect("replies")
        .iter())
    .map(|r| r["id"].as_u64().expect("id"))
    .collect();
    assert_eq!(replies, vec![reply_id, nested_id]);
    assert_eq!(
        list["open_threads_by_section"],
        json!({ energy.clone(): 1, water.clone(): 1 })
    );
    let filtered = bo.comments("threads", &format!("?section={water}")).await;
    assert_eq!(filtered["threads"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        filtered["threads"][0]["root"]["id"].as_u64(),
        Some(other_id)
    );

    // Edits: own comments only; the earlier version is kept and the comment shows as edited.
    let path = |id: u64| format!("/api/documents/threads/comments/{id}");
    bo.patch(&path(root_id), json!({ "body": "Hijacked" }))
        .await
        .expect(403, "forbidden");
    let edited = ada
        .patch(
            &path(root_id),
            json!({ "body": "Too vague: say who pays." }),
        )
        .await
        .expect(200, "");
    assert_eq!(edited["body"], "Too vague: say who pays.");
    assert_eq!(edited["edited"], true);
    assert_eq!(edited["revisions"][0]["body"], "Too vague.");
    let seen_by_bo = bo.comments("threads", "").await;
    let seen = &thread(&seen_by_bo, root_id)["root"];
    assert_eq!(
        (
            seen["edited"].as_bool(),
            seen["revisions"].as_array().map(Vec::len)
        ),
        (Some(true), Some(1))
    );

    // Resolution: by the thread's author or the secretariat, not by others.
    bo.post(&format!("{}/resolve", path(root_id)), json!({}))
        .await
        .expect(403, "forbidden");
    let resolved = ada
        .post(&format!("{}/resolve", path(nested_id)), json!({}))
        .await
        .expect(200, "");
    assert_eq!(
        (resolved["id"].as_u64(), resolved["status"].as_str()),
        (Some(root_id), Some("resolved")),
        "resolving through a reply resolves its thread"
    );
    let open = bo.comments("threads", "?status=open").await;
    assert_eq!(open["threads"].as_array().map(Vec::len), Some(1));
    assert_eq!(open["open_threads_by_section"], json!({ water.clone(): 1 }));
    let closed = bo.comments("threads", "?status=resolved").await;
    assert_eq!(closed["threads"][0]["root"]["id"].as_u64(), Some(root_id));
    ada.post(&format!("{}/reopen", path(root_id)), json!({}))
        .await
        .expect(200, "");
    let by_secretariat = secretariat
        .post(&format!("{}/resolve", path(other_id)), json!({}))
        .await
        .expect(200, "");
    assert_eq!(by_secretariat["status"], "resolved");
    assert_eq!(
        by_secretariat["status_changed_by"].as_u64(),
        Some(server.admin.id)
    );

    // Deletion: own comments only, soft: the reply stays, as deleted, without its body.
    ada.delete(&path(reply_id)).await.expect(403, "forbidden");
    let deleted = bo.delete(&path(reply_id)).await.expect(200, "");
    assert_eq!(
        (deleted["deleted"].as_bool(), &deleted["body"]),
        (Some(true), &Value::Null)
    );
    bo.patch(&path(reply_id), json!({ "body": "Back" }))
        .await
        .expect(409, "comment_deleted");
    let list = ada.comments("threads", "").await;
    let kept = &thread(&list, root_id)["replies"][0];
    assert_eq!(
        (kept["id"].as_u64(), kept["deleted"].as_bool()),
        (Some(reply_id), Some(true))
    );
    assert_eq!(kept["body"], Value::Null);

    // Hiding: the secretariat only, with a reason; the body is then shown to the secretariat
    // (and the author), not to other delegates, who see that it was hidden and why.
    bo.post(
        &format!("{}/hide", path(nested_id)),
        json!({ "reason": "no" }),
    )
    .await
    .expect(403, "forbidden");
    secretariat
        .post(
            &format!("{}/hide", path(nested_id)),
            json!({ "reason": "  " }),
        )
        .await
        .expect(422, "invalid_field");
    let hidden = secretariat
        .post(
            &format!("{}/hide", path(nested_id)),
            json!({ "reason": "Personal remark" }),
        )
        .await
        .expect(200, "");
    assert_eq!(hidden["hidden"], true);
    assert_eq!(hidden["body"], "Then fix it\twith me.");
    let for_bo = bo.comments("threads", "").await;
    let seen = &thread(&for_bo, root_id)["replies"][1];
    assert_eq!(
        (seen["hidden"].as_bool(), &seen["body"]),
        (Some(true), &Value::Null)
    );
    assert_eq!(seen["hidden_reason"], "Personal remark");
    assert_eq!(seen["revisions"], json!([]));
    let for_secretariat = secretariat.comments("threads", "").await;
    assert_eq!(
        thread(&for_secretariat, root_id)["replies"][1]["body"],
        "Then fix it\twith me."
    );
    ada.patch(&path(nested_id), json!({ "body": "Edited away" }))
        .await
        .expect(409, "comment_hidden");

    // Every change is in the audit log.
    let audit = secretariat
        .get("/api/audit?limit=1000")
        .await
        .expect(200, "")
        .to_string();
    for action in [
        "comment.created",
        "comment.edited",
        "comment.resolved",
        "comment.reopened",
        "comment.deleted",
        "comment.hidden",
    ] {
        assert!(audit.contains(action), "{action} is not in the audit log");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "input").await;
    let paragraph = outline[0].1[1].clone();
    let ada = Api::new(&server, &server.add_user("ada@example.org", Role::Delegate));
    let section = json!({ "section": outline[0].0 });

    let longest = "é".repeat(4000);
    ada.comment("input", json!({ "anchor": section, "body": longest }))
        .await
        .expect(201, "");
    let overlong = "é".repeat(4001);
    ada.comment("input", json!({ "anchor": section, "body": overlong }))
        .await
        .expect(422, "invalid_field");
    for body in ["", " \n ", "bell\u{7}"] {
        ada.comment("input", json!({ "anchor": section, "body": body }))
            .await
            .expect(422, "invalid_field");
    }
    let len = utf16_len(&paragraph.1);
    for (start, end) in [(3, 3), (5, 2), (0, len + 1)] {
        let anchor = json!({ "paragraph": paragraph.0, "start": start, "end": end });
        ada.comment("input", json!({ "anchor": anchor, "body": "x" }))
            .await
            .expect(422, "invalid_anchor");
    }
    let heading = json!({ "paragraph": outline[0].0, "start": 0, "end": 2 });
    ada.comment("input", json!({ "anchor": heading, "body": "x" }))
        .await
        .expect(422, "invalid_anchor");
    let unknown = json!({ "paragraph": "p-zzzzzzzzzz", "start": 0, "end": 2 });
    ada.comment("input", json!({ "anchor": unknown, "body": "x" }))
        .await
        .expect(404, "block_not_found");
    ada.comment(
        "input",
        json!({ "anchor": { "section": "s-zzzzzzzzzz" }, "body": "x" }),
    )
    .await
    .expect(404, "block_not_found");
    let mixed = json!({ "section": outline[0].0, "paragraph": paragraph.0, "start": 0, "end": 2 });
    ada.comment("input", json!({ "anchor": mixed, "body": "x" }))
        .await
        .expect(422, "invalid_anchor");
    ada.comment(
        "input",
        json!({ "anchor": { "paragraph": paragraph.0 }, "body": "x" }),
    )
    .await
    .expect(422, "invalid_anchor");
    ada.comment("input", json!({ "body": "neither thread nor reply" }))
        .await
        .expect(422, "invalid_field");
    ada.comment(
        "input",
        json!({ "parent": 1, "anchor": section, "body": "both" }),
    )
    .await
    .expect(422, "invalid_field");
    ada.comment(
        "input",
        json!({ "parent": 987654321, "body": "to nothing" }),
    )
    .await
    .expect(404, "comment_not_found");
    ada.patch(
        "/api/documents/input/comments/987654321",
        json!({ "body": "x" }),
    )
    .await
    .expect(404, "comment_not_found");
    ada.comment(
        "no-such-document",
        json!({ "anchor": section, "body": "x" }),
    )
    .await
    .expect(404, "document_not_found");
    ada.comment(
        "input",
        json!({ "anchor": section, "body": "x", "colour": "red" }),
    )
    .await
    .expect(400, "invalid_json");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_read_comments_but_write_none() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "observed").await;
    let ada = Api::new(&server, &server.add_user("ada@example.org", Role::Delegate));
    let observer = Api::new(&server, &server.add_user("obs@example.org", Role::Observer));
    let section = json!({ "section": outline[0].0 });
    let root = ada
        .comment("observed", json!({ "anchor": section, "body": "Mine." }))
        .await
        .expect(201, "");
    let id = root["id"].as_u64().expect("id");

    let list = observer.comments("observed", "").await;
    assert_eq!(thread(&list, id)["root"]["body"], "Mine.");
    let path = format!("/api/documents/observed/comments/{id}");
    observer
        .comment("observed", json!({ "anchor": section, "body": "Me too" }))
        .await
        .expect(403, "forbidden");
    observer
        .comment("observed", json!({ "parent": id, "body": "Me too" }))
        .await
        .expect(403, "forbidden");
    observer
        .patch(&path, json!({ "body": "x" }))
        .await
        .expect(403, "forbidden");
    observer.delete(&path).await.expect(403, "forbidden");
    for action in ["resolve", "reopen"] {
        observer
            .post(&format!("{path}/{action}"), json!({}))
            .await
            .expect(403, "forbidden");
    }
    observer
        .post(&format!("{path}/hide"), json!({ "reason": "x" }))
        .await
        .expect(403, "forbidden");
    let list = ada.comments("observed", "").await;
    assert_eq!(list["threads"].as_array().map(Vec::len), Some(1));
    assert_eq!(thread(&list, id)["replies"], json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_close_with_the_phase_and_the_deadline() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "closing").await;
    let ada = Api::new(&server, &server.add_user("ada@example.org", Role::Delegate));
    let secretariat = Api::new(&server, &server.admin);
    let section = json!({ "section": outline[0].0 });
    let id = ada
        .comment("closing", json!({ "anchor": section, "body": "Before." }))
        .await
        .expect(201, "")["id"]
        .as_u64()
        .expect("id");
    let path = format!("/api/documents/closing/comments/{id}");

    // The phases open to comments are the document's setting.
    secretariat
        .patch(
            "/api/documents/closing",
            json!({ "comment_phases": ["amendments"] }),
        )
        .await
        .expect(200, "");
    ada.comment("closing", json!({ "anchor": section, "body": "Closed?" }))
        .await
        .expect(409, "comments_closed");
    secretariat
        .patch(
            "/api/documents/closing",
            json!({ "comment_phases": ["drafting", "amendments"] }),
        )
        .await
        .expect(200, "");
    ada.comment("closing", json!({ "parent": id, "body": "Open again." }))
        .await
        .expect(201, "");

    // A phase not among them (voting by default) closes every write but hiding.
    secretariat
        .post("/api/documents/closing/phase", json!({ "phase": "voting" }))
        .await
        .expect(200, "");
    ada.comment("closing", json!({ "anchor": section, "body": "Late." }))
        .await
        .expect(409, "comments_closed");
    secretariat
        .comment("closing", json!({ "parent": id, "body": "Late too." }))
        .await
        .expect(409, "comments_closed");
    ada.patch(&path, json!({ "body": "Changed" }))
        .await
        .expect(409, "comments_closed");
    ada.post(&format!("{path}/resolve"), json!({}))
        .await
        .expect(409, "comments_closed");
    ada.delete(&path).await.expect(409, "comments_closed");
    secretariat
        .post(
            &format!("{path}/hide"),
            json!({ "reason": "Moderation goes on" }),
        )
        .await
        .expect(200, "");
    let list = ada.comments("closing", "").await;
    assert_eq!(list["comments_open"], false);
    assert_eq!(thread(&list, id)["root"]["hidden"], true);

    // In an open phase, a passed deadline closes comments too.
    let outline = create_document(&server, "deadline").await;
    let section = json!({ "section": outline[0].0 });
    let deadline = time::OffsetDateTime::now_utc() + Duration::from_secs(2);
    let deadline = deadline
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    secretariat
        .patch("/api/documents/deadline", json!({ "deadline": deadline }))
        .await
        .expect(200, "");
    ada.comment("deadline", json!({ "anchor": section, "body": "Early." }))
        .await
        .expect(201, "");
    let started = Instant::now();
    loop {
        let document = ada.get("/api/documents/deadline").await.expect(200, "");
        if document["comments_open"] == false {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the deadline never passed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ada.comment("deadline", json!({ "anchor": section, "body": "Late." }))
        .await
        .expect(409, "comments_closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_comments_is_rate_limited_per_person() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "burst").await;
    let ada = Api::new(&server, &server.add_user("ada@example.org", Role::Delegate));
    let bo = Api::new(&server, &server.add_user("bo@example.org", Role::Delegate));
    let section = json!({ "section": outline[0].0 });
    let mut n_accepted = 0;
    let mut refused = None;
    for n in 0..60 {
        let reply = ada
            .comment(
                "burst",
                json!({ "anchor": section, "body": format!("Comment {n}") }),
            )
            .await;
        if reply.status == 201 {
            n_accepted += 1;
        } else {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("a burst of 60 comments is limited");
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.body["code"], "rate_limited");
    assert!(
        refused.retry_after.is_some_and(|secs| secs >= 1),
        "{refused:?}"
    );
    // 30 at once (plus at most a few refilled meanwhile, one per 2 s).
    assert!((30..40).contains(&n_accepted), "{n_accepted} accepted");
    // Edits count too; other people are not affected.
    let list = ada.comments("burst", "").await;
    let first = list["threads"][0]["root"]["id"].as_u64().expect("id");
    ada.patch(
        &format!("/api/documents/burst/comments/{first}"),
        json!({ "body": "Edit" }),
    )
    .await
    .expect(429, "rate_limited");
    bo.comment("burst", json!({ "anchor": section, "body": "Mine" }))
        .await
        .expect(201, "");
    server.stop().await;
}

/// Reads the event stream until an event of `kind` arrives; returns its JSON.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, kind: &str) -> Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            if event.as_deref() == Some(kind) {
                return serde_json::from_str(&data).expect("JSON event data");
            }
        }
        let chunk = response
            .chunk()
            .await
            .expect("read the event stream")
            .expect("the event stream goes on");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_connected_members_within_a_second() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let outline = create_document(&server, "live").await;
    let ada_user = server.add_user("ada@example.org", Role::Delegate);
    let ada = Api::new(&server, &ada_user);
    let observer = server.add_user("obs@example.org", Role::Observer);
    let secretariat = Api::new(&server, &server.admin);

    // Two members follow the events: an observer and the author herself.
    let mut streams = Vec::new();
    for member in [&observer, &ada_user] {
        let mut response = reqwest::Client::new()
            .get(server.http_url("/api/documents/live/events"))
            .bearer_auth(&member.token)
            .send()
            .await
            .expect("events");
        assert_eq!(response.status().as_u16(), 200);
        let mut buffer = String::new();
        tokio::time::timeout(PATIENCE, next_event(&mut response, &mut buffer, "ready"))
            .await
            .expect("the stream opens with a ready event");
        streams.push((response, buffer));
    }

    let started = Instant::now();
    let created = ada
        .comment(
            "live",
            json!({ "anchor": range_on(&outline[0].1[1], "village"), "body": "Towns too." }),
        )
        .await
        .expect(201, "");
    let id = created["id"].as_u64();
    for (response, buffer) in &mut streams {
        let event = tokio::time::timeout_at(
            (started + Duration::from_secs(1)).into(),
            next_event(response, buffer, "comment.created"),
        )
        .await
        .expect("comment.created within a second");
        assert_eq!(event["kind"], "comment.created");
        assert_eq!(event["data"]["id"].as_u64(), id);
        assert_eq!(event["data"]["body"], "Towns too.");
        assert_eq!(event["data"]["anchor"]["quote"], "village");
    }

    let path = format!("/api/documents/live/comments/{}", id.expect("id"));
    let changes = [
        (
            "PATCH",
            path.clone(),
            json!({ "body": "Towns and cities." }),
            "comment.updated",
        ),
        (
            "POST",
            format!("{path}/resolve"),
            json!({}),
            "comment.resolved",
        ),
        (
            "POST",
            format!("{path}/reopen"),
            json!({}),
            "comment.reopened",
        ),
        (
            "POST",
            format!("{path}/hide"),
            json!({ "reason": "Off topic" }),
            "comment.hidden",
        ),
        ("DELETE", path.clone(), Value::Null, "comment.deleted"),
    ];
    for (method, path, body, kind) in changes {
        let api = if kind == "comment.hidden" {
            &secretariat
        } else {
            &ada
        };
        let started = Instant::now();
        let body = (!body.is_null()).then_some(body);
        let reply = api.send(method, &path, body).await;
        assert_eq!(reply.status, 200, "{kind}: {reply:?}");
        for (response, buffer) in &mut streams {
            let event = tokio::time::timeout_at(
                (started + Duration::from_secs(1)).into(),
                next_event(response, buffer, kind),
            )
            .await
            .unwrap_or_else(|_| panic!("{kind} within a second"));
            assert_eq!(event["data"]["id"].as_u64(), id, "{kind}");
            if kind == "comment.hidden" {
                // Events go to every member: a hidden body is not in them.
                assert_eq!(event["data"]["body"], Value::Null);
                assert_eq!(event["data"]["hidden_reason"], "Off topic");
            }
        }
    }
    server.stop().await;
}
