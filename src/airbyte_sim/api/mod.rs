//! The simulated Airbyte Embedded API routes.

mod sources;
mod templates;
mod tokens;
mod workspaces;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};

use super::state::SimState;

pub use templates::tags_match;
pub use tokens::valid_origin;

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/api/v1/account/applications/token",
            post(tokens::application_token),
        )
        .route("/api/v1/embedded/scoped-token", post(tokens::scoped_token))
        .route(
            "/api/v1/embedded/scoped-token/info",
            get(tokens::scoped_token_info),
        )
        .route("/api/v1/embedded/widget-token", post(tokens::widget_token))
        .route(
            "/api/v1/integrations/templates/sources",
            get(templates::list_sources).post(templates::create_source),
        )
        .route(
            "/api/v1/integrations/templates/sources/{id}",
            get(templates::get_source)
                .patch(templates::patch_source)
                .delete(templates::delete_source),
        )
        .route(
            "/api/v1/integrations/templates/sources/{id}/tags",
            post(templates::add_source_tag),
        )
        .route(
            "/api/v1/integrations/templates/sources/{id}/tags/{tag}",
            delete(templates::remove_source_tag),
        )
        .route(
            "/api/v1/integrations/templates/connections",
            get(templates::list_connections).post(templates::create_connection),
        )
        .route(
            "/api/v1/integrations/templates/connections/{id}",
            get(templates::get_connection)
                .patch(templates::patch_connection)
                .delete(templates::delete_connection),
        )
        .route(
            "/api/v1/integrations/templates/connections/{id}/tags",
            post(templates::add_connection_tag),
        )
        .route(
            "/api/v1/integrations/templates/connections/{id}/tags/{tag}",
            delete(templates::remove_connection_tag),
        )
        .route(
            "/api/v1/integrations/templates/tags",
            get(templates::list_tags).post(templates::create_tag),
        )
        .route(
            "/api/v1/integrations/templates/tags/{name}",
            put(templates::rename_tag).delete(templates::delete_tag),
        )
        .route(
            "/api/v1/embedded/sources",
            get(sources::list).post(sources::create),
        )
        .route(
            "/api/v1/embedded/sources/{id}",
            get(sources::get)
                .patch(sources::patch)
                .delete(sources::delete),
        )
        .route("/api/v1/workspaces", get(workspaces::list))
        .route("/api/v1/workspaces/stats", get(workspaces::stats))
        .route(
            "/api/v1/workspaces/{id}",
            get(workspaces::get)
                .put(workspaces::update)
                .delete(workspaces::delete),
        )
}
