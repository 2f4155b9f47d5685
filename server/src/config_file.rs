//! Layered configuration: the `manifesto` command line is parsed with settings from a TOML
//! file (`--config FILE` or `MANIFESTO_CONFIG`) as defaults, so that a setting is taken from,
//! in order of precedence: a command-line flag, a `MANIFESTO_*` environment variable, the
//! file, the built-in default.
//!
//! A file key is the setting's environment variable without `MANIFESTO_`, in lower case
//! (`MANIFESTO_PING_INTERVAL_SECS` → `ping_interval_secs`), so the file, the environment and
//! `manifesto config check` use one set of names, and the list of settings is clap's: a new
//! option of `serve` is a file key with no further code.
//!
//! Must not: read the environment except through clap and `MANIFESTO_CONFIG`; print secrets.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// Environment variable (and flag, `--config`) naming the configuration file.
pub const CONFIG_ENV: &str = "MANIFESTO_CONFIG";
const ENV_PREFIX: &str = "MANIFESTO_";
/// Shown instead of a secret's value.
pub const MASK: &str = "********";

/// The command line, parsed with the configuration file applied.
pub struct Parsed {
    /// What to do.
    pub cli: Cli,
    /// clap's matches, for where each value came from.
    pub matches: ArgMatches,
    /// The configuration file read, if any, and the keys it set.
    pub file: Option<(PathBuf, BTreeSet<String>)>,
}

