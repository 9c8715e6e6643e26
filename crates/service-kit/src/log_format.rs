//! The JSON log line: one object per event with the event's fields
//! flattened, the trace and span ids of the current span, and every value
//! passed through [`crate::redact`].
//!
//! Shape (key order as written):
//! `{"timestamp":"…","level":"INFO","message":"…",<fields…>,"target":"…","trace_id":"…","span_id":"…"}`.
//! The ids are those of the OpenTelemetry span, so a log line can be found
//! from a trace in Jaeger and the other way round.

use std::fmt;
use std::io;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::redact;

/// Formats events as redacted JSON lines carrying trace and span ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedactingJson;

impl<S, N> FormatEvent<S, N> for RedactingJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let metadata = event.metadata();
        let mut fields = JsonFields::default();
        event.record(&mut fields);

        let mut entries: Vec<(&str, Value)> = Vec::with_capacity(fields.entries.len() + 6);
        entries.push(("timestamp", Value::String(timestamp)));
        entries.push(("level", Value::String(metadata.level().to_string())));
        if let Some(message) = fields.message.take() {
            entries.push(("message", Value::String(message)));
        }
        entries.extend(fields.entries.iter().map(|(k, v)| (*k, v.clone())));
        entries.push(("target", Value::String(metadata.target().to_owned())));
        if let Some((trace_id, span_id)) = current_ids(ctx) {
            entries.push(("trace_id", Value::String(trace_id)));
            entries.push(("span_id", Value::String(span_id)));
        }

        writer.write_char('{')?;
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                writer.write_char(',')?;
            }
            let key = serde_json::to_string(key).map_err(|_| fmt::Error)?;
            let value = serde_json::to_string(value).map_err(|_| fmt::Error)?;
            write!(writer, "{key}:{value}")?;
        }
        writer.write_str("}\n")
    }
}

/// The OpenTelemetry trace and span ids of the innermost span that has them.
fn current_ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let span = ctx.lookup_current()?;
    span.scope().find_map(|span| {
        let extensions = span.extensions();
        let data = extensions.get::<tracing_opentelemetry::OtelData>()?;
        let (trace_id, span_id) = (data.trace_id()?, data.span_id()?);
        (trace_id != opentelemetry::TraceId::INVALID)
            .then(|| (trace_id.to_string(), span_id.to_string()))
    })
}

/// Collects an event's fields as JSON values, redacted.
#[derive(Default)]
struct JsonFields {
    message: Option<String>,
    entries: Vec<(&'static str, Value)>,
}

impl JsonFields {
    fn push_text(&mut self, field: &Field, text: &str) {
        let value = redact::field_value(field.name(), text).into_owned();
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.entries.push((field.name(), Value::String(value)));
        }
    }

    fn push_value(&mut self, field: &Field, value: Value) {
        if redact::is_secret_field(field.name()) {
            self.entries
                .push((field.name(), Value::String(redact::REDACTED.to_owned())));
        } else {
            self.entries.push((field.name(), value));
        }
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push_text(field, &format!("{value:?}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push_text(field, &value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push_value(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push_value(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push_value(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push_value(field, Value::from(value));
    }
}

/// Wraps a writer so that every formatted event is redacted as text before it
/// is written (for the human-readable format, whose fields are not structured).
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingWriter<W>(pub W);

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<W> {
    type Writer = RedactedWrite<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedWrite(self.0.make_writer())
    }
}

/// One redacting write target; see [`RedactingWriter`].
#[derive(Debug)]
pub struct RedactedWrite<W>(W);

impl<W: io::Write> io::Write for RedactedWrite<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The fmt layer writes each event in one call, so each call is a whole event.
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines(buffer: &Buffer) -> Vec<serde_json::Value> {
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_are_flat_json_with_trace_ids_and_no_personal_data() {
        let buffer = Buffer::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "test");
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(RedactingJson)
                    .with_writer(buffer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, || {
            let addr: std::net::SocketAddr = "127.0.0.1:4242".parse().unwrap();
            tracing::info!(listener = "http", addr = %addr, "Listening.");
            let span = tracing::info_span!("flow.process", event_id = "e1");
            let _entered = span.enter();
            tracing::warn!(
                access_token = "pat-na1-canary-token",
                attempt = 2_u64,
                detail = "customer jane@example.com, +49 40 1234567, VAT DE123456789",
                "Vendor rejected {}",
                "max@example.org"
            );
        });
        let lines = lines(&buffer);
        assert_eq!(lines[0]["message"], "Listening.");
        assert_eq!(lines[0]["listener"], "http");
        assert_eq!(lines[0]["addr"], "127.0.0.1:4242");
        assert_eq!(lines[0]["level"], "INFO");
        assert!(lines[0].get("trace_id").is_none(), "no span, no trace id");

        let warn = &lines[1];
        assert_eq!(warn["attempt"], 2);
        assert_eq!(warn["access_token"], redact::REDACTED);
        assert_eq!(warn["message"], "Vendor rejected [REDACTED:email]");
        assert_eq!(
            warn["detail"],
            "customer [REDACTED:email], [REDACTED:phone], VAT [REDACTED:tax-id]"
        );
        assert_eq!(warn["trace_id"].as_str().map(str::len), Some(32));
        assert_eq!(warn["span_id"].as_str().map(str::len), Some(16));
        let raw = serde_json::to_string(&lines).unwrap();
        for canary in ["pat-na1-canary-token", "jane@", "1234567", "DE123456789"] {
            assert!(!raw.contains(canary), "{canary} leaked: {raw}");
        }
    }

    #[test]
    fn the_pretty_writer_redacts_whole_lines() {
        let buffer = Buffer::default();
        let writer = RedactingWriter(buffer.clone());
        let mut target = writer.make_writer();
        io::Write::write_all(&mut target, b"mail bob@example.com token=abc123\n").unwrap();
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "mail [REDACTED:email] token=[REDACTED]\n");
    }
}
