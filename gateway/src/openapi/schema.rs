//! JSON schemas of messages, enums and fields, following the proto3 JSON
//! mapping the gateway speaks (64-bit integers as strings, well-known types
//! in their JSON forms, field names as configured).

use std::collections::BTreeMap;

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::{
    annotations::{Behavior, Rules},
    comments::Comments,
};
use crate::{fields, json::Json};

/// Which OpenAPI the document is: 3.1 (JSON Schema 2020-12) or 3.0.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V3_1,
    V3_0,
}

/// Well-known types with a JSON form other than an object of their fields.
fn well_known(full_name: &str, version: Version) -> Option<Value> {
    // Wrappers are their value or `null`.
    let wrapper = |schema: Value| Some(or_null(schema, version));
    Some(match full_name {
        fields::TIMESTAMP => json!({"type": "string", "format": "date-time"}),
        fields::DURATION => json!({
            "type": "string",
            "description": "Seconds with up to nine fractional digits, suffixed with `s`, e.g. `3.5s`.",
        }),
        fields::FIELD_MASK => json!({
            "type": "string",
            "description": "Comma-separated field paths, e.g. `title,price`.",
        }),
        "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": {}}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "additionalProperties": {},
        }),
        "google.protobuf.DoubleValue" => {
            return wrapper(json!({"type": "number", "format": "double"}));
        }
        "google.protobuf.FloatValue" => {
            return wrapper(json!({"type": "number", "format": "float"}));
        }
        "google.protobuf.Int64Value" => {
            return wrapper(json!({"type": "string", "format": "int64"}));
        }
        "google.protobuf.UInt64Value" => {
            return wrapper(json!({"type": "string", "format": "uint64"}));
        }
        "google.protobuf.Int32Value" => {
            return wrapper(json!({"type": "integer", "format": "int32"}));
        }
        "google.protobuf.UInt32Value" => {
            return wrapper(json!({"type": "integer", "format": "int64"}));
        }
        "google.protobuf.BoolValue" => return wrapper(json!({"type": "boolean"})),
        "google.protobuf.StringValue" => return wrapper(json!({"type": "string"})),
        "google.protobuf.BytesValue" => {
            return wrapper(json!({"type": "string", "format": "byte"}));
        }
        _ => return None,
    })
}

/// Message types a query parameter can carry as one value.
pub fn is_query_scalar(full_name: &str) -> bool {
    fields::is_string_encoded(full_name)
}

/// Message types with no flat query form: skipped in query parameters.
pub fn is_opaque(full_name: &str) -> bool {
    matches!(
        full_name,
        "google.protobuf.Struct"
            | "google.protobuf.Value"
            | "google.protobuf.ListValue"
            | "google.protobuf.Any"
            | "google.protobuf.Empty"
    )
}

/// `update_mask` → `updateMask`, as protoc derives JSON names.
pub fn lower_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Adds keywords (a description, `readOnly`, examples) to a schema; a
/// `$ref` cannot have siblings in OpenAPI 3.0, so there it is wrapped in
/// `allOf`.
fn annotate(schema: Value, keywords: Map<String, Value>, version: Version) -> Value {
    if keywords.is_empty() {
        return schema;
    }
    match schema {
        Value::Object(mut map) if !map.contains_key("$ref") || version == Version::V3_1 => {
            map.extend(keywords);
            Value::Object(map)
        }
        other => {
            let mut wrapped = Map::new();
            wrapped.insert("allOf".to_owned(), json!([other]));
            wrapped.extend(keywords);
            Value::Object(wrapped)
        }
    }
}

fn described(description: Option<String>) -> Map<String, Value> {
    description
        .map(|text| Map::from_iter([("description".to_owned(), Value::String(text))]))
        .unwrap_or_default()
}

/// The `components.schemas` being collected, and how names are written.
pub struct Schemas<'a> {
    json: &'a Json,
    version: Version,
    components: BTreeMap<String, Value>,
}

impl<'a> Schemas<'a> {
    pub fn new(json: &'a Json, version: Version) -> Self {
        Self {
            json,
            version,
            components: BTreeMap::new(),
        }
    }

    pub fn proto_names(&self) -> bool {
        self.json.proto_names()
    }

