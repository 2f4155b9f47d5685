//! Seeded convergence: many clients make random edits, send them in random order, drop some,
//! disconnect, reconnect, while the server restarts over the same data directory. At the end
//! every client and the stored document are identical.
//!
//! The seed is printed; set `MANIFESTO_SEED` to replay a failure, `MANIFESTO_STEPS` and
//! `MANIFESTO_CLIENTS` to run longer.

use std::time::Duration;

use manifesto_protocol::yrs::{
    self, Doc, GetString, Options, ReadTxn, Text, Transact, XmlFragment,
};
use manifesto_tests::{stored_document, TestClient, TestServer};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

struct SimClient {
    doc: Doc,
    connection: Option<TestClient>,
    /// Updates made locally and not yet sent, in the order they were made.
    unsent: Vec<Vec<u8>>,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn random_word(rng: &mut StdRng) -> String {
    const WORDS: &[&str] = &[
        "ESS ",
        "économie ",
        "sociale ",
        "« solidaire » ",
        "Genève ",
        "2026 ",
        "forum ",
        "é",
        "—",
        "\n",
    ];
    WORDS.choose(rng).copied().unwrap_or("x").to_owned()
}

fn local_edit(rng: &mut StdRng, doc: &Doc) -> Vec<u8> {
    let text = doc.get_or_insert_text("t");
    let fragment = doc.get_or_insert_xml_fragment("prosemirror");
    let mut txn = doc.transact_mut();
    match rng.gen_range(0..10) {
        0..=5 => {
            let len = text.len(&txn);
            let at = rng.gen_range(0..=len);
            text.insert(&mut txn, at, &random_word(rng));
        }
        6..=7 => {
            let len = text.len(&txn);
            if len > 0 {
                let at = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - at).min(5));
                text.remove_range(&mut txn, at, n);
            }
        }
        _ => {
            let n = fragment.len(&txn);
            let at = rng.gen_range(0..=n);
            let p = fragment.insert(&mut txn, at, yrs::XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, yrs::XmlTextPrelim::new(random_word(rng)));
        }
    }
    txn.encode_update_v1()
}

fn content(doc: &Doc) -> (String, String) {
    let txn = doc.transact();
    let text = txn
        .get_text("t")
        .map(|t| t.get_string(&txn))
        .unwrap_or_default();
    let xml = txn
        .get_xml_fragment("prosemirror")
        .map(|f| f.get_string(&txn))
        .unwrap_or_default();
    (text, xml)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_edits_restarts_and_reconnects_converge() {
    let seed = env_number("MANIFESTO_SEED", rand::random::<u64>());
    let n_steps = env_number("MANIFESTO_STEPS", 1500);
    let n_clients = env_number("MANIFESTO_CLIENTS", 20) as usize;
    println!("convergence seed: {seed} (replay with MANIFESTO_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = TestServer::start(dir.path()).await;
    let document = "converge";
    let mut clients: Vec<SimClient> = (0..n_clients)
        .map(|i| {
            let options = Options {
                client_id: yrs::ClientID::new(1000 + i as u64),
                // Like Yjs in the browser: positions count UTF-16 code units.
                offset_kind: yrs::OffsetKind::Utf16,
                ..Options::default()
            };
            SimClient {
                doc: Doc::with_options(options),
                connection: None,
                unsent: Vec::new(),
            }
        })
        .collect();
    let mut n_restarts = 0;
    let mut n_dropped = 0;

    for _ in 0..n_steps {
        let i = rng.gen_range(0..n_clients);
        match rng.gen_range(0..100) {
            0..=44 => {
                let update = local_edit(&mut rng, &clients[i].doc);
                clients[i].unsent.push(update);
            }
            45..=64 => {
                // Send some unsent updates, in random order.
                let client = &mut clients[i];
                if let Some(connection) = client.connection.as_mut() {
                    client.unsent.shuffle(&mut rng);
                    let n = rng.gen_range(0..=client.unsent.len());
                    for update in client.unsent.drain(..n) {
                        if connection.send_update(update).await.is_err() {
                            break;
                        }
                    }
                }
            }
            65..=69 => {
                // Lose an update in transit; the next handshake must recover it.
                if !clients[i].unsent.is_empty() {
                    let k = rng.gen_range(0..clients[i].unsent.len());
                    clients[i].unsent.remove(k);
                    n_dropped += 1;
                }
            }
            70..=79 => {
                if let Some(connection) = clients[i].connection.as_mut() {
                    connection.drain_for(Duration::from_millis(2)).await;
                }
            }
            80..=87 => {
                if let Some(connection) = clients[i].connection.take() {
                    connection.close().await;
                }
            }
            88..=97 => {
                if clients[i].connection.is_none() {
                    let url = server.ws_url(document);
                    let connection = TestClient::connect_with(&url, clients[i].doc.clone())
                        .await
                        .unwrap_or_else(|e| panic!("seed {seed}: reconnect failed: {e:#}"));
                    // The handshake sent everything the server lacked.
                    clients[i].unsent.clear();
                    clients[i].connection = Some(connection);
                }
            }
            _ => {
                for client in clients.iter_mut() {
                    client.connection = None;
                }
                server.stop().await;
                server = TestServer::start(dir.path()).await;
                n_restarts += 1;
            }
        }
    }

    // Everyone reconnects: the handshake exchanges whatever is missing, dropped updates
    // included. Messages on different connections are not ordered, so two barrier rounds
    // follow: after the first, every client's contribution is durable on the server (each
    // barrier follows that client's own messages); the second brings each client the result.
    let url = server.ws_url(document);
    for client in clients.iter_mut() {
        if let Some(connection) = client.connection.take() {
            connection.close().await;
        }
        let connection = TestClient::connect_with(&url, client.doc.clone())
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: final connect failed: {e:#}"));
        client.connection = Some(connection);
    }
    for _round in 0..2 {
        for client in clients.iter_mut() {
            if let Some(connection) = client.connection.as_mut() {
                connection
                    .sync()
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: final sync: {e:#}"));
            }
        }
    }

    let expected = content(&clients[0].doc);
    let expected_sv = clients[0].doc.transact().state_vector();
    for (i, client) in clients.iter().enumerate() {
        assert_eq!(
            content(&client.doc),
            expected,
            "seed {seed}: client {i} differs from client 0"
        );
        assert_eq!(
            client.doc.transact().state_vector(),
            expected_sv,
            "seed {seed}: client {i} state vector"
        );
    }
    for client in clients.iter_mut() {
        if let Some(connection) = client.connection.take() {
            connection.close().await;
        }
    }
    server.stop().await;
    let stored = stored_document(dir.path(), document).expect("stored document");
    assert_eq!(
        content(stored.doc()),
        expected,
        "seed {seed}: the store differs from the clients"
    );
    assert_eq!(
        stored.state_vector(),
        expected_sv,
        "seed {seed}: stored state vector"
    );
    println!(
        "converged: {n_clients} clients, {n_steps} steps, {n_restarts} restarts, {n_dropped} dropped updates, {} chars",
        expected.0.chars().count()
    );
}
