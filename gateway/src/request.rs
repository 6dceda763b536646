//! Builds the gRPC request message of a binding from the HTTP request: the
//! body first (per the rule's `body`), then path variables, then query
//! parameters for fields neither of those bound, as grpc-gateway does. PATCH
//! with a field body fills an empty `update_mask` from the body's keys.

use std::borrow::Cow;

use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage as _, Value};

use crate::{
    binding::{Binding, BodyRule},
    fields,
    json::Json,
};

/// Why the request cannot be mapped; always the client's fault (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// Maps path `segments` (as matched, still escaped), the raw `query` and
/// `body` onto a new request message.
pub fn build(
    binding: &Binding,
    json: &Json,
    segments: &[&str],
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, RequestError> {
    let input = binding.input();
    let mut message = body_message(binding, json, &input, body)?;

    for param in &binding.path_params {
        let end = param.end.unwrap_or(segments.len()).min(segments.len());
        let raw = segments.get(param.start..end).unwrap_or_default();
        let joined;
        let text = if param.multi_segment {
            joined = raw.join("/");
            decode_multi(&joined)
        } else {
            decode_single(raw.first().copied().unwrap_or_default())
        }
        .ok_or_else(|| {
            RequestError(format!(
                "path variable {:?} is not valid UTF-8 once decoded",
                param.name
            ))
        })?;
        fields::set_from_text(&mut message, &param.fields, &text)
            .map_err(|e| RequestError(format!("path variable {:?}: {e}", param.name)))?;
    }

    if binding.maps_query()
        && let Some(query) = query.filter(|q| !q.is_empty())
    {
        apply_query(binding, &mut message, &input, query)?;
    }
    Ok(message)
}

fn body_message(
    binding: &Binding,
    json: &Json,
    input: &MessageDescriptor,
    body: &[u8],
) -> Result<DynamicMessage, RequestError> {
    // An empty body is an empty message, as in grpc-gateway (io.EOF).
    let empty = body.iter().all(u8::is_ascii_whitespace);
    match &binding.body {
        BodyRule::None => Ok(DynamicMessage::new(input.clone())),
        _ if empty => Ok(DynamicMessage::new(input.clone())),
        BodyRule::Whole => json.parse(input.clone(), body).map_err(body_error),
        BodyRule::Field(field) => {
            let mut message = DynamicMessage::new(input.clone());
            let singular_message = match field.kind() {
                Kind::Message(m) if !field.is_list() && !field.is_map() => Some(m),
                _ => None,
            };
            match (singular_message, &binding.update_mask) {
                (Some(desc), None) => {
                    let value = json.parse(desc, body).map_err(body_error)?;
                    message.set_field(field, Value::Message(value));
                }
                (Some(desc), Some(mask_field)) => {
                    // One parse serves both the message and the mask's keys.
                    let document: serde_json::Value =
                        serde_json::from_slice(body).map_err(body_error)?;
                    let paths = top_level_paths(&desc, &document);
                    let value = json.from_value(desc, document).map_err(body_error)?;
                    message.set_field(field, Value::Message(value));
                    if let Some(paths) = paths {
                        fill_mask(&mut message, mask_field, paths);
                    }
                }
                (None, _) => {
                    // A scalar, repeated or map field: parse it as a member
                    // of the request, which applies the same JSON mapping.
                    let document: serde_json::Value =
                        serde_json::from_slice(body).map_err(body_error)?;
                    let wrapped = serde_json::Value::Object(
                        [(field.name().to_owned(), document)].into_iter().collect(),
                    );
                    let mut parsed = json
                        .from_value(input.clone(), wrapped)
                        .map_err(body_error)?;
                    if let Some(value) = parsed.take_field(field) {
                        message.set_field(field, value);
                    }
                }
            }
            Ok(message)
        }
    }
}

fn body_error(error: serde_json::Error) -> RequestError {
    RequestError(format!("invalid JSON body: {error}"))
}

/// The body object's keys as proto field names; `None` if it is not an
/// object. Keys the message does not have are left out (the parse rejects
/// them unless unknown fields are discarded).
fn top_level_paths(desc: &MessageDescriptor, document: &serde_json::Value) -> Option<Vec<String>> {
    let object = document.as_object()?;
    Some(
        object
            .keys()
            .filter_map(|key| {
                desc.get_field_by_name(key)
                    .or_else(|| desc.get_field_by_json_name(key))
                    .map(|f| f.name().to_owned())
            })
            .collect(),
    )
}

/// Sets `mask_field` to `paths` unless the client already sent a mask.
fn fill_mask(
    message: &mut DynamicMessage,
    mask_field: &prost_reflect::FieldDescriptor,
    paths: Vec<String>,
) {
    let already = message
        .get_field(mask_field)
        .as_message()
        .and_then(|mask| mask.get_field_by_number(1))
        .and_then(|paths| paths.as_list().map(|l| !l.is_empty()))
        .unwrap_or(false);
    if already {
        return;
    }
    if let Some(mask) = message.get_field_mut(mask_field).as_message_mut()
        && let Some(paths_field) = mask.descriptor().get_field(1)
    {
        mask.set_field(
            &paths_field,
            Value::List(paths.into_iter().map(Value::String).collect()),
        );
    }
}

fn apply_query(
    binding: &Binding,
    message: &mut DynamicMessage,
    input: &MessageDescriptor,
    query: &str,
) -> Result<(), RequestError> {
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        // Unknown parameters are ignored, as grpc-gateway does: a cache
        // buster or tracking parameter must not fail the call.
        let Ok(path) = fields::resolve_path(input, key.split('.')) else {
            continue;
        };
        let dotted: String = path.iter().map(|f| f.name()).collect::<Vec<_>>().join(".");
        if binding
            .query_excluded
            .iter()
            .any(|bound| is_within(&dotted, bound) || is_within(bound, &dotted))
        {
            continue;
        }
        fields::set_from_text(message, &path, &value)
            .map_err(|e| RequestError(format!("query parameter {key:?}: {e}")))?;
    }
    Ok(())
}

/// Whether `path` is `prefix` or a field under it.
fn is_within(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.len() > prefix.len()
            && path.starts_with(prefix)
            && path.as_bytes()[prefix.len()] == b'.')
}

/// A single-segment variable: everything decoded.
fn decode_single(raw: &str) -> Option<Cow<'_, str>> {
    percent_encoding::percent_decode_str(raw).decode_utf8().ok()
}

/// A multi-segment variable: per the `google.api.http` spec, reserved
/// characters (RFC 6570) stay escaped, so `%2F` cannot forge a segment.
fn decode_multi(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('%') {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(decoded) = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            && !is_reserved(decoded)
        {
            out.push(decoded);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn is_reserved(byte: u8) -> bool {
    b":/?#[]@!$&'()*+,;=".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_segments_decode_fully() {
        assert_eq!(decode_single("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(decode_single("%FF"), None);
    }

    #[test]
    fn multi_segments_keep_reserved_escapes() {
        assert_eq!(
            decode_multi("shelves/a%20b/books/c%2Fd").as_deref(),
            Some("shelves/a b/books/c%2Fd")
        );
        assert_eq!(decode_multi("x/y").as_deref(), Some("x/y"));
        assert_eq!(decode_multi("bad%zz").as_deref(), Some("bad%zz"));
    }

    #[test]
    fn prefixes_respect_dots() {
        assert!(is_within("item.id", "item"));
        assert!(is_within("item", "item"));
        assert!(!is_within("items", "item"));
    }
}
