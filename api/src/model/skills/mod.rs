//! Skills on the wire: AgentArea's skill bodies and their mapping onto `Skill` resources.
//!
//! The bodies are in `wire.rs`; what they become in a `Skill` (the skill to create, the merge
//! patches of updates) and what a `Skill` looks like as a response in `convert.rs`. Its list has
//! no filters, so there is no `filter.rs`.

mod convert;
mod wire;

pub use wire::{SkillCreate, SkillParameterBody, SkillResponse, SkillToolsBody, SkillUpdate};
