//! Exports end to end, through the real server: the demo drafts as PDF (text extracted with
//! poppler's `pdftotext`, pages and metadata with `pdfinfo`), Markdown that imports back into
//! the same structure, HTML with every paragraph escaped, file names, the cache, errors, and
//! the command line on a stopped server.

use std::path::Path;
use std::process::Command;

use manifesto_tests::{run_manifesto, TestServer};
use serde_json::{json, Value};

const DEMO_EN: &str = include_str!("../../server/demo/manifesto-demo.en.md");
const DEMO_FR: &str = include_str!("../../server/demo/manifesto-demo.fr.md");

/// A response: status, headers, body.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &TestServer) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: server.http_url(""),
            token: server.admin.token.clone(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("HTTP request");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("body").to_vec(),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// Creates document `id` by importing `markdown`; returns its structured text.
    async fn import(&self, id: &str, markdown: &str) -> Value {
        let created = self
            .send(
                reqwest::Method::POST,
                "/api/documents",
                Some(json!({ "id": id, "start_with": "markdown", "markdown": markdown })),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.json());
        self.get(&format!("/api/documents/{id}/text")).await.json()
    }
}

/// Letters and digits only, lowercase: what survives line breaks, hyphenation and spacing.
fn letters(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// White space (any kind, no-break included) collapsed to one space.
fn collapse(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '\u{202f}' || c == '\u{a0}')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn plain(spans: &Value) -> String {
    spans
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["text"].as_str().expect("span text"))
        .collect()
}

/// Every (number, plain text) of the paragraphs of a text view.
fn paragraphs(text: &Value) -> Vec<(Option<String>, String)> {
    let mut all = Vec::new();
    for section in text["sections"].as_array().expect("sections") {
        for p in section["paragraphs"].as_array().expect("paragraphs") {
            all.push((p["number"].as_str().map(str::to_owned), plain(&p["text"])));
        }
    }
    all
}

fn poppler(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install poppler-utils (scripts/test.sh does)")
        });
    assert!(output.status.success(), "{program} {args:?} failed");
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn check_pdf(pdf: &[u8], text: &Value, dir: &Path, language: &str) {
    assert!(pdf.starts_with(b"%PDF-"));
    let path = dir.join(format!("{language}.pdf"));
    std::fs::write(&path, pdf).expect("write the PDF");
    let path = path.to_str().expect("path");
    let extracted = poppler("pdftotext", &["-enc", "UTF-8", path, "-"]);
    let flat = letters(&extracted);
    // Layout mode keeps each number on the line of its paragraph's first words.
    let spaced = collapse(&poppler(
        "pdftotext",
        &["-enc", "UTF-8", "-layout", path, "-"],
    ));
    let all = paragraphs(text);
    assert!(all.len() >= 15, "{language}: {} paragraphs", all.len());
    for (number, paragraph) in &all {
        assert!(
            flat.contains(&letters(paragraph)),
            "{language}: paragraph missing from the PDF: {paragraph}\n--- extracted:\n{extracted}"
        );
        if let Some(number) = number {
            let first_word = paragraph.split_whitespace().next().expect("a word");
            assert!(
                spaced.contains(&format!("{number} {first_word}")),
                "{language}: {number} does not number «{first_word}…»"
            );
        }
    }
    for section in text["sections"].as_array().expect("sections") {
        let heading = plain(&section["heading"]);
        if let Some(n) = section["number"].as_u64() {
            assert!(
                spaced.contains(&collapse(&format!("{n}. {heading}"))),
                "{language}: heading {n}. {heading}"
            );
        }
    }
    let info = poppler("pdfinfo", &[path]);
    let title = text["metadata"]["title"].as_str().expect("title");
    assert!(
        info.lines()
            .any(|l| l.starts_with("Title:") && collapse(&l["Title:".len()..]) == collapse(title)),
        "{language}: title metadata\n{info}"
    );
    assert!(
        info.lines()
            .any(|l| l.starts_with("Tagged:") && l.ends_with("yes")),
        "{language}: not tagged\n{info}"
    );
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("page count");
    // Title page, contents, then a few pages of text.
    assert!((4..=12).contains(&pages), "{language}: {pages} pages");
    if language == "fr" {
        for accented in ["Préambule", "l’économie", "Genève", "créent", "août"]
            .iter()
            .filter(|w| text.to_string().contains(**w))
        {
            assert!(extracted.contains(accented), "fr: {accented} lost");
        }
        // « rien pour nous sans nous », with its narrow no-break spaces (any space extracted).
        assert!(
            spaced.contains("« rien pour nous sans nous »"),
            "fr: guillemets lost\n{extracted}"
        );
        assert!(extracted.contains("Projet — version du"), "fr: status");
    } else {
        assert!(extracted.contains("Draft — version of"), "en: status");
        // The diagonal mark is drawn as outlines: no stray letters in the text.
        assert!(
            !extracted.contains("DRAFT"),
            "en: the mark leaked into the text"
        );
    }
}

