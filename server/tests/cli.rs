//! The `manifesto` binary as an operator runs it: help, configuration errors, start, health,
//! graceful stop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

mod common;
use common::{listening_addr, manifesto, BINARY};

/// `GET path`: the status and the body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let answer = http_request(addr, "GET", path, &[], None);
    (answer.status, answer.body)
}

#[test]
fn help_names_the_serve_command() {
    let output = Command::new(BINARY).arg("--help").output().expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("serve"), "{help}");
}

#[test]
fn invalid_setting_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ping-interval-secs",
            "30",
            "--idle-timeout-secs",
            "20",
            "--data",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("idle timeout (20s) must be longer than the ping interval (30s)"),
        "{stderr}"
    );
}

#[test]
fn serves_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = dir.path().join("client-build");
    std::fs::create_dir_all(&build).expect("build dir");
    std::fs::write(
        build.join("index.html"),
        "<!doctype html><title>Manifesto</title>",
    )
    .expect("index.html");
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--client-dir")
        .arg(&build)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let addr = listening_addr(&mut child);

    let (status, body) = http_get(&addr, "/healthz");
    assert_eq!(status, 200);
    assert!(body.contains(r#""status":"ok""#), "{body}");
    let (status, body) = http_get(&addr, "/");
    assert_eq!(status, 200);
    assert!(body.contains("Manifesto"), "{body}");
    // Any other page is the app's to route; the API answers its own 404s.
    let (status, body) = http_get(&addr, "/no/such/page");
    assert_eq!(status, 200);
    assert!(body.contains("Manifesto"), "{body}");
    let (status, body) = http_get(&addr, "/api/no/such/route");
    assert_eq!(status, 404);
    assert!(body.contains(r#""code":"not_found""#), "{body}");

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut logs)
        .expect("logs");
    let status = child.wait().expect("wait");
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    // Logs written to a file or a pipe (a service manager, a container runtime) carry no
    // terminal colour codes.
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(
        !logs.contains('\x1b'),
        "no escape codes in piped logs: {logs:?}"
    );
    // The data directory opens again after a graceful stop.
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("respawn");
    listening_addr(&mut child);
    child.kill().expect("kill");
    child.wait().expect("wait");
}

/// How long a test waits for something that should take well under a second.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// An HTTP answer: status, header block (lower-cased names) and body.
struct HttpAnswer {
    status: u16,
    headers: String,
    body: String,
}

/// One HTTP/1.1 request over a fresh connection.
fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpAnswer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a header block and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    HttpAnswer {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// `POST /api/session` as the login page sends it.
fn login(addr: &str, email: &str, password: &str) -> HttpAnswer {
    let origin = format!("http://{addr}");
    let body = format!(r#"{{"email":{email:?},"password":{password:?}}}"#);
    http_request(
        addr,
        "POST",
        "/api/session",
        &[("Content-Type", "application/json"), ("Origin", &origin)],
        Some(&body),
    )
}

/// `manifesto serve` on port 0, with its standard output read line by line.
struct Served {
    child: std::process::Child,
    addr: String,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Served {
    fn start(data: &std::path::Path, env: &[(&str, &str)]) -> Served {
        let mut child = manifesto()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .envs(env.iter().copied())
            .env("MANIFESTO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn manifesto serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let mut served = Served {
            child,
            addr: String::new(),
            lines,
            seen: Vec::new(),
        };
        let first = served.wait_line(|line| line.starts_with("manifesto listening on"));
        served.addr = first
            .strip_prefix("manifesto listening on http://")
            .expect("listening line")
            .to_owned();
        served
    }

    /// Reads standard output until a line satisfies `wanted`.
    fn wait_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|e| panic!("no expected line ({e}); got {:?}", self.seen));
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }

    /// Stops the server with SIGTERM; returns whether it exited cleanly and everything it
    /// printed on standard output.
    fn stop(mut self) -> (bool, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success());
        let status = self.child.wait().expect("wait");
        // The reader thread ends at end of file, which closes the channel.
        let mut seen = std::mem::take(&mut self.seen);
        seen.extend(self.lines.iter());
        (status.success(), seen)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an operator command on `data` with `stdin`; returns success, stdout and stderr.
fn operator(args: &[&str], data: &std::path::Path, stdin: &str) -> (bool, String, String) {
    let mut child = manifesto()
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn manifesto");
    // The command may fail before it reads its input; a closed pipe is fine then.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let output = child.wait_with_output().expect("wait");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const FIRST_ACCOUNT_LINE: &str = "First secretariat account created.";

#[test]
fn first_start_prints_a_generated_password_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut served = Served::start(dir.path(), &[]);
    let line = served.wait_line(|line| line.starts_with(FIRST_ACCOUNT_LINE));
    let addr = served.addr.clone();
    let expected_start = format!(
        "{FIRST_ACCOUNT_LINE} Log in at http://{addr}/ as secretariat@localhost with the password "
    );
    let password = line
        .strip_prefix(&expected_start)
        .unwrap_or_else(|| panic!("unexpected first-account line: {line}"))
        .split_whitespace()
        .next()
        .expect("a password")
        .to_owned();
    assert_eq!(password.chars().count(), 20, "{line}");
    assert!(
        password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{line}"
    );

    let answer = login(&addr, "secretariat@localhost", &password);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.headers.contains("set-cookie:"), "{}", answer.headers);
    assert!(
        answer.body.contains(r#""role":"secretariat""#),
        "{}",
        answer.body
    );
    let answer = login(&addr, "secretariat@localhost", "not the password at all");
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(answer.body.contains(r#""code":"invalid_credentials""#));
    let (clean, lines) = served.stop();
    assert!(clean, "graceful stop");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(FIRST_ACCOUNT_LINE))
            .count(),
        1,
        "{lines:?}"
    );

    // The second start on the same data creates and prints nothing; the password still works.
    let served = Served::start(dir.path(), &[]);
    let answer = login(&served.addr, "secretariat@localhost", &password);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (clean, lines) = served.stop();
    assert!(clean, "graceful stop");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(FIRST_ACCOUNT_LINE) || l.contains(&password)),
        "second start printed {lines:?}"
    );
}

#[test]
fn first_account_from_the_environment() {
    const PASSWORD: &str = "a people's assembly in 2025";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut served = Served::start(
        dir.path(),
        &[
            ("MANIFESTO_ADMIN_EMAIL", "Chair@Forum.example"),
            ("MANIFESTO_ADMIN_PASSWORD", PASSWORD),
        ],
    );
    let line = served.wait_line(|line| line.starts_with(FIRST_ACCOUNT_LINE));
    assert!(line.contains("as chair@forum.example "), "{line}");
    assert!(line.contains("MANIFESTO_ADMIN_PASSWORD"), "{line}");
    assert!(
        !line.contains(PASSWORD),
        "the password is never printed: {line}"
    );
    let answer = login(&served.addr, "chair@forum.example", PASSWORD);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (clean, lines) = served.stop();
    assert!(clean);
    assert!(!lines.iter().any(|l| l.contains(PASSWORD)), "{lines:?}");

    // A weak password is refused before anything is created.
    let weak = tempfile::tempdir().expect("tempdir");
    for password in ["hunter2", "1234567890"] {
        let output = manifesto()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(weak.path())
            .env("MANIFESTO_ADMIN_PASSWORD", password)
            .output()
            .expect("run");
        assert!(!output.status.success(), "{password:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("admin-password"), "{stderr}");
        assert!(
            !stderr.contains(password),
            "the refused password is not shown: {stderr}"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("listening"), "{stdout}");
    }
    assert!(
        !weak.path().join("store").exists(),
        "nothing is created when the configuration is refused"
    );
}

#[test]
fn operator_commands_manage_accounts_tokens_and_the_audit_log() {
    const OLD: &str = "analytical engine notes";
    const NEW: &str = "poetical science at work";
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();

    let (ok, _, stderr) = operator(&["user", "list"], data, "");
    assert!(!ok);
    assert!(stderr.contains("no data in"), "{stderr}");

    // Accounts may be made before the first start.
    let (ok, stdout, stderr) = operator(
        &[
            "user",
            "add",
            "--email",
            "Ada@Example.org",
            "--role",
            "delegate",
            "--name",
            "Ada Lovelace",
            "--country",
            "UK",
        ],
        data,
        &format!("{OLD}\n"),
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("created ada@example.org (delegate) with id "),
        "{stdout}"
    );
    for (weak, why) in [
        ("short", "at least 10 characters"),
        ("1234567890", "most common"),
    ] {
        let (ok, _, stderr) = operator(
            &[
                "user",
                "add",
                "--email",
                "weak@example.org",
                "--role",
                "observer",
                "--name",
                "Weak",
            ],
            data,
            &format!("{weak}\n"),
        );
        assert!(!ok, "{weak:?} was accepted");
        assert!(stderr.contains("password refused"), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    }
    let (ok, _, stderr) = operator(
        &[
            "user",
            "add",
            "--email",
            "ada@example.org",
            "--role",
            "observer",
            "--name",
            "Twice",
        ],
        data,
        "another good password\n",
    );
    assert!(!ok, "the same email twice");
    assert!(!stderr.is_empty());

    let (ok, stdout, stderr) = operator(&["user", "list"], data, "");
    assert!(ok, "{stderr}");
    let ada = stdout
        .lines()
        .find(|l| l.contains("ada@example.org"))
        .unwrap_or_else(|| panic!("ada is listed: {stdout}"));
    assert!(ada.contains("delegate") && ada.contains("active") && ada.contains("Ada Lovelace"));
    assert!(!stdout.contains("weak@example.org"), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "a header and one account: {stdout}"
    );

    let (ok, stdout, stderr) = operator(
        &["user", "reset-password", "--email", "ada@example.org"],
        data,
        &format!("{NEW}\n"),
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("password of ada@example.org reset"),
        "{stdout}"
    );
    let (ok, _, stderr) = operator(
        &["user", "reset-password", "--email", "nobody@example.org"],
        data,
        &format!("{NEW}\n"),
    );
    assert!(!ok);
    assert!(stderr.contains("no account with email"), "{stderr}");
    let (ok, _, stderr) = operator(
        &["user", "reset-password", "--email", "ada@example.org"],
        data,
        "short\n",
    );
    assert!(!ok, "a weak new password is refused");
    assert!(stderr.contains("password refused"), "{stderr}");

    let (ok, token, stderr) = operator(
        &[
            "token",
            "create",
            "--email",
            "ada@example.org",
            "--name",
            "ci",
        ],
        data,
        "",
    );
    assert!(ok, "{stderr}");
    let token = token.trim().to_owned();
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "{token:?}"
    );

    let (ok, stdout, stderr) = operator(&["audit", "verify"], data, "");
    assert!(ok, "{stderr}");
    let n_entries: usize = stdout
        .trim()
        .strip_prefix("audit log intact: ")
        .and_then(|rest| rest.strip_suffix(" entries"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected audit output {stdout:?}"));
    // user.created, password.reset, token.created; refused commands record nothing.
    assert_eq!(n_entries, 3, "{stdout}");

    // The server starts on these accounts without making one of its own.
    let served = Served::start(data, &[]);
    let addr = served.addr.clone();
    let answer = login(&addr, "ada@example.org", OLD);
    assert_eq!(
        answer.status, 401,
        "the old password is refused: {}",
        answer.body
    );
    let answer = login(&addr, "ada@example.org", NEW);
    assert_eq!(
        answer.status, 200,
        "the new password logs in: {}",
        answer.body
    );
    let bearer = format!("Bearer {token}");
    let answer = http_request(
        &addr,
        "GET",
        "/api/session",
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("ada@example.org"), "{}", answer.body);
    assert!(answer.body.contains(r#""via":"token""#), "{}", answer.body);
    let answer = http_request(
        &addr,
        "GET",
        "/api/session",
        &[("Authorization", "Bearer not-a-token")],
        None,
    );
    assert_eq!(answer.status, 401, "{}", answer.body);

    // While it runs, every operator command refuses the data directory.
    let busy: [(&[&str], &str); 5] = [
        (&["user", "list"], ""),
        (
            &[
                "user",
                "add",
                "--email",
                "late@example.org",
                "--role",
                "observer",
                "--name",
                "Late",
            ],
            "a perfectly fine password\n",
        ),
        (
            &["user", "reset-password", "--email", "ada@example.org"],
            "a perfectly fine password\n",
        ),
        (
            &[
                "token",
                "create",
                "--email",
                "ada@example.org",
                "--name",
                "x",
            ],
            "",
        ),
        (&["audit", "verify"], ""),
    ];
    for (args, stdin) in busy {
        let (ok, _, stderr) = operator(args, data, stdin);
        assert!(!ok, "{args:?} ran beside the server");
        assert!(
            stderr.contains("data directory") && stderr.contains("is in use"),
            "{args:?}: {stderr}"
        );
    }
    let (clean, lines) = served.stop();
    assert!(clean);
    assert!(
        !lines.iter().any(|l| l.contains(FIRST_ACCOUNT_LINE)),
        "no first account when accounts exist: {lines:?}"
    );

    // Nothing was changed by the refused commands; the logins were audited.
    let (ok, stdout, stderr) = operator(&["user", "list"], data, "");
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("late@example.org"), "{stdout}");
    let (ok, stdout, stderr) = operator(&["audit", "verify"], data, "");
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("audit log intact: "), "{stdout}");
    assert_ne!(
        stdout.trim(),
        format!("audit log intact: {n_entries} entries"),
        "the server recorded the logins"
    );
}
