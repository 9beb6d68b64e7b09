//! `init_logging`: forward `tracing` events of the core to the host (Logcat, `os_log`).
//!
//! The library installs no subscriber of its own; the first `init_logging` installs a global one
//! that forwards to the sink, later calls replace the sink and the level. Only event messages and
//! fields go out: the core logs no record payloads.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging.
    Debug,
    /// Tracing.
    Trace,
}

impl From<&Level> for LogLevel {
    fn from(l: &Level) -> Self {
        match *l {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

/// Where log lines go: implemented by the app.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One log line: `target` is the Rust module (`gridbook_core::store`).
    fn log(&self, level: LogLevel, target: String, message: String);
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static MAX_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static INSTALL: Once = Once::new();

/// Forward the core's logs at `level` and above to `sink`. Call once at app start; calling
/// again replaces the sink and the level.
#[uniffi::export]
pub fn init_logging(sink: Arc<dyn LogSink>, level: LogLevel) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
    INSTALL.call_once(|| {
        // Fails only if the host process already installed a subscriber: then that one wins.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Forward));
    });
}

struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // The level can change at run time: ask `enabled` every time.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        LogLevel::from(metadata.level()) as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(sink) = SINK.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        sink.log(meta.level().into(), meta.target().to_string(), line.0);
    }
}

/// The message first, then `name=value` for the other fields.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                let _ = write!(self.0, " {rest}");
            }
        } else {
            let sep = if self.0.is_empty() { "" } else { " " };
            let _ = write!(self.0, "{sep}{}={value:?}", field.name());
        }
    }
}

/// Emit one log line through `tracing` (lets the host check its sink is wired).
#[uniffi::export]
pub fn log_test_message(message: String) {
    tracing::info!(target: "gridbook_ffi", "{message}");
}
