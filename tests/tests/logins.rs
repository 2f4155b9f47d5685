//! Logging in against the real server: equal timing for known and unknown emails, the
//! per-account brute-force limit, a full hashing pool answering 503, and a wave of 200
//! logins that must not stop live editing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use manifesto_server::auth::Role;
use manifesto_tests::{add_user, TestClient, TestServer, TestUser, PATIENCE, TEST_PASSWORD};
use tokio::sync::{oneshot, watch, Barrier, Semaphore};

/// The timing test and the wave measure time; they take turns so that neither measures the
/// other's hashing.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// What the server answered to one login.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
    /// The error body's `code`.
    code: Option<String>,
    set_cookie: bool,
    /// Request to complete answer, as the client saw it.
    elapsed: Duration,
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// `POST /api/session` as a browser on this site sends it (JSON, same-site `Origin`).
async fn login(
    client: &reqwest::Client,
    server: &TestServer,
    email: &str,
    password: &str,
) -> Answer {
    let started = Instant::now();
    let response = client
        .post(server.http_url("/api/session"))
        .header("Origin", format!("http://{}", server.addr))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login request");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| {
        v.to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After is not a number of seconds: {v:?}"))
    });
    let set_cookie = response.headers().contains_key("set-cookie");
    let body: serde_json::Value = response.json().await.expect("JSON body");
    let elapsed = started.elapsed();
    Answer {
        status,
        retry_after,
        code: body.get("code").and_then(|c| c.as_str()).map(str::to_owned),
        set_cookie,
        elapsed,
    }
}

/// Creates `n` delegate accounts `{prefix}-{i}@example.org` (password [`TEST_PASSWORD`]),
/// hashing a few at a time on blocking threads (each hash takes 19 MiB).
async fn add_users(server: &TestServer, prefix: &str, n: usize) -> Vec<TestUser> {
    let slots = Arc::new(Semaphore::new(4));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let db = server.db.clone();
            let slots = slots.clone();
            let email = format!("{prefix}-{i}@example.org");
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await.expect("semaphore");
                tokio::task::spawn_blocking(move || add_user(&db, &email, Role::Delegate))
                    .await
                    .expect("hashing task")
                    .expect("create account")
            })
        })
        .collect();
    let mut users = Vec::with_capacity(n);
    for task in tasks {
        users.push(task.await.expect("account task"));
    }
    users
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

