//! What a list of agents can be narrowed to.

use serde::Deserialize;
use utoipa::IntoParams;

use agentarea_crds::Agent;

use crate::auth::Identity;
use crate::resources::created_by;

#[derive(Deserialize, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentListParams {
    /// `me`: only agents the caller created.
    pub created_by: Option<String>,
}

impl AgentListParams {
    pub fn matches(&self, agent: &Agent, caller: &Identity) -> bool {
        self.created_by.as_deref() != Some("me")
            || created_by(&agent.metadata).as_deref() == Some(caller.subject.as_str())
    }
}
