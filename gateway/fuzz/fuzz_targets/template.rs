//! `Template::parse` on arbitrary text: whatever it accepts must be
//! well-formed (what the router and the request mapper assume) and render
//! back to a template that parses to the same thing.

#![no_main]

use bazaar_gateway::template::{Segment, Template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse(text) else {
        return;
    };
    let n = template.segments.len();

    // `**` only ever last: the router stops at it.
    if let Some(i) = template.segments.iter().position(|s| *s == Segment::Multi) {
        assert_eq!(i, n - 1, "'**' not last in {text:?}");
    }
    for segment in &template.segments {
        if let Segment::Literal(literal) = segment {
            assert!(!literal.is_empty(), "empty literal in {text:?}");
            assert!(
                !literal.contains(['/', '{', '}', '*', ':', '=', '?', '#']),
                "literal {literal:?} of {text:?} holds a grammar character"
            );
        }
    }
    // Variables in order, disjoint, non-empty and inside the segments;
    // `end: None` exactly when the capture ends with `**`.
    let mut previous_end = 0;
    for var in &template.variables {
        let end = var.end.unwrap_or(n);
        assert!(
            previous_end <= var.start && var.start < end && end <= n,
            "variable {} of {text:?} spans {}..{end} of {n}",
            var.name(),
            var.start
        );
        assert_eq!(
            var.end.is_none(),
            template.segments[end - 1] == Segment::Multi,
            "variable {} of {text:?}",
            var.name()
        );
        assert!(!var.field_path.is_empty());
        previous_end = end;
    }
    if let Some(verb) = &template.verb {
        assert!(
            !verb.is_empty() && !verb.contains(['/', ':']),
            "verb {verb:?}"
        );
    }

    // What the gateway logs and labels metrics with parses back the same.
    let rendered = template.to_string();
    match Template::parse(&rendered) {
        Ok(reparsed) => assert_eq!(reparsed, template, "{text:?} rendered as {rendered:?}"),
        Err(error) => panic!("{text:?} rendered as {rendered:?}, which does not parse: {error}"),
    }
    // The shape (what conflicts are judged on) is a template of its own,
    // with the same segments and verb and no variables.
    let shape = template.shape();
    match Template::parse(&shape) {
        Ok(reparsed) => {
            assert_eq!(reparsed.segments, template.segments, "shape {shape:?}");
            assert_eq!(reparsed.verb, template.verb, "shape {shape:?}");
            assert!(reparsed.variables.is_empty());
        }
        Err(error) => panic!("the shape {shape:?} of {text:?} does not parse: {error}"),
    }
});
