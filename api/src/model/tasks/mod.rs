//! Tasks on the wire: AgentArea's task bodies, their run events, and the mapping onto `Task`
//! resources.
//!
//! The bodies are in `wire.rs`; what they become in a `Task` (the task to create, the patches
//! of approving, pausing and cancelling) and what a `Task` looks like as a response
//! ([`present`], [`rest_status`], [`event_page`]) in `convert.rs`; the list's query parameters
//! in `filter.rs`; AgentArea's answers about an execution (its `result` object, the status
//! route, the action routes' bodies and refusals) in `actions.rs`.

mod actions;
mod convert;
mod filter;
mod phase;
mod wire;

pub use actions::{TaskAction, acknowledgement, refusal};
pub use convert::{
    TaskIds, approval_patch, cancel_patch, check_cancellable, event_page, pause_patch, present,
    status_report, steps,
};
pub use filter::{StatusFilter, TaskListParams};
pub use phase::{phase, rest_status};
pub use wire::{
    AgentTaskCreate, ApprovalCreate, ApprovalResponse, PendingApprovalResponse, TaskActionResponse,
    TaskCreate, TaskEventPage, TaskEventParams, TaskEventResponse, TaskResponse, TaskResult,
    TaskStatusResponse,
};
