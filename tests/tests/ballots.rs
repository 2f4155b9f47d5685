//! Ballots and votes end to end, through the real server: 1,000 concurrent vote requests from
//! 100 delegates leaving exactly one live vote each, changed votes counted once, refusals
//! (after close, observers, people not eligible, two choices in one request, wrong phase),
//! each majority and quorum rule stated in words, a secret ballot leaving no link between a
//! voter and a choice in the store (checked on its raw trees) with a recount from the
//! anonymous list, roll-call votes shown after close, hidden and live results, a deadline
//! closing a ballot by itself, and "what needs my decision".

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use manifesto_server::auth::Role;
use manifesto_tests::{TestServer, TestUser, PATIENCE};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// An answer: status and the JSON body (`Null` when not JSON).
#[derive(Debug)]
struct Reply {
    status: u16,
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

/// The JSON API as one account (bearer token).
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &TestServer, user: &TestUser) -> Api {
        Api::with_client(server, user, reqwest::Client::new())
    }

    fn with_client(server: &TestServer, user: &TestUser, client: reqwest::Client) -> Api {
        Api {
            client,
            base: server.http_url(""),
            token: user.token.clone(),
        }
    }

    /// Sends `body` as it is (raw bytes, JSON content type).
    async fn send_raw(&self, method: &str, path: &str, body: Option<String>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = (self.client)
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(PATIENCE * 3);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.send_raw(method, path, body.map(|b| b.to_string()))
            .await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    /// Votes `choice` in `ballot` of `document`.
    async fn vote(&self, document: &str, ballot: u64, choice: &str) -> Reply {
        self.send(
            "PUT",
            &format!("/api/documents/{document}/ballots/{ballot}/vote"),
            Some(json!({ "choice": choice })),
        )
        .await
    }

    /// Ballot `ballot` of `document` as this account sees it.
    async fn ballot(&self, document: &str, ballot: u64) -> Value {
        self.get(&format!("/api/documents/{document}/ballots/{ballot}"))
            .await
            .expect(200, "")
    }

    /// Opens a ballot; returns the answer.
    async fn open(&self, document: &str, body: Value) -> Reply {
        self.post(&format!("/api/documents/{document}/ballots"), body)
            .await
    }

    /// Opens a ballot that must open; returns its id.
    async fn open_ok(&self, document: &str, body: Value) -> u64 {
        let opened = self.open(document, body).await.expect(201, "");
        opened["id"].as_u64().expect("ballot id")
    }

    /// Closes a ballot that must close; returns its view.
    async fn close(&self, document: &str, ballot: u64) -> Value {
        self.post(
            &format!("/api/documents/{document}/ballots/{ballot}/close"),
            json!({}),
        )
        .await
        .expect(200, "")
    }

    /// Moves `document` to `phase` (as the secretariat).
    async fn phase(&self, document: &str, phase: &str) {
        self.post(
            &format!("/api/documents/{document}/phase"),
            json!({ "phase": phase }),
        )
        .await
        .expect(200, "");
    }
}

/// A ballot on amendment `amendment` with `rules`.
fn on_amendment(amendment: u64, rules: Value) -> Value {
    json!({ "subject": { "kind": "amendment", "amendment": amendment }, "rules": rules })
}

