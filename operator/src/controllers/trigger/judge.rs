//! Whether a schedule run or an event may start its Task, by the trigger's `conditions`. Rules
//! are decided at once (`agentarea_crds::trigger::conditions`, pure); each natural-language
//! condition is first put to the model of the trigger's agent (its endpoint, key and egress
//! policy, as the agent's Tasks call it), and the model's verdict and reason go into the
//! decision. A model that cannot be asked, or whose answer cannot be read, holds the firing
//! back, saying why: a condition nobody could judge is not a match.

use kube::Api;
use serde_json::Value;

use agentarea_crds::trigger::conditions::{self, Decision, Judgement, LlmCondition};
use agentarea_crds::{Agent, Trigger};

use crate::context::Context;
use crate::controllers::task::run::model_call::{client_for, model_endpoint};
use crate::model::{self, Message, ModelEndpoint};

/// Decides whether the firing whose context is `context` matches `trigger`'s conditions.
pub async fn decide(ctx: &Context, trigger: &Trigger, context: &Value) -> Decision {
    let condition = match conditions::parse(trigger.spec.conditions.as_ref()) {
        Ok(condition) => condition,
        Err(error) => return held_back(error),
    };
    let asked = conditions::llm_conditions(&condition);
    let mut judgements = Vec::with_capacity(asked.len());
    if !asked.is_empty() {
        let namespace = trigger.metadata.namespace.clone().unwrap_or_default();
        let endpoint = match judge_endpoint(ctx, trigger, &namespace).await {
            Ok(endpoint) => endpoint,
            Err(why) => return held_back(why),
        };
        for llm in asked {
            judgements.push(judge(ctx, &namespace, &endpoint, llm, context).await);
        }
    }
    conditions::evaluate(&condition, context, &judgements)
}

fn held_back(reason: String) -> Decision {
    Decision {
        matched: false,
        reason,
    }
}

/// The model that judges: the trigger's agent's.
async fn judge_endpoint(
    ctx: &Context,
    trigger: &Trigger,
    namespace: &str,
) -> Result<ModelEndpoint, String> {
    let agent = Api::<Agent>::namespaced(ctx.client.clone(), namespace)
        .get(&trigger.spec.agent)
        .await
        .map_err(|e| {
            format!(
                "the conditions could not be judged: agent {} could not be read: {e}",
                trigger.spec.agent
            )
        })?;
    model_endpoint(ctx, &agent, namespace)
        .await
        .map_err(|problem| format!("the conditions could not be judged: {}", problem.message))
}

async fn judge(
    ctx: &Context,
    namespace: &str,
    endpoint: &ModelEndpoint,
    condition: &LlmCondition,
    context: &Value,
) -> Judgement {
    let (http, egress) = client_for(ctx, namespace, endpoint).await;
    let messages = [Message::user(conditions::prompt(condition, context))];
    match model::complete(&http, egress.as_ref(), endpoint, &messages, &[]).await {
        Ok(completion) => {
            conditions::parse_judgement(completion.message.content.as_deref().unwrap_or(""))
        }
        Err(error) => Judgement {
            matched: false,
            reason: format!("the model could not be asked: {error}"),
        },
    }
}
