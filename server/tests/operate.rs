//! The `manifesto` binary as an operator configures and upgrades it: configuration file,
//! environment and flags with their precedence, one clear error per mistake, secrets never
//! printed; data format versions (newer data refused, older data migrated after a backup).

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::{listening_addr, manifesto, BINARY};

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_environment_overrides_the_file_and_flags_override_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("manifesto.toml");
    std::fs::write(
        &file,
        "ping_interval_secs = 5\nidle_timeout_secs = 40\nroom_idle_secs = 7\nadmin_password = \"file secret passphrase\"\n",
    )
    .expect("write");
    let output = manifesto()
        .args(["config", "check", "--config"])
        .arg(&file)
        .args(["--room-idle-secs", "9"])
        .env("MANIFESTO_IDLE_TIMEOUT_SECS", "50")
        .env("MANIFESTO_METRICS_TOKEN", "an environment secret token")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    for line in [
        "ping_interval_secs = 5  # file",
        "idle_timeout_secs = 50  # environment (MANIFESTO_IDLE_TIMEOUT_SECS)",
        "room_idle_secs = 9  # command line",
        "session_days = 7  # default",
        "admin_password = \"********\"  # file",
        "metrics_token = \"********\"  # environment (MANIFESTO_METRICS_TOKEN)",
        "# The configuration is valid.",
    ] {
        assert!(stdout.contains(line), "no line {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("file secret"), "{stdout}");
    assert!(!stdout.contains("environment secret"), "{stdout}");

    // The configuration file also comes from MANIFESTO_CONFIG.
    let output = manifesto()
        .args(["config", "check"])
        .env("MANIFESTO_CONFIG", &file)
        .output()
        .expect("run");
    let (stdout, _) = text(&output);
    assert!(
        stdout.contains("ping_interval_secs = 5  # file"),
        "{stdout}"
    );
}

#[test]
fn each_invalid_setting_gives_its_own_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("manifesto.toml");
    std::fs::write(
        &file,
        "session_days = 0\nbackup_keep = 0\npublic_url = \"manifesto.example.org/app\"\nmetrics_token = \"short-secret\"\nlog = \"info,[=x\"\n",
    )
    .expect("write");
    let expected = [
        "session-days must be between 1 and 365, got 0",
        "invitation-days must be between 1 and 90, got 0",
        "backup-keep must be between 1 and 10000, got 0",
        "public-url must look like https://host[:port] (no path), got \"manifesto.example.org/app\"",
        "metrics-token must have at least 16 characters",
        "log is not a log filter",
    ];
    for subcommand in [
        &["config", "check"][..],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let output = manifesto()
            .args(subcommand)
            .arg("--config")
            .arg(&file)
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("MANIFESTO_INVITATION_DAYS", "0")
            .stdout(Stdio::piped())
            .output()
            .expect("run");
        let (stdout, stderr) = text(&output);
        assert!(!output.status.success(), "{subcommand:?} accepted it");
        assert!(!stdout.contains("listening"), "{stdout}");
        for message in expected {
            assert_eq!(
                stderr.matches(message).count(),
                1,
                "{subcommand:?}: {message:?} not reported once in:\n{stderr}"
            );
        }
        assert!(
            !stderr.contains("short-secret"),
            "a secret was printed: {stderr}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before the configuration is valid"
    );

    // Values of the wrong type: named with where they came from.
    std::fs::write(&file, "ping_interval_secs = \"often\"\nmystery = 1\n").expect("write");
    let output = manifesto()
        .args(["serve", "--config"])
        .arg(&file)
        .env("MANIFESTO_ROOM_IDLE_SECS", "-1")
        .output()
        .expect("run");
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the environment variable MANIFESTO_ROOM_IDLE_SECS is not valid"),
        "{stderr}"
    );
    std::fs::write(&file, "ping_interval_secs = \"often\"\nmystery = 1\n").expect("write");
    let output = manifesto()
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let (_, stderr) = text(&output);
    assert!(
        stderr.contains("`ping_interval_secs` = \"often\" is not valid"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown setting `mystery`"), "{stderr}");
}

/// Starts `manifesto serve` on `data`, waits for it to listen, stops it with SIGTERM; returns
/// its standard error.
fn serve_once(data: &Path, extra: &[&str]) -> String {
    let mut child = manifesto()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--durability",
            "process-crash",
        ])
        .arg("--data")
        .arg(data)
        .args(extra)
        .env(
            "MANIFESTO_ADMIN_PASSWORD",
            "a sovereign and solidary future",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let addr = listening_addr(&mut child);
    // Ready (and its signal handlers installed) before it is told to stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !is_ready(&addr) {
        assert!(std::time::Instant::now() < deadline, "not ready in time");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Whether `GET /readyz` answers 200.
fn is_ready(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

fn set_format_version(data: &Path, version: Option<u32>) {
    let db = sled::open(data.join("store")).expect("open the stopped server's store");
    let meta = db
        .open_tree(manifesto_server::format::META_TREE)
        .expect("meta tree");
    match version {
        Some(version) => meta.insert(
            manifesto_server::format::VERSION_KEY,
            version.to_string().as_bytes(),
        ),
        None => meta.remove(manifesto_server::format::VERSION_KEY),
    }
    .expect("write the version");
    db.flush().expect("flush");
}

#[test]
fn data_of_a_future_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    serve_once(&data, &[]);
    let future = manifesto_server::format::FORMAT_VERSION + 1;
    set_format_version(&data, Some(future));

    let output = manifesto()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .stdout(Stdio::piped())
        .output()
        .expect("run");
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    let expected = format!(
        "the data in {} has format version {future}, but this server (manifesto {}) reads format versions up to {}",
        data.display(),
        env!("CARGO_PKG_VERSION"),
        manifesto_server::format::FORMAT_VERSION
    );
    assert!(stderr.contains(&expected), "{stderr}");
    // Operator commands refuse it too, and so does a backup (a restore would not read it).
    for args in [&["user", "list"][..], &["backup", "--out", "/dev/null"][..]] {
        let output = manifesto()
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .expect("run");
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr.contains(&format!("has format version {future}")),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn older_data_is_backed_up_then_migrated_on_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    serve_once(&data, &[]);
    // Data from before format versions were recorded.
    set_format_version(&data, None);
    let output = manifesto()
        .args(["user", "list", "--data"])
        .arg(&data)
        .output()
        .expect("run");
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("has format version 0")
            && stderr.contains("start `manifesto serve` on it once to migrate it"),
        "{stderr}"
    );

    let backups = dir.path().join("backups");
    let log = serve_once(&data, &["--backup-dir", backups.to_str().expect("utf-8")]);
    assert!(log.contains("migrating the data format"), "{log}");
    let written: Vec<_> = std::fs::read_dir(&backups)
        .expect("a backup directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("pre-migration-"), "{written:?}");
    // The backup holds the data as it was (version 0), and restores.
    let restored = dir.path().join("restored");
    let output = manifesto()
        .args(["restore", "--from"])
        .arg(backups.join(&written[0]))
        .arg("--data")
        .arg(&restored)
        .output()
        .expect("run");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("(data format 0)"), "{stdout}");
    // The migrated data is now current: operator commands accept it.
    let output = manifesto()
        .args(["user", "list", "--data"])
        .arg(&data)
        .output()
        .expect("run");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("secretariat@localhost"), "{stdout}");
    // A second start migrates nothing more.
    let log = serve_once(&data, &["--backup-dir", backups.to_str().expect("utf-8")]);
    assert!(!log.contains("migrating"), "{log}");
}

/// `deploy/manifesto.service` passes `systemd-analyze verify` (with `ExecStart` pointing at
/// this build, since verify checks that the program exists). Where systemd is not installed
/// there is nothing to verify with: the test says so and passes.
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let available = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("systemd-analyze is not installed here: deploy/manifesto.service not verified");
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/manifesto.service"
    ))
    .expect("read the unit");
    let installed = "ExecStart=/usr/local/bin/manifesto serve";
    assert!(unit.contains(installed), "the unit's ExecStart changed");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("manifesto.service");
    std::fs::write(
        &path,
        unit.replace(installed, &format!("ExecStart={BINARY} serve")),
    )
    .expect("write");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    // verify reports some problems as warnings only, with success.
    assert!(
        !stderr.contains("manifesto.service"),
        "systemd-analyze verify warns about the unit:\n{stderr}"
    );
    for option in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=manifesto",
        "DynamicUser=yes",
    ] {
        assert!(unit.contains(option), "the unit lacks {option}");
    }
}
