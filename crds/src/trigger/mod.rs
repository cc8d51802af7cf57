//! `Trigger`: starts Tasks for an agent on a schedule, on a signed webhook, or on another
//! resource's event. Which firings start one is decided by [`conditions`].
//!
//! | module | what it owns |
//! | --- | --- |
//! | `spec` | the custom resource: spec and status |
//! | `firing` | what a firing is, its context and the Task it creates |
//! | `record` | the bounded records of firings, and recording a skipped one |
//! | [`conditions`] | which firings start a Task |

pub mod conditions;
mod firing;
mod record;
mod spec;

pub use firing::{Delivery, Firing};
pub use record::{MAX_EXECUTIONS, push_newest, record_skipped_firings, skipped};
pub use spec::*;
