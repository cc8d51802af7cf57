//! The CamelCase reasons the operator writes: in `Ready` conditions, in a Task's `status.reason`
//! and on Events. They are a public contract — users alert on them and the api shows them — so
//! every producer and consumer takes them from here rather than spelling them again.

// Ready=True.

/// An Agent, Skill or Trigger found everything it names.
pub const RESOLVED: &str = "Resolved";
/// A remote or managed McpServerInstance listed its tools.
pub const TOOLS_DISCOVERED: &str = "ToolsDiscovered";
/// Every member of a compound McpServerInstance is Ready.
pub const MEMBERS_READY: &str = "MembersReady";

// Ready=False: something named is missing or not ready.

/// A Skill an Agent names does not exist.
pub const SKILL_NOT_FOUND: &str = "SkillNotFound";
/// An McpServerInstance that is named does not exist.
pub const INSTANCE_NOT_FOUND: &str = "InstanceNotFound";
/// An McpServerInstance that is named exists but is not Ready.
pub const INSTANCE_NOT_READY: &str = "InstanceNotReady";
/// The apiserver would not say whether a named McpServerInstance exists.
pub const INSTANCE_UNREADABLE: &str = "InstanceUnreadable";
/// A tool that is named is not offered by its McpServerInstance.
pub const TOOL_NOT_FOUND: &str = "ToolNotFound";
/// A managed McpServerInstance has no endpoint yet.
pub const NO_ENDPOINT: &str = "NoEndpoint";
/// Neither the Agent nor the operator names a model endpoint (also a Task failure reason).
pub const NO_MODEL_ENDPOINT: &str = "NoModelEndpoint";
/// A member of a compound McpServerInstance is missing, compound itself, or not Ready.
pub const MEMBERS_NOT_READY: &str = "MembersNotReady";

// Ready=False: Secrets.

/// The apiserver would not return a named Secret.
pub const SECRET_UNREADABLE: &str = "SecretUnreadable";
/// A named Secret does not exist.
pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
/// A named Secret has no such key.
pub const SECRET_KEY_NOT_FOUND: &str = "SecretKeyNotFound";
/// A Secret's value is not UTF-8 text, so it cannot be a header or a webhook secret.
pub const SECRET_KEY_NOT_TEXT: &str = "SecretKeyNotText";

// Ready=False: McpServerInstance.

/// `spec.suspend` is true.
pub const SUSPENDED: &str = "Suspended";
/// A configured header is not a valid HTTP header.
pub const INVALID_HEADER: &str = "InvalidHeader";
/// The server could not be connected to, or did not answer in time.
pub const UNREACHABLE: &str = "Unreachable";
/// The server answered the MCP handshake or `tools/list` with an error.
pub const SERVER_ERROR: &str = "ServerError";
/// The URL (or the address its name resolves to, or a redirect) is one the egress policy refuses
/// to call for a workspace; the message names the address and the rule. Also Agents (their
/// model endpoint) and Tasks (a model call).
pub const EGRESS_DENIED: &str = "EgressDenied";

// Ready=False: Trigger.

/// `spec.enabled` is false.
pub const DISABLED: &str = "Disabled";
/// The cron expression or time zone does not parse.
pub const INVALID_SCHEDULE: &str = "InvalidSchedule";
/// `spec.failureThreshold` firings in a row failed.
pub const FAILURE_THRESHOLD_REACHED: &str = "FailureThresholdReached";

// A Task's `status.reason` when it ends (and the reason of its Warning Event).

/// The agent answered.
pub const COMPLETED: &str = "Completed";
/// `spec.cancel` was set.
pub const CANCELLED: &str = "Cancelled";
/// The Task's Agent does not exist.
pub const AGENT_NOT_FOUND: &str = "AgentNotFound";
/// The Task's Agent did not become Ready within its timeout (also the reason of a Pending Task
/// that waits for it).
pub const AGENT_NOT_READY: &str = "AgentNotReady";
/// The model endpoint failed, after retries of transient errors.
pub const MODEL_ERROR: &str = "ModelError";
/// The model answered right after failed tool calls.
pub const TOOL_ERROR: &str = "ToolError";
/// The run took longer than the Agent's `limits.timeoutSeconds`.
pub const TIMEOUT: &str = "Timeout";
/// The run took more model calls than the Agent's `limits.maxSteps`.
pub const MAX_STEPS_EXCEEDED: &str = "MaxStepsExceeded";
/// The run used more tokens than the Agent's `limits.budget`, or its workspace had spent its
/// token budget for the period when the run was about to call the model.
pub const BUDGET_EXCEEDED: &str = "BudgetExceeded";
/// (Event) A model call took the workspace's spending past the warning share of its budget.
pub const BUDGET_WARNING: &str = "BudgetWarning";
/// The runner stopped renewing its claim while a tool call was in flight that may or may not have
/// happened (and is not declared idempotent), so the run could not safely continue.
pub const RUNNER_LOST: &str = "RunnerLost";
/// Nobody decided on a tool call within the Agent's `approval.timeoutSeconds`, and its policy is
/// to fail the Task.
pub const APPROVAL_TIMED_OUT: &str = "ApprovalTimedOut";
/// The run's conversation outgrew the operator's `--task-max-conversation-bytes`.
pub const CONVERSATION_TOO_LARGE: &str = "ConversationTooLarge";
/// The kept conversation could not be read back (a chunk is missing or damaged).
pub const CONVERSATION_LOST: &str = "ConversationLost";

// Events only.

/// Normal Event: a runner claimed a Task.
pub const STARTED: &str = "Started";
/// Normal Event: a Task succeeded.
pub const SUCCEEDED: &str = "Succeeded";
/// Normal Event: a Task stopped at `spec.paused`.
pub const PAUSED: &str = "Paused";
/// Normal Event: a runner continued a Task's kept conversation.
pub const RESUMED: &str = "Resumed";
/// Normal Event: tool calls of a Task wait for a person's decision.
pub const APPROVAL_REQUESTED: &str = "ApprovalRequested";
/// Normal Event: a Trigger created a Task.
pub const FIRED: &str = "Fired";
/// Normal Event: a schedule Trigger skipped a run (missed deadline, or Forbid with one running).
pub const SKIPPED: &str = "Skipped";
/// Warning Event: a Trigger could not create its Task.
pub const FIRING_FAILED: &str = "FiringFailed";
