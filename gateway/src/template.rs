//! Path templates of `google.api.http` rules, parsed once at start-up.
//!
//! The grammar (from `google/api/http.proto`):
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! A template flattens into segments (variables expand into theirs, `{x}`
//! being `{x=*}`) plus the variables' segment ranges, which is all the router
//! and the request mapper need.

use std::fmt;

/// One matched unit of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Exactly this text.
    Literal(String),
    /// Any one non-empty segment.
    Single,
    /// Zero or more segments; only ever last.
    Multi,
}

/// A `{field.path=...}` capture: segments `start..end` of the template, where
/// `end` is `None` when the capture ends with `**` (the rest of the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub field_path: Vec<String>,
    pub start: usize,
    pub end: Option<usize>,
}

impl Variable {
    /// The dotted field path, as written.
    pub fn name(&self) -> String {
        self.field_path.join(".")
    }

    /// Whether the value may span several segments (then `/` stays literal
    /// and reserved characters stay escaped, per the spec).
    pub fn is_multi_segment(&self) -> bool {
        self.end.is_none_or(|end| end - self.start != 1)
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub segments: Vec<Segment>,
    pub variables: Vec<Variable>,
    pub verb: Option<String>,
}

/// Why a template is not valid; the caller adds which RPC it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (at byte {position} of {template:?})")]
pub struct TemplateError {
    pub template: String,
    pub position: usize,
    pub reason: String,
}

impl Template {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        Parser {
            input: template,
            pos: 0,
            segments: Vec::new(),
            variables: Vec::new(),
        }
        .parse()
    }

    /// The template's shape with variables erased: two bindings with the same
    /// method and shape can never be told apart.
    pub fn shape(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Single => out.push('*'),
                Segment::Multi => out.push_str("**"),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }
}

impl fmt::Display for Template {
    /// Renders the template back in `google.api.http` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        if self.segments.is_empty() {
            f.write_str("/")?;
        }
        while i < self.segments.len() {
            f.write_str("/")?;
            if let Some(var) = self.variables.iter().find(|v| v.start == i) {
                let end = var.end.unwrap_or(self.segments.len());
                f.write_str("{")?;
                f.write_str(&var.name())?;
                let parts: Vec<String> = self.segments[i..end].iter().map(segment_text).collect();
                if parts != ["*"] {
                    write!(f, "={}", parts.join("/"))?;
                }
                f.write_str("}")?;
                i = end.max(i + 1);
            } else {
                f.write_str(&segment_text(&self.segments[i]))?;
                i += 1;
            }
        }
        if let Some(verb) = &self.verb {
            write!(f, ":{verb}")?;
        }
        Ok(())
    }
}

fn segment_text(segment: &Segment) -> String {
    match segment {
        Segment::Literal(text) => text.clone(),
        Segment::Single => "*".to_owned(),
        Segment::Multi => "**".to_owned(),
    }
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
}