/// `n` delegates, made in parallel (each password hash takes a moment).
async fn delegates(server: &TestServer, prefix: &str, n: usize) -> Vec<TestUser> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let db = server.db.clone();
        let email = format!("{prefix}-{i}@example.org");
        tasks.push(tokio::task::spawn_blocking(move || {
            manifesto_tests::add_user(&db, &email, Role::Delegate).expect("delegate")
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.push(task.await.expect("task"));
    }
    all
}

/// A document, left in the Amendments phase, whose amendments 1 to 30 await a vote (all
/// insertions, which never compete, so adopting one makes no other fall).
async fn document_with_amendments(admin: &Api, id: &str) {
    admin
        .post(
            "/api/documents",
            json!({ "id": id, "title": id, "start_with": "template" }),
        )
        .await
        .expect(201, "");
    admin
        .send(
            "PATCH",
            &format!("/api/documents/{id}"),
            Some(json!({ "max_pending_amendments": 1000 })),
        )
        .await
        .expect(200, "");
    admin.phase(id, "amendments").await;
    let text = admin
        .get(&format!("/api/documents/{id}/text"))
        .await
        .expect(200, "");
    let target = text["sections"][0]["paragraphs"][0]["id"]
        .as_str()
        .expect("a paragraph")
        .to_owned();
    for n in 1..=30 {
        let amendment = admin
            .post(
                &format!("/api/documents/{id}/amendments"),
                json!({
                    "kind": "insert_after",
                    "target": target,
                    "text": [{ "text": format!("Proposal {n}."), "em": false, "strong": false }],
                    "rationale": "For the ballot tests.",
                }),
            )
            .await
            .expect(201, "");
        assert_eq!(amendment["id"], n);
        admin
            .post(
                &format!("/api/documents/{id}/amendments/{n}/screen"),
                json!({ "decision": "vote" }),
            )
            .await
            .expect(200, "");
    }
}

/// A document in the Voting phase whose amendments 1 to 30 await a vote.
async fn voting_document(_server: &TestServer, admin: &Api, id: &str) {
    document_with_amendments(admin, id).await;
    admin.phase(id, "voting").await;
}

/// The counts of a view's `tally`.
fn counts(tally: &Value) -> (u64, u64, u64) {
    (
        tally["yes"].as_u64().expect("yes"),
        tally["no"].as_u64().expect("no"),
        tally["abstain"].as_u64().expect("abstain"),
    )
}

/// `key` with `needle` somewhere inside.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every (tree, key, value) of the server's database, as raw bytes.
fn raw_entries(db: &sled::Db) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).expect("tree");
        let name = String::from_utf8_lossy(&name).into_owned();
        for item in tree.iter() {
            let (key, value) = item.expect("entry");
            all.push((name.clone(), key.to_vec(), value.to_vec()));
        }
    }
    all
}