#[tokio::test]
async fn the_demo_drafts_export_to_a_pdf_with_every_paragraph_numbered_and_tagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server);
    for (id, draft, language) in [("demo-en", DEMO_EN, "en"), ("demo-fr", DEMO_FR, "fr")] {
        let text = api.import(id, draft).await;
        let reply = api.get(&format!("/api/documents/{id}/export.pdf")).await;
        assert_eq!(reply.status, 200, "{}", reply.json());
        assert_eq!(reply.header("content-type"), "application/pdf");
        assert_eq!(
            reply.header("content-disposition"),
            format!("attachment; filename=\"{id}-current.pdf\"")
        );
        check_pdf(&reply.body, &text, dir.path(), language);
    }
    server.stop().await;
}

#[tokio::test]
async fn markdown_export_imports_back_into_the_same_structure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server);
    for (id, draft) in [("demo-en", DEMO_EN), ("demo-fr", DEMO_FR)] {
        let text = api.import(id, draft).await;
        let reply = api
            .get(&format!("/api/documents/{id}/export.md?version=1"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.json());
        assert!(reply.header("content-type").starts_with("text/markdown"));
        let markdown = String::from_utf8(reply.body).expect("UTF-8");
        assert!(markdown.starts_with("---\ntitle: \""), "{markdown}");
        let again = api.import(&format!("{id}-again"), &markdown).await;
        assert_eq!(again["metadata"]["title"], text["metadata"]["title"]);
        assert_eq!(again["metadata"]["forum"], text["metadata"]["forum"]);
        let shape = |text: &Value| -> Vec<Value> {
            text["sections"]
                .as_array()
                .expect("sections")
                .iter()
                .map(|s| {
                    json!({
                        "kind": s["kind"],
                        "number": s["number"],
                        "heading": s["heading"],
                        "paragraphs": s["paragraphs"].as_array().expect("paragraphs").iter()
                            .map(|p| json!([p["number"], p["text"]])).collect::<Vec<_>>(),
                    })
                })
                .collect()
        };
        assert_eq!(shape(&again), shape(&text), "{id}: round trip\n{markdown}");
    }
    server.stop().await;
}

