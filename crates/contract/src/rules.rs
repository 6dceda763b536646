//! A field's rules as the protos state them, and whether a value meets them.

use bazaar_proto::common::v1::{FieldRules, Format};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, Value};
use regex::Regex;

const FIELD_BEHAVIOR: &str = "google.api.field_behavior";
const RULES: &str = "bazaar.common.v1.rules";

/// `google.api.FieldBehavior` numbers.
const REQUIRED: i32 = 2;
const OUTPUT_ONLY: i32 = 3;
const IDENTIFIER: i32 = 8;

/// What the protos say of one field.
#[derive(Debug, Default)]
pub struct Rules {
    pub required: bool,
    pub output_only: bool,
    pub identifier: bool,
    pub rules: FieldRules,
    pattern: Option<Regex>,
}

impl Rules {
    pub fn of(field: &FieldDescriptor) -> Self {
        let options = field.options();
        let pool = field.parent_pool();
        let behaviors: Vec<i32> = pool
            .get_extension_by_name(FIELD_BEHAVIOR)
            .filter(|ext| options.has_extension(ext))
            .map(|ext| match &*options.get_extension(&ext) {
                Value::List(values) => values.iter().filter_map(Value::as_enum_number).collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let rules: FieldRules = pool
            .get_extension_by_name(RULES)
            .filter(|ext| options.has_extension(ext))
            .and_then(|ext| match &*options.get_extension(&ext) {
                Value::Message(message) => message.transcode_to().ok(),
                _ => None,
            })
            .unwrap_or_default();
        let pattern = (!rules.pattern.is_empty()).then(|| {
            Regex::new(&rules.pattern)
                .unwrap_or_else(|e| panic!("{}: bad pattern: {e}", field.full_name()))
        });
        Self {
            required: behaviors.contains(&REQUIRED),
            output_only: behaviors.contains(&OUTPUT_ONLY),
            identifier: behaviors.contains(&IDENTIFIER),
            rules,
            pattern,
        }
    }

    /// Whether the field states anything a parser must follow.
    pub fn any(&self) -> bool {
        self.required || self.rules != FieldRules::default()
    }

    /// Whether a text value is allowed. Empty is unset, allowed unless
    /// required; a blank that trimming empties is refused when required.
    pub fn allows_text(&self, value: &str, required: bool) -> bool {
        if value.is_empty() {
            return !required;
        }
        let text = if self.rules.trimmed {
            value.trim()
        } else {
            value
        };
        if text.is_empty() && required {
            return false;
        }
        let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
        let r = &self.rules;
        r.min_len.is_none_or(|min| chars >= min)
            && r.max_len.is_none_or(|max| chars <= max)
            && self.pattern.as_ref().is_none_or(|p| p.is_match(text))
            && (r.one_of.is_empty() || r.one_of.iter().any(|v| v == text))
            && match r.format() {
                Format::Uuid => is_uuid(text),
                Format::Unspecified => true,
            }
    }

    /// Whether an integer is allowed (zero is unset unless required).
    pub fn allows_integer(&self, value: i64, required: bool) -> bool {
        if value == 0 && required {
            return false;
        }
        self.rules.min.is_none_or(|min| value >= min)
            && self.rules.max.is_none_or(|max| value <= max)
    }

    /// Whether an enum number is allowed.
    pub fn allows_enum(&self, value: i32, defined: &[i32], required: bool) -> bool {
        let refuses_zero = required || self.rules.defined_only;
        defined.contains(&value) && !(value == 0 && refuses_zero)
    }

    pub fn allows_items(&self, count: usize, required: bool) -> bool {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        !(required && count == 0)
            && self
                .rules
                .min_items
                .is_none_or(|min| count >= min || count == 0 && !required)
            && self.rules.max_items.is_none_or(|max| count <= max)
    }
}

/// The hyphenated form, any case.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether any field of the message, or of a message inside it, has rules.
pub fn has_rules(message: &MessageDescriptor) -> bool {
    fn walk(message: &MessageDescriptor, seen: &mut Vec<String>) -> bool {
        if seen.iter().any(|m| m == message.full_name()) {
            return false;
        }
        seen.push(message.full_name().to_owned());
        message.fields().any(|field| {
            Rules::of(&field).any()
                || matches!(field.kind(), Kind::Message(inner) if walk(&inner, seen))
        })
    }
    walk(message, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_hyphenated_hex() {
        assert!(is_uuid("0190e5a4-0000-7000-8000-000000000001"));
        assert!(is_uuid("0190E5A4-0000-7000-8000-00000000000A"));
        assert!(!is_uuid("0190e5a400007000800000000000000001"));
        assert!(!is_uuid("0190e5a4-0000-7000-8000-00000000000g"));
    }

    #[test]
    fn text_rules_apply_to_what_is_set() {
        let rules = Rules {
            rules: FieldRules {
                trimmed: true,
                min_len: Some(2),
                max_len: Some(3),
                ..FieldRules::default()
            },
            ..Rules::default()
        };
        assert!(rules.allows_text("", false));
        assert!(!rules.allows_text("", true));
        assert!(!rules.allows_text("  ", true));
        assert!(!rules.allows_text("  ", false), "set, and shorter than 2");
        assert!(rules.allows_text(" ab ", true));
        assert!(!rules.allows_text("a", false));
        assert!(!rules.allows_text("abcd", false));
    }
}
