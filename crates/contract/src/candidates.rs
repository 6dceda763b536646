//! Requests derived from a valid one: for every field with rules, values
//! just inside and just outside each bound, near misses of its pattern, and
//! the field left out, each with what the rules say of it.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, ReflectMessage, Value};

use crate::rules::Rules;

/// Characters added before or after a valid text, to probe its pattern.
const PROBES: [char; 14] = [
    'a', 'Z', '7', '-', '_', '.', '@', ' ', 'é', '!', '/', '%', '\u{7}', '\u{85}',
];

pub struct Context<'a> {
    /// Paths of messages that are partial updates.
    pub partial: &'a [String],
}

/// A whole request with one field changed.
pub struct Case {
    pub path: String,
    /// The value tried, for the failure message.
    pub value: String,
    pub message: DynamicMessage,
    pub allowed: bool,
}

pub fn cases(request: &DynamicMessage, context: &Context<'_>) -> Vec<Case> {
    let mut out = Vec::new();
    message_cases(request, "", false, context, &mut out);
    out
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn message_cases(
    message: &DynamicMessage,
    prefix: &str,
    partial: bool,
    context: &Context<'_>,
    out: &mut Vec<Case>,
) {
    for field in message.descriptor().fields() {
        let rules = Rules::of(&field);
        let path = join(prefix, field.name());
        // Output-only fields are no input; an identifier is one only in an
        // update, where it is required.
        if rules.output_only || rules.identifier && !partial {
            continue;
        }
        let required = if partial {
            rules.identifier
        } else {
            rules.required
        };
        let current = message.get_field(&field).into_owned();
        let ruled = rules.any() || partial && rules.identifier;
        let mut values: Vec<(Value, String, bool)> = Vec::new();
        if ruled {
            if field.is_list() {
                list_cases(&field, &rules, required, &current, &mut values);
            } else if let Kind::Message(_) = field.kind() {
                if required {
                    let mut cleared = message.clone();
                    cleared.clear_field(&field);
                    out.push(Case {
                        path: path.clone(),
                        value: "nothing".to_owned(),
                        message: cleared,
                        allowed: false,
                    });
                }
            } else if !field.is_map() {
                values = scalar_cases(&field, &rules, required, &current);
            }
        }
        for (value, shown, allowed) in values {
            let mut changed = message.clone();
            changed.set_field(&field, value);
            out.push(Case {
                path: path.clone(),
                value: shown,
                message: changed,
                allowed,
            });
        }
        // Inside a set message (or the first element of a list of them).
        // A partial update's own fields are optional; a message set inside
        // it is whole again.
        let inner_partial = context.partial.contains(&path);
        match (&current, field.kind()) {
            (Value::Message(inner), _) if message.has_field(&field) => {
                let mut inner_cases = Vec::new();
                message_cases(inner, &path, inner_partial, context, &mut inner_cases);
                out.extend(inner_cases.into_iter().map(|case| {
                    let mut changed = message.clone();
                    changed.set_field(&field, Value::Message(case.message));
                    Case {
                        message: changed,
                        ..case
                    }
                }));
            }
            (Value::List(items), Kind::Message(_)) if !items.is_empty() => {
                let Some(Value::Message(first)) = items.first() else {
                    continue;
                };
                let mut inner_cases = Vec::new();
                let element = format!("{path}[0]");
                message_cases(first, &element, inner_partial, context, &mut inner_cases);
                out.extend(inner_cases.into_iter().map(|case| {
                    let mut list = items.clone();
                    list[0] = Value::Message(case.message);
                    let mut changed = message.clone();
                    changed.set_field(&field, Value::List(list));
                    Case {
                        message: changed,
                        ..case
                    }
                }));
            }
            _ => {}
        }
    }
}

fn list_cases(
    field: &FieldDescriptor,
    rules: &Rules,
    required: bool,
    current: &Value,
    out: &mut Vec<(Value, String, bool)>,
) {
    let items = current.as_list().unwrap_or_default().to_vec();
    out.push((
        Value::List(Vec::new()),
        "an empty list".to_owned(),
        rules.allows_items(0, required),
    ));
    if let (Some(max), Some(first)) = (rules.rules.max_items, items.first()) {
        // Copies of one element: only the count is probed past the bound,
        // since copies at the bound may be refused as repeats.
        let count = usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1);
        out.push((
            Value::List(vec![first.clone(); count]),
            format!("{count} items"),
            false,
        ));
    }
    if let Kind::Enum(descriptor) = field.kind() {
        let defined: Vec<i32> = descriptor.values().map(|v| v.number()).collect();
        for number in [0, 99] {
            out.push((
                Value::List(vec![Value::EnumNumber(number)]),
                format!("[{number}]"),
                rules.allows_enum(number, &defined, false),
            ));
        }
    }
}

