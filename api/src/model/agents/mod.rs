//! Agents on the wire: AgentArea's agent bodies and their mapping onto `Agent` resources.
//!
//! The bodies are in `wire.rs`; what they become in an `Agent` (the spec of a create, the merge
//! patch of an update) and what an `Agent` looks like as a response ([`present`]) in
//! `convert.rs`; the list's query parameters in `filter.rs`.

mod convert;
mod filter;
mod wire;

pub use convert::{References, present};
pub use filter::AgentListParams;
pub use wire::{
    AgentCreate, AgentResponse, AgentUpdate, AllowedToolConfig, BuiltinToolConfig,
    CallableAgentConfig, EventConfigItem, EventsConfig, McpServerConfig, ToolApprovalConfig,
    ToolsConfig,
};
