//! The OpenAPI document of the bindings (3.1, or 3.0.3), rendered once at
//! start-up from the same descriptors the router uses: one operation per
//! binding, path and query parameters from the request message, the request
//! body and response schemas under `components`, descriptions and examples
//! from proto comments, `required`/`readOnly`/bounds from the field
//! annotations, and each operation's security from its method's access.

mod annotations;
mod comments;
mod schema;

use std::collections::BTreeMap;

use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::{
    binding::{Binding, BodyRule},
    json::Json,
    template::Segment,
};

use self::{
    annotations::{Access, Behavior},
    comments::Comments,
    schema::Schemas,
};

pub use self::schema::Version;

const RPC_STATUS: &str = "google.rpc.Status";
/// The security scheme of operations whose method needs a token.
const BEARER: &str = "bearerAuth";
/// The `google.rpc` detail messages Bazaar's errors carry, documented as
/// the shapes a `details` element may take.
const ERROR_DETAILS: [&str; 6] = [
    "google.rpc.BadRequest",
    "google.rpc.ErrorInfo",
    "google.rpc.RetryInfo",
    "google.rpc.PreconditionFailure",
    "google.rpc.ResourceInfo",
    "google.rpc.QuotaFailure",
];
const STANDARD_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Renders the document as JSON bytes; without a `title`, the packages
/// served name it.
pub fn render(
    bindings: &[Binding],
    json: &Json,
    title: Option<&str>,
    version: Version,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut comments = Comments::default();
    let mut schemas = Schemas::new(json, version);
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags: Vec<(String, Value)> = Vec::new();
    let mut packages: Vec<String> = Vec::new();

    let tag_names = tag_names(bindings);
    let error_schema = bindings
        .first()
        .and_then(|b| b.rpc.parent_pool().get_message_by_name(RPC_STATUS))
        .map(|status| error_schema(&status, &mut schemas, &mut comments))
        .unwrap_or_else(|| json!({"type": "object"}));
    let mut secured = false;

    for binding in bindings {
        let service = binding.rpc.parent_service();
        let tag = tag_names
            .get(service.full_name())
            .cloned()
            .unwrap_or_else(|| service.name().to_owned());
        if !tags.iter().any(|(name, _)| *name == tag) {
            let mut entry = json!({"name": tag});
            if let Some(text) = comments.of_service(service) {
                entry["description"] = Value::String(text);
            }
            tags.push((tag.clone(), entry));
        }
        let package = service.package_name().to_owned();
        if !packages.contains(&package) {
            packages.push(package);
        }

        // OpenAPI 3.0 has no place for other methods (a custom `PURGE`):
        // they go under an extension key of the path item.
        let method = binding.http_method.as_str().to_ascii_lowercase();
        let method = if STANDARD_METHODS.contains(&method.as_str()) {
            method
        } else {
            format!("x-method-{method}")
        };
        let (path, renamed) = openapi_path(binding, &method, &paths);
        secured |= Access::of(&binding.rpc).needs_token();
        let operation = operation(
            binding,
            &tag,
            &renamed,
            &mut schemas,
            &mut comments,
            &error_schema,
        );
        paths.entry(path).or_default().insert(method, operation);
    }

    let title = match title {
        Some(title) => title.to_owned(),
        None if packages.is_empty() => "REST API".to_owned(),
        None => packages.join(", "),
    };
    let mut components = json!({"schemas": schemas.into_components()});
    if secured {
        components["securitySchemes"] = json!({BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from `POST /v1/sessions`, sent as \
                            `authorization: Bearer <access_token>`.",
        }});
    }
    let document = json!({
        "openapi": match version {
            Version::V3_1 => "3.1.0",
            Version::V3_0 => "3.0.3",
        },
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": "REST/JSON bindings of gRPC services, generated from their \
                            google.api.http rules. Errors have the body \
                            {\"code\", \"message\", \"details\"} (google.rpc.Status); \
                            server streams are newline-delimited JSON.",
        },
        "tags": tags.into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
        "paths": paths,
        "components": components,
    });
    serde_json::to_vec(&document)
}

