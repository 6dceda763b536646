//! Finds the binding for a method and path.
//!
//! Templates are merged into a trie of segments, built once. Lookup walks it
//! depth-first with backtracking, trying a literal child before `*` and `*`
//! before `**`, so a literal segment beats a variable whatever order the
//! rules were declared in. A path whose last segment ends in `:verb` (for a
//! verb some template declares) is tried with the verb split off first; when
//! a template with that verb matches it for another method, the answer is
//! 405 with those methods (the path is that `...:verb` resource, as the
//! OpenAPI document lists it). Only when none does is it tried whole, so
//! `{id}` still captures `a:b` for an undeclared verb. grpc-gateway tries
//! the whole path for every method: see the README's differences.

use http::Method;

use crate::template::{Segment, Template};

/// The result of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'p> {
    /// The binding, and the path's segments as matched (verb split off).
    Found {
        binding: usize,
        segments: Vec<&'p str>,
    },
    /// The path exists for other methods only.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// Two bindings that no request could tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    pub existing: usize,
}

#[derive(Debug, Default)]
pub struct Router {
    root: Node,
    /// Every verb declared, longest first (so `:batchGet` is tried before a
    /// hypothetical `:Get`).
    verbs: Vec<Box<str>>,
}

#[derive(Debug, Default)]
struct Node {
    literals: Vec<(Box<str>, Node)>,
    single: Option<Box<Node>>,
    /// Endpoints of templates ending in `**` at this depth.
    multi: Endpoints,
    /// Endpoints of templates ending exactly here.
    end: Endpoints,
}

/// The bindings of one verb (or none), by HTTP method.
type MethodTable = Vec<(Method, usize)>;

#[derive(Debug, Default)]
struct Endpoints {
    by_verb: Vec<(Option<Box<str>>, MethodTable)>,
}

impl Endpoints {
    fn insert(
        &mut self,
        verb: Option<&str>,
        method: Method,
        binding: usize,
    ) -> Result<(), Conflict> {
        let index = match self.by_verb.iter().position(|(v, _)| v.as_deref() == verb) {
            Some(index) => index,
            None => {
                self.by_verb.push((verb.map(Into::into), Vec::new()));
                self.by_verb.len() - 1
            }
        };
        let methods = &mut self.by_verb[index].1;
        if let Some((_, existing)) = methods.iter().find(|(m, _)| *m == method) {
            return Err(Conflict {
                existing: *existing,
            });
        }
        methods.push((method, binding));
        Ok(())
    }

    /// The binding for `method`, or else the methods that would have matched.
    fn find(
        &self,
        verb: Option<&str>,
        method: Option<&Method>,
        allowed: &mut Vec<Method>,
    ) -> Option<usize> {
        let (_, methods) = self.by_verb.iter().find(|(v, _)| v.as_deref() == verb)?;
        if let Some(method) = method
            && let Some((_, binding)) = methods.iter().find(|(m, _)| m == method)
        {
            return Some(*binding);
        }
        for (m, _) in methods {
            if !allowed.contains(m) {
                allowed.push(m.clone());
            }
        }
        None
    }
}

impl Node {
    fn walk(
        &self,
        segments: &[&str],
        verb: Option<&str>,
        method: Option<&Method>,
        allowed: &mut Vec<Method>,
    ) -> Option<usize> {
        if let Some((first, rest)) = segments.split_first() {
            for (literal, child) in &self.literals {
                if literal_matches(literal, first)
                    && let Some(found) = child.walk(rest, verb, method, allowed)
                {
                    return Some(found);
                }
            }
            if !first.is_empty()
                && let Some(child) = &self.single
                && let Some(found) = child.walk(rest, verb, method, allowed)
            {
                return Some(found);
            }
        } else if let Some(found) = self.end.find(verb, method, allowed) {
            return Some(found);
        }
        self.multi.find(verb, method, allowed)
    }
}

/// Literals compare with the raw segment, or its decoding when escaped.
fn literal_matches(literal: &str, segment: &str) -> bool {
    literal == segment
        || (segment.contains('%')
            && percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .is_ok_and(|decoded| decoded == literal))
}

