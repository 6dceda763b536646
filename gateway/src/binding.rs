//! Reads every `google.api.http` rule of a descriptor pool into bindings:
//! one per (RPC, HTTP method, path template), with every field reference
//! resolved and checked once, at start-up, so a request only follows
//! pre-resolved descriptors.

use http::{Method, uri::PathAndQuery};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

use crate::{
    fields,
    template::{Template, Variable},
};

/// The `google.api.HttpRule` message, decoded from a method's options.
mod rule {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HttpRule {
        #[prost(string, tag = "1")]
        pub selector: String,
        #[prost(oneof = "Pattern", tags = "2, 3, 4, 5, 6, 8")]
        pub pattern: Option<Pattern>,
        #[prost(string, tag = "7")]
        pub body: String,
        #[prost(string, tag = "12")]
        pub response_body: String,
        #[prost(message, repeated, tag = "11")]
        pub additional_bindings: Vec<HttpRule>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Pattern {
        #[prost(string, tag = "2")]
        Get(String),
        #[prost(string, tag = "3")]
        Put(String),
        #[prost(string, tag = "4")]
        Post(String),
        #[prost(string, tag = "5")]
        Delete(String),
        #[prost(string, tag = "6")]
        Patch(String),
        #[prost(message, tag = "8")]
        Custom(CustomHttpPattern),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CustomHttpPattern {
        #[prost(string, tag = "1")]
        pub kind: String,
        #[prost(string, tag = "2")]
        pub path: String,
    }
}

/// The extension carrying the rules.
pub const HTTP_EXTENSION: &str = "google.api.http";

/// Where the request body goes.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body: everything comes from the path and the query.
    None,
    /// `body: "*"`: the whole request message, minus path-bound fields.
    Whole,
    /// `body: "field"`: one top-level field.
    Field(FieldDescriptor),
}

/// A path variable, resolved to the field it fills.
#[derive(Debug, Clone)]
pub struct PathParam {
    /// The fields from the request message down to the bound one.
    pub fields: Vec<FieldDescriptor>,
    /// The dotted path, as written in the template.
    pub name: String,
    pub start: usize,
    /// `None`: to the end of the path (`**`).
    pub end: Option<usize>,
    pub multi_segment: bool,
}

/// One HTTP binding of one RPC.
#[derive(Debug, Clone)]
pub struct Binding {
    pub rpc: MethodDescriptor,
    pub http_method: Method,
    pub template: Template,
    pub path_params: Vec<PathParam>,
    pub body: BodyRule,
    /// `response_body`: the output field sent instead of the whole message.
    pub response_body: Option<FieldDescriptor>,
    /// PATCH with a field body and an `update_mask` FieldMask: the mask to
    /// fill from the body's keys when the client sends none.
    pub update_mask: Option<FieldDescriptor>,
    /// Dotted paths the query string may not set (bound by path or body).
    pub query_excluded: Vec<String>,
    /// 0 for the rule itself, 1.. for its `additional_bindings`.
    pub index: usize,
    /// `/package.Service/Method`.
    pub grpc_path: PathAndQuery,
}

impl Binding {
    pub fn input(&self) -> MessageDescriptor {
        self.rpc.input()
    }

    pub fn output(&self) -> MessageDescriptor {
        self.rpc.output()
    }

    pub fn is_server_streaming(&self) -> bool {
        self.rpc.is_server_streaming()
    }