/// Why the command line or the configuration could not be read; each line is one mistake.
#[derive(Debug)]
pub enum CliError {
    /// clap's own answer (help, version, or a usage error it formats itself).
    Clap(clap::Error),
    /// Mistakes in the configuration file or the environment, one message each.
    Settings(Vec<String>),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Clap(e) => write!(f, "{e}"),
            CliError::Settings(problems) => {
                writeln!(f, "invalid configuration:")?;
                for problem in problems {
                    writeln!(f, "  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

/// The file key of an argument with environment variable `env`.
pub fn key_of_env(env: &str) -> Option<String> {
    env.strip_prefix(ENV_PREFIX).map(str::to_ascii_lowercase)
}

/// The subcommand whose arguments are the server's settings (`config check` takes the same).
fn settings_command(command: &clap::Command) -> Option<&clap::Command> {
    command.find_subcommand("serve")
}

/// Parses `args` (the program name first) with the configuration file as defaults.
pub fn parse(args: Vec<OsString>) -> Result<Parsed, CliError> {
    let command = Cli::command();
    // A first pass finds the configuration file (a flag or the environment), and reports
    // mistakes in flags and environment variables, which win over the file anyway.
    let first = command
        .clone()
        .try_get_matches_from(&args)
        .map_err(|e| explain_clap_error(e, &args))?;
    let config_path = settings_matches(&first)
        .and_then(|m| m.get_one::<PathBuf>("config_file"))
        .cloned();
    let Some(path) = config_path else {
        let cli = Cli::from_arg_matches(&first).map_err(CliError::Clap)?;
        return Ok(Parsed {
            cli,
            matches: first,
            file: None,
        });
    };
    let serve = settings_command(&command).expect("serve is a subcommand");
    let values = read_file(&path, serve)?;
    let keys: BTreeSet<String> = values.iter().map(|(key, _, _)| key.clone()).collect();
    let apply = |sub: clap::Command| {
        values.iter().fold(sub, |sub, (_, id, value)| {
            let value = value.clone();
            sub.mut_arg(id.as_str(), move |arg| {
                let secret = arg.is_hide_env_values_set();
                arg.default_value(value).hide_default_value(secret)
            })
        })
    };
    let command = command
        .mut_subcommand("serve", apply)
        .mut_subcommand("config", |config| config.mut_subcommand("check", apply));
    let matches = command
        .try_get_matches_from(&args)
        .map_err(|e| explain_clap_error(e, &args))?;
    let cli = Cli::from_arg_matches(&matches).map_err(CliError::Clap)?;
    Ok(Parsed {
        cli,
        matches,
        file: Some((path, keys)),
    })
}

/// The matches of `serve` or `config check`, whichever was given.
pub fn settings_matches(matches: &ArgMatches) -> Option<&ArgMatches> {
    match matches.subcommand() {
        Some(("serve", serve)) => Some(serve),
        Some(("config", config)) => match config.subcommand() {
            Some(("check", check)) => Some(check),
            _ => None,
        },
        _ => None,
    }
}

/// Reads the TOML file at `path`: each key must name a setting of `serve`, each value must be
/// a string, a number or a boolean acceptable to that setting. Returns (key, argument id,
/// value as text) for each, or every mistake found.
fn read_file(
    path: &Path,
    serve: &clap::Command,
) -> Result<Vec<(String, String, String)>, CliError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Settings(vec![format!(
            "cannot read the configuration file {shown}: {e}"
        )])
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let message = e.message().to_owned();
        let place = e
            .span()
            .map(|span| {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                let line = 1 + before.iter().filter(|b| **b == b'\n').count();
                format!(" (line {line})")
            })
            .unwrap_or_default();
        CliError::Settings(vec![format!(
            "the configuration file {shown} is not valid TOML{place}: {message}"
        )])
    })?;
    let mut problems = Vec::new();
    let mut values = Vec::new();
    for (key, value) in &table {
        let Some(arg) = serve.get_arguments().find(|arg| {
            arg.get_env()
                .and_then(|env| env.to_str())
                .and_then(key_of_env)
                .is_some_and(|k| k == *key)
        }) else {
            problems.push(format!(
                "{shown}: unknown setting `{key}` (the settings are: {})",
                known_keys(serve).join(", ")
            ));
            continue;
        };
        let id = arg.get_id().as_str().to_owned();
        if id == "config_file" {
            problems.push(format!(
                "{shown}: `{key}` cannot be set in the configuration file itself"
            ));
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(x) => x.to_string(),
            other => {
                problems.push(format!(
                    "{shown}: `{key}` must be a string, a number or true/false (found: {})",
                    other.type_str()
                ));
                continue;
            }
        };
        // The setting's own parser, as for a flag, so the file gets the same checks.
        if let Err(reason) = check_value(arg, &text) {
            let shown_value = if arg.is_hide_env_values_set() {
                MASK.to_owned()
            } else {
                format!("{text:?}")
            };
            problems.push(format!(
                "{shown}: `{key}` = {shown_value} is not valid: {reason}"
            ));
            continue;
        }
        values.push((key.clone(), id, text));
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(CliError::Settings(problems))
    }
}

/// Parses `value` with `arg`'s own parser (as if given as its flag, the environment aside).
fn check_value(arg: &clap::Arg, value: &str) -> Result<(), String> {
    if !arg.get_action().takes_values() {
        return match value {
            "true" | "false" => Ok(()),
            _ => Err("it must be true or false".into()),
        };
    }
    let Some(long) = arg.get_long() else {
        return Ok(());
    };
    let trial = clap::Command::new("manifesto")
        .no_binary_name(true)
        .arg(arg.clone().env(None::<&'static str>).required(false));
    trial
        .try_get_matches_from([format!("--{long}={value}")])
        .map(|_| ())
        .map_err(|e| clap_reason(&e))
}

/// Every file key of `serve`, in the order of `manifesto serve --help`.
pub fn known_keys(serve: &clap::Command) -> Vec<String> {
    serve
        .get_arguments()
        .filter_map(|arg| arg.get_env()?.to_str().and_then(key_of_env))
        .filter(|key| key != "config")
        .collect()
}

/// The reason in a clap value error, without its "error:" prefix and usage hints.
fn clap_reason(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let mut reason = e
        .render()
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned();
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        reason.push_str(&format!(" (one of: {})", valid.join(", ")));
    }
    reason
}

/// A clap error, with the environment variable named when the bad value came from one (clap
/// only names the flag).
fn explain_clap_error(e: clap::Error, args: &[OsString]) -> CliError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return CliError::Clap(e);
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return CliError::Clap(e);
    };
    let flag = arg.split_whitespace().next().unwrap_or_default().to_owned();
    let on_command_line = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    if on_command_line {
        return CliError::Clap(e);
    }
    let command = Cli::command();
    let env = settings_command(&command).and_then(|serve| {
        serve
            .get_arguments()
            .find(|a| a.get_long().is_some_and(|long| format!("--{long}") == flag))
            .and_then(|a| a.get_env())
            .and_then(|env| env.to_str())
            .map(str::to_owned)
    });
    match env {
        Some(env) => CliError::Settings(vec![format!(
            "the environment variable {env} is not valid: {}",
            clap_reason(&e)
        )]),
        None => CliError::Clap(e),
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The configuration file.
    File,
    /// A `MANIFESTO_*` environment variable.
    Environment,
    /// A command-line flag.
    CommandLine,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Environment => "environment",
            Source::CommandLine => "command line",
        }
    }
}