/// The `q` quantile of sorted `values` (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_take_the_same_time() {
    const TRIES: usize = 40;
    const WARM_UPS: usize = 3;
    let _turn = MEASURING.lock().await;
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    // Each account takes at most 10 tries before its rate limit; 6 accounts take 43 + spare.
    let accounts = add_users(&server, "timing", 6).await;
    let client = http_client();

    let mut known = Vec::with_capacity(TRIES);
    let mut unknown = Vec::with_capacity(TRIES);
    for i in 0..WARM_UPS + TRIES {
        let account = &accounts[i % accounts.len()];
        // Alternate which goes first, so that neither always follows the other.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_known in order {
            let answer = if is_known {
                login(&client, &server, &account.email, "not the right password").await
            } else {
                // A fresh email each time: unknown emails are rate-limited per email too.
                login(
                    &client,
                    &server,
                    &format!("nobody-{i}@example.org"),
                    "not the right password",
                )
                .await
            };
            assert_eq!(answer.status, 401, "{answer:?}");
            assert_eq!(answer.code.as_deref(), Some("invalid_credentials"));
            assert!(!answer.set_cookie);
            if i >= WARM_UPS {
                if is_known {
                    known.push(answer.elapsed);
                } else {
                    unknown.push(answer.elapsed);
                }
            }
        }
    }
    let known = median(&mut known);
    let unknown = median(&mut unknown);
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    println!(
        "login timing over {TRIES} tries each: median wrong password {known:?}, median unknown email {unknown:?}, ratio {ratio:.3}"
    );
    assert!(
        (0.67..=1.5).contains(&ratio),
        "a wrong password ({known:?}) and an unknown email ({unknown:?}) must take about the same time"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_on_one_account_is_refused_with_429() {
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let target = server.add_user("target@example.org", Role::Delegate);
    let client = http_client();

    for attempt in 1..=10 {
        let answer = login(
            &client,
            &server,
            &target.email,
            &format!("guess number {attempt}"),
        )
        .await;
        assert_eq!(answer.status, 401, "attempt {attempt}: {answer:?}");
        assert_eq!(answer.code.as_deref(), Some("invalid_credentials"));
    }
    let answer = login(&client, &server, &target.email, "guess number 11").await;
    assert_eq!(answer.status, 429, "eleventh attempt: {answer:?}");
    assert_eq!(answer.code.as_deref(), Some("rate_limited"));
    let wait = answer.retry_after.expect("429 carries Retry-After");
    assert!((1..=30).contains(&wait), "Retry-After {wait}");

    // The limit is on attempts: the right password is refused too until the wait is over.
    let answer = login(&client, &server, &target.email, &target.password).await;
    assert_eq!(
        answer.status, 429,
        "right password during the limit: {answer:?}"
    );
    assert_eq!(answer.code.as_deref(), Some("rate_limited"));
    assert!(answer.retry_after.is_some_and(|s| s >= 1), "{answer:?}");
    assert!(!answer.set_cookie);
    // Differences of case and spaces are the same account.
    let answer = login(&client, &server, " TARGET@Example.org ", &target.password).await;
    assert_eq!(
        answer.status, 429,
        "same account, other spelling: {answer:?}"
    );

    // Another account from the same address still logs in.
    let answer = login(&client, &server, &server.admin.email, TEST_PASSWORD).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.set_cookie, "a login sets the session cookie");

    // An unknown email is limited exactly like a known one, so the limit tells nothing.
    for attempt in 1..=10 {
        let answer = login(&client, &server, "nobody@example.org", "some guess here").await;
        assert_eq!(
            answer.status, 401,
            "unknown email, attempt {attempt}: {answer:?}"
        );
    }
    let answer = login(&client, &server, "nobody@example.org", "some guess here").await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(answer.code.as_deref(), Some("rate_limited"));
    assert!(answer.retry_after.is_some_and(|s| s >= 1), "{answer:?}");

    // An email longer than any account's is refused before it becomes a rate-limit key: the
    // same answer every time, never 429.
    let huge = format!("{}@example.org", "x".repeat(300));
    for attempt in 1..=12 {
        let answer = login(&client, &server, &huge, "some guess here").await;
        assert_eq!(
            answer.status, 401,
            "overlong email, attempt {attempt}: {answer:?}"
        );
        assert_eq!(answer.code.as_deref(), Some("invalid_credentials"));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_pool_answers_503_with_retry_after() {
    const ACCOUNTS: usize = 5;
    const PER_ACCOUNT: usize = 4;
    let dir = tempdir();
    let server = TestServer::start_with(dir.path(), |config| {
        config.password_hash_concurrency = 1;
        config.password_hash_queue = 0;
    })
    .await;
    let users = add_users(&server, "pool", ACCOUNTS).await;
    let server = Arc::new(server);
    let barrier = Arc::new(Barrier::new(ACCOUNTS * PER_ACCOUNT));
    let tasks: Vec<_> = (0..ACCOUNTS * PER_ACCOUNT)
        .map(|i| {
            let server = server.clone();
            let barrier = barrier.clone();
            let user = users[i % ACCOUNTS].clone();
            tokio::spawn(async move {
                let client = http_client();
                // Connect first, so that the logins below leave together.
                let health = client
                    .get(server.http_url("/healthz"))
                    .send()
                    .await
                    .expect("healthz");
                assert_eq!(health.status(), 200);
                barrier.wait().await;
                let answer = login(&client, &server, &user.email, &user.password).await;
                (client, user, answer)
            })
        })
        .collect();
    let mut n_ok = 0;
    let mut busy = Vec::new();
    for task in tasks {
        let (client, user, answer) = task.await.expect("login task");
        match answer.status {
            200 => n_ok += 1,
            503 => {
                assert_eq!(answer.code.as_deref(), Some("busy"), "{answer:?}");
                let wait = answer.retry_after.expect("503 carries Retry-After");
                assert!(wait >= 1, "Retry-After {wait}");
                busy.push((client, user));
            }
            _ => panic!("only 200 or 503 is expected, got {answer:?}"),
        }
    }
    println!(
        "{} concurrent logins on one hashing slot without a queue: {n_ok} logged in, {} busy",
        ACCOUNTS * PER_ACCOUNT,
        busy.len()
    );
    assert!(!busy.is_empty(), "a full pool answers 503 busy");
    assert!(n_ok >= 1, "the pool still hashes one at a time");
    // Once the wave is over, those that were told to retry get in.
    for (client, user) in busy {
        let answer = login(&client, &server, &user.email, &user.password).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    match Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("login tasks still hold the server"),
    }
}

/// How one login of the wave went.
struct Admitted {
    at: Instant,
    /// 503 `busy` answers before it got in.
    n_busy: usize,
    /// 429 `rate_limited` answers before it got in.
    n_limited: usize,
}

/// One login of the wave: retried after `Retry-After` while refused, as the login page does.
///
/// Busy answers count against the rate limits too (they are checked before the hashing
/// pool), so a large wave from one address can reach the per-address limit: those 429 are
/// retried the same way and counted.
async fn login_until_admitted(server: &TestServer, user: &TestUser) -> Admitted {
    let client = http_client();
    let mut n_busy = 0;
    let mut n_limited = 0;
    loop {
        let answer = login(&client, server, &user.email, &user.password).await;
        let expected_code = match answer.status {
            200 => {
                assert!(answer.set_cookie, "{answer:?}");
                return Admitted {
                    at: Instant::now(),
                    n_busy,
                    n_limited,
                };
            }
            503 => {
                n_busy += 1;
                "busy"
            }
            429 => {
                n_limited += 1;
                "rate_limited"
            }
            _ => panic!(
                "{} got {answer:?} after {n_busy} busy and {n_limited} rate-limited answers",
                user.email
            ),
        };
        assert_eq!(answer.code.as_deref(), Some(expected_code), "{answer:?}");
        let wait = answer.retry_after.expect("Retry-After");
        assert!(wait >= 1, "{answer:?}");
        assert!(
            n_busy + n_limited < 100,
            "{} still refused after 100 tries",
            user.email
        );
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_logins_do_not_stop_live_editing() {
    const LOGINS: usize = 200;
    const EDIT_EVERY: Duration = Duration::from_millis(20);
    // Editing goes on this long after the last login, so that the wave is inside it.
    const TAIL: Duration = Duration::from_millis(300);
    let _turn = MEASURING.lock().await;
    let dir = tempdir();
    let server = TestServer::start(dir.path()).await;
    let setup = Instant::now();
    let users = add_users(&server, "delegate", LOGINS).await;
    println!("{LOGINS} accounts created in {:?}", setup.elapsed());

    let url = server.ws_url("plenary");
    let mut writer = TestClient::connect(&url).await.expect("writer connects");
    let mut reader = TestClient::connect(&url).await.expect("reader connects");

    // The reader: notes when each edit ("e{n};", in order) arrives, until told how many were
    // sent and it has them all.
    let (n_seen_tx, mut n_seen_rx) = watch::channel(0usize);
    let (total_tx, mut total_rx) = watch::channel(None::<usize>);
    let reader_task = tokio::spawn(async move {
        let mut received: Vec<Instant> = Vec::new();
        loop {
            if total_rx
                .borrow()
                .is_some_and(|total| received.len() >= total)
            {
                return (reader, received);
            }
            tokio::select! {
                message = reader.read_message() => {
                    message.expect("reader reads");
                    if let Some(closed) = &reader.closed {
                        panic!("reader closed: {closed:?}");
                    }
                    let now = Instant::now();
                    let n = reader.text("t").matches(';').count();
                    while received.len() < n {
                        received.push(now);
                    }
                    n_seen_tx.send_replace(n);
                }
                changed = total_rx.changed() => changed.expect("total sender"),
            }
        }
    });

    // The writer: one edit every 20 ms, until a little after it is told the wave is over.
    let (wave_over_tx, mut wave_over_rx) = oneshot::channel::<()>();
    let writer_task = tokio::spawn(async move {
        let mut sent: Vec<Instant> = Vec::new();
        let mut ticker = tokio::time::interval(EDIT_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop_at: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if stop_at.is_some_and(|at| Instant::now() >= at) {
                        return (writer, sent);
                    }
                    let n = sent.len();
                    sent.push(Instant::now());
                    writer.push_text("t", &format!("e{n};")).await.expect("writer sends");
                }
                message = writer.read_message() => {
                    message.expect("writer reads");
                    if let Some(closed) = &writer.closed {
                        panic!("writer closed: {closed:?}");
                    }
                }
                over = &mut wave_over_rx, if stop_at.is_none() => {
                    over.expect("wave signal");
                    stop_at = Some(Instant::now() + TAIL);
                }
            }
        }
    });

    // Editing is under way before the wave starts.
    tokio::time::timeout(PATIENCE, n_seen_rx.wait_for(|n| *n >= 5))
        .await
        .expect("the first edits arrive")
        .expect("reader alive");

    let server = Arc::new(server);
    let barrier = Arc::new(Barrier::new(LOGINS + 1));
    let logins: Vec<_> = users
        .into_iter()
        .map(|user| {
            let server = server.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                login_until_admitted(&server, &user).await
            })
        })
        .collect();
    barrier.wait().await;
    let wave_start = Instant::now();
    let mut finished = Vec::with_capacity(LOGINS);
    let (mut n_busy, mut most_busy, mut n_limited) = (0, 0, 0);
    for login in logins {
        let admitted = login.await.expect("every login of the wave succeeds");
        finished.push(admitted.at);
        n_busy += admitted.n_busy;
        most_busy = most_busy.max(admitted.n_busy);
        n_limited += admitted.n_limited;
    }
    let first_login = *finished.iter().min().expect("logins");
    let wave_end = *finished.iter().max().expect("logins");
    let wave = wave_end - wave_start;
    wave_over_tx.send(()).expect("writer alive");

    let (writer, sent) = writer_task.await.expect("writer task");
    total_tx.send_replace(Some(sent.len()));
    let (reader, received) = tokio::time::timeout(PATIENCE, reader_task)
        .await
        .expect("every edit reaches the reader")
        .expect("reader task");

    let expected: String = (0..sent.len()).map(|n| format!("e{n};")).collect();
    assert_eq!(
        reader.text("t"),
        expected,
        "the reader has every edit, in order"
    );
    assert_eq!(received.len(), sent.len());
    assert!(
        sent[0] < first_login,
        "editing started before the first login finished"
    );
    assert!(
        *sent.last().expect("edits") > wave_end,
        "editing went on past the last login"
    );

    let mut during: Vec<Duration> = sent
        .iter()
        .zip(&received)
        .filter(|(sent, _)| **sent >= wave_start && **sent <= wave_end)
        .map(|(sent, received)| received.saturating_duration_since(*sent))
        .collect();
    during.sort();
    let mut outside: Vec<Duration> = sent
        .iter()
        .zip(&received)
        .filter(|(sent, _)| **sent < wave_start || **sent > wave_end)
        .map(|(sent, received)| received.saturating_duration_since(*sent))
        .collect();
    outside.sort();
    assert!(!during.is_empty(), "edits were sent during the wave");
    println!(
        "{LOGINS} concurrent logins: all logged in within {wave:?} (first after {:?}), {n_busy} busy answers retried (at most {most_busy} for one login), {n_limited} rate-limited answers retried",
        first_login - wave_start
    );
    println!(
        "editing during the wave: {} edits, latency p50 {:?}, p99 {:?}, max {:?}",
        during.len(),
        quantile(&during, 0.5),
        quantile(&during, 0.99),
        during.last().expect("edits")
    );
    if !outside.is_empty() {
        println!(
            "editing outside the wave: {} edits, latency p50 {:?}, p99 {:?}, max {:?}",
            outside.len(),
            quantile(&outside, 0.5),
            quantile(&outside, 0.99),
            outside.last().expect("edits")
        );
    }
    let slowest = *during.last().expect("edits");
    assert!(
        slowest < Duration::from_secs(5),
        "an edit took {slowest:?} to reach the reader during the wave"
    );

    writer.close().await;
    reader.close().await;
    match Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("login tasks still hold the server"),
    }
}
