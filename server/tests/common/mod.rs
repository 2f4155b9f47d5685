//! What the tests of the `manifesto` binary share: the binary, a clean command, the address a
//! started server prints.

#![allow(dead_code)] // each test crate uses its own part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_manifesto");

/// A `manifesto` command without any `MANIFESTO_*` setting of the environment running the
/// tests.
pub fn manifesto() -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MANIFESTO_") {
            command.env_remove(name);
        }
    }
    command
}

/// The address in the server's first line of standard output (`manifesto listening on
/// http://ADDR`).
pub fn listening_addr(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    line.trim()
        .strip_prefix("manifesto listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}