fn scalar_cases(
    field: &FieldDescriptor,
    rules: &Rules,
    required: bool,
    current: &Value,
) -> Vec<(Value, String, bool)> {
    match (field.kind(), current) {
        (Kind::String, Value::String(valid)) => text_candidates(valid, rules)
            .into_iter()
            .map(|text| {
                let allowed = rules.allows_text(&text, required);
                let shown = format!("{text:?}");
                (Value::String(text), shown, allowed)
            })
            .collect(),
        (Kind::Enum(descriptor), Value::EnumNumber(valid)) => {
            let defined: Vec<i32> = descriptor.values().map(|v| v.number()).collect();
            [*valid, 0, 99]
                .into_iter()
                .map(|n| {
                    let allowed = rules.allows_enum(n, &defined, required);
                    (Value::EnumNumber(n), n.to_string(), allowed)
                })
                .collect()
        }
        (kind, value) => integer_cases(&kind, value, rules, required),
    }
}

fn integer_cases(
    kind: &Kind,
    value: &Value,
    rules: &Rules,
    required: bool,
) -> Vec<(Value, String, bool)> {
    let (valid, lowest, highest): (i64, i64, i64) = match (kind, value) {
        (Kind::Int32 | Kind::Sint32 | Kind::Sfixed32, Value::I32(v)) => {
            (i64::from(*v), i64::from(i32::MIN), i64::from(i32::MAX))
        }
        (Kind::Int64 | Kind::Sint64 | Kind::Sfixed64, Value::I64(v)) => (*v, i64::MIN, i64::MAX),
        (Kind::Uint32 | Kind::Fixed32, Value::U32(v)) => (i64::from(*v), 0, i64::from(u32::MAX)),
        _ => return Vec::new(),
    };
    let mut tried = vec![valid, 0, -1];
    for bound in [rules.rules.min, rules.rules.max].into_iter().flatten() {
        tried.extend([bound.saturating_sub(1), bound, bound.saturating_add(1)]);
    }
    tried.sort_unstable();
    tried.dedup();
    tried
        .into_iter()
        .filter(|n| (lowest..=highest).contains(n))
        .filter_map(|n| {
            let value = match value {
                Value::I32(_) => Value::I32(i32::try_from(n).ok()?),
                Value::U32(_) => Value::U32(u32::try_from(n).ok()?),
                _ => Value::I64(n),
            };
            Some((value, n.to_string(), rules.allows_integer(n, required)))
        })
        .collect()
}

/// The valid text itself, the empty and blank texts, lengths either side of
/// each bound, the probes before and after it, and the other allowed values.
fn text_candidates(valid: &str, rules: &Rules) -> Vec<String> {
    let mut tried = vec![
        valid.to_owned(),
        String::new(),
        " ".to_owned(),
        format!(" {valid} "),
        "not-a-uuid".to_owned(),
        valid.to_uppercase(),
        valid.to_lowercase(),
    ];
    for bound in [rules.rules.min_len, rules.rules.max_len]
        .into_iter()
        .flatten()
    {
        let bound = usize::try_from(bound).unwrap_or(usize::MAX);
        for len in [bound.saturating_sub(1), bound, bound.saturating_add(1)] {
            tried.push(resized(valid, len));
        }
    }
    for probe in PROBES {
        tried.push(format!("{probe}{valid}"));
        tried.push(format!("{valid}{probe}"));
    }
    tried.extend(rules.rules.one_of.iter().take(2).cloned());
    tried.sort();
    tried.dedup();
    tried
}

/// `valid` cut to `len` characters, or lengthened with copies of its last.
fn resized(valid: &str, len: usize) -> String {
    let filler = valid.chars().last().unwrap_or('a');
    let mut text: String = valid.chars().take(len).collect();
    let have = text.chars().count();
    text.extend(std::iter::repeat_n(filler, len - have));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_resized_by_characters() {
        assert_eq!(resized("abc", 5), "abccc");
        assert_eq!(resized("abc", 2), "ab");
        assert_eq!(resized("é", 3).chars().count(), 3);
        assert_eq!(resized("", 2), "aa");
    }
}