/// Services are tagged by their short name unless two packages share one.
fn tag_names(bindings: &[Binding]) -> BTreeMap<String, String> {
    let mut short: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for binding in bindings {
        let service = binding.rpc.parent_service();
        let names = short.entry(service.name().to_owned()).or_default();
        if !names.iter().any(|n| n == service.full_name()) {
            names.push(service.full_name().to_owned());
        }
    }
    short
        .into_iter()
        .flat_map(|(name, full)| {
            let unique = full.len() == 1;
            full.into_iter().map(move |f| {
                let tag = if unique { name.clone() } else { f.clone() };
                (f, tag)
            })
        })
        .collect()
}

/// A path variable as OpenAPI sees it: a name, and the template it stands for.
struct PathVariable {
    name: String,
    /// Index into `binding.path_params`, `None` for an unnamed wildcard.
    param: Option<usize>,
    pattern: Option<String>,
}

/// The OpenAPI path of a binding (`{name}` per variable, wildcards outside
/// variables as `{wildcardN}`). A template equivalent to one already in
/// `paths` (the same literals and variables, other names:
/// `/v1/products/{product_id}` and `/v1/products/{product.id}`) joins that
/// path item, with its parameter names, as OpenAPI requires; names are
/// suffixed only when the same method is bound twice to one shape.
fn openapi_path(
    binding: &Binding,
    method: &str,
    paths: &BTreeMap<String, Map<String, Value>>,
) -> (String, Vec<PathVariable>) {
    let (path, mut variables) = render_path(binding, 0);
    let shape = shape_of(&path);
    match paths
        .iter()
        .find(|(existing, _)| shape_of(existing) == shape)
    {
        None => (path, variables),
        Some((existing, item)) if !item.contains_key(method) => {
            for (variable, name) in variables.iter_mut().zip(variable_names(existing)) {
                variable.name = name;
            }
            (existing.clone(), variables)
        }
        Some(_) => (1..=16)
            .map(|suffix| render_path(binding, suffix))
            .find(|(candidate, _)| !paths.contains_key(candidate))
            .unwrap_or((path, variables)),
    }
}

/// A path with its variable names blanked: `/v1/a/{}:cancel`.
fn shape_of(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    let mut in_variable = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_variable = true;
                shape.push('{');
            }
            '}' => {
                in_variable = false;
                shape.push('}');
            }
            _ if in_variable => {}
            _ => shape.push(c),
        }
    }
    shape
}

