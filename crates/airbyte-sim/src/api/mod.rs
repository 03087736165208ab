//! The simulated API: one handler per operation of `reference/api.yaml`, mounted at the paths the
//! reference gives (and the deprecated ones unless they are switched off). Handlers receive the
//! caller and the checked input from the request pipeline and never parse raw requests.

mod connection_templates;
mod sources;
mod tags;
mod templates;
mod tokens;
mod workspaces;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::errors::{SimError, render};
use crate::state::SimState;

pub use connection_templates::connections_for_new_source;
pub use tokens::{add_duplicate_workspace, valid_origin};

/// The handler of an operation, by its id, for its method.
fn handler(id: &str, method: MethodFilter) -> Option<MethodRouter<Arc<SimState>>> {
    Some(match id {
        "application_token" => on(method, tokens::application_token),
        "scoped_token_create" => on(method, tokens::scoped_token),
        "scoped_token_info" => on(method, tokens::scoped_token_info),
        "widget_token_create" => on(method, tokens::widget_token),
        "sources_create" => on(method, sources::create),
        "sources_list" => on(method, sources::list),
        "source_get" => on(method, sources::get),
        "source_update" => on(method, sources::update),
        "source_delete" => on(method, sources::delete),
        "source_templates_list" => on(method, templates::list),
        "source_template_create" => on(method, templates::create),
        "source_template_get" => on(method, templates::get),
        "source_template_patch" => on(method, templates::patch),
        "source_template_delete" => on(method, templates::delete),
        "source_template_tag_add" => on(method, templates::tag),
        "source_template_tag_remove" => on(method, templates::untag),
        "connection_templates_list" => on(method, connection_templates::list),
        "connection_template_create" => on(method, connection_templates::create),
        "connection_template_get" => on(method, connection_templates::get),
        "connection_template_patch" => on(method, connection_templates::patch),
        "connection_template_delete" => on(method, connection_templates::delete),
        "connection_template_tag_add" => on(method, connection_templates::tag),
        "connection_template_tag_remove" => on(method, connection_templates::untag),
        "cron_describe" => on(method, connection_templates::describe_cron),
        "template_tags_create" => on(method, tags::create),
        "template_tags_list" => on(method, tags::list),
        "template_tag_rename" => on(method, tags::rename),
        "template_tag_delete" => on(method, tags::delete),
        "workspaces_list" => on(method, workspaces::list),
        "workspace_stats" => on(method, workspaces::stats),
        "workspace_get" => on(method, workspaces::get),
        "workspace_update" => on(method, workspaces::update),
        "workspace_delete" => on(method, workspaces::delete),
        _ => return None,
    })
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        other => panic!("reference/api.yaml uses an unknown method {other}"),
    }
}

/// Routes every operation of the reference at its paths. Deprecated paths are left out when
/// `deprecated_paths` is off, so they answer 404 like a removed path.
pub fn router(state: &SimState) -> Router<Arc<SimState>> {
    let mut paths: BTreeMap<String, MethodRouter<Arc<SimState>>> = BTreeMap::new();
    for operation in &state.reference.operations {
        let method = method_filter(&operation.method);
        let older = !operation.deprecated_paths.is_empty();
        let mut at = Vec::new();
        if state.modes().current_paths || !older {
            at.push(operation.path.clone());
        }
        if state.modes().deprecated_paths || !state.modes().current_paths {
            at.extend(operation.deprecated_paths.iter().cloned());
        }
        for path in at {
            let Some(route) = handler(&operation.id, method) else {
                panic!("no handler for operation {}", operation.id);
            };
            let merged = match paths.remove(&path) {
                Some(existing) => existing.merge(route),
                None => route,
            };
            paths.insert(path, merged);
        }
    }
    let mut router = Router::new();
    for (path, route) in paths {
        router = router.route(&path, route);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found(State(state): State<Arc<SimState>>) -> Response {
    render(
        &SimError::NotFound("Not Found".into()),
        state.modes().error_shape,
        state.modes().auth_failure,
    )
}

async fn method_not_allowed(State(state): State<Arc<SimState>>, method: Method) -> Response {
    render(
        &SimError::Status {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("Method Not Allowed ({method})"),
            retry_after: None,
        },
        state.modes().error_shape,
        state.modes().auth_failure,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_of_the_reference_has_a_handler() {
        let state = crate::state::SimState::new(crate::state::SimConfig::default()).unwrap();
        for operation in &state.reference.operations {
            assert!(
                super::handler(&operation.id, super::method_filter(&operation.method)).is_some(),
                "{}",
                operation.id
            );
        }
    }
}
