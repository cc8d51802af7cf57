//! The `/v1` routes, one module per resource group, and the router that joins them.

pub mod agent_tasks;
pub mod agents;
pub mod events;
pub mod export;
pub mod mcp_server_instances;
pub mod me;
pub mod skills;
pub mod tasks;
pub mod triggers;
pub mod webhooks;

use axum::Router;

use crate::state::AppState;

/// Every `/v1` route.
pub fn v1() -> Router<AppState> {
    Router::new()
        .merge(agents::router())
        .merge(skills::router())
        .merge(tasks::router())
        .merge(agent_tasks::router())
        .merge(mcp_server_instances::router())
        .merge(triggers::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(me::router())
        .merge(export::router())
}
