//! The `api` binary: parse the command line and the environment into settings, then hand over to
//! the library. Exit status: 0, 1 for a runtime error, 2 for a usage error, 78 for configuration.

use std::process::ExitCode;

use api::{
    config::{self, Config, Settings},
    db::Database,
    migrate, telemetry, Application,
};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Release Flow API server.
#[derive(Parser)]
#[command(
    name = "api",
    version,
    about,
    after_help = "A bad value stops start-up with one line naming the variable (exit status 78)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP until SIGTERM or SIGINT, then drain (the default)
    Serve,
    /// Apply pending database migrations and exit (e.g. as Render's preDeployCommand)
    Migrate,
    /// Manage accounts
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the OpenAPI document of the HTTP API (what GET /api/openapi.json serves)
    Openapi,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account, or replace its password. The password is read from standard input
    /// (never from the command line, where `ps` and shell history would keep it):
    /// `printf '%s' "$PASSWORD" | api user add --email ada@example.com`.
    Add {
        #[arg(long)]
        email: String,
    },
}

/// Exit status for a configuration error (sysexits.h EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    // `.env` is a development convenience; a deployed process takes its environment as given.
    if std::env::var("APP_ENV").map_or(true, |e| e.trim().is_empty() || e.trim() == "development") {
        if let Some(problem) = load_dotenv() {
            return config_exit(&problem);
        }
    }
    Config::unset_empty_variables();

    // Every variable is a global argument, so `api serve --help` lists them too.
    let command = Cli::command().mut_args(|a| a.global(true));
    let matches = match command.clone().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => match config::config_error(&command, &e) {
            Some(problem) => return config_exit(&problem),
            None => e.exit(),
        },
    };
    if let Some(problem) = config::secret_on_command_line(&matches) {
        return config_exit(&problem);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", api::routes::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    let settings = match cli.config.validate() {
        Ok(settings) => settings,
        Err(problem) => return config_exit(&problem),
    };
    // A server logs to stdout (Render's log stream); a one-off command keeps stdout for its
    // answer (`created ada@example.com`) and logs to stderr, so scripts can read it.
    let log_is_json = matches!(settings.log.format, config::LogFormat::Json);
    let db_target = api::db::target(&settings.database);
    let log = match command {
        Command::Serve => telemetry::get_subscriber(&settings.log, std::io::stdout),
        _ => telemetry::get_subscriber(&settings.log, std::io::stderr),
    };
    telemetry::init_subscriber(log);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    let serving = matches!(command, Command::Serve);
    let result = runtime.block_on(async move {
        match command {
            Command::Serve => {
                if settings.session.generated {
                    tracing::warn!("SESSION_SECRET is not set: using a random one, so sessions end when the process stops");
                }
                Application::build(settings).await?.run_until_stopped().await
            }
            Command::Migrate => {
                let db = Database::connect_lazy(&settings.database)?;
                migrate::run(&db, settings.database.migration_lock_wait).await?;
                tracing::info!(version = migrate::latest_version(), backend = %db.backend(), "migrations applied");
                Ok(())
            }
            Command::User { command: UserCommand::Add { email } } => add_user(&settings, &email).await,
            Command::Openapi => unreachable!("answered before the settings were read"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, once: a server's JSON log stream gets it as an event too; pretty logs
            // share the terminal with the line below, and a one-off command's reader has stderr.
            let mut line = error_chain(e.as_ref());
            // sqlx's pool timeout names neither the server nor the setting.
            if std::iter::successors(
                Some(e.as_ref() as &(dyn std::error::Error + 'static)),
                |e| e.source(),
            )
            .any(|e| {
                matches!(
                    e.downcast_ref::<sqlx::Error>(),
                    Some(sqlx::Error::PoolTimedOut)
                )
            }) {
                line.push_str(&format!(
                    " (no connection to {db_target} within DATABASE_ACQUIRE_TIMEOUT_MS)"
                ));
            }
            if serving && log_is_json {
                tracing::error!(error = %line, "exiting after an error");
            }
            eprintln!("error: {line}");
            if let Some(failure) = e.downcast_ref::<migrate::MigrationError>() {
                eprintln!("cause: {}", failure.cause(false));
            } else if let Some(fault) = api::db::storage_fault_in(e.as_ref()) {
                // Each write is a transaction: the one that failed left nothing behind.
                eprintln!("cause: {fault}. The failed write was rolled back; once that is fixed, run the command again.");
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its sources as one line, each message once: many errors repeat their source's
/// text in their own (sqlx's migration errors do), and `{:#}` would print it again per level.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    for source in std::iter::successors(error.source(), |e| e.source()) {
        let text = source.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// Loads `.env` when there is one. A line it cannot read stops start-up (dotenvy stops at it, so
/// every later line would be lost without a word), and so does a `.env` naming an environment
/// other than development: `.env` is read in development only.
fn load_dotenv() -> Option<config::ConfigError> {
    let problem = |problem: String, expected: &str| config::ConfigError {
        var: ".env".to_owned(),
        problem,
        expected: expected.to_owned(),
    };
    let entries = match dotenvy::dotenv_iter() {
        Ok(entries) => entries,
        Err(e) if e.not_found() => return None,
        Err(e) => return Some(problem(e.to_string(), "a readable file")),
    };
    for entry in entries {
        match entry {
            Ok((key, value)) if key == "APP_ENV" && !matches!(value.trim(), "" | "development") => {
                return Some(problem(
                    format!("it sets APP_ENV={value}"),
                    "APP_ENV=development or none: .env is read in development only; set APP_ENV in the environment",
                ));
            }
            Ok(_) => {}
            Err(e) => return Some(problem(e.to_string(), "KEY=value lines")),
        }
    }
    match dotenvy::dotenv() {
        Ok(_) => None,
        Err(e) => Some(problem(e.to_string(), "KEY=value lines")),
    }
}

fn config_exit(problem: &config::ConfigError) -> ExitCode {
    eprintln!("error: {problem}");
    ExitCode::from(EXIT_CONFIG)
}

/// `api user add`: the password comes from standard input, one line, without its line ending.
async fn add_user(settings: &Settings, email: &str) -> anyhow::Result<()> {
    use std::io::Read;
    let email = api::users::normalise_email(email).ok_or_else(|| {
        anyhow::anyhow!("invalid --email: expected an address such as ada@example.com")
    })?;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&password);
    let chars = password.chars().count();
    if !(api::users::MIN_PASSWORD_CHARS..=api::users::MAX_PASSWORD_CHARS).contains(&chars) {
        anyhow::bail!(
            "invalid password on standard input: {chars} characters; expected {} to {}",
            api::users::MIN_PASSWORD_CHARS,
            api::users::MAX_PASSWORD_CHARS
        );
    }
    let db = Database::connect_lazy(&settings.database)?;
    migrate::run(&db, settings.database.migration_lock_wait).await?;
    let secret = secrecy::SecretString::from(password.to_owned());
    match api::users::upsert(&db, &email, &secret).await? {
        api::users::Upserted::Created => println!("created {email}"),
        api::users::Upserted::PasswordReplaced => println!("replaced the password of {email}"),
    }
    Ok(())
}