#[tokio::test]
async fn html_export_is_one_page_with_every_paragraph_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server);
    let hostile = "---\ntitle: \"<script>alert('t')</script> & co\"\nlanguage: fr\n---\n\n# 1. Section <b>\n\n1. Un <img src=x onerror=alert(1)> « texte » & *fin*\n";
    for (id, draft) in [("demo-fr", DEMO_FR), ("hostile", hostile)] {
        let text = api.import(id, draft).await;
        let reply = api.get(&format!("/api/documents/{id}/export.html")).await;
        assert_eq!(reply.status, 200, "{}", reply.json());
        assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
        let html = String::from_utf8(reply.body).expect("UTF-8");
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"fr\">"));
        assert!(html.contains("<style>"));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        for (_, paragraph) in paragraphs(&text) {
            let escaped = paragraph
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;");
            let without_marks = html.replace("<em>", "").replace("</em>", "");
            let without_marks = without_marks
                .replace("<strong>", "")
                .replace("</strong>", "");
            assert!(
                without_marks.contains(&escaped),
                "{id}: missing {escaped}\n{html}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn exports_are_named_cached_and_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let api = Api::new(&server);
    api.import("manifesto-2026", DEMO_EN).await;
    let path = "/api/documents/manifesto-2026/export.pdf?version=1&annex=true";
    let first = api.get(path).await;
    assert_eq!(first.status, 200, "{}", first.json());
    assert_eq!(first.header("x-cache"), "miss");
    assert_eq!(
        first.header("content-disposition"),
        "attachment; filename=\"manifesto-2026-v1.pdf\""
    );
    let second = api.get(path).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-cache"), "hit");
    assert_eq!(second.body, first.body);
    // Without the annex it is another file.
    let plain = api
        .get("/api/documents/manifesto-2026/export.pdf?version=1")
        .await;
    assert_eq!(plain.header("x-cache"), "miss");

    let missing = api
        .get("/api/documents/manifesto-2026/export.pdf?version=99")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "version_not_found");
    let format = api.get("/api/documents/manifesto-2026/export.docx").await;
    assert_eq!(format.status, 422);
    assert_eq!(format.json()["code"], "invalid_field");
    let document = api.get("/api/documents/nothing-here/export.md").await;
    assert_eq!(document.status, 404);
    assert_eq!(document.json()["code"], "document_not_found");

    // Once adopted, the adopted version is what an export gives by default.
    let moved = api
        .send(
            reqwest::Method::POST,
            "/api/documents/manifesto-2026/phase",
            Some(json!({ "phase": "adopted" })),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.json());
    let adopted = api.get("/api/documents/manifesto-2026/export.html").await;
    assert_eq!(adopted.status, 200);
    assert_eq!(
        adopted.header("content-disposition"),
        "attachment; filename=\"manifesto-2026-adopted.html\""
    );
    let html = String::from_utf8(adopted.body).expect("UTF-8");
    assert!(html.contains("Adopted on "), "{html}");
    assert!(!html.contains("Draft — version of"), "{html}");

    // The command line exports the same document from the stopped server's data.
    server.stop().await;
    let out = dir.path().join("cli.md");
    let printed = run_manifesto(
        &[
            "export",
            "--document",
            "manifesto-2026",
            "--format",
            "md",
            "--annex",
            "--out",
            out.to_str().expect("path"),
        ],
        dir.path(),
        "",
    )
    .expect("manifesto export");
    assert!(printed.contains("manifesto-2026-adopted.md"), "{printed}");
    let markdown = std::fs::read_to_string(&out).expect("exported file");
    assert!(markdown.contains("\n# 1. "), "{markdown}");
    assert!(markdown.contains("status: \"Adopted on "), "{markdown}");
    assert!(markdown.contains("\n# Annex: amendments\n"), "{markdown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_annex_lists_real_amendments_with_their_votes_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server);
    let text = admin.import("annexed", DEMO_EN).await;
    let target = text["sections"][1]["paragraphs"][0]["id"]
        .as_str()
        .expect("paragraph 1.1")
        .to_owned();
    let other = text["sections"][1]["paragraphs"][1]["id"]
        .as_str()
        .expect("paragraph 1.2")
        .to_owned();
    let post = |path: String, body: Value| {
        let admin = &admin;
        async move { admin.send(reqwest::Method::POST, &path, Some(body)).await }
    };
    let phase =
        |p: &'static str| post("/api/documents/annexed/phase".into(), json!({ "phase": p }));
    assert_eq!(phase("amendments").await.status, 200);
    let spans = |t: &str| json!([{ "text": t, "em": false, "strong": false }]);
    let adopted = post(
        "/api/documents/annexed/amendments".into(),
        json!({ "kind": "replace", "target": target, "text": spans("Essential activities belong to the people who depend on them."), "rationale": "Shorter." }),
    )
    .await;
    assert_eq!(adopted.status, 201);
    let withdrawn = post(
        "/api/documents/annexed/amendments".into(),
        json!({ "kind": "delete", "target": other, "rationale": "Redundant." }),
    )
    .await;
    assert_eq!(withdrawn.status, 201);
    assert_eq!(
        post(
            "/api/documents/annexed/amendments/2/withdraw".into(),
            json!({})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        post(
            "/api/documents/annexed/amendments/1/screen".into(),
            json!({ "decision": "vote" })
        )
        .await
        .status,
        200
    );
    assert_eq!(phase("voting").await.status, 200);
    // Eligible voters are those who exist when the ballot opens.
    let delegate = server.add_user("voter@example.org", manifesto_server::auth::Role::Delegate);
    let ballot = post(
        "/api/documents/annexed/ballots".into(),
        json!({ "subject": { "kind": "amendment", "amendment": 1 }, "rules": { "majority": "two_thirds", "visibility": "roll_call" } }),
    )
    .await;
    assert_eq!(ballot.status, 201, "{}", ballot.json());
    let id = ballot.json()["id"].as_u64().expect("ballot");
    let voter = Api {
        client: reqwest::Client::new(),
        base: server.http_url(""),
        token: delegate.token.clone(),
    };
    let voted = voter
        .send(
            reqwest::Method::PUT,
            &format!("/api/documents/annexed/ballots/{id}/vote"),
            Some(json!({ "choice": "yes" })),
        )
        .await;
    assert_eq!(voted.status, 200);
    let closed = post(
        format!("/api/documents/annexed/ballots/{id}/close"),
        json!({}),
    )
    .await;
    let outcome = closed.json()["outcome"]["text"]
        .as_str()
        .expect("outcome")
        .to_owned();
    assert!(outcome.starts_with("adopted: 1 yes"), "{outcome}");
    // The follow-up applies it in the background.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while admin
        .get("/api/documents/annexed/amendments/1")
        .await
        .json()["status"]
        != "adopted"
    {
        assert!(tokio::time::Instant::now() < deadline, "not applied");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let markdown = admin
        .get("/api/documents/annexed/export.md?annex=true")
        .await;
    assert_eq!(markdown.status, 200);
    let markdown = String::from_utf8(markdown.body).expect("UTF-8");
    assert!(
        markdown.contains("Essential activities belong to the people"),
        "the adopted text"
    );
    assert!(
        collapse(&markdown).contains(&outcome),
        "the vote, stated with its rule:\n{markdown}"
    );
    assert!(
        markdown.contains("A1") && markdown.contains("A2"),
        "both amendments listed"
    );
    let html = admin
        .get("/api/documents/annexed/export.html?annex=true")
        .await;
    let html = String::from_utf8(html.body).expect("UTF-8");
    assert!(collapse(&html).contains(&outcome), "{html}");
    let pdf = admin
        .get("/api/documents/annexed/export.pdf?annex=true")
        .await;
    assert_eq!(pdf.status, 200);
    let path = dir.path().join("annex.pdf");
    std::fs::write(&path, &pdf.body).expect("write");
    let extracted = poppler("pdftotext", &[path.to_str().expect("path"), "-"]);
    assert!(
        letters(&extracted).contains(&letters(&outcome)),
        "the PDF annex states the vote"
    );
    // Without the annex, no vote in the text.
    let plain_md = admin.get("/api/documents/annexed/export.md").await;
    assert!(!String::from_utf8(plain_md.body)
        .expect("UTF-8")
        .contains(&outcome));
    server.stop().await;
}
