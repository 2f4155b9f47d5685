//! Amendments through the API with real WebSocket clients watching the live text: tabling,
//! support, revisions, screening, friendly changes applied as minimal edits, competing
//! amendments falling, merges with later corrections and refused conflicts.

use std::time::Duration;

use manifesto_server::auth::Role;
use manifesto_tests::{JsonApi as Api, TestClient, TestServer};
use serde_json::{json, Value};
use yrs::types::xml::XmlOut;
use yrs::{Text, Transact, Xml, XmlFragment};

const DEMO_EN: &str = include_str!("../../server/demo/manifesto-demo.en.md");

fn spans(text: &str) -> Value {
    json!([{ "text": text, "em": false, "strong": false }])
}

fn plain(rich: &Value) -> String {
    rich.as_array()
        .map(|spans| spans.iter().filter_map(|s| s["text"].as_str()).collect())
        .unwrap_or_default()
}

/// Paragraphs of the current text as (id, number, plain text).
async fn paragraphs(api: &Api, doc: &str) -> Vec<(String, Option<String>, String)> {
    let (status, text) = api.get(&format!("/api/documents/{doc}/text")).await;
    assert_eq!(status, 200);
    text["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .flat_map(|s| s["paragraphs"].as_array().expect("paragraphs").clone())
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_owned(),
                p["number"].as_str().map(str::to_owned),
                plain(&p["text"]),
            )
        })
        .collect()
}

/// The plain text of paragraph `id` in a client's replica.
fn client_paragraph(client: &TestClient, id: &str) -> Option<String> {
    let fragment = client.doc.get_or_insert_xml_fragment("prosemirror");
    let txn = client.doc.transact();
    for child in fragment.children(&txn) {
        if let XmlOut::Element(element) = child {
            if element
                .get_attribute(&txn, "id")
                .map(|v| v.to_string(&txn))
                .as_deref()
                == Some(id)
            {
                return Some(match element.get(&txn, 0) {
                    Some(XmlOut::Text(text)) => {
                        let mut plain = String::new();
                        for diff in text.diff(&txn, yrs::types::text::YChange::identity) {
                            if let yrs::Out::Any(yrs::Any::String(s)) = diff.insert {
                                plain.push_str(&s);
                            }
                        }
                        plain
                    }
                    _ => String::new(),
                });
            }
        }
    }
    None
}

