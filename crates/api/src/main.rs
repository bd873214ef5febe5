//! The `api` binary: parse the command, load settings, hand over to the library.

use std::process::ExitCode;

use api::{
    config::{Settings, VARIABLES},
    db::Database,
    telemetry, Application,
};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Release Flow API server.
#[derive(Parser)]
#[command(name = "api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit (e.g. as Render's preDeployCommand).
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
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

fn environment_help() -> String {
    let width = VARIABLES.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut text = String::from("Environment (also read from .env in development):\n");
    for v in VARIABLES {
        text.push_str(&format!(
            "  {:width$}  {} [default: {}]\n",
            v.name, v.help, v.default
        ));
    }
    text.push_str(
        "\nAn invalid value stops start-up with a message naming the variable (exit status 78).",
    );
    text
}

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
    db.migrate().await?;
    let secret = secrecy::SecretString::from(password.to_owned());
    match api::users::upsert(&db, &email, &secret).await? {
        api::users::Upserted::Created => println!("created {email}"),
        api::users::Upserted::PasswordReplaced => println!("replaced the password of {email}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let help = environment_help();
    let command = Cli::command()
        .after_help(help.clone())
        .mut_subcommand("serve", |c| c.after_help(help.clone()))
        .mut_subcommand("migrate", |c| c.after_help(help));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };

    // `.env` is a development convenience; a deployed process takes its environment as given.
    if std::env::var("APP_ENV").map_or(true, |e| e.is_empty() || e == "development") {
        let _ = dotenvy::dotenv();
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init_subscriber(telemetry::get_subscriber(
        settings.log_format,
        telemetry::DEFAULT_FILTER,
        std::io::stdout,
    ));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                if settings.session.generated {
                    tracing::warn!("SESSION_SECRET is not set: using a random one, so sessions end when the process stops");
                }
                Application::build(settings).await?.run_until_stopped().await
            }
            Command::User { command: UserCommand::Add { email } } => add_user(&settings, &email).await,
            Command::Migrate => {
                let db = Database::connect_lazy(&settings.database)?;
                db.migrate().await?;
                tracing::info!(version = db.latest_migration(), backend = %db.backend(), "migrations applied");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, error.chain = ?e, "exiting after an error");
            eprintln!("error: {e:#}");
            if let Some(fault) = api::db::storage_fault_in(e.as_ref()) {
                // Each write is a transaction: the one that failed left nothing behind.
                eprintln!("cause: {fault}. The failed write was rolled back; once that is fixed, run the command again.");
            }
            ExitCode::FAILURE
        }
    }
}