fn variable_names(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

fn render_path(binding: &Binding, suffix: usize) -> (String, Vec<PathVariable>) {
    let template = &binding.template;
    let mut path = String::new();
    let mut variables = Vec::new();
    let mut wildcard = 0;
    let mut i = 0;
    let tag = |name: String| {
        if suffix == 0 {
            name
        } else {
            format!("{name}_{suffix}")
        }
    };
    while i < template.segments.len() {
        path.push('/');
        if let Some((index, param)) = binding
            .path_params
            .iter()
            .enumerate()
            .find(|(_, p)| p.start == i)
        {
            let end = param.end.unwrap_or(template.segments.len());
            let name = tag(param.name.clone());
            path.push('{');
            path.push_str(&name);
            path.push('}');
            let pattern = param.multi_segment.then(|| {
                template.segments[i..end]
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(text) => text.clone(),
                        Segment::Single => "*".to_owned(),
                        Segment::Multi => "**".to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            });
            variables.push(PathVariable {
                name,
                param: Some(index),
                pattern,
            });
            i = end.max(i + 1);
            continue;
        }
        match &template.segments[i] {
            Segment::Literal(text) => path.push_str(text),
            segment => {
                wildcard += 1;
                let name = tag(format!("wildcard{wildcard}"));
                path.push('{');
                path.push_str(&name);
                path.push('}');
                variables.push(PathVariable {
                    name,
                    param: None,
                    pattern: matches!(segment, Segment::Multi).then(|| "**".to_owned()),
                });
            }
        }
        i += 1;
    }
    if path.is_empty() {
        path.push('/');
    }
    if let Some(verb) = &template.verb {
        path.push(':');
        path.push_str(verb);
    }
    (path, variables)
}

fn operation(
    binding: &Binding,
    tag: &str,
    variables: &[PathVariable],
    schemas: &mut Schemas<'_>,
    comments: &mut Comments,
    error_schema: &Value,
) -> Value {
    let rpc = &binding.rpc;
    let service = rpc.parent_service();
    let mut operation_id = format!("{}_{}", service.name(), rpc.name());
    if binding.index > 0 {
        operation_id.push_str(&(binding.index + 1).to_string());
    }
    let mut op = json!({
        "operationId": operation_id,
        "tags": [tag],
        "x-grpc-method": format!("{}/{}", service.full_name(), rpc.name()),
    });
    if let Some(text) = comments.of_method(rpc) {
        op["summary"] = Value::String(comments::summary(&text));
        op["description"] = Value::String(text);
    }

    let mut parameters: Vec<Value> = variables
        .iter()
        .map(|var| path_parameter(binding, var, schemas, comments))
        .collect();
    if binding.maps_query() {
        let mut query = Vec::new();
        let mut stack = Vec::new();
        query_parameters(
            binding,
            &binding.input(),
            "",
            &mut stack,
            schemas,
            comments,
            &mut query,
        );
        parameters.extend(query);
    }
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }

    if let Some((body, required)) = request_body(binding, schemas, comments) {
        op["requestBody"] = json!({
            "required": required,
            "content": {"application/json": {"schema": body}},
        });
    }

    let result = match &binding.response_body {
        Some(field) => schemas.field(field, comments),
        None => schemas.message_ref(&binding.output(), comments),
    };
    let success = if binding.is_server_streaming() {
        json!({
            "description": "A stream of newline-delimited JSON objects: one \
                            {\"result\": ...} per message, ending with \
                            {\"error\": ...} if the stream fails.",
            "content": {"application/x-ndjson": {"schema": {
                "type": "object",
                "properties": {"result": result, "error": error_schema},
            }}},
        })
    } else {
        json!({
            "description": "A successful response.",
            "content": {"application/json": {"schema": result}},
        })
    };
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": error_schema}},
        })
    };
    op["responses"] = json!({
        "200": success,
        "default": error("An error: the gRPC status code, its message and typed details."),
    });
    let access = Access::of(rpc);
    if access.needs_token() {
        op["security"] = json!([{BEARER: []}]);
        op["responses"]["401"] = error(
            "UNAUTHENTICATED: no token, or one that is expired or tampered with. \
             `WWW-Authenticate` carries the message.",
        );
    }
    if access == Access::Admin {
        op["x-required-role"] = json!("admin");
        op["responses"]["403"] = error("PERMISSION_DENIED: the token lacks the admin role.");
    }
    op
}

/// `google.rpc.Status`, with the shapes of the detail messages Bazaar sends
/// (each an `Any` naming its type in `@type`) listed for `details`.
fn error_schema(
    status: &MessageDescriptor,
    schemas: &mut Schemas<'_>,
    comments: &mut Comments,
) -> Value {
    let reference = schemas.message_ref(status, comments);
    let pool = status.parent_pool();
    let mut shapes: Vec<Value> = ERROR_DETAILS
        .iter()
        .filter_map(|name| pool.get_message_by_name(name))
        .map(|detail| {
            let mut shape = schemas.message_inline(&detail, comments);
            shape["properties"]["@type"] = json!({
                "type": "string",
                "enum": [format!("type.googleapis.com/{}", detail.full_name())],
            });
            shape["required"] = json!(["@type"]);
            shape
        })
        .collect();
    // Any other type a service may add.
    shapes.push(json!({
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": {},
    }));
    if let Some(details) = schemas
        .component_mut(status.full_name())
        .and_then(|s| s.pointer_mut("/properties/details"))
    {
        details["items"] = json!({"anyOf": shapes});
    }
    reference
}

