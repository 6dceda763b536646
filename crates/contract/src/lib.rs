//! The protos state what each request field accepts (`google.api.field_behavior`
//! and `bazaar.common.v1.rules`); the services' domain types are what
//! actually parses. This crate keeps the two from drifting: a [`Suite`] takes
//! a valid request per RPC and the service's own parse function, derives
//! boundary and near-miss values for every ruled field from the rules
//! (just inside and outside each bound, odd characters, blanks, unknown enum
//! values, missing parts), and fails when the parser and the rules disagree
//! about any of them.
//!
//! A parser may be stricter than the rules only where a test says why
//! ([`Check::stricter`]: a Luhn checksum, an expiry in the past); it may
//! never accept what the rules refuse.

mod candidates;
mod rules;

use std::collections::BTreeSet;

use bazaar_runtime::status::ServiceError;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

pub use crate::rules::Rules;

/// The contract checks of one gRPC service.
pub struct Suite {
    pool: DescriptorPool,
    service: String,
    checked: BTreeSet<String>,
    failures: Vec<String>,
    cases: usize,
}

impl Suite {
    /// Checks for `service` (`bazaar.user.v1.UserService`) against Bazaar's
    /// descriptors.
    pub fn new(service: &str) -> Self {
        let pool = DescriptorPool::decode(bazaar_proto::FILE_DESCRIPTOR_SET)
            .expect("Bazaar's descriptor set decodes");
        assert!(
            pool.get_service_by_name(service).is_some(),
            "no service {service}"
        );
        Self {
            pool,
            service: service.to_owned(),
            checked: BTreeSet::new(),
            failures: Vec::new(),
            cases: 0,
        }
    }

    /// Starts the check of one request message: `valid` must parse, and
    /// `parse` returns the paths of the fields it refuses.
    pub fn check<T, F>(&mut self, message: &str, valid: T, parse: F) -> Check<'_, T, F>
    where
        T: prost::Message + Default,
        F: Fn(T) -> Vec<String>,
    {
        let descriptor = self
            .pool
            .get_message_by_name(message)
            .unwrap_or_else(|| panic!("no message {message}"));
        Check {
            suite: self,
            descriptor,
            valid,
            parse,
            stricter: Vec::new(),
            partial: Vec::new(),
        }
    }

    /// Panics with every disagreement found, and when a request message of
    /// the service that carries rules was not checked.
    pub fn finish(self) {
        let service = self
            .pool
            .get_service_by_name(&self.service)
            .expect("checked in new");
        let mut failures = self.failures;
        for method in service.methods() {
            let input = method.input();
            if rules::has_rules(&input) && !self.checked.contains(input.full_name()) {
                failures.push(format!(
                    "{}: its rules are not checked against a parser",
                    input.full_name()
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases disagree with the protos:\n{}",
            failures.len(),
            self.cases,
            failures.join("\n")
        );
        assert!(self.cases > 0, "no case was checked");
    }
}

/// One request message's check, configured before [`Check::run`].
pub struct Check<'s, T, F> {
    suite: &'s mut Suite,
    descriptor: MessageDescriptor,
    valid: T,
    parse: F,
    stricter: Vec<String>,
    partial: Vec<String>,
}

impl<T, F> Check<'_, T, F>
where
    T: prost::Message + Default,
    F: Fn(T) -> Vec<String>,
{
    /// The parser refuses some values of `path` that the rules allow, for a
    /// reason no field rule can state (`why`, for the reader).
    pub fn stricter(mut self, path: &str, why: &str) -> Self {
        assert!(!why.is_empty(), "say why {path} is stricter");
        self.stricter.push(path.to_owned());
        self
    }

    /// The message at `path` is a partial update (AIP-134): its `REQUIRED`
    /// fields may be left out, and its `IDENTIFIER` must be given.
    pub fn partial(mut self, path: &str) -> Self {
        self.partial.push(path.to_owned());
        self
    }

    pub fn run(self) {
        let name = self.descriptor.full_name().to_owned();
        let base = DynamicMessage::decode(self.descriptor.clone(), &*self.valid.encode_to_vec())
            .expect("a message decodes as itself");
        let parse = |message: &DynamicMessage| -> Vec<String> {
            let typed: T = message.transcode_to().expect("same message type");
            (self.parse)(typed)
        };
        let refused = parse(&base);
        let suite = self.suite;
        suite.checked.insert(name.clone());
        if !refused.is_empty() {
            suite.failures.push(format!(
                "{name}: the valid request is refused at {refused:?}"
            ));
            return;
        }
        let context = candidates::Context {
            partial: &self.partial,
        };
        for case in candidates::cases(&base, &context) {
            suite.cases += 1;
            let refused = parse(&case.message);
            let refused_here = refused.iter().any(|field| under(field, &case.path));
            let stricter = self.stricter.iter().any(|path| under(&case.path, path));
            match (case.allowed, refused_here) {
                (true, true) if stricter => {}
                (true, true) => suite.failures.push(format!(
                    "{name}.{}: the rules allow {} but the parser refuses it ({refused:?})",
                    case.path, case.value
                )),
                (false, false) => suite.failures.push(format!(
                    "{name}.{}: the rules refuse {} but the parser accepts it",
                    case.path, case.value
                )),
                _ => {}
            }
        }
    }
}

/// Whether a violation at `field` is one of `path` (itself, or inside it).
fn under(field: &str, path: &str) -> bool {
    field == path
        || field
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// The field paths a parse result refuses: its `INVALID_ARGUMENT`
/// violations, none for anything else.
pub fn refused<V>(result: Result<V, ServiceError>) -> Vec<String> {
    match result {
        Err(ServiceError::InvalidArgument(violations)) => violations
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_belongs_to_its_field_and_what_is_inside() {
        assert!(under("items", "items"));
        assert!(under("items[0].quantity", "items"));
        assert!(under("product.price.currency_code", "product.price"));
        assert!(!under("items_count", "items"));
        assert!(!under("product", "product.price"));
    }
}