/// The effective configuration as TOML (a valid configuration file, secrets masked), each
/// line commented with where its value came from; unset optional settings are commented out.
pub fn describe(parsed: &Parsed) -> String {
    let command = Cli::command();
    let serve = settings_command(&command).expect("serve is a subcommand");
    let Some(matches) = settings_matches(&parsed.matches) else {
        return String::new();
    };
    let file_keys = parsed.file.as_ref().map(|(_, keys)| keys);
    let mut out = String::new();
    match &parsed.file {
        Some((path, _)) => out.push_str(&format!(
            "# Effective configuration (file: {})\n",
            path.display()
        )),
        None => out.push_str("# Effective configuration (no configuration file)\n"),
    }
    for arg in serve.get_arguments() {
        let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
            continue;
        };
        let Some(key) = key_of_env(env) else { continue };
        if key == "config" {
            continue;
        }
        let id = arg.get_id().as_str();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => Source::CommandLine,
            Some(ValueSource::EnvVariable) => Source::Environment,
            _ if file_keys.is_some_and(|keys| keys.contains(&key)) => Source::File,
            _ => Source::Default,
        };
        let raw: Option<Vec<String>> = matches
            .get_raw(id)
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect());
        let comment = match source {
            Source::Environment => format!("{} ({env})", source.label()),
            _ => source.label().to_owned(),
        };
        match raw.as_deref() {
            Some([value]) => {
                let shown = if arg.is_hide_env_values_set() {
                    format!("\"{MASK}\"")
                } else {
                    toml_value(value)
                };
                out.push_str(&format!("{key} = {shown}  # {comment}\n"));
            }
            _ => out.push_str(&format!("# {key} is not set  # {comment}\n")),
        }
    }
    out
}

