//! The simulator's own description of the API (`reference/api.yaml`), loaded once: which
//! operations exist at which paths, who may call them, and the JSON Schemas their requests and
//! answers must fit. Request bodies and queries are checked here before any handler runs, so a
//! client that misnames a field, uses a removed path or a wrong method is refused whatever the
//! handler would do.

use std::collections::{BTreeMap, HashMap};

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::errors::{Problem, SimError};

const API: &str = include_str!("../reference/api.yaml");

/// Stands for the tenant field in the schemas (`workspace_name`, `customer_name`, ...).
const TENANT_PLACEHOLDER: &str = "{tenant}";
/// The tenant field of the deprecated `/api/v1/embedded/*` paths [E].
const DEPRECATED_TENANT_FIELD: &str = "workspace_name";

/// Who may call an operation.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    None,
    Organization,
    Scoped,
    Either,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParam {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub repeated: bool,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, rename = "enum")]
    pub one_of: Option<Vec<String>>,
    /// Inclusive bounds of an integer parameter.
    #[serde(default)]
    pub integer: Option<[i64; 2]>,
    #[serde(default)]
    pub default: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBy {
    field: String,
    default: String,
    variants: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationData {
    id: String,
    method: String,
    path: String,
    #[serde(default)]
    deprecated_paths: Vec<String>,
    auth: Auth,
    source: Vec<String>,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    request_by: Option<RequestBy>,
    #[serde(default)]
    query: BTreeMap<String, QueryParam>,
    response: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiData {
    operations: Vec<OperationData>,
    schemas: Map<String, Value>,
}

/// How request bodies are read.
#[derive(Clone, Debug)]
pub struct Strictness {
    /// Refuse fields the reference does not name (the real API ignores them).
    pub refuse_unknown_fields: bool,
    /// The tenant field of the current token paths.
    pub tenant_field: String,
}

/// One operation, ready to check requests.
pub struct Operation {
    pub id: String,
    pub method: String,
    pub path: String,
    pub deprecated_paths: Vec<String>,
    pub auth: Auth,
    pub source: Vec<String>,
    pub query: BTreeMap<String, QueryParam>,
    pub request_schema: Option<String>,
    pub response_schema: String,
    /// Body validators for the current and the deprecated paths (they differ in the tenant field).
    current: Option<BodyCheck>,
    deprecated: Option<BodyCheck>,
    response: Validator,
}

enum BodyCheck {
    One(Validator),
    By {
        field: String,
        default: Validator,
        variants: BTreeMap<String, Validator>,
    },
}

/// The whole description.
pub struct Reference {
    pub operations: Vec<Operation>,
    by_route: HashMap<(String, String), (usize, bool)>,
}

impl Reference {
    /// Loads the shipped description. It is part of the binary, so a broken file is a build
    /// defect (a unit test loads it).
    pub fn load(strictness: &Strictness) -> Reference {
        let data: ApiData =
            serde_yaml::from_str(API).expect("reference/api.yaml is valid YAML of the known shape");
        let operations: Vec<Operation> = data
            .operations
            .into_iter()
            .map(|operation| Operation::build(operation, &data.schemas, strictness))
            .collect();
        let mut by_route = HashMap::new();
        for (index, operation) in operations.iter().enumerate() {
            by_route.insert(
                (operation.method.clone(), operation.path.clone()),
                (index, false),
            );
            for path in &operation.deprecated_paths {
                by_route.insert((operation.method.clone(), path.clone()), (index, true));
            }
        }
        Reference {
            operations,
            by_route,
        }
    }

    /// The operation served at a route template (`/api/v1/embedded/sources/{id}`), and whether
    /// that path is a deprecated one.
    pub fn route(&self, method: &str, path_template: &str) -> Option<(&Operation, bool)> {
        let (index, deprecated) = self
            .by_route
            .get(&(method.to_string(), path_template.to_string()))?;
        Some((&self.operations[*index], *deprecated))
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }
}

impl Operation {
    fn build(data: OperationData, schemas: &Map<String, Value>, strictness: &Strictness) -> Self {
        let body = |name: &str, tenant: &str| {
            compile(
                name,
                schemas,
                Some(tenant),
                strictness.refuse_unknown_fields,
            )
        };
        let checks = |tenant: &str| match (&data.request, &data.request_by) {
            (Some(name), _) => Some(BodyCheck::One(body(name, tenant))),
            (None, Some(by)) => Some(BodyCheck::By {
                field: by.field.clone(),
                default: body(&by.default, tenant),
                variants: by
                    .variants
                    .iter()
                    .map(|(value, name)| (value.clone(), body(name, tenant)))
                    .collect(),
            }),
            (None, None) => None,
        };
        let current = checks(&strictness.tenant_field);
        let deprecated = checks(DEPRECATED_TENANT_FIELD);
        let response = compile(&data.response, schemas, None, false);
        Operation {
            request_schema: data
                .request
                .clone()
                .or(data.request_by.as_ref().map(|by| by.default.clone())),
            response_schema: data.response.clone(),
            id: data.id,
            method: data.method,
            path: data.path,
            deprecated_paths: data.deprecated_paths,
            auth: data.auth,
            source: data.source,
            query: data.query,
            current,
            deprecated,
            response,
        }
    }

    /// Checks a request body (`None`: no body sent) for the current or a deprecated path.
    pub fn check_body(&self, body: Option<&Value>, deprecated: bool) -> Result<(), SimError> {
        let check = if deprecated {
            &self.deprecated
        } else {
            &self.current
        };
        let Some(check) = check else {
            return Ok(());
        };
        let Some(body) = body else {
            return Err(SimError::field(&["body"], "Field required", "missing"));
        };
        let validator = match check {
            BodyCheck::One(validator) => validator,
            BodyCheck::By {
                field,
                default,
                variants,
            } => body
                .get(field)
                .and_then(Value::as_str)
                .and_then(|value| variants.get(value))
                .unwrap_or(default),
        };
        let problems = problems(validator, body, "body");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SimError::Validation(problems))
        }
    }

    /// Checks the query string against the declared parameters and returns every value by name.
    /// Unknown parameters are ignored, as FastAPI does.
    pub fn check_query(&self, query: &str) -> Result<BTreeMap<String, Vec<String>>, SimError> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            values
                .entry(key.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        let mut problems = Vec::new();
        for (name, param) in &self.query {
            let loc = ["query", name.as_str()];
            let Some(given) = values.get(name) else {
                if param.required {
                    problems.push(Problem::new(&loc, "Field required", "missing"));
                }
                continue;
            };
            for value in given {
                if let Some(problem) = param.check(value, &loc) {
                    problems.push(problem);
                }
            }
        }
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(SimError::Validation(problems))
        }
    }

    /// Problems of a 200 answer against the documented response schema.
    pub fn check_response(&self, body: &Value) -> Vec<Problem> {
        problems(&self.response, body, "response")
    }
}

