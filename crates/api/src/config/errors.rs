//! Configuration errors: one line naming the variable, what is wrong and what is expected.

use clap::error::ErrorKind;

use super::{parse, Config, DatabaseUrl};

/// Variables that hold secrets: refused on the command line, where `ps` and shell history keep
/// them (`DATABASE_URL` only when it carries a password).
const SECRET_VARIABLES: &[&str] = &["SESSION_SECRET", "METRICS_TOKEN", "DATABASE_URL"];

/// A configuration value that cannot be used. Displayed as one line that names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}: {problem}; expected {expected}")]
pub struct ConfigError {
    /// The variable, as its environment name (`SESSION_SECRET`).
    pub var: String,
    /// What is wrong with the value given (never the value itself when it is secret).
    pub problem: String,
    /// What would be accepted.
    pub expected: String,
}

impl ConfigError {
    pub(super) fn new(var: &str, problem: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// The one-line [`ConfigError`] for a clap error about a value (a bad number, an unknown
/// environment, a secret on the command line), naming the variable rather than the flag; `None`
/// for anything else (`--help`, an unknown subcommand), which clap reports itself.
pub fn config_error(command: &clap::Command, error: &clap::Error) -> Option<ConfigError> {
    use clap::error::{ContextKind, ContextValue};
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    // clap shows the argument as `--port <PORT>`; find it by its long name.
    let long = shown.trim_start_matches("--").split([' ', '=']).next()?;
    let var = command
        .get_arguments()
        .chain(command.get_subcommands().flat_map(|s| s.get_arguments()))
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    let invalid = std::error::Error::source(error)?.downcast_ref::<parse::Invalid>()?;
    Some(ConfigError::new(
        &var,
        invalid.problem.clone(),
        invalid.expected.clone(),
    ))
}

/// Refuses secrets given as `--flags`: checked in `main.rs`, which sees where values came from.
pub fn secret_on_command_line(matches: &clap::ArgMatches) -> Option<ConfigError> {
    let command = Config::command();
    for arg in command.get_arguments() {
        let Some(var) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        let id = arg.get_id().as_str();
        let holds_secret = match var.as_str() {
            "DATABASE_URL" => matches
                .get_one::<DatabaseUrl>(id)
                .is_some_and(DatabaseUrl::has_password),
            var => SECRET_VARIABLES.contains(&var),
        };
        if holds_secret && matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        {
            return Some(ConfigError::new(
                &var,
                format!("it was given as --{}", arg.get_long().unwrap_or_default()),
                "it in the environment only: a command line is visible to every process on the machine",
            ));
        }
    }
    None
}
