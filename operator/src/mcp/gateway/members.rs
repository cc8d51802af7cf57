//! The members of a compound as one client session sees them: a session with each, who offers
//! which prompt, resource and resource template (as last listed in the session), and the
//! compound's capabilities as the union of theirs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::RoleServer;
use rmcp::model::*;
use rmcp::service::RequestContext;

use crate::mcp::relay::{self, Shared, UpstreamSession};
use crate::sync::lock;

/// A member of the compound, as one client session sees it.
pub(super) struct Member {
    pub(super) name: String,
    pub(super) prefix: String,
    pub(super) session: Arc<UpstreamSession>,
    pub(super) shared: Shared,
}

impl Member {
    pub(super) fn capabilities(&self) -> ServerCapabilities {
        self.session
            .peer_info()
            .map(|info| info.capabilities.clone())
            .unwrap_or_default()
    }

    pub(super) async fn forward(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        relay::forward_request(&self.session, &self.shared, request, context).await
    }
}

/// A client session joined to its compound's members.
pub(super) struct Joined {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) members: Vec<Member>,
    /// Who offers what, as last listed in this session: exposed prompt name -> (member, its name
    /// for the prompt); resource URI -> member; URI template -> member.
    pub(super) prompts: Mutex<HashMap<String, (usize, String)>>,
    pub(super) resources: Mutex<HashMap<String, usize>>,
    pub(super) templates: Mutex<Vec<(String, usize)>>,
}

impl Joined {
    pub(super) fn member(&self, name: &str) -> Result<&Member, ErrorData> {
        self.members.iter().find(|m| m.name == name).ok_or_else(|| {
            ErrorData::internal_error(
                format!(
                    "member {name} of {}/{} cannot be reached",
                    self.namespace, self.name
                ),
                None,
            )
        })
    }

    /// The members that declared `capability`, with their index.
    fn offering(
        &self,
        capability: impl Fn(&ServerCapabilities) -> bool,
    ) -> impl Iterator<Item = (usize, &Member)> {
        self.members
            .iter()
            .enumerate()
            .filter(move |(_, m)| capability(&m.capabilities()))
    }

    pub(super) async fn list_prompts(&self) -> Result<ServerResult, ErrorData> {
        let mut listed = Vec::new();
        let mut owners = HashMap::new();
        for (index, member) in self.offering(|c| c.prompts.is_some()) {
            let prompts = member
                .session
                .peer()
                .list_all_prompts()
                .await
                .map_err(relay::relayed_error)?;
            for mut prompt in prompts {
                let exposed = format!("{}{}", member.prefix, prompt.name);
                if owners.contains_key(&exposed) {
                    continue; // the first member to offer a name keeps it, as for tools
                }
                owners.insert(exposed.clone(), (index, prompt.name.clone()));
                prompt.name = exposed;
                listed.push(prompt);
            }
        }
        *lock(&self.prompts) = owners;
        Ok(ListPromptsResult::with_all_items(listed).into())
    }

    /// The member offering prompt `exposed`, and its own name for it.
    pub(super) async fn prompt_owner(&self, exposed: &str) -> Result<(&Member, String), ErrorData> {
        if !lock(&self.prompts).contains_key(exposed) {
            self.list_prompts().await?;
        }
        let owner = lock(&self.prompts).get(exposed).cloned();
        match owner {
            Some((index, own)) => Ok((&self.members[index], own)),
            None => Err(ErrorData::invalid_params(
                format!("no prompt {exposed}"),
                None,
            )),
        }
    }

    pub(super) async fn list_resources(&self) -> Result<ServerResult, ErrorData> {
        let mut listed = Vec::new();
        let mut owners = HashMap::new();
        for (index, member) in self.offering(|c| c.resources.is_some()) {
            let resources = member
                .session
                .peer()
                .list_all_resources()
                .await
                .map_err(relay::relayed_error)?;
            for resource in resources {
                // A URI two members list is one resource to the client: the first member's.
                if let std::collections::hash_map::Entry::Vacant(owner) =
                    owners.entry(resource.uri.clone())
                {
                    owner.insert(index);
                    listed.push(resource);
                }
            }
        }
        *lock(&self.resources) = owners;
        Ok(ListResourcesResult::with_all_items(listed).into())
    }

    pub(super) async fn list_templates(&self) -> Result<ServerResult, ErrorData> {
        let mut listed = Vec::new();
        let mut owners = Vec::new();
        for (index, member) in self.offering(|c| c.resources.is_some()) {
            let templates = member
                .session
                .peer()
                .list_all_resource_templates()
                .await
                .map_err(relay::relayed_error)?;
            for template in templates {
                owners.push((template.uri_template.clone(), index));
                listed.push(template);
            }
        }
        *lock(&self.templates) = owners;
        Ok(ListResourceTemplatesResult::with_all_items(listed).into())
    }

