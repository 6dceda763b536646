//! What the descriptors say of a field or method beyond its type, read by
//! extension name so that any descriptor set may carry them:
//! `google.api.field_behavior` (AIP-203), Bazaar's `bazaar.common.v1.rules`
//! (lengths, patterns, formats, ranges) and `bazaar.common.v1.access` (who
//! may call a method).

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, MethodDescriptor, ReflectMessage, Value,
};
use serde_json::{Map, Value as Json, json};

const FIELD_BEHAVIOR: &str = "google.api.field_behavior";
const RULES: &str = "bazaar.common.v1.rules";
const ACCESS: &str = "bazaar.common.v1.access";

/// `google.api.FieldBehavior` numbers.
const REQUIRED: i32 = 2;
const OUTPUT_ONLY: i32 = 3;
const INPUT_ONLY: i32 = 4;
const IMMUTABLE: i32 = 5;
const IDENTIFIER: i32 = 8;

/// `bazaar.common.v1.Format` numbers.
const FORMAT_UUID: i32 = 1;

/// A field's `google.api.field_behavior` values.
#[derive(Debug, Default, Clone, Copy)]
pub struct Behavior {
    pub required: bool,
    pub output_only: bool,
    pub input_only: bool,
    pub immutable: bool,
    pub identifier: bool,
}

impl Behavior {
    pub fn of(field: &FieldDescriptor) -> Self {
        let values: Vec<i32> = match extension(field.options(), field.parent_pool(), FIELD_BEHAVIOR)
        {
            Some(Value::List(values)) => values.iter().filter_map(Value::as_enum_number).collect(),
            _ => Vec::new(),
        };
        Self {
            required: values.contains(&REQUIRED),
            output_only: values.contains(&OUTPUT_ONLY),
            input_only: values.contains(&INPUT_ONLY),
            immutable: values.contains(&IMMUTABLE),
            identifier: values.contains(&IDENTIFIER),
        }
    }

    /// Set by the server only, as far as a request body goes.
    pub fn read_only(self) -> bool {
        self.output_only || self.identifier
    }
}

/// The extension `name` of a descriptor's options, when the pool knows it
/// and the options set it.
fn extension(options: DynamicMessage, pool: &DescriptorPool, name: &str) -> Option<Value> {
    let ext = pool.get_extension_by_name(name)?;
    options
        .has_extension(&ext)
        .then(|| options.get_extension(&ext).into_owned())
}

/// A field's `bazaar.common.v1.rules`, read by field name.
#[derive(Debug, Default, Clone)]
pub struct Rules {
    message: Option<DynamicMessage>,
}

impl Rules {
    pub fn of(field: &FieldDescriptor) -> Self {
        let message = match extension(field.options(), field.parent_pool(), RULES) {
            Some(Value::Message(message)) => Some(message),
            _ => None,
        };
        Self { message }
    }

    fn get(&self, name: &str) -> Option<Value> {
        let message = self.message.as_ref()?;
        let field = message.descriptor().get_field_by_name(name)?;
        message
            .has_field(&field)
            .then(|| message.get_field(&field).into_owned())
    }

    fn integer(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::I64(v) => Some(v),
            Value::U32(v) => Some(i64::from(v)),
            _ => None,
        }
    }

    pub fn min(&self) -> Option<i64> {
        self.integer("min")
    }

    pub fn max(&self) -> Option<i64> {
        self.integer("max")
    }

    /// Whether the field's empty value (what `null` sets) meets the rules;
    /// a pattern is taken to refuse it.
    pub fn allow_empty(&self) -> bool {
        let positive = |name: &str| self.integer(name).is_some_and(|n| n > 0);
        !positive("min_len")
            && !positive("min_items")
            && !positive("min")
            && self.max().is_none_or(|max| max >= 0)
            && self.get("pattern").is_none()
            && self.get("one_of").is_none()
            && !self.defined_only()
    }

    /// Whether the zero value of an enum is refused.
    pub fn defined_only(&self) -> bool {
        matches!(self.get("defined_only"), Some(Value::Bool(true)))
    }

    /// The keywords of a text field's schema.
    pub fn text_keywords(&self, schema: &mut Map<String, Json>) {
        if let Some(min) = self.integer("min_len") {
            schema.insert("minLength".into(), json!(min));
        }
        if let Some(max) = self.integer("max_len") {
            schema.insert("maxLength".into(), json!(max));
        }
        if let Some(Value::String(pattern)) = self.get("pattern") {
            schema.insert("pattern".into(), json!(pattern));
        }
        if let Some(Value::EnumNumber(FORMAT_UUID)) = self.get("format") {
            schema.insert("format".into(), json!("uuid"));
        }
        if let Some(Value::List(values)) = self.get("one_of") {
            let values: Vec<Json> = values
                .iter()
                .filter_map(|v| v.as_str().map(|s| json!(s)))
                .collect();
            if !values.is_empty() {
                schema.insert("enum".into(), Json::Array(values));
            }
        }
        if matches!(self.get("trimmed"), Some(Value::Bool(true))) {
            schema.insert("x-trimmed".into(), json!(true));
        }
    }

    /// The keywords of a list field's schema.
    pub fn list_keywords(&self, schema: &mut Map<String, Json>) {
        if let Some(min) = self.integer("min_items") {
            schema.insert("minItems".into(), json!(min));
        }
        if let Some(max) = self.integer("max_items") {
            schema.insert("maxItems".into(), json!(max));
        }
    }
}

/// Who may call a method (`bazaar.common.v1.access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not stated: the document claims nothing.
    Unstated,
    Public,
    SignedIn,
    Admin,
}

impl Access {
    pub fn of(method: &MethodDescriptor) -> Self {
        let access = extension(method.options(), method.parent_pool(), ACCESS);
        match access.as_ref().and_then(Value::as_enum_number) {
            Some(1) => Self::Public,
            Some(2) => Self::SignedIn,
            Some(3) => Self::Admin,
            _ => Self::Unstated,
        }
    }

    pub fn needs_token(self) -> bool {
        matches!(self, Self::SignedIn | Self::Admin)
    }
}

/// Splits a comment's `Example: <JSON>` lines off its text.
pub fn examples(text: &str) -> (String, Vec<Json>) {
    let mut kept = Vec::new();
    let mut examples = Vec::new();
    for line in text.lines() {
        match line
            .strip_prefix("Example:")
            .and_then(|value| serde_json::from_str(value.trim()).ok())
        {
            Some(example) => examples.push(example),
            None => kept.push(line),
        }
    }
    (kept.join("\n").trim().to_owned(), examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_lines_leave_the_description() {
        let (text, found) = examples("An email.\nExample: \"ada@example.com\"");
        assert_eq!(text, "An email.");
        assert_eq!(found, [json!("ada@example.com")]);
        let (text, found) = examples("Example: not json");
        assert_eq!(text, "Example: not json");
        assert!(found.is_empty());
    }
}
