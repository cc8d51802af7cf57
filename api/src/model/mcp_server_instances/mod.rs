//! MCP server instances on the wire. AgentArea's `json_spec` maps onto the instance kinds:
//! `docker` -> `managed`, `url` -> `remote`, `compound` -> `compound`.
//!
//! The bodies are in `wire.rs`; what they become in an `McpServerInstance` (the instance to
//! create, the merge patches of updates, stopping and starting) and what an instance looks like
//! as a response in `convert.rs`. Its list has no filters, so there is no `filter.rs`.

mod convert;
mod wire;

pub use convert::{Members, env_names, suspend_patch};
pub use wire::{
    CompoundMemberBody, DesiredState, InstanceCreate, InstanceResponse, InstanceUpdate, JsonSpec,
    ToolAnnotationsResponse, ToolResponse,
};
