//! JSON schemas of messages, enums and fields, following the proto3 JSON
//! mapping the gateway speaks (64-bit integers as strings, well-known types
//! in their JSON forms, field names as configured).

use std::collections::BTreeMap;

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::comments::Comments;
use crate::{fields, json::Json};

/// Well-known types with a JSON form other than an object of their fields.
fn well_known(full_name: &str) -> Option<Value> {
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
            json!({"type": "number", "format": "double", "nullable": true})
        }
        "google.protobuf.FloatValue" => {
            json!({"type": "number", "format": "float", "nullable": true})
        }
        "google.protobuf.Int64Value" => {
            json!({"type": "string", "format": "int64", "nullable": true})
        }
        "google.protobuf.UInt64Value" => {
            json!({"type": "string", "format": "uint64", "nullable": true})
        }
        "google.protobuf.Int32Value" => {
            json!({"type": "integer", "format": "int32", "nullable": true})
        }
        "google.protobuf.UInt32Value" => {
            json!({"type": "integer", "format": "int64", "nullable": true})
        }
        "google.protobuf.BoolValue" => json!({"type": "boolean", "nullable": true}),
        "google.protobuf.StringValue" => json!({"type": "string", "nullable": true}),
        "google.protobuf.BytesValue" => {
            json!({"type": "string", "format": "byte", "nullable": true})
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

/// Adds a description to a schema; a `$ref` cannot have siblings in
/// OpenAPI 3.0, so it is wrapped in `allOf`.
fn describe(schema: Value, description: Option<String>) -> Value {
    let Some(description) = description else {
        return schema;
    };
    match schema {
        Value::Object(mut map) if !map.contains_key("$ref") => {
            map.insert("description".to_owned(), Value::String(description));
            Value::Object(map)
        }
        other => json!({"allOf": [other], "description": description}),
    }
}

/// The `components.schemas` being collected, and how names are written.
pub struct Schemas<'a> {
    json: &'a Json,
    components: BTreeMap<String, Value>,
}

impl<'a> Schemas<'a> {
    pub fn new(json: &'a Json) -> Self {
        Self {
            json,
            components: BTreeMap::new(),
        }
    }

    pub fn proto_names(&self) -> bool {
        self.json.proto_names()
    }

    pub fn name_of<'f>(&self, field: &'f FieldDescriptor) -> &'f str {
        self.json.field_name(field)
    }

    pub fn into_components(self) -> Map<String, Value> {
        self.components.into_iter().collect()
    }

    /// A reference to the message's schema (registered on first use), or the
    /// inline schema of a well-known type.
    pub fn message_ref(&mut self, message: &MessageDescriptor, comments: &mut Comments) -> Value {
        if let Some(schema) = well_known(message.full_name()) {
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
        if let Some(schema) = well_known(message.full_name()) {
            return schema;
        }
        let mut properties = Map::new();
        for field in message.fields() {
            let schema = self.field(&field, comments);
            properties.insert(self.name_of(&field).to_owned(), schema);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if let Some(text) = comments.of_message(message) {
            schema["description"] = Value::String(text);
        }
        schema
    }

    /// A field's schema: lists and maps wrap the element's, with the field's
    /// comment as description.
    pub fn field(&mut self, field: &FieldDescriptor, comments: &mut Comments) -> Value {
        let schema = if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            };
            json!({"type": "object", "additionalProperties": self.kind(&value, comments, false)})
        } else if field.is_list() {
            json!({"type": "array", "items": self.kind(&field.kind(), comments, false)})
        } else {
            self.kind(&field.kind(), comments, false)
        };
        describe(schema, comments.of_field(field))
    }

    /// One value of the field (no list), enums inline: for parameters.
    pub fn scalar_field(&mut self, field: &FieldDescriptor, comments: &mut Comments) -> Value {
        self.kind(&field.kind(), comments, true)
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
            let schema = describe(schema, comments.of_enum(enum_desc));
            self.components.insert(name.clone(), schema);
        }
        reference(&name)
    }
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
    fn references_with_descriptions_use_all_of() {
        let described = describe(reference("X"), Some("why".to_owned()));
        assert_eq!(described["allOf"][0]["$ref"], "#/components/schemas/X");
        assert_eq!(described["description"], "why");
        let inline = describe(json!({"type": "string"}), Some("d".to_owned()));
        assert_eq!(inline, json!({"type": "string", "description": "d"}));
    }
}
