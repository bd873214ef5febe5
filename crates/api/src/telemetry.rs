//! Telemetry: one place that decides how logs look. JSON lines in staging and production (Render's
//! log stream and any drain parse them), readable lines in development.

use tracing::Subscriber;
use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt, EnvFilter, Registry};

use crate::config::{LogFormat, LogSettings};

/// Builds a subscriber writing to `sink` (stdout in the binary, a sink or a buffer in tests), in
/// `LOG_FORMAT`, filtered by `RUST_LOG` (validated at start-up). Request logs use the target
/// `api::http`.
pub fn get_subscriber<W>(settings: &LogSettings, sink: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = Registry::default().with(filter);
    match settings.format {
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(sink),
            ),
        ),
        LogFormat::Pretty => {
            // Colours only on a terminal: piped logs (files, CI) stay plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            Box::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .compact()
                        .with_ansi(ansi)
                        .with_writer(sink),
                ),
            )
        }
    }
}

/// Installs `subscriber` as the global default. Call once, before anything logs.
pub fn init_subscriber(subscriber: Box<dyn Subscriber + Send + Sync>) {
    tracing::subscriber::set_global_default(subscriber)
        .expect("a global tracing subscriber was already set");
}
