//! Whether a call to one of an agent's tools waits for a person's approval, decided from how the
//! agent lists the tool, the hints its server declares, and the agent's `spec.toolApproval`.

use agentarea_crds::agent::{ToolAnnotations, ToolApprovalPolicy};

/// Whether calls to a tool need approval, and why in a short phrase for people.
///
/// `listed_confirmation` (the agent lists the tool with `requiresUserConfirmation: true`) always
/// requires it. Otherwise `policy` decides from `annotations`, a hint the server left out (or all
/// of them, when it gave no annotations) counting as MCP's default: not read-only, destructive.
pub fn approval_for(
    listed_confirmation: bool,
    annotations: Option<&ToolAnnotations>,
    policy: ToolApprovalPolicy,
) -> (bool, String) {
    if listed_confirmation {
        return (true, "listed with requiresUserConfirmation".into());
    }
    let hints = annotations.copied().unwrap_or_default();
    // What an absent hint is taken for, and that it was taken so.
    let absent = |hint: &str, default: &str| match annotations {
        None => format!("no annotations: {default} by MCP default"),
        Some(_) => format!("no {hint}: {default} by MCP default"),
    };
    let (required, why) = match policy {
        ToolApprovalPolicy::None => return (false, "policy None".into()),
        ToolApprovalPolicy::All => return (true, "policy All".into()),
        ToolApprovalPolicy::NotReadOnly => match hints.read_only_hint {
            Some(true) => (false, "readOnlyHint".into()),
            Some(false) => (true, "readOnlyHint false".into()),
            None => (true, absent("readOnlyHint", "not read-only")),
        },
        // `destructiveHint` means something only for a tool that is not read-only.
        ToolApprovalPolicy::Destructive => match (hints.read_only_hint, hints.destructive_hint) {
            (Some(true), _) => (false, "readOnlyHint".into()),
            (_, Some(false)) => (false, "destructiveHint false".into()),
            (_, Some(true)) => (true, "destructiveHint".into()),
            (_, None) => (true, absent("destructiveHint", "destructive")),
        },
    };
    (required, format!("{why} (policy {})", policy.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(readOnlyHint, destructiveHint)`; `None` for a tool without annotations.
    type Hints = Option<(Option<bool>, Option<bool>)>;

    struct Case {
        name: &'static str,
        listed: bool,
        hints: Hints,
        policy: ToolApprovalPolicy,
        required: bool,
        reason: &'static str,
    }

    const fn case(
        name: &'static str,
        listed: bool,
        hints: Hints,
        policy: ToolApprovalPolicy,
        required: bool,
        reason: &'static str,
    ) -> Case {
        Case {
            name,
            listed,
            hints,
            policy,
            required,
            reason,
        }
    }

    use ToolApprovalPolicy::{All, Destructive, NotReadOnly};

    const READ_ONLY: Hints = Some((Some(true), None));
    const WRITES: Hints = Some((Some(false), Some(false)));
    const DESTROYS: Hints = Some((Some(false), Some(true)));
    const ONLY_IDEMPOTENT: Hints = Some((None, None));
    const NO_ANNOTATIONS: Hints = None;

    const CASES: &[Case] = &[
        case(
            "listed with confirmation, whatever the hints and the policy",
            true,
            READ_ONLY,
            ToolApprovalPolicy::None,
            true,
            "listed with requiresUserConfirmation",
        ),
        case(
            "listed with confirmation under a policy that would not ask",
            true,
            READ_ONLY,
            Destructive,
            true,
            "listed with requiresUserConfirmation",
        ),
        case(
            "policy None asks for nothing, not even for a destructive tool",
            false,
            DESTROYS,
            ToolApprovalPolicy::None,
            false,
            "policy None",
        ),
        case(
            "policy All asks even for a read-only tool",
            false,
            READ_ONLY,
            All,
            true,
            "policy All",
        ),
        case(
            "Destructive: a read-only tool",
            false,
            READ_ONLY,
            Destructive,
            false,
            "readOnlyHint (policy Destructive)",
        ),
        case(
            "Destructive: read-only wins over a destructiveHint it makes meaningless",
            false,
            Some((Some(true), Some(true))),
            Destructive,
            false,
            "readOnlyHint (policy Destructive)",
        ),
        case(
            "Destructive: a tool that only adds",
            false,
            WRITES,
            Destructive,
            false,
            "destructiveHint false (policy Destructive)",
        ),
        case(
            "Destructive: a destructive tool",
            false,
            DESTROYS,
            Destructive,
            true,
            "destructiveHint (policy Destructive)",
        ),
        case(
            "Destructive: annotations without destructiveHint count as destructive",
            false,
            ONLY_IDEMPOTENT,
            Destructive,
            true,
            "no destructiveHint: destructive by MCP default (policy Destructive)",
        ),
        case(
            "Destructive: no annotations count as destructive",
            false,
            NO_ANNOTATIONS,
            Destructive,
            true,
            "no annotations: destructive by MCP default (policy Destructive)",
        ),
        case(
            "NotReadOnly: a read-only tool",
            false,
            READ_ONLY,
            NotReadOnly,
            false,
            "readOnlyHint (policy NotReadOnly)",
        ),
        case(
            "NotReadOnly: a tool that only adds",
            false,
            WRITES,
            NotReadOnly,
            true,
            "readOnlyHint false (policy NotReadOnly)",
        ),
        case(
            "NotReadOnly: annotations without readOnlyHint count as not read-only",
            false,
            ONLY_IDEMPOTENT,
            NotReadOnly,
            true,
            "no readOnlyHint: not read-only by MCP default (policy NotReadOnly)",
        ),
        case(
            "NotReadOnly: no annotations count as not read-only",
            false,
            NO_ANNOTATIONS,
            NotReadOnly,
            true,
            "no annotations: not read-only by MCP default (policy NotReadOnly)",
        ),
    ];

    #[test]
    fn approval_follows_the_listing_then_the_policy_over_the_hints() {
        for case in CASES {
            let annotations = case.hints.map(|(read_only, destructive)| ToolAnnotations {
                read_only_hint: read_only,
                destructive_hint: destructive,
                // Neither of these takes part in any policy.
                idempotent_hint: Some(true),
                open_world_hint: Some(false),
            });
            let (required, reason) = approval_for(case.listed, annotations.as_ref(), case.policy);
            assert_eq!(
                (required, reason.as_str()),
                (case.required, case.reason),
                "{}",
                case.name
            );
        }
    }
}