fn path_parameter(
    binding: &Binding,
    var: &PathVariable,
    schemas: &mut Schemas<'_>,
    comments: &mut Comments,
) -> Value {
    let param = var.param.and_then(|i| binding.path_params.get(i));
    let mut schema = match param.and_then(|p| p.fields.last()) {
        Some(field) => schemas.scalar_field(field, comments),
        None => json!({"type": "string"}),
    };
    let mut description = param
        .and_then(|p| p.fields.last())
        .and_then(|f| comments.of_field(f))
        .unwrap_or_default();
    if let Some(pattern) = &var.pattern {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!(
            "Spans several path segments, matching `{pattern}` (`*` one segment, `**` any number)."
        ));
        if let Some(regex) = pattern_regex(pattern) {
            schema["pattern"] = Value::String(regex);
        }
    }
    let mut parameter = json!({
        "name": var.name,
        "in": "path",
        "required": true,
        "schema": schema,
    });
    if var.pattern.is_some() {
        // Tells the docs page not to escape the slashes of the value.
        parameter["x-multi-segment"] = Value::Bool(true);
    }
    if !description.is_empty() {
        parameter["description"] = Value::String(description);
    }
    parameter
}

/// `shelves/*/books/*` → `^shelves/[^/]+/books/[^/]+$`.
fn pattern_regex(pattern: &str) -> Option<String> {
    let parts: Vec<String> = pattern
        .split('/')
        .map(|part| match part {
            "*" => "[^/]+".to_owned(),
            "**" => ".*".to_owned(),
            literal => literal
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~') {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect(),
        })
        .collect();
    if parts == [".*"] {
        return None;
    }
    Some(format!("^{}$", parts.join("/")))
}

/// Query parameters: every field the path and body leave free, nested
/// messages flattened as `a.b`, repeated fields as repeated parameters.
fn query_parameters(
    binding: &Binding,
    message: &MessageDescriptor,
    prefix: &str,
    stack: &mut Vec<String>,
    schemas: &mut Schemas<'_>,
    comments: &mut Comments,
    out: &mut Vec<Value>,
) {
    // Recursive messages would flatten forever: stop at a repeat.
    if stack.iter().any(|m| m == message.full_name()) || stack.len() > 6 {
        return;
    }
    stack.push(message.full_name().to_owned());
    for field in message.fields() {
        let proto_path = format!("{prefix}{}", field.name());
        if binding
            .query_excluded
            .iter()
            .any(|bound| *bound == proto_path || proto_path.starts_with(&format!("{bound}.")))
        {
            continue;
        }
        // A partial update's mask is its body's keys when not given (as
        // grpc-gateway fills it); documented, it would only invite masks
        // that name fields the body leaves empty.
        if field.is_map()
            || prefix.is_empty() && field.name() == "update_mask" && is_partial_update(binding)
        {
            continue;
        }
        let name = format!(
            "{}{}",
            display_prefix(prefix, schemas),
            schemas.name_of(&field)
        );
        match field.kind() {
            Kind::Message(inner) if !schema::is_query_scalar(inner.full_name()) => {
                if field.is_list() || schema::is_opaque(inner.full_name()) {
                    continue;
                }
                query_parameters(
                    binding,
                    &inner,
                    &format!("{proto_path}."),
                    stack,
                    schemas,
                    comments,
                    out,
                );
            }
            _ => {
                let schema = if field.is_list() {
                    json!({"type": "array", "items": schemas.scalar_field(&field, comments)})
                } else {
                    schemas.scalar_field(&field, comments)
                };
                let mut parameter = json!({
                    "name": name,
                    "in": "query",
                    "required": false,
                    "schema": schema,
                });
                if field.is_list() {
                    parameter["style"] = json!("form");
                    parameter["explode"] = json!(true);
                }
                if let Some(text) = comments.of_field(&field) {
                    parameter["description"] = Value::String(text);
                }
                out.push(parameter);
            }
        }
    }
    stack.pop();
}

