//! MCP server instances on the wire. AgentArea's `json_spec` maps onto the instance kinds:
//! `docker` -> `managed`, `url` -> `remote`, `compound` -> `compound`.
//!
//! The bodies are in `wire.rs`; what they become in an `McpServerInstance` (the instance to
//! create, the merge patches of updates, stopping and starting) and what an instance looks like
//! as a response in `convert.rs`; `json_spec` as clients send it, with or without `type`, resolved
//! to one kind in `json_spec.rs`. Its list has no filters, so there is no `filter.rs`.

mod convert;
mod json_spec;
mod wire;

pub use convert::{Members, env_names, suspend_patch};
pub use wire::{
    CompoundMemberBody, DesiredState, InstanceCreate, InstanceResponse, InstanceUpdate, JsonSpec,
    JsonSpecBody, SpecKind, ToolAnnotationsResponse, ToolResponse,
};
