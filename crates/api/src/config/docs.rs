//! The variables as documentation: what `api --help` lists, and the README's table generated
//! from the same clap definitions.

use super::Config;

/// One documented variable, as clap knows it: what `api --help` prints and what the README's
/// table must say (a test compares them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The environment variable's name.
    pub name: String,
    /// The default as help text gives it (`8080`, `0 in development, else 3`), or empty.
    pub default: String,
    /// The help text without its `[default: …]` note.
    pub help: String,
}

impl Config {
    /// Every variable, in `api --help` order.
    pub fn variables() -> Vec<Variable> {
        Config::command()
            .get_arguments()
            .filter_map(|arg| {
                let name = arg.get_env()?.to_string_lossy().into_owned();
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                // Defaults that depend on APP_ENV are written in the help as `[default: …]`.
                let (help, noted) = match help.split_once(" [default: ") {
                    Some((help, rest)) => (help.to_owned(), rest.trim_end_matches(']').to_owned()),
                    None => (help, String::new()),
                };
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or(noted);
                Some(Variable {
                    name,
                    default,
                    help,
                })
            })
            .collect()
    }

    /// The README's variables table, generated from [`Config::variables`].
    pub fn markdown_table() -> String {
        let mut out = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
        for v in Config::variables() {
            let default = match v.default.as_str() {
                "" => "unset".to_owned(),
                d if d.contains(' ') => d.to_owned(),
                d => format!("`{d}`"),
            };
            out.push_str(&format!(
                "| `{}` | {default} | {} |\n",
                v.name,
                v.help.replace('|', "\\|")
            ));
        }
        out
    }
}