    /// A request about resource `uri`: to the member known to serve it, else to each member that
    /// serves resources in turn, until one answers.
    pub(super) async fn by_uri(
        &self,
        uri: &str,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let known = lock(&self.resources).get(uri).copied().or_else(|| {
            lock(&self.templates)
                .iter()
                .find(|(template, _)| template_matches(template, uri))
                .map(|(_, index)| *index)
        });
        if let Some(index) = known {
            return self.members[index].forward(request, context).await;
        }
        let mut first_error = None;
        let candidates: Vec<usize> = self
            .offering(|c| c.resources.is_some())
            .map(|(index, _)| index)
            .collect();
        for index in candidates {
            match self.members[index]
                .forward(request.clone(), context.clone())
                .await
            {
                Ok(result) => {
                    lock(&self.resources).insert(uri.to_string(), index);
                    return Ok(result);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error
            .unwrap_or_else(|| ErrorData::resource_not_found(format!("no resource {uri}"), None)))
    }

    /// `logging/setLevel`: every member that logs.
    #[allow(deprecated)] // still what clients send (SEP-2577 is not yet final)
    pub(super) async fn set_level(
        &self,
        request: SetLevelRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let loggers: Vec<&Member> = self
            .offering(|c| c.logging.is_some())
            .map(|(_, m)| m)
            .collect();
        for member in loggers {
            member
                .forward(request.clone().into(), context.clone())
                .await?;
        }
        Ok(ServerResult::empty(()))
    }

    /// `completion/complete`: to the owner of the prompt or the resource template referred to.
    pub(super) async fn complete(
        &self,
        mut request: CompleteRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let member = match &mut request.params.r#ref {
            Reference::Prompt(prompt) => {
                let (member, own) = self.prompt_owner(&prompt.name).await?;
                prompt.name = own;
                member
            }
            Reference::Resource(resource) => {
                if lock(&self.templates).is_empty() {
                    self.list_templates().await?;
                }
                let owner = lock(&self.templates)
                    .iter()
                    .find(|(template, _)| *template == resource.uri)
                    .map(|(_, index)| *index);
                match owner {
                    Some(index) => &self.members[index],
                    None => {
                        return Err(ErrorData::invalid_params(
                            format!("no resource template {}", resource.uri),
                            None,
                        ));
                    }
                }
            }
            _ => {
                return Err(ErrorData::invalid_params(
                    "a completion reference of a kind this gateway does not know",
                    None,
                ));
            }
        };
        member.forward(request.into(), context).await
    }
}

/// Whether `uri` could come from RFC 6570 `template`: the literal text before the first
/// expression matches, which is what tells members' URI schemes and hosts apart.
fn template_matches(template: &str, uri: &str) -> bool {
    let literal = template.split('{').next().unwrap_or_default();
    !literal.is_empty() && uri.starts_with(literal)
}

/// The compound's capabilities: what any of its members offers, tools always.
pub(super) fn merged_capabilities(members: &[ServerCapabilities]) -> ServerCapabilities {
    let mut merged = ServerCapabilities::builder().enable_tools().build();
    for capabilities in members {
        merged.logging = merged
            .logging
            .take()
            .or_else(|| capabilities.logging.clone());
        merged.completions = merged
            .completions
            .take()
            .or_else(|| capabilities.completions.clone());
        if let Some(prompts) = &capabilities.prompts {
            let listed = merged.prompts.get_or_insert_with(Default::default);
            listed.list_changed =
                Some(listed.list_changed.unwrap_or(false) || prompts.list_changed.unwrap_or(false));
        }
        if let Some(resources) = &capabilities.resources {
            let listed = merged.resources.get_or_insert_with(Default::default);
            listed.subscribe =
                Some(listed.subscribe.unwrap_or(false) || resources.subscribe.unwrap_or(false));
            listed.list_changed = Some(
                listed.list_changed.unwrap_or(false) || resources.list_changed.unwrap_or(false),
            );
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_templates_match_by_their_literal_start() {
        let cases = [
            (
                "demo://resource/static/{id}",
                "demo://resource/static/7",
                true,
            ),
            (
                "demo://resource/static/{id}",
                "demo://resource/dynamic/7",
                false,
            ),
            ("file:///{path}", "file:///etc/hosts", true),
            ("{+anything}", "demo://x", false),
        ];
        for (template, uri, matches) in cases {
            assert_eq!(template_matches(template, uri), matches, "{template} {uri}");
        }
    }

    #[test]
    #[allow(deprecated)] // enable_logging: members still declare it
    fn capabilities_are_the_union_of_the_members() {
        let tools_only = ServerCapabilities::builder().enable_tools().build();
        let everything = ServerCapabilities::builder()
            .enable_tools()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_resources_subscribe()
            .build();
        let cases: [(&[ServerCapabilities], bool, bool, bool); 3] = [
            (&[], false, false, false),
            (std::slice::from_ref(&tools_only), false, false, false),
            (&[tools_only.clone(), everything], true, true, true),
        ];
        for (members, logging, prompts, subscribe) in cases {
            let merged = merged_capabilities(members);
            assert!(merged.tools.is_some());
            assert_eq!(merged.logging.is_some(), logging);
            assert_eq!(merged.prompts.is_some(), prompts);
            let subscribes = merged.resources.and_then(|r| r.subscribe).unwrap_or(false);
            assert_eq!(subscribes, subscribe);
        }
    }
}
