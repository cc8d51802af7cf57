//! Triggers on the wire: AgentArea's trigger bodies and their mapping onto `Trigger` resources,
//! including the Secret that keeps a webhook trigger's HMAC key (made from [`NewTrigger`] by the
//! routes, with [`crate::model::webhooks`]).
//!
//! The bodies are in `wire.rs`; what they become in a `Trigger` (the trigger to create, the merge
//! patches of updates) and what a `Trigger` looks like as a response ([`present`],
//! [`executions`]) in `convert.rs`; the list's query parameters in `filter.rs`.

mod convert;
mod filter;
mod wire;

pub use convert::{NewTrigger, enabled_patch, executions, present, toggled, trigger_type};
pub use filter::TriggerListParams;
pub use wire::{
    ExecutionHistoryResponse, ExecutionListParams, ExecutionResponse, TriggerCreate,
    TriggerResponse, TriggerToggleResponse, TriggerType, TriggerUpdate,
};
