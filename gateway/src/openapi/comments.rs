//! Proto comments (from `source_code_info`) as OpenAPI descriptions.

use std::collections::HashMap;

use super::annotations;
use prost_reflect::{
    EnumDescriptor, FieldDescriptor, FileDescriptor, MessageDescriptor, MethodDescriptor,
    ServiceDescriptor,
};

/// Comments by file, indexed by descriptor path on first use.
#[derive(Debug, Default)]
pub struct Comments {
    files: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Comments {
    fn lookup(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let index = self
            .files
            .entry(file.name().to_owned())
            .or_insert_with(|| index(file));
        index.get(path).cloned()
    }

    pub fn of_service(&mut self, service: &ServiceDescriptor) -> Option<String> {
        self.lookup(&service.parent_file(), service.path())
    }

    pub fn of_method(&mut self, method: &MethodDescriptor) -> Option<String> {
        self.lookup(&method.parent_file(), method.path())
    }

    pub fn of_message(&mut self, message: &MessageDescriptor) -> Option<String> {
        self.lookup(&message.parent_file(), message.path())
    }

    /// The field's comment without its `Example:` lines.
    pub fn of_field(&mut self, field: &FieldDescriptor) -> Option<String> {
        let text = self.lookup(&field.parent_file(), field.path())?;
        let (text, _) = annotations::examples(&text);
        (!text.is_empty()).then_some(text)
    }

    /// The values of the field comment's `Example:` lines.
    pub fn examples_of(&mut self, field: &FieldDescriptor) -> Vec<serde_json::Value> {
        self.lookup(&field.parent_file(), field.path())
            .map(|text| annotations::examples(&text).1)
            .unwrap_or_default()
    }

    pub fn of_enum(&mut self, enum_desc: &EnumDescriptor) -> Option<String> {
        let mut text = self.lookup(&enum_desc.parent_file(), enum_desc.path());
        // Document each value too: clients see only the names.
        let values: Vec<String> = enum_desc
            .values()
            .filter_map(|value| {
                let comment = self.lookup(&value.parent_file(), value.path())?;
                Some(format!(
                    "- `{}`: {}",
                    value.name(),
                    comment.replace('\n', " ")
                ))
            })
            .collect();
        if !values.is_empty() {
            let mut all = text.take().unwrap_or_default();
            if !all.is_empty() {
                all.push_str("\n\n");
            }
            all.push_str(&values.join("\n"));
            text = Some(all);
        }
        text
    }
}

fn index(file: &FileDescriptor) -> HashMap<Vec<i32>, String> {
    let proto = file.file_descriptor_proto();
    let Some(info) = &proto.source_code_info else {
        return HashMap::new();
    };
    info.location
        .iter()
        .filter_map(|location| {
            let raw = location
                .leading_comments
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .or(location.trailing_comments.as_deref())?;
            let text = clean(raw);
            (!text.is_empty()).then(|| (location.path.clone(), text))
        })
        .collect()
}

/// Drops the space after `//` on every line and the trailing newline.
fn clean(raw: &str) -> String {
    raw.lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// The first sentence of the first paragraph, on one line.
pub fn summary(text: &str) -> String {
    let paragraph = text
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .replace('\n', " ");
    match paragraph.find(". ") {
        Some(end) => paragraph[..=end].to_owned(),
        None => paragraph,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_cleaned_and_summarised() {
        let text = clean(" Adds a product. Admin only.\n Errors: `NOT_FOUND`.\n");
        assert_eq!(text, "Adds a product. Admin only.\nErrors: `NOT_FOUND`.");
        assert_eq!(summary(&text), "Adds a product.");
        assert_eq!(summary("One line"), "One line");
        assert_eq!(summary("First\nline.\n\nSecond."), "First line.");
    }
}
