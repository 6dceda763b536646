//! Setting request fields from text: path variables and query parameters.
//!
//! Text maps to fields as grpc-gateway maps it: numbers in decimal, booleans
//! as `true`/`false` (or `1`/`0`, `t`/`f`), bytes as base64 (standard or
//! URL-safe), enums by name or number, and the well-known types that have a
//! string form in proto3 JSON (`Timestamp`, `Duration`, `FieldMask`, and the
//! wrappers, which take their wrapped value).

use base64::Engine as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

pub const FIELD_MASK: &str = "google.protobuf.FieldMask";
pub const TIMESTAMP: &str = "google.protobuf.Timestamp";
pub const DURATION: &str = "google.protobuf.Duration";

/// The wrapper types: a message whose field 1 holds the value.
const WRAPPERS: [&str; 9] = [
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
];

pub fn is_wrapper(full_name: &str) -> bool {
    WRAPPERS.contains(&full_name)
}

/// Message types that a path segment or query value can carry.
pub fn is_string_encoded(full_name: &str) -> bool {
    matches!(full_name, FIELD_MASK | TIMESTAMP | DURATION) || is_wrapper(full_name)
}

/// The full name of a message field's type.
pub fn message_name(field: &FieldDescriptor) -> Option<&'static str> {
    // Names are compared against constants only, so map to them.
    match field.kind() {
        Kind::Message(m) => [FIELD_MASK, TIMESTAMP, DURATION]
            .into_iter()
            .chain(WRAPPERS)
            .find(|n| *n == m.full_name()),
        _ => None,
    }
}

/// Resolves `a.b.c` from `message`, each part by proto name or JSON name.
/// Every field but the last must be a singular message.
pub fn resolve_path<'a>(
    message: &MessageDescriptor,
    parts: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<FieldDescriptor>, String> {
    let mut current = message.clone();
    let mut fields: Vec<FieldDescriptor> = Vec::new();
    for part in parts {
        if let Some(parent) = fields.last() {
            match parent.kind() {
                Kind::Message(m) if !parent.is_list() && !parent.is_map() => current = m,
                _ => {
                    return Err(format!(
                        "{:?} is not a singular message field, so it has no field {part:?}",
                        parent.name()
                    ));
                }
            }
        }
        let field = current
            .get_field_by_name(part)
            .or_else(|| current.get_field_by_json_name(part))
            .ok_or_else(|| format!("{} has no field {part:?}", current.full_name()))?;
        fields.push(field);
    }
    if fields.is_empty() {
        return Err("empty field path".to_owned());
    }
    Ok(fields)
}

/// Sets the field at `path` (from `message` down) to `text`; appends when
/// the field is repeated.
pub fn set_from_text(
    message: &mut DynamicMessage,
    path: &[FieldDescriptor],
    text: &str,
) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut target = message;
    for field in parents {
        target = target
            .get_field_mut(field)
            .as_message_mut()
            .ok_or_else(|| format!("{:?} is not a message field", field.name()))?;
    }
    if last.is_map() {
        return Err(format!(
            "map field {:?} cannot be set from a query parameter",
            last.name()
        ));
    }
    let value = parse(&last.kind(), text)?;
    if last.is_list() {
        if let Some(list) = target.get_field_mut(last).as_list_mut() {
            list.push(value);
        }
    } else {
        target.set_field(last, value);
    }
    Ok(())
}

/// Parses `text` as a value of `kind`.
pub fn parse(kind: &Kind, text: &str) -> Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| format!("invalid value {text:?}: {e}");
    Ok(match kind {
        Kind::Double => Value::F64(text.parse().map_err(|e| bad(&e))?),
        Kind::Float => Value::F32(text.parse().map_err(|e| bad(&e))?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(text.parse().map_err(|e| bad(&e))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(text.parse().map_err(|e| bad(&e))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.parse().map_err(|e| bad(&e))?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.parse().map_err(|e| bad(&e))?),
        Kind::Bool => Value::Bool(parse_bool(text).ok_or_else(|| bad(&"not a boolean"))?),
        Kind::String => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(decode_base64(text).ok_or_else(|| bad(&"not base64"))?),
        Kind::Enum(enum_desc) => {
            let value = enum_desc
                .get_value_by_name(text)
                .or_else(|| {
                    text.parse::<i32>()
                        .ok()
                        .and_then(|n| enum_desc.get_value(n))
                })
                .ok_or_else(|| bad(&format!("not a value of {}", enum_desc.full_name())))?;
            Value::EnumNumber(value.number())
        }
        Kind::Message(message) => parse_message(message, text)?,
    })
}

fn parse_message(message: &MessageDescriptor, text: &str) -> Result<Value, String> {
    let name = message.full_name();
    if is_wrapper(name) {
        let mut wrapper = DynamicMessage::new(message.clone());
        if let Some(field) = message.get_field(1) {
            wrapper.set_field(&field, parse(&field.kind(), text)?);
        }
        return Ok(Value::Message(wrapper));
    }
    if matches!(name, FIELD_MASK | TIMESTAMP | DURATION) {
        // Their proto3 JSON form is a string: let the JSON mapping parse it.
        let json = serde_json::Value::String(text.to_owned());
        return DynamicMessage::deserialize(message.clone(), json)
            .map(Value::Message)
            .map_err(|e| format!("invalid value {text:?}: {e}"));
    }
    Err(format!("a {name} cannot be set from text"))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Some(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" => Some(false),
        _ => None,
    }
}

fn decode_base64(text: &str) -> Option<bytes::Bytes> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(bytes::Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_base64() {
        assert_eq!(parse_bool("t"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(decode_base64("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse(&Kind::Int32, "-7"), Ok(Value::I32(-7)));
        assert_eq!(
            parse(&Kind::Uint64, "18446744073709551615"),
            Ok(Value::U64(u64::MAX))
        );
        assert!(parse(&Kind::Uint32, "-1").is_err());
        assert!(parse(&Kind::Int32, "1.5").is_err());
        assert_eq!(parse(&Kind::Double, "2.5"), Ok(Value::F64(2.5)));
    }
}