async fn table(api: &Api, doc: &str, body: Value) -> Value {
    let (status, amendment) = api
        .post(&format!("/api/documents/{doc}/amendments"), body)
        .await;
    assert_eq!(status, 201, "{amendment}");
    amendment
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabling_support_screening_and_friendly_changes_reach_the_live_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin.token);
    let (status, _) = admin
        .post(
            "/api/documents",
            json!({ "id": "m", "start_with": "markdown", "markdown": DEMO_EN }),
        )
        .await;
    assert_eq!(status, 201);
    let amina = server.add_user("amina@example.org", Role::Delegate);
    let ben = server.add_user("ben@example.org", Role::Delegate);
    let observer = server.add_user("olga@example.org", Role::Observer);
    let (a, b, o) = (
        Api::new(&server, &amina.token),
        Api::new(&server, &ben.token),
        Api::new(&server, &observer.token),
    );
    let paras = paragraphs(&admin, "m").await;
    let (p11, p12, p21) = (paras[5].clone(), paras[6].clone(), paras[8].clone());
    assert_eq!(p11.1.as_deref(), Some("1.1"));

    // Drafting: no amendments yet.
    let replace = |target: &str, text: &str| json!({ "kind": "replace", "target": target, "text": spans(text), "rationale": "Clearer." });
    let (status, body) = a
        .post("/api/documents/m/amendments", replace(&p11.0, "x"))
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("phase_closed")));
    let (status, _) = admin
        .post("/api/documents/m/phase", json!({ "phase": "amendments" }))
        .await;
    assert_eq!(status, 200);

    let mut watcher = TestClient::connect(&server.ws_url("m"))
        .await
        .expect("watcher");
    watcher.sync().await.expect("sync");

    // A friendly change: one word replaced.
    let friendly_text = p11.2.replace("as close as possible", "as near as possible");
    assert_ne!(friendly_text, p11.2);
    let friendly = table(&a, "m", replace(&p11.0, &friendly_text)).await;
    assert_eq!(friendly["label"], "A1");
    assert_eq!(friendly["status"], "submitted");
    assert_eq!(friendly["target_number"], "1.1");
    assert_eq!(friendly["outdated"], false);
    let diff = friendly["diff"].to_string();
    assert!(
        diff.contains(r#"{"kind":"delete","text":"close"}"#),
        "{diff}"
    );
    assert!(
        diff.contains(r#"{"kind":"insert","text":"near"}"#),
        "{diff}"
    );

    // Editable by its author until someone supports it; then frozen.
    let (status, _) = a
        .call(
            reqwest::Method::PATCH,
            "/api/documents/m/amendments/1",
            Some(json!({ "rationale": "Plainer English." })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = b
        .call(
            reqwest::Method::PATCH,
            "/api/documents/m/amendments/1",
            Some(json!({ "rationale": "Mine now" })),
        )
        .await;
    assert_eq!(status, 403, "only the author edits");
    let (status, supported) = b
        .post("/api/documents/m/amendments/1/support", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(supported["supporters"][0]["id"], ben.id);
    assert_eq!(supported["editable"], false);
    let (status, body) = a
        .call(
            reqwest::Method::PATCH,
            "/api/documents/m/amendments/1",
            Some(json!({ "rationale": "Again" })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("amendment_status"))
    );
    let (status, _) = a
        .post("/api/documents/m/amendments/1/support", json!({}))
        .await;
    assert_eq!(status, 403, "an author does not support their own");
    let (status, _) = o
        .post("/api/documents/m/amendments/1/support", json!({}))
        .await;
    assert_eq!(status, 403, "observers do not support");
    let (status, _) = o
        .post("/api/documents/m/amendments", replace(&p12.0, "x"))
        .await;
    assert_eq!(status, 403, "observers do not table");

    // A minimum of two supporters: screening waits.
    let (status, _) = admin
        .call(
            reqwest::Method::PATCH,
            "/api/documents/m",
            Some(json!({ "min_supporters": 2 })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = admin
        .post(
            "/api/documents/m/amendments/1/screen",
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_enough_supporters"))
    );
    let (status, _) = admin
        .call(
            reqwest::Method::PATCH,
            "/api/documents/m",
            Some(json!({ "min_supporters": 1 })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, accepted) = admin
        .post(
            "/api/documents/m/amendments/1/screen",
            json!({ "decision": "accept", "reason": "Friendly" }),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    let version = accepted["applied_version"].as_u64().expect("a version");
    watcher
        .wait_until(|c| client_paragraph(c, &p11.0).as_deref() == Some(friendly_text.as_str()))
        .await
        .expect("the change reaches the live client, in the same paragraph (same id)");
    let (_, history) = admin
        .get(&format!("/api/documents/m/blocks/{}/history", p11.0))
        .await;
    let last = history
        .as_array()
        .expect("history")
        .last()
        .expect("entry")
        .clone();
    assert_eq!(last["version"], version);
    assert_eq!(last["kind"], "amendment");
    assert_eq!(last["name"], "Amendment A1 accepted");

    // Insertion after a paragraph gets a new id; a deletion removes one; both applied.
    let insert = table(
        &b,
        "m",
        json!({ "kind": "insert_after", "target": p12.0, "text": spans("A new paragraph."), "rationale": "Missing." }),
    )
    .await;
    let delete = table(
        &a,
        "m",
        json!({ "kind": "delete", "target": p21.0, "rationale": "Redundant." }),
    )
    .await;
    for (amendment, supporter) in [(&insert, &a), (&delete, &b)] {
        let n = amendment["id"].as_u64().expect("id");
        let (status, _) = supporter
            .post(
                &format!("/api/documents/m/amendments/{n}/support"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let (status, body) = admin
            .post(
                &format!("/api/documents/m/amendments/{n}/screen"),
                json!({ "decision": "accept" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let after = paragraphs(&admin, "m").await;
    let at = after
        .iter()
        .position(|p| p.0 == p12.0)
        .expect("1.2 still there");
    assert_eq!(after[at + 1].2, "A new paragraph.");
    assert_eq!(after[at + 1].1.as_deref(), Some("1.3"), "numbers derive");
    assert!(!paras.iter().any(|p| p.0 == after[at + 1].0), "a fresh id");
    assert!(
        !after.iter().any(|p| p.0 == p21.0),
        "the deleted paragraph is gone"
    );
    assert_eq!(after.len(), paras.len());

    // Inadmissible needs a reason; a screened amendment is not screened twice.
    let late = table(&b, "m", replace(&p12.0, "Something else entirely.")).await;
    let n = late["id"].as_u64().expect("id");
    let (status, _) = admin
        .post(
            &format!("/api/documents/m/amendments/{n}/screen"),
            json!({ "decision": "inadmissible" }),
        )
        .await;
    assert_eq!(status, 422);
    let (status, body) = admin
        .post(
            &format!("/api/documents/m/amendments/{n}/screen"),
            json!({ "decision": "inadmissible", "reason": "Outside the scope of the Manifesto" }),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("inadmissible"))
    );
    let (status, _) = admin
        .post(
            &format!("/api/documents/m/amendments/{n}/screen"),
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(status, 409);
    watcher.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_amendments_order_fall_revise_merge_and_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin.token);
    admin
        .post(
            "/api/documents",
            json!({ "id": "c", "start_with": "markdown", "markdown": DEMO_EN }),
        )
        .await;
    admin
        .post("/api/documents/c/phase", json!({ "phase": "amendments" }))
        .await;
    let amina = server.add_user("amina@example.org", Role::Delegate);
    let ben = server.add_user("ben@example.org", Role::Delegate);
    let (a, b) = (
        Api::new(&server, &amina.token),
        Api::new(&server, &ben.token),
    );
    let paras = paragraphs(&admin, "c").await;
    let target = paras[6].clone();
    let words: Vec<&str> = target.2.split(' ').collect();

    // Two competing amendments: one changes a word, one rewrites the paragraph.
    let small = words
        .iter()
        .map(|w| if *w == "encouraged" { "urged" } else { w })
        .collect::<Vec<_>>()
        .join(" ");
    assert_ne!(small, target.2);
    let small = table(&a, "c", json!({ "kind": "replace", "target": target.0, "text": spans(&small), "rationale": "Stronger." })).await;
    let big = table(&b, "c", json!({ "kind": "replace", "target": target.0, "text": spans("Local authorities shall sign partnership agreements."), "rationale": "Binding." })).await;
    let (_, listed) = admin.get("/api/documents/c/amendments").await;
    let rank = |n: &Value| {
        listed
            .as_array()
            .expect("list")
            .iter()
            .find(|x| x["id"] == n["id"])
            .expect("listed")["vote_rank"]
            .as_u64()
    };
    assert_eq!(rank(&big), Some(1), "furthest from the original first");
    assert_eq!(rank(&small), Some(2));
    // The secretariat reorders.
    let (status, _) = admin
        .call(
            reqwest::Method::PUT,
            "/api/documents/c/amendments/order",
            Some(json!({ "target": target.0, "order": [small["id"], big["id"]] })),
        )
        .await;
    assert_eq!(status, 200);
    let (_, view) = admin
        .get(&format!("/api/documents/c/amendments/{}", small["id"]))
        .await;
    assert_eq!(view["vote_rank"], 1);

    // A revision withdraws the old one and links to it.
    let revised = table(&b, "c", json!({ "kind": "replace", "target": target.0, "text": spans("Local authorities shall sign multi-year partnership agreements."), "rationale": "Binding, multi-year.", "revises": big["id"] })).await;
    let (_, old) = admin
        .get(&format!("/api/documents/c/amendments/{}", big["id"]))
        .await;
    assert_eq!(old["status"], "withdrawn");
    assert_eq!(old["revised_by"], revised["id"]);

    // An editorial correction elsewhere in the paragraph after the amendment was written: the
    // amendment is outdated but merges, keeping the correction.
    let corrected = format!("{} (see annex)", target.2);
    let (status, _) = admin
        .post(
            "/api/documents/c/corrections",
            json!({ "block": target.0, "text": spans(&corrected), "reason": "Reference" }),
        )
        .await;
    assert_eq!(status, 201);
    let (_, view) = admin
        .get(&format!("/api/documents/c/amendments/{}", small["id"]))
        .await;
    assert_eq!(view["outdated"], true);
    let (status, applied) = admin
        .post(
            &format!("/api/documents/c/amendments/{}/screen", small["id"]),
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let now = paragraphs(&admin, "c").await;
    let text = &now.iter().find(|p| p.0 == target.0).expect("kept its id").2;
    assert!(
        text.contains("urged") && text.ends_with("(see annex)"),
        "{text}"
    );
    // The competing revision fell.
    let (_, fallen) = admin
        .get(&format!("/api/documents/c/amendments/{}", revised["id"]))
        .await;
    assert_eq!(fallen["status"], "fallen");

    // Re-screened against the new text, it applies; an unmergeable one is refused whole.
    let other = paras[7].clone();
    let rewrite = table(&a, "c", json!({ "kind": "replace", "target": other.0, "text": spans("Territorial hubs need stable public support."), "rationale": "Shorter." })).await;
    let (status, _) = admin
        .post(
            "/api/documents/c/corrections",
            json!({ "block": other.0, "text": spans("Cooperation hubs deserve public support."), "reason": "Simplified" }),
        )
        .await;
    assert_eq!(status, 201);
    let before = paragraphs(&admin, "c").await;
    let (status, body) = admin
        .post(
            &format!("/api/documents/c/amendments/{}/screen", rewrite["id"]),
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    assert!(body["message"]
        .as_str()
        .expect("message")
        .contains(&other.0));
    assert_eq!(paragraphs(&admin, "c").await, before, "nothing applied");
    let (_, still) = admin
        .get(&format!("/api/documents/c/amendments/{}", rewrite["id"]))
        .await;
    assert_eq!(still["status"], "submitted");

    // The pending cap.
    let (status, _) = admin
        .call(
            reqwest::Method::PATCH,
            "/api/documents/c",
            Some(json!({ "max_pending_amendments": 1 })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = a
        .post(
            "/api/documents/c/amendments",
            json!({ "kind": "delete", "target": paras[9].0, "rationale": "x" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Withdrawing one's own pending amendment frees a place.
    let (status, _) = a
        .post(
            &format!("/api/documents/c/amendments/{}/withdraw", rewrite["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    table(
        &a,
        "c",
        json!({ "kind": "delete", "target": paras[9].0, "rationale": "x" }),
    )
    .await;
    server.stop().await;
}

/// Polls `check` on amendment `n` until it holds (the follow-up of a closed ballot runs in the
/// background).
async fn wait_for_amendment(api: &Api, doc: &str, n: u64, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, view) = api
            .get(&format!("/api/documents/{doc}/amendments/{n}"))
            .await;
        if check(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "amendment {n} stuck: {view}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_process_from_tabling_to_the_adopted_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin.token);
    let (status, _) = admin
        .post(
            "/api/documents",
            json!({ "id": "process", "start_with": "markdown", "markdown": DEMO_EN }),
        )
        .await;
    assert_eq!(status, 201);
    admin
        .post(
            "/api/documents/process/phase",
            json!({ "phase": "amendments" }),
        )
        .await;
    let d: Vec<_> = (1..=5)
        .map(|i| server.add_user(&format!("delegate{i}@example.org"), Role::Delegate))
        .collect();
    let apis: Vec<Api> = d.iter().map(|u| Api::new(&server, &u.token)).collect();
    let original = paragraphs(&admin, "process").await;
    let (pa, pb, pc) = (
        original[5].clone(),
        original[9].clone(),
        original[12].clone(),
    );

    // Every delegate's client, and the secretariat's, watch the live text.
    let mut clients = Vec::new();
    for user in [&d[0], &d[1]] {
        let mut client = TestClient::connect(&server.ws_url_with_token("process", &user.token))
            .await
            .expect("connect");
        client.sync().await.expect("sync");
        clients.push(client);
    }

    // Three delegates table amendments: a friendly one, two competing for one paragraph, and
    // a deletion.
    let friendly_text = format!(
        "{} — in every territory.",
        pa.2.trim_end_matches(['.', ','])
    );
    let a1 = table(&apis[0], "process", json!({ "kind": "replace", "target": pa.0, "text": spans(&friendly_text), "rationale": "Scope." })).await;
    let small_text = pb.2.replacen("should", "must", 1);
    let small_text = if small_text == pb.2 {
        format!("{} Without delay.", pb.2)
    } else {
        small_text
    };
    let a2 = table(&apis[1], "process", json!({ "kind": "replace", "target": pb.0, "text": spans(&small_text), "rationale": "Firmer." })).await;
    let a3 = table(&apis[2], "process", json!({ "kind": "replace", "target": pb.0, "text": spans("An entirely different commitment."), "rationale": "Rewrite." })).await;
    let a4 = table(
        &apis[2],
        "process",
        json!({ "kind": "delete", "target": pc.0, "rationale": "Redundant." }),
    )
    .await;
    let number = |a: &Value| a["id"].as_u64().expect("number");
    let (n1, n2, n3, n4) = (number(&a1), number(&a2), number(&a3), number(&a4));

    // What needs a decision: delegates may support others' amendments; the secretariat screens.
    let (_, mine) = apis[0].get("/api/me/decisions?document=process").await;
    let to_support: Vec<u64> = mine["amendments_to_support"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["amendment"].as_u64().expect("n"))
        .collect();
    assert_eq!(to_support, vec![n2, n3, n4]);
    let (_, secretariat) = admin.get("/api/me/decisions?document=process").await;
    assert_eq!(
        secretariat["amendments_to_screen"]
            .as_array()
            .expect("list")
            .len(),
        4
    );

    // Screening: the friendly one is applied at once, the others go to a vote.
    let (status, body) = admin
        .post(
            &format!("/api/documents/process/amendments/{n1}/screen"),
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for n in [n2, n3, n4] {
        let (status, body) = admin
            .post(
                &format!("/api/documents/process/amendments/{n}/screen"),
                json!({ "decision": "vote" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // The competing pair: furthest from the original first.
    let (_, view) = admin
        .get(&format!("/api/documents/process/amendments/{n3}"))
        .await;
    assert_eq!(view["vote_rank"], 1);
    admin
        .post("/api/documents/process/phase", json!({ "phase": "voting" }))
        .await;

    let rules = json!({ "majority": "simple", "visibility": "secret" });
    let vote = |n: u64, choices: [&'static str; 5]| {
        let admin = &admin;
        let apis = &apis;
        let rules = rules.clone();
        async move {
            let (status, ballot) = admin
                .post(
                    "/api/documents/process/ballots",
                    json!({ "subject": { "kind": "amendment", "amendment": n }, "rules": rules }),
                )
                .await;
            assert_eq!(status, 201, "{ballot}");
            let id = ballot["id"].as_u64().expect("ballot");
            for (api, choice) in apis.iter().zip(choices) {
                let (status, body) = api
                    .call(
                        reqwest::Method::PUT,
                        &format!("/api/documents/process/ballots/{id}/vote"),
                        Some(json!({ "choice": choice })),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
            let (status, closed) = admin
                .post(
                    &format!("/api/documents/process/ballots/{id}/close"),
                    json!({}),
                )
                .await;
            assert_eq!(status, 200, "{closed}");
            closed
        }
    };
    // The rewrite is rejected, the small change adopted, the deletion adopted.
    vote(n3, ["no", "no", "yes", "no", "abstain"]).await;
    wait_for_amendment(&admin, "process", n3, |a| a["status"] == "rejected").await;
    vote(n2, ["yes", "yes", "no", "yes", "abstain"]).await;
    let adopted = wait_for_amendment(&admin, "process", n2, |a| a["status"] == "adopted").await;
    assert!(
        adopted["history"]
            .to_string()
            .contains("adopted: 3 yes, 1 no, 1 abstention"),
        "{adopted}"
    );
    vote(n4, ["yes", "yes", "yes", "yes", "yes"]).await;
    wait_for_amendment(&admin, "process", n4, |a| a["status"] == "adopted").await;

    // The text holds exactly the adopted changes, in the store and in every client.
    let now = paragraphs(&admin, "process").await;
    let mut expected = original.clone();
    for p in expected.iter_mut() {
        if p.0 == pa.0 {
            p.2 = friendly_text.clone();
        } else if p.0 == pb.0 {
            p.2 = small_text.clone();
        }
    }
    expected.retain(|p| p.0 != pc.0);
    let strip = |all: &[(String, Option<String>, String)]| {
        all.iter()
            .map(|p| (p.0.clone(), p.2.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&now), strip(&expected));
    for client in clients.iter_mut() {
        client
            .wait_until(|c| {
                client_paragraph(c, &pc.0).is_none()
                    && client_paragraph(c, &pb.0).as_deref() == Some(small_text.as_str())
                    && client_paragraph(c, &pa.0).as_deref() == Some(friendly_text.as_str())
            })
            .await
            .expect("every client ends with the adopted text");
        for (id, _, text) in &expected {
            assert_eq!(client_paragraph(client, id).as_deref(), Some(text.as_str()));
        }
    }
    // The history records them.
    let (_, history) = admin
        .get(&format!("/api/documents/process/blocks/{}/history", pb.0))
        .await;
    let last = history
        .as_array()
        .expect("history")
        .last()
        .expect("entry")
        .clone();
    assert_eq!(last["name"], format!("Amendment A{n2} adopted"));
    assert!(last["note"]
        .as_str()
        .expect("note")
        .starts_with("adopted: 3 yes"));
    let (_, history) = admin
        .get(&format!("/api/documents/process/blocks/{}/history", pc.0))
        .await;
    assert_eq!(
        history.as_array().expect("history").last().expect("entry")["change"],
        "removed"
    );

    // The final ballot adopts the whole text.
    admin
        .post(
            "/api/documents/process/phase",
            json!({ "phase": "final_vote" }),
        )
        .await;
    let (status, ballot) = admin
        .post("/api/documents/process/ballots", json!({ "subject": { "kind": "final_text" }, "rules": { "majority": "two_thirds", "visibility": "roll_call" } }))
        .await;
    assert_eq!(status, 201, "{ballot}");
    let id = ballot["id"].as_u64().expect("ballot");
    for api in &apis {
        api.call(
            reqwest::Method::PUT,
            &format!("/api/documents/process/ballots/{id}/vote"),
            Some(json!({ "choice": "yes" })),
        )
        .await;
    }
    admin
        .post(
            &format!("/api/documents/process/ballots/{id}/close"),
            json!({}),
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, document) = admin.get("/api/documents/process").await;
        if document["phase"] == "adopted" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not adopted: {document}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for client in clients {
        client.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_made_at_once_apply_an_amendment_once_and_never_a_fallen_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin.token);
    admin
        .post(
            "/api/documents",
            json!({ "id": "race", "start_with": "markdown", "markdown": DEMO_EN }),
        )
        .await;
    admin
        .post(
            "/api/documents/race/phase",
            json!({ "phase": "amendments" }),
        )
        .await;
    let voters: Vec<Api> = (0..3)
        .map(|i| {
            Api::new(
                &server,
                &server
                    .add_user(&format!("v{i}@example.org"), Role::Delegate)
                    .token,
            )
        })
        .collect();
    let paras = paragraphs(&admin, "race").await;

    // Two secretariat members accept the same insertion at the same moment: one applies it.
    let insert = table(&voters[0], "race", json!({ "kind": "insert_after", "target": paras[3].0, "text": spans("Inserted once."), "rationale": "x" })).await;
    let path = format!("/api/documents/race/amendments/{}/screen", insert["id"]);
    let body = json!({ "decision": "accept" });
    let (first, second) = tokio::join!(
        admin.post(&path, body.clone()),
        admin.post(&path, body.clone())
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let after = paragraphs(&admin, "race").await;
    assert_eq!(after.iter().filter(|p| p.2 == "Inserted once.").count(), 1);

    // Two competing amendments both adopted by ballots closed together: only the first to be
    // followed up is applied, the other falls.
    let target = paras[6].clone();
    let one = table(&voters[1], "race", json!({ "kind": "replace", "target": target.0, "text": spans("Version one."), "rationale": "x" })).await;
    let two = table(&voters[2], "race", json!({ "kind": "replace", "target": target.0, "text": spans("Version two."), "rationale": "x" })).await;
    for a in [&one, &two] {
        let (status, _) = admin
            .post(
                &format!("/api/documents/race/amendments/{}/screen", a["id"]),
                json!({ "decision": "vote" }),
            )
            .await;
        assert_eq!(status, 200);
    }
    admin
        .post("/api/documents/race/phase", json!({ "phase": "voting" }))
        .await;
    let mut ballots = Vec::new();
    for a in [&one, &two] {
        let (status, ballot) = admin
            .post(
                "/api/documents/race/ballots",
                json!({ "subject": { "kind": "amendment", "amendment": a["id"] }, "rules": { "majority": "simple", "visibility": "roll_call" } }),
            )
            .await;
        assert_eq!(status, 201, "{ballot}");
        let id = ballot["id"].as_u64().expect("id");
        for voter in &voters {
            voter
                .call(
                    reqwest::Method::PUT,
                    &format!("/api/documents/race/ballots/{id}/vote"),
                    Some(json!({ "choice": "yes" })),
                )
                .await;
        }
        ballots.push(id);
    }
    // A second ballot on an amendment that has one is refused.
    let (status, _) = admin
        .post(
            "/api/documents/race/ballots",
            json!({ "subject": { "kind": "amendment", "amendment": one["id"] }, "rules": { "majority": "simple", "visibility": "secret" } }),
        )
        .await;
    assert_eq!(status, 409);
    let (path_a, path_b) = (
        format!("/api/documents/race/ballots/{}/close", ballots[0]),
        format!("/api/documents/race/ballots/{}/close", ballots[1]),
    );
    let (a, b) = tokio::join!(
        admin.post(&path_a, json!({})),
        admin.post(&path_b, json!({}))
    );
    assert_eq!((a.0, b.0), (200, 200));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let statuses = loop {
        let (_, list) = admin.get("/api/documents/race/amendments").await;
        let statuses: Vec<String> = [&one, &two]
            .iter()
            .map(|a| {
                list.as_array()
                    .expect("list")
                    .iter()
                    .find(|x| x["id"] == a["id"])
                    .expect("listed")["status"]
                    .as_str()
                    .expect("status")
                    .to_owned()
            })
            .collect();
        if statuses.iter().all(|s| s != "to_vote") {
            break statuses;
        }
        assert!(tokio::time::Instant::now() < deadline, "{statuses:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["adopted", "fallen"], "{statuses:?}");
    let text = paragraphs(&admin, "race")
        .await
        .into_iter()
        .find(|p| p.0 == target.0)
        .expect("kept")
        .2;
    assert!(
        text == "Version one." || text == "Version two.",
        "exactly one applied: {text}"
    );

    // A final ballot adopted while the document had gone back to Voting does not adopt the
    // text later, when a new final ballot is rejected.
    admin
        .post(
            "/api/documents/race/phase",
            json!({ "phase": "final_vote" }),
        )
        .await;
    let rules = json!({ "majority": "simple", "visibility": "secret" });
    let (_, early) = admin
        .post(
            "/api/documents/race/ballots",
            json!({ "subject": { "kind": "final_text" }, "rules": rules }),
        )
        .await;
    let early = early["id"].as_u64().expect("ballot");
    for voter in &voters {
        voter
            .call(
                reqwest::Method::PUT,
                &format!("/api/documents/race/ballots/{early}/vote"),
                Some(json!({ "choice": "yes" })),
            )
            .await;
    }
    let (status, _) = admin
        .post(
            "/api/documents/race/phase",
            json!({ "phase": "voting", "reason": "One more amendment" }),
        )
        .await;
    assert_eq!(status, 200);
    admin
        .post(
            &format!("/api/documents/race/ballots/{early}/close"),
            json!({}),
        )
        .await;
    admin
        .post(
            "/api/documents/race/phase",
            json!({ "phase": "final_vote" }),
        )
        .await;
    let (_, late) = admin
        .post(
            "/api/documents/race/ballots",
            json!({ "subject": { "kind": "final_text" }, "rules": rules }),
        )
        .await;
    let late = late["id"].as_u64().expect("ballot");
    for voter in &voters {
        voter
            .call(
                reqwest::Method::PUT,
                &format!("/api/documents/race/ballots/{late}/vote"),
                Some(json!({ "choice": "no" })),
            )
            .await;
    }
    let (_, closed) = admin
        .post(
            &format!("/api/documents/race/ballots/{late}/close"),
            json!({}),
        )
        .await;
    assert_eq!(closed["outcome"]["result"], "rejected");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, document) = admin.get("/api/documents/race").await;
    assert_eq!(
        document["phase"], "final_vote",
        "a rejected final ballot leaves the phase alone"
    );
    // Corrections wait while the text is before the final vote.
    let (status, body) = admin
        .post(
            "/api/documents/race/corrections",
            json!({ "block": target.0, "text": spans("Late."), "reason": "x" }),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("phase_closed")));
    server.stop().await;
}