/// `value` as a TOML value: bare when a number or boolean, else a quoted string.
fn toml_value(value: &str) -> String {
    if value.parse::<u64>().is_ok() || value == "true" || value == "false" {
        value.to_owned()
    } else {
        toml::Value::String(value.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("manifesto")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// `manifesto config check --config FILE`, which must be accepted.
    fn config_check(file: &Path) -> Parsed {
        let shown = file.to_str().expect("utf-8 path");
        parse(args(&["config", "check", "--config", shown]))
            .unwrap_or_else(|e| panic!("{shown} is refused: {e}"))
    }

    fn settings_error(result: Result<Parsed, CliError>) -> Vec<String> {
        match result {
            Err(CliError::Settings(problems)) => problems,
            Err(CliError::Clap(e)) => panic!("expected settings errors, got clap's: {e}"),
            Ok(_) => panic!("expected settings errors, got a valid configuration"),
        }
    }

    #[test]
    fn the_file_sets_defaults_and_flags_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("manifesto.toml");
        std::fs::write(
            &file,
            "ping_interval_secs = 5\nidle_timeout_secs = 40\nlog_format = \"json\"\ntrust_forwarded_for = true\n",
        )
        .expect("write");
        let file = file.to_str().expect("utf-8 path");
        let parsed = parse(args(&[
            "serve",
            "--config",
            file,
            "--idle-timeout-secs",
            "50",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let Command::Serve(config) = &parsed.cli.command else {
            panic!("serve expected")
        };
        assert_eq!(config.ping_interval_secs, 5);
        assert_eq!(config.idle_timeout_secs, 50);
        assert_eq!(config.log_format, crate::config::LogFormat::Json);
        assert!(config.trust_forwarded_for);
        let described = describe(&parsed);
        assert!(
            described.contains("ping_interval_secs = 5  # file\n"),
            "{described}"
        );
        assert!(
            described.contains("idle_timeout_secs = 50  # command line\n"),
            "{described}"
        );
        assert!(
            described.contains("room_idle_secs = 30  # default\n"),
            "{described}"
        );
        assert!(
            described.contains("# public_url is not set  # default\n"),
            "{described}"
        );
    }

    #[test]
    fn each_file_mistake_is_reported_on_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            "ping_interval_secs = \"soon\"\nlisten = 8080\nno_such_setting = 1\ndurability = \"maybe\"\nadmin_password = [1]\n",
        )
        .expect("write");
        let file = file.to_str().expect("utf-8 path");
        let problems = settings_error(parse(args(&["serve", "--config", file])));
        assert_eq!(problems.len(), 5, "{problems:#?}");
        let find = |needle: &str| {
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "no problem mentions {needle:?}: {problems:#?}"
            );
        };
        find("`ping_interval_secs` = \"soon\" is not valid");
        find("`listen` = \"8080\" is not valid");
        find("unknown setting `no_such_setting`");
        find("`durability` = \"maybe\" is not valid");
        find("(one of: process-crash, power-loss)");
        find("`admin_password` must be a string, a number or true/false (found: array)");

        std::fs::write(dir.path().join("broken.toml"), "listen = \n").expect("write");
        let broken = dir.path().join("broken.toml");
        let problems = settings_error(parse(args(&[
            "serve",
            "--config",
            broken.to_str().expect("utf-8"),
        ])));
        assert!(
            problems[0].contains("is not valid TOML (line 1)"),
            "{problems:?}"
        );

        let missing = dir.path().join("missing.toml");
        let problems = settings_error(parse(args(&[
            "serve",
            "--config",
            missing.to_str().expect("utf-8"),
        ])));
        assert!(
            problems[0].contains("cannot read the configuration file"),
            "{problems:?}"
        );
    }

    #[test]
    fn secrets_are_masked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("secret.toml");
        std::fs::write(
            &file,
            "admin_password = \"correct horse battery staple\"\nmetrics_token = \"0123456789abcdef0123\"\n",
        )
        .expect("write");
        let described = describe(&config_check(&file));
        assert!(!described.contains("correct horse"), "{described}");
        assert!(!described.contains("0123456789abcdef"), "{described}");
        assert!(
            described.contains("admin_password = \"********\"  # file"),
            "{described}"
        );
        // What `config check` prints is itself a valid configuration file.
        let reread: toml::Table = described.parse().expect("valid TOML");
        assert_eq!(reread["ping_interval_secs"].as_integer(), Some(25));
    }

    #[test]
    fn the_example_files_list_every_setting() {
        let command = Cli::command();
        let serve = settings_command(&command).expect("serve");
        let keys = known_keys(serve);
        assert!(keys.len() > 20, "{keys:?}");
        let toml_example: toml::Table = include_str!("../../deploy/manifesto.toml.example")
            .parse()
            .expect("the TOML example parses");
        let env_example = include_str!("../../deploy/manifesto.env.example");
        let commented_toml = include_str!("../../deploy/manifesto.toml.example");
        for key in &keys {
            assert!(
                toml_example.contains_key(key) || commented_toml.contains(&format!("# {key} = ")),
                "deploy/manifesto.toml.example does not list `{key}`"
            );
            let env = format!("MANIFESTO_{}", key.to_ascii_uppercase());
            assert!(
                env_example.contains(&format!("{env}=")),
                "deploy/manifesto.env.example does not list {env}"
            );
        }
        // The example's active settings are all valid.
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("example.toml");
        std::fs::write(&file, include_str!("../../deploy/manifesto.toml.example")).expect("write");
        let parsed = config_check(&file);
        let Command::Config(crate::cli::ConfigCommand::Check(config)) = &parsed.cli.command else {
            panic!("config check expected")
        };
        assert_eq!(config.problems(), Vec::new());
    }
}
