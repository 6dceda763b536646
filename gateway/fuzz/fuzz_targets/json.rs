//! JSON bodies transcoded into the input messages of Bazaar's RPCs, both
//! directly and through each binding's body rule: whatever parses must
//! re-serialise and parse back equal, in JSON and in protobuf.

#![no_main]

use bazaar_gateway::request;
use bazaar_gateway_fuzz::{assert_round_trips, bazaar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the message (and the binding), the rest is the
    // body.
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let bazaar = bazaar();
    let selector = usize::from(selector);

    let desc = bazaar.inputs[selector % bazaar.inputs.len()].clone();
    if let Ok(message) = bazaar.json.parse(desc, body) {
        assert_round_trips(&bazaar.json, &message);
    }

    // The same body as a request of a binding: `body: "*"`, a field body,
    // PATCH with its update mask filled, or no body at all.
    let case = &bazaar.cases[selector % bazaar.cases.len()];
    let binding = &bazaar.bindings[case.binding];
    if let Ok(message) = request::build(binding, &bazaar.json, &case.segments(), None, body) {
        assert_round_trips(&bazaar.json, &message);
    }
});
