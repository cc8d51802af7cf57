//! What a list of triggers can be narrowed to, and its page.

use serde::Deserialize;
use utoipa::IntoParams;

use agentarea_crds::Trigger;

use super::convert::trigger_type;
use crate::constraints::{Cursor, Limit, Offset};
use crate::resources::PageParams;

#[derive(Deserialize, Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TriggerListParams {
    pub agent_id: Option<String>,
    /// `cron`, `webhook` or `event`.
    // A string rather than `TriggerType`: a word that is none of those matches no trigger, it is
    // not refused.
    pub trigger_type: Option<String>,
    pub active_only: Option<bool>,
    /// Items per page (default 100).
    #[param(inline)]
    pub limit: Option<Limit>,
    /// Items to skip (ignored when `cursor` is given).
    #[param(inline)]
    pub offset: Option<Offset>,
    /// The `X-Next-Cursor` of the previous page.
    #[param(inline)]
    pub cursor: Option<Cursor>,
}

impl TriggerListParams {
    /// Whether `trigger` passes the filters; `agent` is the agent's object name, already resolved.
    pub fn matches(&self, trigger: &Trigger, agent: Option<&str>) -> bool {
        agent.is_none_or(|a| trigger.spec.agent == a)
            && self
                .trigger_type
                .as_deref()
                .is_none_or(|ty| trigger_type(&trigger.spec) == ty)
            && (!self.active_only.unwrap_or(false) || trigger.spec.enabled)
    }

    pub fn page(self) -> PageParams {
        PageParams {
            limit: self.limit,
            offset: self.offset,
            cursor: self.cursor,
        }
    }
}