/// Splits a request path (`/a/b`) into its raw segments; `/` has none.
pub fn split_path(path: &str) -> Vec<&str> {
    match path.strip_prefix('/') {
        None | Some("") => Vec::new(),
        Some(rest) => rest.split('/').collect(),
    }
}

impl Router {
    /// Adds a binding; fails when one with the same method and shape exists.
    pub fn insert(
        &mut self,
        template: &Template,
        method: Method,
        binding: usize,
    ) -> Result<(), Conflict> {
        let mut node = &mut self.root;
        let mut ends_multi = false;
        for segment in &template.segments {
            node = match segment {
                Segment::Literal(text) => {
                    let index = match node.literals.iter().position(|(l, _)| **l == **text) {
                        Some(index) => index,
                        None => {
                            node.literals.push((text.as_str().into(), Node::default()));
                            node.literals.len() - 1
                        }
                    };
                    &mut node.literals[index].1
                }
                Segment::Single => node.single.get_or_insert_with(Box::default),
                Segment::Multi => {
                    ends_multi = true;
                    break;
                }
            };
        }
        let verb = template.verb.as_deref();
        if let Some(verb) = verb
            && !self.verbs.iter().any(|v| **v == *verb)
        {
            self.verbs.push(verb.into());
            self.verbs.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
        let endpoints = if ends_multi {
            &mut node.multi
        } else {
            &mut node.end
        };
        endpoints.insert(verb, method, binding)
    }

    /// Finds the binding for `method` and the raw (still escaped) `path`.
    pub fn find<'p>(&self, method: &Method, path: &'p str) -> Lookup<'p> {
        let mut segments = split_path(path);
        let mut allowed = Vec::new();
        if let Some(found) = self.walk_variants(&mut segments, Some(method), &mut allowed) {
            return Lookup::Found {
                binding: found,
                segments,
            };
        }
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::MethodNotAllowed(allowed)
        }
    }

    /// Every method some binding accepts on `path` (for CORS preflights).
    pub fn methods(&self, path: &str) -> Vec<Method> {
        let mut segments = split_path(path);
        let mut allowed = Vec::new();
        self.walk_variants(&mut segments, None, &mut allowed);
        allowed
    }

    /// Tries the path with each declared verb split off its last segment,
    /// then, unless a template with the verb matched for another method,
    /// whole; leaves `segments` as matched. `allowed` gets the methods of
    /// the templates with the verb when any matches, else those of the
    /// templates matching the whole path.
    fn walk_variants(
        &self,
        segments: &mut Vec<&str>,
        method: Option<&Method>,
        allowed: &mut Vec<Method>,
    ) -> Option<usize> {
        let mut with_verb = Vec::new();
        if let Some(&last) = segments.last() {
            let n = segments.len();
            for verb in &self.verbs {
                let Some(stem) = last.strip_suffix(&**verb).and_then(|s| s.strip_suffix(':'))
                else {
                    continue;
                };
                segments[n - 1] = stem;
                if let Some(found) = self.root.walk(segments, Some(verb), method, &mut with_verb) {
                    return Some(found);
                }
                segments[n - 1] = last;
            }
        } else {
            // `/:verb` has no segment to carry a verb; only the root matches.
        }
        if !with_verb.is_empty() {
            *allowed = with_verb;
            return None;
        }
        self.root.walk(segments, None, method, allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(rules: &[(&str, &str)]) -> Router {
        let mut router = Router::default();
        for (i, (method, template)) in rules.iter().enumerate() {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            router
                .insert(&Template::parse(template).unwrap(), method, i)
                .unwrap();
        }
        router
    }

    fn found(lookup: Lookup<'_>) -> (usize, Vec<&str>) {
        match lookup {
            Lookup::Found { binding, segments } => (binding, segments),
            other => panic!("expected a match, got {other:?}"),
        }
    }

    #[test]
    fn literal_beats_variable_whatever_the_order() {
        let r = router(&[
            ("GET", "/v1/items/{id}"),
            ("GET", "/v1/items/special"),
            ("GET", "/v1/{name=items/*}/x"),
        ]);
        assert_eq!(found(r.find(&Method::GET, "/v1/items/special")).0, 1);
        assert_eq!(found(r.find(&Method::GET, "/v1/items/other")).0, 0);
        // Backtracks out of the literal branch when it dead-ends.
        assert_eq!(found(r.find(&Method::GET, "/v1/items/a/x")).0, 2);
    }

    #[test]
    fn verbs_split_off_the_last_segment() {
        let r = router(&[
            ("GET", "/v1/items/{id}"),
            ("POST", "/v1/items/{id}:archive"),
        ]);
        let (binding, segments) = found(r.find(&Method::POST, "/v1/items/a1:archive"));
        assert_eq!(binding, 1);
        assert_eq!(segments, ["v1", "items", "a1"]);
        // Another method on the `:archive` resource is not allowed there,
        // rather than reaching `{id}` with `a1:archive`.
        assert_eq!(
            r.find(&Method::GET, "/v1/items/a1:archive"),
            Lookup::MethodNotAllowed(vec![Method::POST])
        );
        // A verb no template declares is part of the id.
        let (binding, segments) = found(r.find(&Method::GET, "/v1/items/a1:other"));
        assert_eq!(binding, 0);
        assert_eq!(segments, ["v1", "items", "a1:other"]);
    }

    #[test]
    fn a_path_with_a_verb_allows_the_verbs_methods_only() {
        let r = router(&[
            ("GET", "/v1/items/{id}"),
            ("DELETE", "/v1/items/{id}"),
            ("POST", "/v1/items/{id}:archive"),
        ]);
        assert_eq!(
            r.find(&Method::PUT, "/v1/items/a1:archive"),
            Lookup::MethodNotAllowed(vec![Method::POST])
        );
        assert_eq!(r.methods("/v1/items/a1:archive"), vec![Method::POST]);
        assert_eq!(r.methods("/v1/items/a1"), vec![Method::GET, Method::DELETE]);
        // A verb no template of this path declares is part of the id.
        assert_eq!(
            r.methods("/v1/items/a1:other"),
            vec![Method::GET, Method::DELETE]
        );
    }

    #[test]
    fn double_star_matches_zero_or_more() {
        let r = router(&[
            ("GET", "/v1/files/{path=**}"),
            ("GET", "/v1/files/{p=**}:meta"),
        ]);
        assert_eq!(found(r.find(&Method::GET, "/v1/files")).0, 0);
        assert_eq!(found(r.find(&Method::GET, "/v1/files/a/b/c.txt")).0, 0);
        assert_eq!(found(r.find(&Method::GET, "/v1/files/a/b:meta")).0, 1);
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        let r = router(&[
            ("GET", "/v1/items/{id}"),
            ("DELETE", "/v1/items/{id}"),
            ("POST", "/v1/items"),
        ]);
        assert_eq!(
            r.find(&Method::PUT, "/v1/items/7"),
            Lookup::MethodNotAllowed(vec![Method::GET, Method::DELETE])
        );
        assert_eq!(r.find(&Method::GET, "/v1/nothing"), Lookup::NotFound);
        assert_eq!(r.find(&Method::GET, "/v1/items/7/more"), Lookup::NotFound);
        assert_eq!(r.methods("/v1/items"), vec![Method::POST]);
    }

    #[test]
    fn empty_segments_do_not_bind_variables() {
        let r = router(&[("GET", "/v1/items/{id}")]);
        assert_eq!(r.find(&Method::GET, "/v1/items/"), Lookup::NotFound);
    }

    #[test]
    fn escaped_literals_match() {
        let r = router(&[("GET", "/v1/caf\u{e9}")]);
        assert_eq!(found(r.find(&Method::GET, "/v1/caf%C3%A9")).0, 0);
    }

    #[test]
    fn same_method_and_shape_conflict() {
        let mut r = router(&[("GET", "/v1/items/{id}")]);
        let conflict = r
            .insert(
                &Template::parse("/v1/items/{other}").unwrap(),
                Method::GET,
                9,
            )
            .unwrap_err();
        assert_eq!(conflict.existing, 0);
        // Another verb or method is a different route.
        r.insert(
            &Template::parse("/v1/items/{id}:x").unwrap(),
            Method::GET,
            10,
        )
        .unwrap();
        r.insert(&Template::parse("/v1/items/{id}").unwrap(), Method::PUT, 11)
            .unwrap();
    }

    #[test]
    fn root_path() {
        let r = router(&[("GET", "/")]);
        assert_eq!(found(r.find(&Method::GET, "/")).0, 0);
    }
}
