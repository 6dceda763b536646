//! JSON log lines joined to traces: each line written inside a span starts
//! with the OpenTelemetry `trace_id` and `span_id` of that span, so a log
//! search and a trace backend find each other.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use opentelemetry::trace::TraceContextExt as _;
use tracing::{Dispatch, Event, Subscriber, dispatcher::WeakDispatch};
use tracing_subscriber::{
    Layer,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// The subscriber, as a weak handle: reading a span's OpenTelemetry
/// context needs it, and an event being logged cannot ask for the current
/// dispatcher (it is inside it).
#[derive(Clone, Default)]
pub struct DispatchCell(Arc<OnceLock<WeakDispatch>>);

impl<S: Subscriber> Layer<S> for DispatchCell {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }
}

/// Writes what `inner` writes (a JSON object per line), with `trace_id` and
/// `span_id` first when the event happened inside a span.
pub struct WithTraceIds<F> {
    inner: F,
    dispatch: DispatchCell,
}

impl<F> WithTraceIds<F> {
    pub(crate) fn new(inner: F, dispatch: DispatchCell) -> Self {
        Self { inner, dispatch }
    }

    fn ids<S, N>(&self, ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Option<(String, String)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'w> FormatFields<'w> + 'static,
    {
        let span = match event.parent() {
            Some(id) => ctx.span(id)?,
            None => ctx.lookup_current()?,
        };
        let dispatch = self.dispatch.0.get()?.upgrade()?;
        let context = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        let span_context = context.span().span_context().clone();
        span_context.is_valid().then(|| {
            (
                span_context.trace_id().to_string(),
                span_context.span_id().to_string(),
            )
        })
    }
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Read the ids before formatting: both lock the span's extensions.
        let ids = self.ids(ctx, event);
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match (ids, line.strip_prefix('{')) {
            (Some((trace_id, span_id)), Some(rest)) => {
                write!(
                    writer,
                    r#"{{"trace_id":"{trace_id}","span_id":"{span_id}","#
                )?;
                writer.write_str(rest)
            }
            _ => writer.write_str(&line),
        }
    }
}