/// The dotted prefix in the configured naming (`inner_msg.` stays, or
/// becomes `innerMsg.` in lowerCamelCase).
fn display_prefix(proto_prefix: &str, schemas: &Schemas<'_>) -> String {
    if proto_prefix.is_empty() || schemas.proto_names() {
        return proto_prefix.to_owned();
    }
    proto_prefix
        .split('.')
        .map(schema::lower_camel)
        .collect::<Vec<_>>()
        .join(".")
}

/// The request body's schema, and whether a body must be sent: an empty
/// body is an empty message, so only one whose message requires a field.
fn request_body(
    binding: &Binding,
    schemas: &mut Schemas<'_>,
    comments: &mut Comments,
) -> Option<(Value, bool)> {
    match &binding.body {
        BodyRule::None => None,
        BodyRule::Field(field) => match field.kind() {
            // A partial update (AIP-134): the mask says what changes, so no
            // field of the resource is required here.
            Kind::Message(resource) if is_partial_update(binding) => {
                let mut inline = schemas.message_inline(&resource, comments);
                if let Some(object) = inline.as_object_mut() {
                    object.remove("required");
                }
                Some((inline, false))
            }
            Kind::Message(message) => Some((
                schemas.field(field, comments),
                requires_a_field(&message, &[]),
            )),
            _ => Some((schemas.field(field, comments), false)),
        },
        BodyRule::Whole => {
            let input = binding.input();
            // Top-level fields the path binds are not part of the body.
            let bound: Vec<&str> = binding
                .path_params
                .iter()
                .filter(|p| p.fields.len() == 1)
                .map(|p| p.name.as_str())
                .collect();
            let required = requires_a_field(&input, &bound);
            if bound.is_empty() {
                return Some((schemas.message_ref(&input, comments), required));
            }
            let mut inline = schemas.message_inline(&input, comments);
            let names: Vec<String> = input
                .fields()
                .filter(|f| bound.contains(&f.name()))
                .map(|f| schemas.name_of(&f).to_owned())
                .collect();
            if let Some(properties) = inline.get_mut("properties").and_then(Value::as_object_mut) {
                for name in &names {
                    properties.remove(name);
                }
            }
            if let Some(object) = inline.as_object_mut() {
                let left: Vec<Value> = object
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter(|v| !names.iter().any(|n| v.as_str() == Some(n)))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if left.is_empty() {
                    object.remove("required");
                } else {
                    object.insert("required".into(), Value::Array(left));
                }
            }
            Some((inline, required))
        }
    }
}

/// Whether the message has a required field the body must carry.
fn requires_a_field(message: &MessageDescriptor, except: &[&str]) -> bool {
    message.fields().any(|field| {
        let behavior = Behavior::of(&field);
        behavior.required && !behavior.read_only() && !except.contains(&field.name())
    })
}

/// Whether the request carries an `update_mask` (AIP-134).
fn is_partial_update(binding: &Binding) -> bool {
    binding.input().get_field_by_name("update_mask").is_some_and(|field| {
        matches!(field.kind(), Kind::Message(m) if m.full_name() == crate::fields::FIELD_MASK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_templates_have_one_shape() {
        assert_eq!(shape_of("/v1/products/{product.id}"), "/v1/products/{}");
        assert_eq!(shape_of("/v1/products/{product_id}"), "/v1/products/{}");
        assert_ne!(
            shape_of("/v1/orders/{order_id}:cancel"),
            shape_of("/v1/orders/{order_id}")
        );
        assert_eq!(variable_names("/v1/{a}/x/{b.c}:v"), ["a", "b.c"]);
    }

    #[test]
    fn patterns_become_anchored_regexes() {
        assert_eq!(
            pattern_regex("shelves/*/books/*").as_deref(),
            Some("^shelves/[^/]+/books/[^/]+$")
        );
        assert_eq!(pattern_regex("a.b/**").as_deref(), Some("^a\\.b/.*$"));
        assert_eq!(pattern_regex("**"), None);
    }
}