    /// Whether query parameters map onto the request (not with `body: "*"`).
    pub fn maps_query(&self) -> bool {
        !matches!(self.body, BodyRule::Whole)
    }
}

/// A rule that cannot be served; the message names the RPC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rpc}: invalid HTTP rule {method} {template:?}: {reason}")]
pub struct RuleError {
    pub rpc: String,
    pub method: String,
    pub template: String,
    pub reason: String,
}

/// Reads every binding in `pool`, in file, service and method order.
/// Client-streaming RPCs are skipped with a warning: REST has no way to
/// carry a stream of request messages here.
pub fn read_bindings(pool: &DescriptorPool) -> Result<Vec<Binding>, RuleError> {
    let Some(extension) = pool.get_extension_by_name(HTTP_EXTENSION) else {
        return Ok(Vec::new());
    };
    let mut bindings = Vec::new();
    for service in pool.services() {
        for rpc in service.methods() {
            let options = rpc.options();
            if !options.has_extension(&extension) {
                continue;
            }
            let value = options.get_extension(&extension);
            let Some(message) = value.as_message() else {
                continue;
            };
            let rule: rule::HttpRule = message.transcode_to().map_err(|e| RuleError {
                rpc: rpc.full_name().to_owned(),
                method: String::new(),
                template: String::new(),
                reason: format!("cannot decode the rule: {e}"),
            })?;
            if rpc.is_client_streaming() {
                tracing::warn!(
                    rpc = rpc.full_name(),
                    "client-streaming RPCs are not exposed over REST; skipping its HTTP rule"
                );
                continue;
            }
            bindings.push(binding(&rpc, &rule, 0)?);
            for (i, extra) in rule.additional_bindings.iter().enumerate() {
                if !extra.additional_bindings.is_empty() {
                    return Err(error(
                        &rpc,
                        extra,
                        "additional_bindings must not nest".to_owned(),
                    ));
                }
                bindings.push(binding(&rpc, extra, i + 1)?);
            }
        }
    }
    Ok(bindings)
}

fn pattern(rule: &rule::HttpRule) -> (String, &str) {
    use rule::Pattern;
    match &rule.pattern {
        Some(Pattern::Get(path)) => ("GET".to_owned(), path),
        Some(Pattern::Put(path)) => ("PUT".to_owned(), path),
        Some(Pattern::Post(path)) => ("POST".to_owned(), path),
        Some(Pattern::Delete(path)) => ("DELETE".to_owned(), path),
        Some(Pattern::Patch(path)) => ("PATCH".to_owned(), path),
        Some(Pattern::Custom(custom)) => (custom.kind.clone(), &custom.path),
        None => (String::new(), ""),
    }
}

fn error(rpc: &MethodDescriptor, rule: &rule::HttpRule, reason: String) -> RuleError {
    let (method, template) = pattern(rule);
    RuleError {
        rpc: rpc.full_name().to_owned(),
        method,
        template: template.to_owned(),
        reason,
    }
}

fn binding(
    rpc: &MethodDescriptor,
    rule: &rule::HttpRule,
    index: usize,
) -> Result<Binding, RuleError> {
    let fail = |reason: String| error(rpc, rule, reason);
    let (method_name, path) = pattern(rule);
    if rule.pattern.is_none() {
        return Err(fail("no HTTP method and path".to_owned()));
    }
    let http_method = Method::from_bytes(method_name.as_bytes())
        .ok()
        .filter(|_| !method_name.is_empty())
        .ok_or_else(|| fail(format!("{method_name:?} is not an HTTP method")))?;
    let template = Template::parse(path).map_err(|e| fail(e.to_string()))?;
    let input = rpc.input();

    let path_params = template
        .variables
        .iter()
        .map(|var| path_param(&input, var).map_err(&fail))
        .collect::<Result<Vec<_>, _>>()?;

    let body = match rule.body.as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        name => {
            let field = input.get_field_by_name(name).ok_or_else(|| {
                fail(format!(
                    "body field {name:?} is not a field of {}",
                    input.full_name()
                ))
            })?;
            BodyRule::Field(field)
        }
    };
    if http_method == Method::GET && !matches!(body, BodyRule::None) {
        return Err(fail("a GET binding cannot have a body".to_owned()));
    }

    let response_body = match rule.response_body.as_str() {
        "" => None,
        name => Some(rpc.output().get_field_by_name(name).ok_or_else(|| {
            fail(format!(
                "response_body field {name:?} is not a field of {}",
                rpc.output().full_name()
            ))
        })?),
    };

    // grpc-gateway's `allow_patch_feature`: only PATCH with a field body.
    let update_mask = match &body {
        BodyRule::Field(body_field) if http_method == Method::PATCH => input
            .get_field_by_name("update_mask")
            .filter(|f| f.name() != body_field.name())
            .filter(|f| !f.is_list() && fields::message_name(f) == Some(fields::FIELD_MASK)),
        _ => None,
    };

    let mut query_excluded: Vec<String> = path_params.iter().map(|p| p.name.clone()).collect();
    if let BodyRule::Field(field) = &body {
        query_excluded.push(field.name().to_owned());
    }

    let grpc_path = PathAndQuery::try_from(format!(
        "/{}/{}",
        rpc.parent_service().full_name(),
        rpc.name()
    ))
    .map_err(|e| fail(format!("the RPC has no valid gRPC path: {e}")))?;

    Ok(Binding {
        rpc: rpc.clone(),
        http_method,
        template,
        path_params,
        body,
        response_body,
        update_mask,
        query_excluded,
        index,
        grpc_path,
    })
}

fn path_param(input: &MessageDescriptor, var: &Variable) -> Result<PathParam, String> {
    let name = var.name();
    let fields = fields::resolve_path(input, var.field_path.iter().map(String::as_str))
        .map_err(|e| format!("path variable {name:?}: {e}"))?;
    let Some(last) = fields.last() else {
        return Err(format!("path variable {name:?} names no field"));
    };
    if last.is_list() || last.is_map() {
        return Err(format!(
            "path variable {name:?} is a repeated field, which a path cannot bind"
        ));
    }
    if let Kind::Message(message) = last.kind()
        && !fields::is_string_encoded(message.full_name())
    {
        return Err(format!(
            "path variable {name:?} is a message ({}), which a path cannot bind",
            message.full_name()
        ));
    }
    Ok(PathParam {
        fields,
        name,
        start: var.start,
        end: var.end,
        multi_segment: var.is_multi_segment(),
    })
}
