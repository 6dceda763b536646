//! Statements and commits per service, counted from sqlx's own statement
//! log while the census is on: how many round trips and commits an order
//! costs each database, on SQLite as on PostgreSQL (which has no
//! pg_stat_statements here).
//!
//! A statement belongs to the service whose `grpc.server` span it ran in
//! (the saga's spans descend from PlaceOrder's); the rest is background
//! work (sweepers, gauges). sqlx logs no BEGIN, so `Database::begin_write`
//! logs one; on PostgreSQL it logs COMMIT and ROLLBACK, so commits there
//! are COMMITs plus statements run outside a transaction, as `xact_commit`
//! counts them (telling the two apart needs one request at a time per
//! service: the census runs its orders one after another). On SQLite sqlx
//! logs no COMMIT: each transaction's is added to the statements, and
//! commits are not told.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
};

use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id},
};
use tracing_subscriber::{Layer, filter::Targets, layer::Context, registry::LookupSpan, reload};

/// What one service sent its database.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Round trips: every statement, BEGIN and COMMIT included.
    pub statements: u64,
    /// Explicit transactions (BEGINs).
    pub transactions: u64,
    /// COMMITs and statements outside a transaction; only where sqlx logs
    /// COMMIT (PostgreSQL).
    pub commits: u64,
    in_transaction: bool,
}

/// The counting layer; clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct Census {
    tallies: Arc<Mutex<BTreeMap<String, Tally>>>,
}

/// The service a `grpc.server` span serves, kept on the span.
struct Service(String);

/// Where statements outside any request are counted.
pub const BACKGROUND: &str = "(background)";

impl Tally {
    /// Round trips, adding the COMMITs sqlx does not log (`commits_logged`
    /// false: SQLite).
    pub fn round_trips(&self, commits_logged: bool) -> u64 {
        if commits_logged {
            self.statements
        } else {
            self.statements + self.transactions
        }
    }
}

impl Census {
    /// The layer, filtered so that it costs nothing until switched on with
    /// [`Switch::on`].
    pub fn layer<S>(&self) -> (impl Layer<S> + use<S>, Switch<S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let (filter, handle) = reload::Layer::new(Targets::new());
        (self.clone().with_filter(filter), Switch(handle))
    }

    /// The counts so far, by service, and a fresh start.
    pub fn take(&self) -> BTreeMap<String, Tally> {
        std::mem::take(&mut *self.tallies.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Turns the census on and off.
pub struct Switch<S>(reload::Handle<Targets, S>);

impl<S: Subscriber> Switch<S> {
    /// Sees sqlx's statements and the server spans they run in.
    pub fn on(&self) -> anyhow::Result<()> {
        let targets = Targets::new()
            .with_target("sqlx::query", Level::DEBUG)
            .with_target("bazaar_runtime::db::begin", Level::DEBUG)
            .with_target("bazaar_observe", Level::INFO);
        Ok(self.0.reload(targets)?)
    }

    pub fn off(&self) -> anyhow::Result<()> {
        Ok(self.0.reload(Targets::new())?)
    }
}

/// One string field of a span or event.
struct StrField {
    name: &'static str,
    value: Option<String>,
}

impl Visit for StrField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            self.value = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S> Layer<S> for Census
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "grpc.server" {
            return;
        }
        let mut service = StrField {
            name: "rpc.service",
            value: None,
        };
        attrs.record(&mut service);
        if let (Some(service), Some(span)) = (service.value, ctx.span(id)) {
            span.extensions_mut().insert(Service(service));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let target = event.metadata().target();
        let begin = target == "bazaar_runtime::db::begin";
        if !begin && target != "sqlx::query" {
            return;
        }
        let service = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<Service>().map(|s| s.0.clone()))
            })
            .unwrap_or_else(|| BACKGROUND.to_owned());
        let mut summary = StrField {
            name: "summary",
            value: None,
        };
        event.record(&mut summary);
        let verb = if begin {
            "BEGIN".to_owned()
        } else {
            summary
                .value
                .as_deref()
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or_default()
                .to_ascii_uppercase()
        };
        let mut tallies = self.tallies.lock().unwrap_or_else(PoisonError::into_inner);
        let tally = tallies.entry(service).or_default();
        tally.statements += 1;
        match verb.as_str() {
            "BEGIN" => {
                tally.transactions += 1;
                tally.in_transaction = true;
            }
            "COMMIT" => {
                tally.commits += 1;
                tally.in_transaction = false;
            }
            "ROLLBACK" => tally.in_transaction = false,
            _ if !tally.in_transaction => tally.commits += 1,
            _ => {}
        }
    }
}
