//! The router of Bazaar's embedded bindings on arbitrary paths and methods,
//! then the path variables a match captures, decoded by `request::build`.

#![no_main]

use bazaar_gateway::{
    request,
    router::Lookup,
    template::{Segment, Template},
};
use bazaar_gateway_fuzz::{Bazaar, bazaar, field_at};
use http::Method;
use libfuzzer_sys::fuzz_target;
use prost_reflect::{Kind, Value};

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the method, the rest is the raw request path.
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let method = &METHODS[usize::from(selector) % METHODS.len()];
    let bazaar = bazaar();
    let all = bazaar.router.methods(path);
    match bazaar.router.find(method, path) {
        Lookup::Found { binding, segments } => {
            assert!(
                all.contains(method),
                "{method} {path}: found, but not in {all:?}"
            );
            found(bazaar, method, path, binding, &segments);
        }
        Lookup::MethodNotAllowed(allowed) => {
            assert!(!allowed.is_empty(), "{path}");
            assert!(!allowed.contains(method), "{method} {path}: {allowed:?}");
            for m in &allowed {
                assert!(all.contains(m), "{path}: {m} allowed, but not in {all:?}");
            }
        }
        Lookup::NotFound => assert!(all.is_empty(), "{path}: not found, yet {all:?}"),
    }
});

fn found(bazaar: &Bazaar, method: &Method, path: &str, index: usize, segments: &[&str]) {
    let binding = &bazaar.bindings[index];
    let template: &Template = &binding.template;
    assert_eq!(binding.http_method, *method, "{path} matched {template}");

    // The matched segments are the path's own, verb split off, nothing lost.
    if path.starts_with('/') {
        let mut rebuilt = format!("/{}", segments.join("/"));
        if let Some(verb) = &template.verb {
            rebuilt.push(':');
            rebuilt.push_str(verb);
        }
        assert_eq!(rebuilt, path, "{path} matched {template} as {segments:?}");
    }
    // Each matched segment satisfies its template segment.
    let multi = template.segments.last() == Some(&Segment::Multi);
    if multi {
        assert!(
            segments.len() >= template.segments.len() - 1,
            "{path}: {template}"
        );
    } else {
        assert_eq!(
            segments.len(),
            template.segments.len(),
            "{path}: {template}"
        );
    }
    for (segment, raw) in template.segments.iter().zip(segments) {
        match segment {
            Segment::Literal(literal) => assert!(
                raw == literal || decode(raw).as_deref() == Some(literal.as_str()),
                "{path}: {raw:?} matched the literal {literal:?} of {template}"
            ),
            Segment::Single => assert!(!raw.is_empty(), "{path}: empty segment bound"),
            Segment::Multi => {}
        }
    }

    // The captures, as the handler decodes them (empty body, no query).
    let Ok(message) = request::build(binding, &bazaar.json, segments, None, b"") else {
        return;
    };
    for param in &binding.path_params {
        let Some(last) = param.fields.last() else {
            continue;
        };
        if last.is_list() || !matches!(last.kind(), Kind::String) {
            continue;
        }
        let Some(Value::String(value)) = field_at(&message, &param.fields) else {
            panic!("{path}: path variable {} is not set", param.name);
        };
        let end = param.end.unwrap_or(segments.len()).min(segments.len());
        let raw = &segments[param.start.min(end)..end];
        if param.multi_segment {
            // Reserved escapes (%2F) stay escaped: no forged segments.
            assert_eq!(
                value.split('/').count(),
                raw.len().max(1),
                "{path}: {} = {value:?} from {raw:?}",
                param.name
            );
        } else {
            let expected = raw.first().and_then(|raw| decode(raw));
            assert_eq!(
                Some(value.as_str()),
                expected.as_deref(),
                "{path}: {} from {raw:?}",
                param.name
            );
        }
    }
}

/// A segment fully percent-decoded, if that is UTF-8.
fn decode(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}
