//! The skill bodies of `/v1/skills`, as clients send and receive them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::constraints::Name;

/// The MCP tools a skill needs from one server instance.
#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct SkillToolsBody {
    /// Name of the MCP server instance.
    pub instance: String,
    pub tools: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
pub struct SkillParameterBody {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `string`, `number`, `integer`, `boolean`, `object` or `array`.
    // A plain string on the wire, read into the CRD's `ParameterType` after the api's own check.
    #[serde(default = "string_type", rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub required: bool,
    /// Any JSON value.
    #[serde(default)]
    pub default: Option<Value>,
}

fn string_type() -> String {
    "string".into()
}

#[derive(Deserialize, Debug, ToSchema)]
#[schema(example = json!({
    "name": "summarize", "instructions": "Summarize in three bullet points.",
    "parameters": [{ "name": "audience", "type": "string" }],
}))]
pub struct SkillCreate {
    pub name: Name,
    #[serde(default)]
    pub description: Option<String>,
    /// Instructions added to an agent's instruction when it takes the skill on.
    pub instructions: String,
    #[serde(default)]
    pub tools: Vec<SkillToolsBody>,
    #[serde(default)]
    pub parameters: Vec<SkillParameterBody>,
}

#[derive(Deserialize, Debug, ToSchema)]
pub struct SkillUpdate {
    pub name: Option<Name>,
    pub description: Option<String>,
    pub instructions: Option<String>,
    pub tools: Option<Vec<SkillToolsBody>>,
    pub parameters: Option<Vec<SkillParameterBody>>,
}

#[derive(Serialize, Debug, ToSchema)]
pub struct SkillResponse {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub instructions: String,
    pub tools: Vec<SkillToolsBody>,
    pub parameters: Vec<SkillParameterBody>,
    /// Whether every tool the skill needs is offered.
    pub ready: bool,
    pub status_message: Option<String>,
    /// Agents that use the skill.
    pub used_by: Vec<String>,
    pub missing_tools: Vec<String>,
    pub k8s_name: String,
    pub created_by: Option<String>,
    /// The GitOps engine that applies it from Git ("Flux Kustomization ws-team-a/agents"):
    /// changed in Git, not here (PATCH and DELETE answer 409). Null when the api may change it.
    pub managed_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}
