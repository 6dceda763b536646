//! The proto3 JSON mapping, with the configured options, and the error body
//! (`{"code", "message", "details"}`) with typed details rendered as JSON.

use base64::Engine as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, MessageDescriptor,
    SerializeOptions, Value,
};
use serde::Serialize;

use crate::config::{FieldNames, JsonConfig};

mod write;

/// The message `grpc-status-details-bin` carries.
const RPC_STATUS: &str = "google.rpc.Status";

/// Serialization and parsing with the configured options, precomputed.
#[derive(Debug, Clone)]
pub struct Json {
    direct: write::Options,
    de: DeserializeOptions,
    denies_unknown_fields: bool,
    pool: DescriptorPool,
    rpc_status: Option<MessageDescriptor>,
}

impl Json {
    pub fn new(config: &JsonConfig, pool: &DescriptorPool) -> Self {
        let proto_names = config.field_names == FieldNames::Proto;
        let ser = SerializeOptions::new()
            .use_proto_field_name(proto_names)
            .skip_default_fields(!config.emit_unpopulated)
            .use_enum_numbers(config.enums_as_numbers);
        Self {
            direct: write::Options {
                proto_names,
                skip_defaults: !config.emit_unpopulated,
                enum_numbers: config.enums_as_numbers,
                ser,
            },
            de: DeserializeOptions::new().deny_unknown_fields(!config.discard_unknown_fields),
            denies_unknown_fields: !config.discard_unknown_fields,
            pool: pool.clone(),
            rpc_status: pool.get_message_by_name(RPC_STATUS),
        }
    }

    /// Whether JSON uses the `.proto` field names (else lowerCamelCase).
    pub fn proto_names(&self) -> bool {
        self.direct.proto_names
    }

    pub fn enums_as_numbers(&self) -> bool {
        self.direct.enum_numbers
    }

    /// Whether a request with a field its message lacks is refused (400).
    pub fn denies_unknown_fields(&self) -> bool {
        self.denies_unknown_fields
    }

    pub fn field_name<'f>(&self, field: &'f FieldDescriptor) -> &'f str {
        if self.direct.proto_names {
            field.name()
        } else {
            field.json_name()
        }
    }

    /// Parses a JSON document into a message of type `desc`.
    pub fn parse(
        &self,
        desc: MessageDescriptor,
        body: &[u8],
    ) -> Result<DynamicMessage, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let message = DynamicMessage::deserialize_with_options(desc, &mut de, &self.de)?;
        de.end()?;
        Ok(message)
    }

    /// Converts an already parsed JSON value into a message of type `desc`.
    pub fn from_value(
        &self,
        desc: MessageDescriptor,
        value: serde_json::Value,
    ) -> Result<DynamicMessage, serde_json::Error> {
        DynamicMessage::deserialize_with_options(desc, value, &self.de)
    }

    /// Appends `message` as JSON to `out`.
    pub fn write(
        &self,
        message: &DynamicMessage,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        write::message(message, &self.direct, out)
    }

    /// Appends the HTTP body of a response to `out`: the whole message, or
    /// only its `response_body` field.
    pub fn write_response(
        &self,
        message: &DynamicMessage,
        response_body: Option<&FieldDescriptor>,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        let Some(field) = response_body else {
            return self.write(message, out);
        };
        if !field.is_list()
            && !field.is_map()
            && let Value::Message(inner) = &*message.get_field(field)
        {
            return self.write(inner, out);
        }
        // A scalar, list or map: take it out of the whole message's JSON,
        // which applies the same mapping to it. Rare, so the detour is fine.
        let mut whole = Vec::new();
        self.write(message, &mut whole)?;
        let mut value: serde_json::Value = serde_json::from_slice(&whole)?;
        let part = value
            .get_mut(self.field_name(field))
            .map(serde_json::Value::take)
            .unwrap_or(serde_json::Value::Null);
        serde_json::to_writer(out, &part)
    }

    /// The error body grpc-gateway writes: `{"code", "message", "details"}`,
    /// each detail rendered as JSON with its `@type`.
    pub fn error_body(&self, code: i32, message: &str, details: &[u8]) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            code: i32,
            message: &'a str,
            details: Vec<serde_json::Value>,
        }
        let body = Body {
            code,
            message,
            details: self.details(details),
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"code":13,"message":"cannot render the error","details":[]}"#.to_vec()
        })
    }

    /// `{"error": {...}}`, the last line of a failed stream.
    pub fn stream_error(&self, code: i32, message: &str, details: &[u8]) -> Vec<u8> {
        let mut out = b"{\"error\":".to_vec();
        out.extend(self.error_body(code, message, details));
        out.extend(b"}\n");
        out
    }

    /// Decodes `grpc-status-details-bin` (a `google.rpc.Status`) into JSON
    /// details; types the pool does not know keep their bytes in base64.
    fn details(&self, encoded: &[u8]) -> Vec<serde_json::Value> {
        let (Some(desc), false) = (&self.rpc_status, encoded.is_empty()) else {
            return Vec::new();
        };
        let Ok(status) = DynamicMessage::decode(desc.clone(), encoded) else {
            return Vec::new();
        };
        let Some(list) = status
            .get_field_by_name("details")
            .and_then(|v| v.as_list().map(<[Value]>::to_vec))
        else {
            return Vec::new();
        };
        list.iter()
            .filter_map(Value::as_message)
            .map(|any| self.render_any(any))
            .collect()
    }

    fn render_any(&self, any: &DynamicMessage) -> serde_json::Value {
        let type_url = any
            .get_field_by_number(1)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let bytes = any
            .get_field_by_number(2)
            .and_then(|v| v.as_bytes().cloned())
            .unwrap_or_default();
        let name = type_url.rsplit('/').next().unwrap_or_default();
        let rendered = self
            .pool
            .get_message_by_name(name)
            .and_then(|desc| DynamicMessage::decode(desc, bytes.as_ref()).ok())
            .and_then(|message| {
                let mut out = Vec::new();
                self.write(&message, &mut out).ok()?;
                serde_json::from_slice::<serde_json::Value>(&out).ok()
            });
        let mut object = match rendered {
            Some(serde_json::Value::Object(map)) => map,
            // A well-known type with a non-object JSON form.
            Some(other) => [("value".to_owned(), other)].into_iter().collect(),
            None => [(
                "value".to_owned(),
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            )]
            .into_iter()
            .collect(),
        };
        object.insert("@type".to_owned(), serde_json::Value::String(type_url));
        serde_json::Value::Object(object)
    }
}