impl QueryParam {
    fn check(&self, value: &str, loc: &[&str]) -> Option<Problem> {
        if self.format.as_deref() == Some("uuid") && uuid::Uuid::parse_str(value).is_err() {
            return Some(Problem::new(
                loc,
                "Input should be a valid UUID",
                "uuid_parsing",
            ));
        }
        if let Some(allowed) = &self.one_of
            && !allowed.iter().any(|a| a == value)
        {
            return Some(Problem::new(
                loc,
                format!(
                    "Input should be {}",
                    allowed
                        .iter()
                        .map(|a| format!("'{a}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                "enum",
            ));
        }
        if let Some([low, high]) = self.integer {
            match value.parse::<i64>() {
                Ok(number) if (low..=high).contains(&number) => {}
                Ok(_) => {
                    return Some(Problem::new(
                        loc,
                        format!("Input should be between {low} and {high}"),
                        "range_error",
                    ));
                }
                Err(_) => {
                    return Some(Problem::new(
                        loc,
                        "Input should be a valid integer",
                        "int_parsing",
                    ));
                }
            }
        }
        None
    }
}

/// A validator for one named schema of the description, with every `$ref` resolved inside it.
fn compile(
    name: &str,
    schemas: &Map<String, Value>,
    tenant: Option<&str>,
    refuse_unknown: bool,
) -> Validator {
    let mut all = Value::Object(schemas.clone());
    if let Some(tenant) = tenant {
        replace_tenant(&mut all, tenant);
    }
    if refuse_unknown {
        close_objects(&mut all);
    }
    let root = json!({
        "$ref": format!("#/schemas/{name}"),
        "schemas": all,
    });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|error| panic!("reference schema {name} does not compile: {error}"))
}

fn replace_tenant(value: &mut Value, tenant: &str) {
    match value {
        Value::Object(map) => {
            if let Some(schema) = map.remove(TENANT_PLACEHOLDER) {
                map.insert(tenant.to_string(), schema);
            }
            for child in map.values_mut() {
                replace_tenant(child, tenant);
            }
        }
        Value::Array(items) => {
            for item in items {
                if item.as_str() == Some(TENANT_PLACEHOLDER) {
                    *item = Value::String(tenant.to_string());
                } else {
                    replace_tenant(item, tenant);
                }
            }
        }
        _ => {}
    }
}

/// Every object schema that names its properties refuses others.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for child in map.values_mut() {
                close_objects(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The validator's findings as Pydantic-style problems under `root` (`body` or `response`).
/// Values are never quoted: they may be secrets.
fn problems(validator: &Validator, instance: &Value, root: &str) -> Vec<Problem> {
    validator
        .iter_errors(instance)
        .flat_map(|error| {
            let mut loc = vec![root.to_string()];
            for segment in error.instance_path().iter() {
                loc.push(match segment {
                    LocationSegment::Property(name) => name.into_owned(),
                    LocationSegment::Index(index) => index.to_string(),
                });
            }
            describe(error.kind(), loc)
        })
        .collect()
}

/// Pydantic's message and code for a value of the wrong type.
fn type_problem(wanted: &str) -> (&'static str, &'static str) {
    if wanted.contains("object") {
        ("Input should be a valid dictionary", "dict_type")
    } else if wanted.contains("array") {
        ("Input should be a valid list", "list_type")
    } else if wanted.contains("boolean") {
        ("Input should be a valid boolean", "bool_type")
    } else if wanted.contains("integer") {
        ("Input should be a valid integer", "int_type")
    } else {
        ("Input should be a valid string", "string_type")
    }
}

fn describe(kind: &ValidationErrorKind, loc: Vec<String>) -> Vec<Problem> {
    let at = |loc: Vec<String>, message: &str, code: &str| Problem {
        loc,
        message: message.to_string(),
        code: code.to_string(),
    };
    match kind {
        ValidationErrorKind::Required { property } => {
            let mut loc = loc;
            loc.push(property.as_str().unwrap_or_default().to_string());
            vec![at(loc, "Field required", "missing")]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                let mut loc = loc.clone();
                loc.push(name.clone());
                at(loc, "Extra inputs are not permitted", "extra_forbidden")
            })
            .collect(),
        ValidationErrorKind::Format { format } if format == "uuid" => {
            vec![at(loc, "Input should be a valid UUID", "uuid_parsing")]
        }
        ValidationErrorKind::Format { format } if format == "date-time" => {
            vec![at(
                loc,
                "Input should be a valid datetime",
                "datetime_parsing",
            )]
        }
        ValidationErrorKind::Type { kind } => {
            let (message, code) = type_problem(&format!("{kind:?}").to_lowercase());
            vec![at(loc, message, code)]
        }
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            vec![at(loc, "Input should be one of the allowed values", "enum")]
        }
        ValidationErrorKind::MinLength { .. } => vec![at(
            loc,
            "String should have at least 1 character",
            "string_too_short",
        )],
        ValidationErrorKind::MaxLength { limit } => vec![at(
            loc,
            &format!("String should have at most {limit} characters"),
            "string_too_long",
        )],
        _ => vec![at(loc, "Input is not valid here", "value_error")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(strict: bool, tenant: &str) -> Reference {
        Reference::load(&Strictness {
            refuse_unknown_fields: strict,
            tenant_field: tenant.into(),
        })
    }

    fn fields(result: Result<(), SimError>) -> Vec<(String, String)> {
        match result {
            Ok(()) => Vec::new(),
            Err(SimError::Validation(problems)) => {
                problems.into_iter().map(|p| (p.field(), p.code)).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_operation_has_a_unique_route_and_known_sources() {
        let reference = reference(false, "workspace_name");
        let mut seen = std::collections::HashSet::new();
        for operation in &reference.operations {
            assert!(seen.insert(operation.id.clone()), "{}", operation.id);
            assert!(!operation.source.is_empty(), "{}", operation.id);
            let (found, deprecated) = reference.route(&operation.method, &operation.path).unwrap();
            assert_eq!(
                (found.id.as_str(), deprecated),
                (operation.id.as_str(), false)
            );
        }
        assert!(reference.operations.len() >= 30);
    }

    #[test]
    fn a_misnamed_required_field_is_refused_by_name() {
        let reference = reference(false, "workspace_name");
        let create = reference.operation("sources_create").unwrap();
        let body = json!({"workspaceId": "x", "source_template_id": uuid::Uuid::new_v4(), "source_config": {}});
        assert_eq!(
            fields(create.check_body(Some(&body), false)),
            [("body.workspace_id".to_string(), "missing".to_string())]
        );
    }

    #[test]
    fn unknown_fields_are_ignored_unless_strict() {
        let body = json!({"workspace_name": "acme", "colour": "blue"});
        let lenient = reference(false, "workspace_name");
        let op = lenient.operation("scoped_token_create").unwrap();
        assert!(op.check_body(Some(&body), false).is_ok());
        let strict = reference(true, "workspace_name");
        let op = strict.operation("scoped_token_create").unwrap();
        assert_eq!(
            fields(op.check_body(Some(&body), false)),
            [("body.colour".to_string(), "extra_forbidden".to_string())]
        );
    }

    #[test]
    fn the_tenant_field_is_chosen_at_start_and_deprecated_paths_keep_workspace_name() {
        let reference = reference(true, "customer_name");
        let op = reference.operation("scoped_token_create").unwrap();
        let old = json!({"workspace_name": "acme"});
        let new = json!({"customer_name": "acme"});
        assert!(op.check_body(Some(&new), false).is_ok());
        let mut found = fields(op.check_body(Some(&old), false));
        found.sort();
        assert_eq!(
            found,
            [
                ("body.customer_name".to_string(), "missing".to_string()),
                (
                    "body.workspace_name".to_string(),
                    "extra_forbidden".to_string()
                )
            ]
        );
        assert!(op.check_body(Some(&old), true).is_ok());
    }

    #[test]
    fn connection_template_bodies_are_chosen_by_hosting_type() {
        let reference = reference(true, "workspace_name");
        let op = reference.operation("connection_template_create").unwrap();
        assert!(
            op.check_body(
                Some(&json!({"data_hosting_type": "airbyte_hosted", "cron_expression": "0 0 * * * ?"})),
                false
            )
            .is_ok()
        );
        assert_eq!(
            fields(op.check_body(Some(&json!({"destination_name": "s3"})), false)),
            [
                (
                    "body.destination_definition_id".to_string(),
                    "missing".to_string()
                ),
                ("body.destination_config".to_string(), "missing".to_string())
            ]
        );
    }

    #[test]
    fn queries_are_checked_against_their_parameters() {
        let reference = reference(false, "workspace_name");
        let list = reference.operation("sources_list").unwrap();
        assert!(list.check_query("").is_err(), "workspace_id is required");
        assert!(list.check_query("workspace_id=nope").is_err());
        assert!(
            list.check_query(&format!("workspace_id={}", uuid::Uuid::new_v4()))
                .is_ok()
        );
        let workspaces = reference.operation("workspaces_list").unwrap();
        assert!(workspaces.check_query("limit=101").is_err());
        assert!(workspaces.check_query("status=gone").is_err());
        assert_eq!(
            reference
                .operation("source_templates_list")
                .unwrap()
                .check_query("tags=a&tags=b&tags_mode=any")
                .unwrap()["tags"],
            ["a", "b"]
        );
    }
}
