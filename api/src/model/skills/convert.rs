//! Skill bodies -> the `Skill` to create and the merge patches of updates; a `Skill` -> its REST
//! shape.

use kube::ResourceExt;
use serde_json::{Map, Value, json};

use agentarea_crds::common::{DISPLAY_NAME_ANNOTATION, condition, is_condition_true};
use agentarea_crds::skill::{SkillParameter, SkillTools};
use agentarea_crds::{Skill, SkillSpec};

use super::wire::{SkillCreate, SkillParameterBody, SkillResponse, SkillToolsBody, SkillUpdate};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult};
use crate::model::{crd_word, from_json, not_ready_message};
use crate::resources::{created_by, display_name, new_metadata, object_name_for, timestamps};

/// The CRD's `ParameterType` words, checked here first so that a wrong one is refused with a
/// message that lists them.
const PARAMETER_TYPES: [&str; 6] = ["string", "number", "integer", "boolean", "object", "array"];

impl SkillCreate {
    /// The Skill to create, after checking the body.
    pub fn into_skill(self, namespace: &str, caller: &Identity) -> ApiResult<Skill> {
        let (name, display) = object_name_for(&self.name);
        Ok(Skill {
            metadata: new_metadata(name, display, namespace, caller),
            spec: SkillSpec {
                description: self.description,
                instructions: self.instructions,
                tools: skill_tools(self.tools)?,
                parameters: parameters(self.parameters)?,
            },
            status: None,
        })
    }
}

impl SkillUpdate {
    /// A merge patch of the fields given; the rest stay.
    pub fn into_patch(self) -> ApiResult<Value> {
        let mut spec = Map::new();
        if let Some(description) = self.description {
            spec.insert("description".into(), json!(description));
        }
        if let Some(instructions) = self.instructions {
            spec.insert("instructions".into(), json!(instructions));
        }
        if let Some(tools) = self.tools {
            spec.insert("tools".into(), json!(skill_tools(tools)?));
        }
        if let Some(parameters) = self.parameters {
            spec.insert("parameters".into(), json!(self::parameters(parameters)?));
        }
        let mut patch = json!({ "spec": spec });
        if let Some(name) = self.name {
            patch["metadata"] = json!({ "annotations": { DISPLAY_NAME_ANNOTATION: name } });
        }
        Ok(patch)
    }
}

fn skill_tools(tools: Vec<SkillToolsBody>) -> ApiResult<Vec<SkillTools>> {
    from_json(json!(tools)).map_err(|e| ApiError::unprocessable(format!("tools{}", e.detail)))
}

fn parameters(parameters: Vec<SkillParameterBody>) -> ApiResult<Vec<SkillParameter>> {
    if let Some(i) = parameters
        .iter()
        .position(|p| !PARAMETER_TYPES.contains(&p.type_.as_str()))
    {
        return Err(ApiError::unprocessable(format!(
            "parameters[{i}].type: must be one of {}",
            PARAMETER_TYPES.join(", ")
        )));
    }
    from_json(json!(parameters))
        .map_err(|e| ApiError::unprocessable(format!("parameters{}", e.detail)))
}

impl From<&Skill> for SkillResponse {
    fn from(skill: &Skill) -> Self {
        let status = skill.status.as_ref();
        let conditions = status.map(|s| &s.conditions);
        let (created_at, updated_at) = timestamps(&skill.metadata);
        SkillResponse {
            id: skill.uid().unwrap_or_default(),
            name: display_name(&skill.metadata),
            description: skill.spec.description.clone(),
            instructions: skill.spec.instructions.clone(),
            tools: skill
                .spec
                .tools
                .iter()
                .map(|t| SkillToolsBody {
                    instance: t.instance.clone(),
                    tools: t.tools.clone(),
                })
                .collect(),
            parameters: skill.spec.parameters.iter().map(parameter_body).collect(),
            ready: is_condition_true(conditions, condition::READY),
            status_message: not_ready_message(conditions),
            used_by: status.map(|s| s.used_by.clone()).unwrap_or_default(),
            missing_tools: status.map(|s| s.missing_tools.clone()).unwrap_or_default(),
            k8s_name: skill.name_any(),
            created_by: created_by(&skill.metadata),
            managed_by: crate::gitops::managed_by(&skill.metadata),
            created_at,
            updated_at,
        }
    }
}

fn parameter_body(parameter: &SkillParameter) -> SkillParameterBody {
    SkillParameterBody {
        name: parameter.name.clone(),
        description: parameter.description.clone(),
        type_: crd_word(parameter.type_).unwrap_or_default(),
        required: parameter.required,
        default: parameter.default.clone(),
    }
}
