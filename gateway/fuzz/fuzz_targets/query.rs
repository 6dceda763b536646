//! Query strings bound onto the request messages of Bazaar's bindings (each
//! with a valid path): a bound message must keep its path-bound fields and
//! be one the gateway can send and render.

#![no_main]

use bazaar_gateway::{binding::BodyRule, request};
use bazaar_gateway_fuzz::{assert_round_trips, bazaar, field_at};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the binding, the rest is the raw query string.
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(query) = std::str::from_utf8(rest) else {
        return;
    };
    let bazaar = bazaar();
    let case = &bazaar.cases[usize::from(selector) % bazaar.cases.len()];
    let binding = &bazaar.bindings[case.binding];
    let Ok(message) = request::build(binding, &bazaar.json, &case.segments(), Some(query), b"")
    else {
        return;
    };
    // The query cannot override what the path bound, nor set the body field.
    for param in &binding.path_params {
        assert_eq!(
            field_at(&message, &param.fields),
            field_at(&case.baseline, &param.fields),
            "{} ?{query}: path variable {} changed",
            binding.template,
            param.name
        );
    }
    if let BodyRule::Field(field) = &binding.body {
        // Only the path may have set part of it (`{product.id}`).
        assert_eq!(
            message.get_field(field),
            case.baseline.get_field(field),
            "{} ?{query}: the body field {} changed",
            binding.template,
            field.name()
        );
    }
    if !binding.maps_query() {
        assert_eq!(message, case.baseline, "{} ?{query}", binding.template);
    }
    assert_round_trips(&bazaar.json, &message);
});
