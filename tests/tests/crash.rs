//! Crash safety: the real `manifesto` process is killed with SIGKILL at random moments while a
//! writer streams edits and an observer records what it receives. After every restart, each
//! edit the observer had received is still there, and the store always opens.
//!
//! `MANIFESTO_SEED` replays a run; `MANIFESTO_CRASH_CYCLES` sets the number of kills.

use std::collections::BTreeSet;
use std::time::Duration;

use manifesto_tests::{ServerProcess, TestClient};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tokens(text: &str) -> BTreeSet<String> {
    text.split(';')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_never_loses_an_update_another_client_received() {
    let seed = env_number("MANIFESTO_SEED", rand::random::<u64>());
    let n_cycles = env_number("MANIFESTO_CRASH_CYCLES", 8);
    println!("crash seed: {seed} (replay with MANIFESTO_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let document = "crash";
    let mut received_before_kills: BTreeSet<String> = BTreeSet::new();
    let mut n_sent_total = 0usize;
    ServerProcess::prepare_document(dir.path(), document).expect("create the document");

    for cycle in 0..=n_cycles {
        let server = ServerProcess::spawn(dir.path(), &[]).unwrap_or_else(|e| {
            panic!("seed {seed}: the store did not open after kill {cycle}: {e:#}")
        });
        let url = server.ws_url(document);
        let check = TestClient::connect(&url).await.expect("checker connects");
        let present = tokens(&check.text("t"));
        let missing: Vec<_> = received_before_kills.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "seed {seed}, after kill {cycle}: lost {} relayed updates, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        check.close().await;
        if cycle == n_cycles {
            break;
        }

        let mut observer = TestClient::connect(&url).await.expect("observer connects");
        let mut writer = TestClient::connect(&url).await.expect("writer connects");
        let observing = tokio::spawn(async move {
            while observer.closed.is_none() {
                if observer.read_message().await.is_err() {
                    break;
                }
            }
            observer.text("t")
        });
        let writing = tokio::spawn(async move {
            let mut n_sent = 0usize;
            while writer
                .push_text("t", &format!("c{cycle}w{n_sent};"))
                .await
                .is_ok()
            {
                n_sent += 1;
                if n_sent.is_multiple_of(16) {
                    tokio::task::yield_now().await;
                }
            }
            n_sent
        });
        tokio::time::sleep(Duration::from_millis(rng.gen_range(30..400))).await;
        server.kill();
        let observed = tokio::time::timeout(Duration::from_secs(10), observing)
            .await
            .expect("observer ends after the kill")
            .expect("observer task");
        let n_sent = tokio::time::timeout(Duration::from_secs(10), writing)
            .await
            .expect("writer ends after the kill")
            .expect("writer task");
        let observed = tokens(&observed);
        println!("cycle {cycle}: writer sent {n_sent} edits; the observer had {} in its text at the kill", observed.len());
        n_sent_total += n_sent;
        received_before_kills.extend(observed);
    }
    // A kill may come before anything was relayed in one cycle, but not in all of them:
    // otherwise this test would prove nothing.
    assert!(
        received_before_kills.len() > n_cycles as usize,
        "seed {seed}: too little was relayed to test anything"
    );
    println!(
        "{n_cycles} SIGKILL cycles: {n_sent_total} edits sent, {} received by the observer and all present after restarts",
        received_before_kills.len()
    );
}