/// Entries whose key joins ballot `ballot` and one of `voters` (ballot id then voter id,
/// big-endian: how a live vote is keyed), and entries of the `votes` tree for the ballot.
fn links(db: &sled::Db, ballot: u64, voters: &[u64]) -> Vec<String> {
    let mut found = Vec::new();
    for (tree, key, value) in raw_entries(db) {
        for voter in voters {
            let mut needle = ballot.to_be_bytes().to_vec();
            needle.extend_from_slice(&voter.to_be_bytes());
            if contains(&key, &needle) || contains(&value, &needle) {
                found.push(format!("{tree}: voter {voter}"));
            }
        }
        if tree == "votes" && key.starts_with(&ballot.to_be_bytes()) {
            found.push(format!("{tree}: a vote of ballot {ballot}"));
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_votes_leave_exactly_one_live_vote_per_delegate() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin);
    let document = "crowd";
    voting_document(&server, &admin, document).await;
    let voters = delegates(&server, "crowd", 100).await;
    let ballot = admin
        .open_ok(
            document,
            on_amendment(
                1,
                json!({ "majority": "simple", "visibility": "roll_call", "results": "live" }),
            ),
        )
        .await;

    // 1,000 requests at once: each delegate sends 10, many of them the same choice twice.
    let seed: u64 = std::env::var("BALLOTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("seed {seed} (BALLOTS_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let choices = ["yes", "no", "abstain"];
    let client = reqwest::Client::new();
    let mut sent: HashMap<u64, Vec<&str>> = HashMap::new();
    let mut requests = Vec::new();
    for voter in &voters {
        for _ in 0..10 {
            let choice = choices[rng.gen_range(0..3)];
            sent.entry(voter.id).or_default().push(choice);
            requests.push((voter.clone(), choice));
        }
    }
    // Interleave the delegates, so a delegate's duplicates race each other and everyone else.
    let mut order: Vec<usize> = (0..requests.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in order {
        let (voter, choice) = requests[i].clone();
        let api = Api::with_client(&server, &voter, client.clone());
        tasks.push(tokio::spawn(async move {
            api.vote("crowd", ballot, choice).await
        }));
    }
    for task in tasks {
        task.await.expect("vote task").expect(200, "");
    }
    println!("1,000 concurrent votes answered in {:?}", started.elapsed());

    // Exactly one live vote per delegate, one of the choices they sent.
    let view = admin.ballot(document, ballot).await;
    assert_eq!(view["n_voted"], 100, "{view}");
    assert_eq!(view["n_eligible"], 100);
    let mut live = BTreeMap::new();
    for voter in &voters {
        let mine = Api::with_client(&server, voter, client.clone())
            .ballot(document, ballot)
            .await;
        let choice = mine["my_vote"].as_str().expect("my vote").to_owned();
        assert!(sent[&voter.id].contains(&choice.as_str()), "{choice}");
        assert_eq!(mine["voted"], true);
        live.insert(voter.id, choice);
    }
    let tally_of = |votes: &BTreeMap<u64, String>| {
        let n = |c: &str| votes.values().filter(|v| v.as_str() == c).count() as u64;
        (n("yes"), n("no"), n("abstain"))
    };
    assert_eq!(counts(&view["tally"]), tally_of(&live), "live results");

    // Half of them change their vote once more: the change replaces it, counted once.
    let mut tasks = Vec::new();
    for voter in voters.iter().step_by(2) {
        let choice = match live[&voter.id].as_str() {
            "yes" => "no",
            "no" => "abstain",
            _ => "yes",
        };
        live.insert(voter.id, choice.to_owned());
        let api = Api::with_client(&server, voter, client.clone());
        tasks.push(tokio::spawn(async move {
            api.vote("crowd", ballot, choice).await
        }));
    }
    for task in tasks {
        let receipt = task.await.expect("task").expect(200, "");
        assert_eq!(receipt["replaced"], true);
    }
    let view = admin.ballot(document, ballot).await;
    assert_eq!(view["n_voted"], 100);
    assert_eq!(counts(&view["tally"]), tally_of(&live));

    // After close, the roll call shows each delegate's last choice, and the tally matches.
    let closed = admin.close(document, ballot).await;
    let roll: BTreeMap<u64, String> = closed["votes"]
        .as_array()
        .expect("roll call")
        .iter()
        .map(|v| {
            (
                v["voter"].as_u64().expect("voter"),
                v["choice"].as_str().expect("choice").to_owned(),
            )
        })
        .collect();
    assert_eq!(roll, live);
    assert_eq!(counts(&closed["tally"]), tally_of(&live));
    let (yes, no, abstain) = tally_of(&live);
    assert_eq!(
        (
            closed["outcome"]["yes"].as_u64(),
            closed["outcome"]["no"].as_u64()
        ),
        (Some(yes), Some(no))
    );
    assert_eq!(closed["outcome"]["abstain"].as_u64(), Some(abstain));
    let stored = server.db.open_tree("votes").expect("votes");
    assert_eq!(
        stored.scan_prefix(ballot.to_be_bytes()).count(),
        100,
        "a roll-call ballot keeps its votes"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_are_refused_after_close_to_observers_to_others_and_with_two_choices() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin);
    let document = "refusals";
    document_with_amendments(&admin, document).await;
    let voter = Api::new(&server, &server.add_user("ana@example.org", Role::Delegate));
    let observer = Api::new(
        &server,
        &server.add_user("olga@example.org", Role::Observer),
    );
    let rules = json!({ "majority": "simple", "visibility": "secret" });

    // Ballots open in their phase only.
    admin
        .open(document, on_amendment(1, rules.clone()))
        .await
        .expect(409, "phase_closed");
    admin.phase(document, "voting").await;
    admin
        .open(
            document,
            json!({ "subject": { "kind": "final_text" }, "rules": rules }),
        )
        .await
        .expect(409, "phase_closed");
    voter
        .open(document, on_amendment(1, rules.clone()))
        .await
        .expect(403, "forbidden");
    for bad in [
        json!({ "majority": "simple", "visibility": "secret", "quorum": 1.5 }),
        json!({ "majority": "most", "visibility": "secret" }),
        json!({ "majority": "simple", "visibility": "secret", "quorom": 0.5 }),
    ] {
        let answer = admin.open(document, on_amendment(1, bad)).await;
        assert!(matches!(answer.status, 400 | 422), "{answer:?}");
    }
    let ballot = admin
        .open_ok(document, on_amendment(1, rules.clone()))
        .await;
    admin
        .open(document, on_amendment(1, rules.clone()))
        .await
        .expect(409, "ballot_subject_busy");

    // Observers, people who were not delegates when it opened, and (by default) the
    // secretariat may not vote.
    observer
        .vote(document, ballot, "yes")
        .await
        .expect(403, "forbidden");
    let late = Api::new(
        &server,
        &server.add_user("late@example.org", Role::Delegate),
    );
    late.vote(document, ballot, "yes")
        .await
        .expect(403, "not_eligible");
    admin
        .vote(document, ballot, "yes")
        .await
        .expect(403, "not_eligible");

    // Two choices in one request, in any shape, are refused; so is an unknown choice.
    let path = format!("/api/documents/{document}/ballots/{ballot}/vote");
    for body in [
        r#"{"choice":"yes","choices":["no"]}"#,
        r#"{"choice":"yes","choice":"no"}"#,
        r#"[{"choice":"yes"},{"choice":"no"}]"#,
        r#"{"choice":["yes","no"]}"#,
        r#"{"choice":"maybe"}"#,
        r#"{}"#,
    ] {
        voter
            .send_raw("PUT", &path, Some(body.into()))
            .await
            .expect(400, "invalid_json");
    }
    assert_eq!(voter.ballot(document, ballot).await["voted"], false);
    admin
        .get(&format!(
            "/api/documents/{document}/ballots/{ballot}/recount"
        ))
        .await
        .expect(409, "ballot_open");

    let first = voter.vote(document, ballot, "no").await.expect(200, "");
    assert_eq!(
        (first["replaced"].as_bool(), first["n_voted"].as_u64()),
        (Some(false), Some(1))
    );
    let changed = voter.vote(document, ballot, "yes").await.expect(200, "");
    assert_eq!(
        (changed["replaced"].as_bool(), changed["n_voted"].as_u64()),
        (Some(true), Some(1)),
        "a change counts once"
    );
    let mine = voter.ballot(document, ballot).await;
    assert_eq!(mine["my_vote"], "yes");
    assert_eq!(mine["tally"], Value::Null, "results hidden until close");

    // After close: no more votes, no second close.
    voter
        .post(
            &format!("/api/documents/{document}/ballots/{ballot}/close"),
            json!({}),
        )
        .await
        .expect(403, "forbidden");
    let closed = admin.close(document, ballot).await;
    assert_eq!(
        closed["outcome"]["text"],
        "adopted: 1 yes, 0 no, 0 abstentions; more yes than no required"
    );
    voter
        .vote(document, ballot, "no")
        .await
        .expect(409, "ballot_closed");
    admin
        .post(
            &format!("/api/documents/{document}/ballots/{ballot}/close"),
            json!({}),
        )
        .await
        .expect(409, "ballot_closed");
    voter
        .vote(document, 999_999, "yes")
        .await
        .expect(404, "ballot_not_found");

    // With secretariat_votes, ballots opened from then on count the secretariat in.
    let updated = admin
        .send(
            "PATCH",
            &format!("/api/documents/{document}"),
            Some(json!({ "secretariat_votes": true })),
        )
        .await
        .expect(200, "");
    assert_eq!(updated["secretariat_votes"], true);
    let second = admin.open_ok(document, on_amendment(2, rules)).await;
    admin
        .vote(document, second, "abstain")
        .await
        .expect(200, "");

    // Votes are taken in the ballot's phase only.
    admin.phase(document, "final_vote").await;
    voter
        .vote(document, second, "yes")
        .await
        .expect(409, "phase_closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_ballot_keeps_no_link_between_voters_and_choices_once_closed() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin);
    let document = "secret";
    voting_document(&server, &admin, document).await;
    let voters = delegates(&server, "secret", 9).await;
    let observer = Api::new(&server, &server.add_user("obs@example.org", Role::Observer));
    let ballot = admin
        .open_ok(
            document,
            json!({
                "subject": { "kind": "amendment", "amendment": 7 },
                "question": "Replace 'should' with 'shall' in 2.1?",
                "rules": { "majority": "simple", "visibility": "secret" },
            }),
        )
        .await;
    let plan = [
        "yes", "yes", "yes", "yes", "no", "no", "no", "abstain", "abstain",
    ];
    // The fourth yes first voted no, then changed.
    Api::new(&server, &voters[3])
        .vote(document, ballot, "no")
        .await
        .expect(200, "");
    for (voter, choice) in voters.iter().zip(plan) {
        Api::new(&server, voter)
            .vote(document, ballot, choice)
            .await
            .expect(200, "");
    }
    let ids: Vec<u64> = voters.iter().map(|v| v.id).collect();

    // While open, each voter sees their own vote; nobody sees counts or who voted what.
    let mine = Api::new(&server, &voters[4]).ballot(document, ballot).await;
    assert_eq!(mine["my_vote"], "no");
    assert_eq!(
        (mine["tally"].clone(), mine["voters"].clone()),
        (Value::Null, Value::Null)
    );
    let seen = observer.ballot(document, ballot).await;
    assert_eq!(seen["n_voted"], 9, "a changed vote counts once");
    assert_eq!(seen["my_vote"], Value::Null);
    assert_eq!(seen["tally"], Value::Null, "results hidden until close");
    // The link exists while open (so that votes can change): the scan below would see it.
    assert_eq!(
        links(&server.db, ballot, &ids).len(),
        18,
        "key + votes entry per voter"
    );

    let closed = admin.close(document, ballot).await;
    assert_eq!(
        closed["outcome"]["text"],
        "adopted: 4 yes, 3 no, 2 abstentions; more yes than no required"
    );
    assert_eq!(closed["status"], "closed");
    assert_eq!(
        closed["votes"],
        Value::Null,
        "no roll call for a secret ballot"
    );
    let listed: Vec<u64> = (closed["voters"].as_array().expect("voters").iter())
        .map(|v| v["id"].as_u64().expect("id"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted, "who voted is listed, in id order");
    let after = Api::new(&server, &voters[0]).ballot(document, ballot).await;
    assert_eq!(
        (after["voted"].as_bool(), after["my_vote"].clone()),
        (Some(true), Value::Null)
    );

    // The store's raw contents: no key or value joins a voter and the ballot, no votes entry
    // is left, and nothing stored anywhere holds a choice next to a voter.
    assert_eq!(links(&server.db, ballot, &ids), Vec::<String>::new());
    for (tree, _, value) in raw_entries(&server.db) {
        let text = String::from_utf8_lossy(&value);
        assert!(
            !text.contains("\"choice\""),
            "{tree} stores a choice field: {text}"
        );
    }
    let records = server.db.open_tree("ballots").expect("ballots");
    let mut key = document.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&ballot.to_be_bytes());
    let record: Value =
        serde_json::from_slice(&records.get(&key).expect("read").expect("record")).expect("JSON");
    assert_eq!(record["voters"], json!(sorted));
    let mut fields: Vec<&str> = record
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "closed_at",
            "closed_by",
            "deadline",
            "document",
            "eligible",
            "id",
            "opened_at",
            "opened_by",
            "outcome",
            "question",
            "rules",
            "status",
            "subject",
            "voters"
        ],
        "the record has no field for choices"
    );
    let tallies = server.db.open_tree("ballot_tallies").expect("tallies");
    let stored: Vec<String> = serde_json::from_slice(
        &tallies
            .get(ballot.to_be_bytes())
            .expect("read")
            .expect("anonymous list"),
    )
    .expect("a JSON list of choices");

    // The result recomputed from the anonymous list matches the one declared.
    let recount = observer
        .get(&format!(
            "/api/documents/{document}/ballots/{ballot}/recount"
        ))
        .await
        .expect(200, "");
    let listed: Vec<String> = (recount["choices"].as_array().expect("choices").iter())
        .map(|c| c.as_str().expect("choice").to_owned())
        .collect();
    assert_eq!(listed, stored);
    let n = |c: &str| listed.iter().filter(|v| *v == c).count() as u64;
    assert_eq!((n("yes"), n("no"), n("abstain")), (4, 3, 2));
    assert_eq!(counts(&recount["tally"]), (4, 3, 2));
    assert_eq!(recount["recomputed"], recount["declared"]);
    assert_eq!(recount["matches"], true);
    assert_eq!(recount["recomputed"]["result"], "adopted");

    // The audit log says who voted, never what.
    let audit = admin.get("/api/audit?limit=1000").await.expect(200, "");
    let votes: Vec<&Value> = audit
        .as_array()
        .expect("audit entries")
        .iter()
        .filter(|e| e["action"] == "ballot.voted")
        .collect();
    assert_eq!(votes.len(), 10);
    for entry in votes {
        let details = entry["details"].to_string();
        assert!(
            !details.contains("yes") && !details.contains("abstain"),
            "{details}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_is_applied_at_close_and_stated_in_words() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin);
    let document = "rules";
    voting_document(&server, &admin, document).await;
    let voters: Vec<Api> = delegates(&server, "rules", 6)
        .await
        .iter()
        .map(|v| Api::new(&server, v))
        .collect();
    // (rules, votes of the six delegates ("" = none), expected text)
    let cases = [
        (
            json!({ "majority": "simple", "visibility": "roll_call" }),
            ["yes", "yes", "no", "no", "abstain", ""],
            "rejected: 2 yes, 2 no, 1 abstention; more yes than no required",
        ),
        (
            json!({ "majority": "simple", "visibility": "secret" }),
            ["yes", "no", "abstain", "abstain", "abstain", "abstain"],
            "rejected: 1 yes, 1 no, 4 abstentions; more yes than no required",
        ),
        (
            json!({ "majority": "absolute", "visibility": "secret" }),
            ["yes", "yes", "yes", "abstain", "abstain", "abstain"],
            "rejected: 3 yes, 0 no, 3 abstentions; more than half of the 6 eligible voters required",
        ),
        (
            json!({ "majority": "absolute", "visibility": "secret" }),
            ["yes", "yes", "yes", "yes", "no", "no"],
            "adopted: 4 yes, 2 no, 0 abstentions; more than half of the 6 eligible voters required",
        ),
        (
            json!({ "majority": "two_thirds", "visibility": "secret" }),
            ["yes", "yes", "no", "abstain", "abstain", "abstain"],
            "adopted: 2 yes, 1 no, 3 abstentions; two-thirds of votes cast required",
        ),
        (
            json!({ "majority": "two_thirds", "visibility": "roll_call" }),
            ["yes", "yes", "yes", "no", "no", ""],
            "rejected: 3 yes, 2 no, 0 abstentions; two-thirds of votes cast required",
        ),
        (
            json!({ "majority": "simple", "visibility": "secret", "quorum": 0.5 }),
            ["yes", "abstain", "", "", "", ""],
            "void: quorum not met (2 of 6 eligible voters took part, 3 required); 1 yes, 0 no, \
             1 abstention",
        ),
        (
            json!({ "majority": "simple", "visibility": "secret", "quorum": 0.5 }),
            ["yes", "abstain", "abstain", "", "", ""],
            "adopted: 1 yes, 0 no, 2 abstentions; more yes than no required; quorum: 3 of 6 \
             eligible voters",
        ),
        (
            json!({ "majority": "two_thirds", "visibility": "secret", "quorum": 1.0 }),
            ["", "", "", "", "", ""],
            "void: quorum not met (0 of 6 eligible voters took part, 6 required); 0 yes, 0 no, \
             0 abstentions",
        ),
    ];
    for (i, (rules, votes, text)) in cases.into_iter().enumerate() {
        let ballot = admin
            .open_ok(document, on_amendment(10 + i as u64, rules.clone()))
            .await;
        for (voter, choice) in voters.iter().zip(votes) {
            if !choice.is_empty() {
                voter.vote(document, ballot, choice).await.expect(200, "");
            }
        }
        let closed = admin.close(document, ballot).await;
        assert_eq!(closed["outcome"]["text"], text, "case {i}: {rules}");
        assert_eq!(closed["rules"], {
            let mut frozen = rules.clone();
            frozen["results"] = json!("hidden");
            if frozen.get("quorum").is_none() {
                frozen["quorum"] = Value::Null;
            }
            frozen
        });
        let recount = admin
            .get(&format!(
                "/api/documents/{document}/ballots/{ballot}/recount"
            ))
            .await
            .expect(200, "");
        assert_eq!(recount["matches"], true, "case {i}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_call_votes_are_public_after_close_and_live_results_show_while_open() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin);
    let document = "rollcall";
    voting_document(&server, &admin, document).await;
    let voters = delegates(&server, "roll", 3).await;
    let observer = Api::new(
        &server,
        &server.add_user("watcher@example.org", Role::Observer),
    );
    let live = admin
        .open_ok(
            document,
            on_amendment(
                1,
                json!({ "majority": "simple", "visibility": "roll_call", "results": "live" }),
            ),
        )
        .await;
    for (voter, choice) in voters.iter().zip(["yes", "no", "yes"]) {
        Api::new(&server, voter)
            .vote(document, live, choice)
            .await
            .expect(200, "");
    }
    let open = observer.ballot(document, live).await;
    assert_eq!(counts(&open["tally"]), (2, 1, 0), "live results");
    assert_eq!(
        open["votes"],
        Value::Null,
        "who voted what only after close"
    );
    let closed = admin.close(document, live).await;
    assert_eq!(closed["closed_by"], server.admin.id);
    let seen = observer.ballot(document, live).await;
    let roll: Vec<(u64, String, String)> = (seen["votes"].as_array().expect("votes").iter())
        .map(|v| {
            (
                v["voter"].as_u64().expect("voter"),
                v["name"].as_str().expect("name").to_owned(),
                v["choice"].as_str().expect("choice").to_owned(),
            )
        })
        .collect();
    let mut expected: Vec<(u64, String, String)> = voters
        .iter()
        .zip(["yes", "no", "yes"])
        .map(|(v, c)| {
            (
                v.id,
                format!("delegate {}", v.email.split('@').next().unwrap_or("")),
                c.to_owned(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(roll, expected);
    assert_eq!(
        seen["outcome"]["text"],
        "adopted: 2 yes, 1 no, 0 abstentions; more yes than no required"
    );
    let list = observer
        .get(&format!("/api/documents/{document}/ballots?status=closed"))
        .await
        .expect(200, "");
    assert_eq!(list["ballots"].as_array().map(Vec::len), Some(1));
    server.stop().await;
}

/// Reads the document's event stream from the start until an event of `kind`; returns every
/// event read as (kind, the event's JSON: `id`, `kind`, `at` and `data`).
async fn events_until(server: &TestServer, document: &str, kind: &str) -> Vec<(String, Value)> {
    let response = reqwest::Client::new()
        .get(server.http_url(&format!("/api/documents/{document}/events?after=0")))
        .bearer_auth(&server.admin.token)
        .send()
        .await
        .expect("events");
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            let data = serde_json::from_str(&data).unwrap_or(Value::Null);
            let done = name == kind;
            events.push((name, data));
            if done {
                return events;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("bytes");
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_closes_by_itself_at_its_deadline() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin);
    let document = "deadline";
    voting_document(&server, &admin, document).await;
    let voters = delegates(&server, "deadline", 2).await;
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let ballot = admin
        .open_ok(
            document,
            json!({
                "subject": { "kind": "amendment", "amendment": 3 },
                "rules": { "majority": "simple", "visibility": "secret" },
                "deadline": deadline.format(&time::format_description::well_known::Rfc3339).expect("format"),
            }),
        )
        .await;
    let first = Api::new(&server, &voters[0]);
    first.vote(document, ballot, "yes").await.expect(200, "");

    // Nobody touches it: it closes at its deadline.
    let started = Instant::now();
    let closed = loop {
        let view = admin.ballot(document, ballot).await;
        if view["status"] == "closed" {
            break view;
        }
        assert!(started.elapsed() < PATIENCE, "still open: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        time::OffsetDateTime::now_utc() >= deadline - time::Duration::seconds(1),
        "not before its deadline"
    );
    assert_eq!(closed["closed_by"], Value::Null, "closed by its deadline");
    assert_eq!(
        closed["outcome"]["text"],
        "adopted: 1 yes, 0 no, 0 abstentions; more yes than no required"
    );
    Api::new(&server, &voters[1])
        .vote(document, ballot, "no")
        .await
        .expect(409, "ballot_closed");

    // Its events: opened, one vote cast (no voter, no choice), closed with the outcome.
    let events = events_until(&server, document, "ballot.closed").await;
    let cast: Vec<&Value> = (events.iter())
        .filter(|(kind, _)| kind == "vote.cast")
        .map(|(_, event)| &event["data"])
        .collect();
    assert_eq!(cast, vec![&json!({ "ballot": ballot, "n_voted": 1 })]);
    assert!(events.iter().any(|(kind, _)| kind == "ballot.opened"));
    let (_, last) = events.last().expect("closed");
    assert_eq!(last["data"]["outcome"]["result"], "adopted");
    assert_eq!(last["data"]["status"], "closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_needs_my_decision_lists_open_ballots_i_have_not_voted_in() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let admin = Api::new(&server, &server.admin);
    voting_document(&server, &admin, "first").await;
    server.ensure_document("final");
    admin.phase("final", "final_vote").await;
    let delegate = Api::new(
        &server,
        &server.add_user("dora@example.org", Role::Delegate),
    );
    let observer = Api::new(
        &server,
        &server.add_user("otto@example.org", Role::Observer),
    );
    let rules = json!({ "majority": "simple", "visibility": "secret" });
    let a = admin.open_ok("first", on_amendment(1, rules.clone())).await;
    let b = admin.open_ok("first", on_amendment(2, rules.clone())).await;
    let f = admin
        .open_ok(
            "final",
            json!({ "subject": { "kind": "final_text" }, "rules": rules }),
        )
        .await;
    let pending = |body: Value| -> Vec<u64> {
        (body["ballots"].as_array().expect("ballots").iter())
            .map(|b| b["id"].as_u64().expect("id"))
            .collect()
    };
    let mine = delegate.get("/api/me/decisions").await.expect(200, "");
    assert_eq!(pending(mine), vec![a, b, f]);
    delegate.vote("first", a, "yes").await.expect(200, "");
    let mine = delegate.get("/api/me/decisions").await.expect(200, "");
    assert_eq!(pending(mine), vec![b, f]);
    let only = delegate
        .get("/api/me/decisions?document=final")
        .await
        .expect(200, "");
    assert_eq!(pending(only), vec![f]);
    admin.close("first", b).await;
    let mine = delegate.get("/api/me/decisions").await.expect(200, "");
    assert_eq!(pending(mine), vec![f]);
    let theirs = observer.get("/api/me/decisions").await.expect(200, "");
    assert_eq!(pending(theirs), Vec::<u64>::new(), "observers do not vote");
    let none = admin.get("/api/me/decisions").await.expect(200, "");
    assert_eq!(
        pending(none),
        Vec::<u64>::new(),
        "the secretariat votes only if allowed"
    );
    delegate
        .get("/api/me/decisions?document=nope")
        .await
        .expect(404, "document_not_found");
    server.stop().await;
}