    pub fn name_of<'f>(&self, field: &'f FieldDescriptor) -> &'f str {
        self.json.field_name(field)
    }

    /// A registered component, to refine after the fact.
    pub fn component_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.components.get_mut(name)
    }

    pub fn into_components(self) -> Map<String, Value> {
        self.components.into_iter().collect()
    }

    /// A reference to the message's schema (registered on first use), or the
    /// inline schema of a well-known type.
    pub fn message_ref(&mut self, message: &MessageDescriptor, comments: &mut Comments) -> Value {
        if let Some(schema) = well_known(message.full_name(), self.version) {
            return schema;
        }
        let name = message.full_name().to_owned();
        if !self.components.contains_key(&name) {
            // A placeholder first, so recursive messages terminate.
            self.components.insert(name.clone(), Value::Null);
            let schema = self.message_inline(message, comments);
            self.components.insert(name.clone(), schema);
        }
        reference(&name)
    }

    /// The message's object schema itself.
    pub fn message_inline(
        &mut self,
        message: &MessageDescriptor,
        comments: &mut Comments,
    ) -> Value {
        if let Some(schema) = well_known(message.full_name(), self.version) {
            return schema;
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            let schema = self.field(&field, comments);
            let behavior = Behavior::of(&field);
            if behavior.required && !behavior.read_only() {
                required.push(Value::String(self.name_of(&field).to_owned()));
            }
            properties.insert(self.name_of(&field).to_owned(), schema);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if self.json.denies_unknown_fields() {
            // The gateway refuses fields the message lacks.
            schema["additionalProperties"] = Value::Bool(false);
        }
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        if let Some(text) = comments.of_message(message) {
            schema["description"] = Value::String(text);
        }
        schema
    }

    /// A field's schema: lists and maps wrap the element's; the field's rules
    /// and behaviour as keywords, its comment as description and examples.
    pub fn field(&mut self, field: &FieldDescriptor, comments: &mut Comments) -> Value {
        let rules = Rules::of(field);
        let schema = if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            };
            json!({"type": "object", "additionalProperties": self.kind(&value, comments, false)})
        } else if field.is_list() {
            let mut list = Map::new();
            list.insert("type".into(), json!("array"));
            list.insert("items".into(), self.value(field, &rules, comments, false));
            rules.list_keywords(&mut list);
            Value::Object(list)
        } else {
            let mut value = self.value(field, &rules, comments, false);
            if Behavior::of(field).required && field.kind() == Kind::String {
                require_text(&mut value);
            }
            value
        };
        let examples = comments.examples_of(field);
        let mut keywords = described(comments.of_field(field));
        let behavior = Behavior::of(field);
        // JSON `null` is accepted for any field and means its empty value
        // (unset, or cleared by a partial update), so a field whose empty
        // value is fine admits it.
        let schema = if behavior.required || behavior.read_only() || !rules.allow_empty() {
            schema
        } else {
            or_null(schema, self.version)
        };
        if behavior.read_only() {
            keywords.insert("readOnly".into(), Value::Bool(true));
        }
        if behavior.input_only {
            keywords.insert("writeOnly".into(), Value::Bool(true));
        }
        if behavior.immutable {
            keywords.insert("x-immutable".into(), Value::Bool(true));
        }
        if let Some(first) = examples.first() {
            match self.version {
                Version::V3_1 => keywords.insert("examples".into(), Value::Array(examples.clone())),
                Version::V3_0 => keywords.insert("example".into(), first.clone()),
            };
        }
        annotate(schema, keywords, self.version)
    }

    /// One value of the field (no list), enums inline: for parameters.
    pub fn scalar_field(&mut self, field: &FieldDescriptor, comments: &mut Comments) -> Value {
        let rules = Rules::of(field);
        let mut schema = self.value(field, &rules, comments, true);
        if let Some(first) = comments.examples_of(field).first() {
            schema["example"] = first.clone();
        }
        schema
    }

    /// One value of the field with its rules: bounds on texts and numbers,
    /// and enums without their zero value where that is refused.
    fn value(
        &mut self,
        field: &FieldDescriptor,
        rules: &Rules,
        comments: &mut Comments,
        inline_enums: bool,
    ) -> Value {
        let kind = field.kind();
        match &kind {
            Kind::String => {
                let mut schema = Map::new();
                schema.insert("type".into(), json!("string"));
                rules.text_keywords(&mut schema);
                Value::Object(schema)
            }
            Kind::Enum(enum_desc) if rules.defined_only() => {
                let mut schema = self.enumeration(enum_desc, comments, true);
                let zero = if self.json.enums_as_numbers() {
                    json!(0)
                } else {
                    enum_desc
                        .get_value(0)
                        .map_or(Value::Null, |v| json!(v.name()))
                };
                if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
                    values.retain(|v| *v != zero);
                }
                schema
            }
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                let (min, max) = bounds(rules, i32::MIN.into(), i32::MAX.into());
                json!({"type": "integer", "format": "int32", "minimum": min, "maximum": max})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                let (min, max) = bounds(rules, 0, u32::MAX.into());
                json!({"type": "integer", "format": "int64", "minimum": min, "maximum": max})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                // A decimal string, as proto3 JSON writes 64-bit integers;
                // a range can only be shown as a pattern (18 digits keep it
                // inside the type).
                let pattern = if rules.min().is_some_and(|min| min >= 0) {
                    "^[0-9]{1,18}$"
                } else {
                    "^-?[0-9]{1,18}$"
                };
                json!({"type": "string", "format": "int64", "pattern": pattern})
            }
            _ => self.kind(&kind, comments, inline_enums),
        }
    }

    fn kind(&mut self, kind: &Kind, comments: &mut Comments, inline_enums: bool) -> Value {
        match kind {
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int64"}),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64"})
            }
            Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Enum(enum_desc) => self.enumeration(enum_desc, comments, inline_enums),
            Kind::Message(message) => self.message_ref(message, comments),
        }
    }

    fn enumeration(
        &mut self,
        enum_desc: &EnumDescriptor,
        comments: &mut Comments,
        inline: bool,
    ) -> Value {
        if enum_desc.full_name() == "google.protobuf.NullValue" {
            return json!({});
        }
        let schema = if self.json.enums_as_numbers() {
            let numbers: Vec<i32> = enum_desc.values().map(|v| v.number()).collect();
            json!({"type": "integer", "format": "int32", "enum": numbers})
        } else {
            let names: Vec<String> = enum_desc.values().map(|v| v.name().to_owned()).collect();
            json!({"type": "string", "enum": names})
        };
        if inline {
            return schema;
        }
        let name = enum_desc.full_name().to_owned();
        if !self.components.contains_key(&name) {
            let schema = annotate(schema, described(comments.of_enum(enum_desc)), self.version);
            self.components.insert(name.clone(), schema);
        }
        reference(&name)
    }
}

