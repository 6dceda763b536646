//! What the fuzz targets share: the gateway as the binary serves it by
//! default (Bazaar's embedded descriptor set), assembled from the crate's
//! public pieces the same way `Gateway::build` does, minus the upstreams.
//!
//! Built once per process; a target that cannot build it panics at once,
//! which libFuzzer reports as a crash on the first input rather than
//! fuzzing nothing.

use std::sync::OnceLock;

use bazaar_gateway::{
    binding::{self, Binding},
    config::JsonConfig,
    descriptors,
    json::Json,
    request,
    router::Router,
    template::Segment,
};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, MessageDescriptor, ReflectMessage as _, Value,
};

pub struct Bazaar {
    pub bindings: Vec<Binding>,
    pub router: Router,
    /// The default JSON options (what `bazaar-gateway` runs with).
    pub json: Json,
    /// Every distinct input message of the bound RPCs, in binding order.
    pub inputs: Vec<MessageDescriptor>,
    /// Every binding with a path that satisfies it, so the query and the
    /// body are what a fuzz input varies.
    pub cases: Vec<Case>,
}

/// A binding and a request path that maps onto it.
pub struct Case {
    pub binding: usize,
    /// The path's segments, as the router hands them to `request::build`.
    pub segments: Vec<String>,
    /// The message that path alone builds (no query, no body).
    pub baseline: DynamicMessage,
}

impl Case {
    pub fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

pub fn bazaar() -> &'static Bazaar {
    static BAZAAR: OnceLock<Bazaar> = OnceLock::new();
    BAZAAR.get_or_init(|| {
        let pool = descriptors::load(None)
            .unwrap_or_else(|e| panic!("the embedded descriptor set does not load: {e}"));
        let bindings = binding::read_bindings(&pool)
            .unwrap_or_else(|e| panic!("the embedded rules are invalid: {e}"));
        assert!(!bindings.is_empty(), "the embedded set has bindings");
        let mut router = Router::default();
        for (index, binding) in bindings.iter().enumerate() {
            let inserted = router.insert(&binding.template, binding.http_method.clone(), index);
            assert!(inserted.is_ok(), "{} conflicts", binding.template);
        }
        let mut inputs: Vec<MessageDescriptor> = Vec::new();
        for binding in &bindings {
            let input = binding.input();
            if !inputs.contains(&input) {
                inputs.push(input);
            }
        }
        let json = Json::new(&JsonConfig::default(), &pool);
        let cases: Vec<Case> = bindings
            .iter()
            .enumerate()
            .filter_map(|(index, binding)| case(&json, index, binding))
            .collect();
        assert!(!cases.is_empty(), "no binding accepts a sample path");
        Bazaar {
            bindings,
            router,
            json,
            inputs,
            cases,
        }
    })
}

/// A path for `binding`: its literals, and `1` for every variable segment
/// (a valid string, number and enum number alike); `None` when that is not
/// a valid value of its fields.
fn case(json: &Json, index: usize, binding: &Binding) -> Option<Case> {
    let segments: Vec<String> = binding
        .template
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Literal(text) => text.clone(),
            Segment::Single | Segment::Multi => "1".to_owned(),
        })
        .collect();
    let raw: Vec<&str> = segments.iter().map(String::as_str).collect();
    let baseline = request::build(binding, json, &raw, None, b"").ok()?;
    Some(Case {
        binding: index,
        segments,
        baseline,
    })
}

/// The value at `path` (from `message` down), if every message on the way
/// is set.
pub fn field_at(message: &DynamicMessage, path: &[FieldDescriptor]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut current = message.clone();
    for field in parents {
        if !current.has_field(field) {
            return None;
        }
        current = current.get_field(field).as_message()?.clone();
    }
    Some(current.get_field(last).into_owned())
}

/// `message` as a JSON value, through the gateway's serializer. Compared as
/// values, not text: map entries come out in hash order.
pub fn to_json(json: &Json, message: &DynamicMessage) -> serde_json::Value {
    let mut out = Vec::new();
    if let Err(error) = json.write(message, &mut out) {
        panic!(
            "a parsed {} does not serialise: {error}",
            message.descriptor().full_name()
        );
    }
    match serde_json::from_slice(&out) {
        Ok(value) => value,
        Err(error) => panic!("the gateway wrote invalid JSON ({error}): {out:?}"),
    }
}

/// Checks that `message` survives JSON → message and protobuf → message
/// unchanged, as an upstream and a client would see it.
pub fn assert_round_trips(json: &Json, message: &DynamicMessage) {
    use prost::Message as _;
    let desc = message.descriptor();
    let first = to_json(json, message);
    let text = first.to_string();
    let reparsed = match json.parse(desc.clone(), text.as_bytes()) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("the gateway's own JSON {text} does not parse back: {error}"),
    };
    assert_eq!(to_json(json, &reparsed), first, "JSON round trip of {text}");
    let wire = message.encode_to_vec();
    let decoded = match DynamicMessage::decode(desc, wire.as_slice()) {
        Ok(decoded) => decoded,
        Err(error) => panic!("the encoding of {text} does not decode: {error}"),
    };
    assert_eq!(
        to_json(json, &decoded),
        first,
        "protobuf round trip of {text}"
    );
}