impl Parser<'_> {
    fn error(&self, reason: impl Into<String>) -> TemplateError {
        TemplateError {
            template: self.input.to_owned(),
            position: self.pos,
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn parse(mut self) -> Result<Template, TemplateError> {
        if self.peek() != Some(b'/') {
            return Err(self.error("a path template must start with '/'"));
        }
        self.pos += 1;
        let mut verb = None;
        // "/" alone (optionally with a verb) is the root: no segments.
        if !matches!(self.peek(), None | Some(b':')) {
            loop {
                self.segment(false)?;
                match self.peek() {
                    Some(b'/') => self.pos += 1,
                    _ => break,
                }
            }
        }
        match self.peek() {
            None => {}
            Some(b':') => {
                self.pos += 1;
                let text = self.literal()?;
                verb = Some(text);
                if self.peek().is_some() {
                    return Err(self.error("nothing may follow the verb"));
                }
            }
            Some(_) => return Err(self.error("unexpected character")),
        }
        self.check_multi_last()?;
        Ok(Template {
            segments: self.segments,
            variables: self.variables,
            verb,
        })
    }

    /// `**` matches the rest of the path, so nothing may follow it.
    fn check_multi_last(&self) -> Result<(), TemplateError> {
        let last = self.segments.len().saturating_sub(1);
        match self.segments.iter().position(|s| *s == Segment::Multi) {
            Some(i) if i != last => Err(TemplateError {
                template: self.input.to_owned(),
                position: 0,
                reason: "'**' must be the last segment".to_owned(),
            }),
            _ => Ok(()),
        }
    }

    fn segment(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                if self.peek() == Some(b'*') {
                    self.pos += 1;
                    self.segments.push(Segment::Multi);
                } else {
                    self.segments.push(Segment::Single);
                }
                Ok(())
            }
            Some(b'{') => {
                if in_variable {
                    return Err(self.error("variables cannot nest"));
                }
                self.variable()
            }
            Some(b'/') | None => Err(self.error("empty path segment")),
            Some(_) => {
                let text = self.literal()?;
                self.segments.push(Segment::Literal(text));
                Ok(())
            }
        }
    }

    fn variable(&mut self) -> Result<(), TemplateError> {
        self.pos += 1; // '{'
        let mut field_path = Vec::new();
        loop {
            field_path.push(self.ident()?);
            if self.peek() == Some(b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.segments.len();
        match self.peek() {
            Some(b'}') => self.segments.push(Segment::Single),
            Some(b'=') => {
                self.pos += 1;
                loop {
                    self.segment(true)?;
                    match self.peek() {
                        Some(b'/') => self.pos += 1,
                        _ => break,
                    }
                }
            }
            _ => return Err(self.error("expected '=' or '}' after the field path")),
        }
        if self.peek() != Some(b'}') {
            return Err(self.error("unterminated variable: expected '}'"));
        }
        self.pos += 1;
        let name = field_path.join(".");
        if self.variables.iter().any(|v| v.name() == name) {
            return Err(self.error(format!("variable {name:?} is bound twice")));
        }
        let end = if self.segments.last() == Some(&Segment::Multi) {
            None
        } else {
            Some(self.segments.len())
        };
        self.variables.push(Variable {
            field_path,
            start,
            end,
        });
        Ok(())
    }

    fn ident(&mut self) -> Result<String, TemplateError> {
        let rest = &self.input[self.pos..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let ident = &rest[..len];
        if ident.is_empty() || ident.as_bytes()[0].is_ascii_digit() {
            return Err(self.error("expected a field name"));
        }
        self.pos += len;
        Ok(ident.to_owned())
    }

    /// A literal runs to the next character with a meaning in the grammar.
    fn literal(&mut self) -> Result<String, TemplateError> {
        let rest = &self.input[self.pos..];
        let len = rest
            .bytes()
            .take_while(|b| !matches!(b, b'/' | b'{' | b'}' | b'*' | b':' | b'=' | b'?' | b'#'))
            .count();
        if len == 0 {
            return Err(self.error("expected a literal"));
        }
        let text = &rest[..len];
        if text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(self.error("whitespace in a literal"));
        }
        self.pos += len;
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.to_owned())
    }

    #[test]
    fn simple_variable() {
        let t = Template::parse("/v1/products/{product_id}").unwrap();
        assert_eq!(t.segments, [lit("v1"), lit("products"), Segment::Single]);
        assert_eq!(t.variables.len(), 1);
        assert_eq!(t.variables[0].name(), "product_id");
        assert_eq!((t.variables[0].start, t.variables[0].end), (2, Some(3)));
        assert!(!t.variables[0].is_multi_segment());
        assert_eq!(t.verb, None);
    }

    #[test]
    fn nested_field_path_and_verb() {
        let t = Template::parse("/v1/orders/{order.id}:cancel").unwrap();
        assert_eq!(t.variables[0].field_path, ["order", "id"]);
        assert_eq!(t.verb.as_deref(), Some("cancel"));
        assert_eq!(t.shape(), "/v1/orders/*:cancel");
    }

    #[test]
    fn multi_segment_variable() {
        let t = Template::parse("/v1/{name=shelves/*/books/*}").unwrap();
        assert_eq!(
            t.segments,
            [
                lit("v1"),
                lit("shelves"),
                Segment::Single,
                lit("books"),
                Segment::Single
            ]
        );
        assert_eq!((t.variables[0].start, t.variables[0].end), (1, Some(5)));
        assert!(t.variables[0].is_multi_segment());
        assert_eq!(t.to_string(), "/v1/{name=shelves/*/books/*}");
    }

    #[test]
    fn double_star_takes_the_rest() {
        let t = Template::parse("/v1/files/{path=**}").unwrap();
        assert_eq!(t.segments.last(), Some(&Segment::Multi));
        assert_eq!(t.variables[0].end, None);
        let t = Template::parse("/v1/**:get").unwrap();
        assert_eq!(t.verb.as_deref(), Some("get"));
        assert!(t.variables.is_empty());
    }

    #[test]
    fn root_template() {
        let t = Template::parse("/").unwrap();
        assert!(t.segments.is_empty());
        assert_eq!(t.to_string(), "/");
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "/v1/items/{item_id}",
            "/v1/{name=shelves/*}/books",
            "/v1/a/*/b/**",
            "/v1/{a.b.c}/x:do",
        ] {
            assert_eq!(Template::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn invalid_templates_are_rejected() {
        for (text, why) in [
            ("v1/items", "start with '/'"),
            ("/v1//items", "empty path segment"),
            ("/v1/items/", "empty path segment"),
            ("/v1/{id", "expected '=' or '}'"),
            ("/v1/{id=*", "unterminated variable"),
            ("/v1/{a={b}}", "cannot nest"),
            ("/v1/{}", "expected a field name"),
            ("/v1/{1a}", "expected a field name"),
            ("/v1/**/x", "'**' must be the last"),
            ("/v1/{a}/{a}", "bound twice"),
            ("/v1/x:", "expected a literal"),
            ("/v1/x:a/b", "nothing may follow the verb"),
            ("/v1/x y", "whitespace"),
        ] {
            let err = Template::parse(text).expect_err(text);
            assert!(err.reason.contains(why), "{text}: {err}");
        }
    }
}