/// The schema, or `null`.
fn or_null(schema: Value, version: Version) -> Value {
    match (version, schema) {
        (_, Value::Object(map)) if map.is_empty() => Value::Object(map),
        (Version::V3_1, Value::Object(mut map)) if !map.contains_key("$ref") => {
            match map.get("type").cloned() {
                Some(Value::String(kind)) => {
                    map.insert("type".into(), json!([kind, "null"]));
                }
                Some(Value::Array(mut kinds)) => {
                    if !kinds.contains(&json!("null")) {
                        kinds.push(json!("null"));
                    }
                    map.insert("type".into(), Value::Array(kinds));
                }
                _ => return json!({"anyOf": [Value::Object(map), {"type": "null"}]}),
            }
            // An enum lists its values; `null` must be one of them too.
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.push(Value::Null);
            }
            Value::Object(map)
        }
        (Version::V3_1, other) => json!({"anyOf": [other, {"type": "null"}]}),
        (Version::V3_0, Value::Object(mut map)) if !map.contains_key("$ref") => {
            map.insert("nullable".into(), Value::Bool(true));
            Value::Object(map)
        }
        (Version::V3_0, other) => json!({"allOf": [other], "nullable": true}),
    }
}

/// A required text: proto3 cannot tell empty from unset, so it must not be
/// empty, nor blank where surrounding blanks are dropped.
fn require_text(schema: &mut Value) {
    if schema["minLength"].as_u64().is_none_or(|min| min < 1) {
        schema["minLength"] = json!(1);
    }
    if schema.get("x-trimmed") == Some(&Value::Bool(true)) && schema.get("pattern").is_none() {
        schema["pattern"] = json!("\\S");
    }
}

/// An integer field's range: its rules within its type's.
fn bounds(rules: &Rules, lowest: i64, highest: i64) -> (i64, i64) {
    (
        rules.min().map_or(lowest, |min| min.max(lowest)),
        rules.max().map_or(highest, |max| max.min(highest)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_like_protoc() {
        assert_eq!(lower_camel("update_mask"), "updateMask");
        assert_eq!(lower_camel("a_b_c"), "aBC");
        assert_eq!(lower_camel("plain"), "plain");
    }

    #[test]
    fn references_with_descriptions_use_all_of_in_3_0_only() {
        let why = || described(Some("why".to_owned()));
        let wrapped = annotate(reference("X"), why(), Version::V3_0);
        assert_eq!(wrapped["allOf"][0]["$ref"], "#/components/schemas/X");
        assert_eq!(wrapped["description"], "why");
        let sibling = annotate(reference("X"), why(), Version::V3_1);
        assert_eq!(sibling["$ref"], "#/components/schemas/X");
        assert_eq!(sibling["description"], "why");
        let inline = annotate(json!({"type": "string"}), why(), Version::V3_0);
        assert_eq!(inline, json!({"type": "string", "description": "why"}));
    }

    #[test]
    fn wrappers_are_nullable_in_each_version() {
        let string = || json!({"type": "string"});
        assert_eq!(or_null(string(), Version::V3_0)["nullable"], true);
        assert_eq!(
            or_null(string(), Version::V3_1)["type"],
            json!(["string", "null"])
        );
    }
}
