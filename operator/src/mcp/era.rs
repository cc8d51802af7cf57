//! MCP's two eras, and what crosses between them. The handshake era (up to 2025-11-25) opens a
//! session with `initialize` and keeps what it negotiated in the session; the stateless era
//! (2026-07-28) has no session: a client asks `server/discover`, then every request carries its
//! own context in `_meta` (`io.modelcontextprotocol/protocolVersion`, `clientInfo`,
//! `clientCapabilities`, `logLevel`), and `ping` and `logging/setLevel` are gone.
//!
//! Everything MCP here speaks both: the operator as a client probes `server/discover` and falls
//! back to `initialize` ([`openings`]); the relays (bridge, gateway) serve clients of either era,
//! open the server behind them in the client's era where it speaks it, and pass each request
//! across where it does not ([`crossing`], [`outbound_meta`], [`inbound_result`]).

// Logging is deprecated in 2026-07-28 (SEP-2577), yet clients of both eras still ask for it and
// servers still send it: the relay carries it across, so it names the deprecated types.
#![allow(deprecated)]

use rmcp::model::{
    ClientRequest, ErrorData, InputRequest, InputResponses, LoggingLevel, ProtocolVersion,
    RequestMetaObject, ResultType, ServerRequest, ServerResult,
};
use rmcp::service::ClientLifecycleMode;

/// The `_meta` keys a request of the stateless era carries about its client. A server of the
/// handshake era does not know them, and the reference SDKs refuse a request that has them.
const CLIENT_CONTEXT_KEYS: [&str; 4] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/logLevel",
];

/// An era of MCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// `initialize` and a session (up to 2025-11-25).
    Handshake,
    /// `server/discover`, every request on its own (2026-07-28).
    Stateless,
}

/// One way of opening a connection to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// `server/discover`, and `initialize` on the same connection when the server answers it
    /// with an error of the handshake era.
    Probe,
    /// `initialize` alone.
    Initialize,
    /// `server/discover` alone.
    Discover,
}

/// How to open a connection when `preferred` is the era to speak if the server speaks it: the
/// first opening, and the one to try on a new connection if the first fails (a server of the
/// handshake era that refuses the probe at the HTTP layer, or dies of it on stdio; a server of
/// the stateless era alone, which refuses `initialize`).
///
/// The operator's own calls prefer the stateless era (nothing of a session is theirs to keep). A
/// relay prefers its client's era: a client of the handshake era gets a session of that era
/// upstream where there is one, so that what only that era has (the server's requests to the
/// client: sampling, elicitation, roots) still reaches it.
pub fn openings(preferred: Era) -> [Opening; 2] {
    match preferred {
        Era::Stateless => [Opening::Probe, Opening::Initialize],
        Era::Handshake => [Opening::Initialize, Opening::Discover],
    }
}

/// rmcp's lifecycle for `opening`.
pub fn lifecycle(opening: Opening) -> ClientLifecycleMode {
    let stateless = vec![ProtocolVersion::V_2026_07_28];
    match opening {
        Opening::Probe => ClientLifecycleMode::Auto {
            preferred_versions: stateless,
            legacy_version: None,
        },
        Opening::Initialize => ClientLifecycleMode::Initialize,
        Opening::Discover => ClientLifecycleMode::Discover {
            preferred_versions: stateless,
        },
    }
}

/// Whether `version` is of the stateless era.
pub fn is_stateless(version: &ProtocolVersion) -> bool {
    version.as_str() >= ProtocolVersion::V_2026_07_28.as_str()
}

/// What a relay does with a client's request, given the era of the server it goes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Crossing {
    /// Pass it on.
    Forward,
    /// A stateless server has no `ping`: the relay itself is what answers, so it does.
    AnswerEmpty,
    /// A stateless server has no `logging/setLevel`: the relay keeps the level and puts it on
    /// every later request of the session, as a client of that era would.
    KeepLogLevel(LoggingLevel),
    /// A stateless server has no `resources/subscribe` or `resources/unsubscribe`: the relay's
    /// standing listen for the session names the resource, or no longer does
    /// ([`standing`](super::relay::standing)).
    Subscription(Change),
}

/// What a handshake client asks of its session's subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The session opened: list changes only.
    Open,
    Subscribe(String),
    Unsubscribe(String),
}

/// What becomes of `request` on its way to a server of the stateless era (or not).
pub fn crossing(request: &ClientRequest, server_stateless: bool) -> Crossing {
    if !server_stateless {
        return Crossing::Forward;
    }
    match request {
        ClientRequest::PingRequest(_) => Crossing::AnswerEmpty,
        ClientRequest::SetLevelRequest(set) => Crossing::KeepLogLevel(set.params.level),
        ClientRequest::SubscribeRequest(subscribe) => {
            Crossing::Subscription(Change::Subscribe(subscribe.params.uri.clone()))
        }
        ClientRequest::UnsubscribeRequest(unsubscribe) => {
            Crossing::Subscription(Change::Unsubscribe(unsubscribe.params.uri.clone()))
        }
        _ => Crossing::Forward,
    }
}

/// The client's `_meta` as the server gets it. To a stateless server the session's log level
/// goes along (unless the request names its own); to a server of the handshake era the
/// stateless client context is taken off (the session's `initialize` told the server who the
/// client is).
pub fn outbound_meta(
    mut meta: RequestMetaObject,
    server_stateless: bool,
    session_log_level: Option<LoggingLevel>,
) -> RequestMetaObject {
    if server_stateless {
        if let Some(level) = session_log_level
            && meta.log_level().is_none()
        {
            meta.set_log_level(level);
        }
    } else {
        for key in CLIENT_CONTEXT_KEYS {
            meta.0.remove(key);
        }
    }
    meta
}

/// A server's result as the client gets it. A client of the stateless era reads `resultType`
/// on every result that can be incomplete (`"complete"` unless the server said otherwise), which a
/// server of the handshake era never sends; rmcp takes it off again for a client of that era.
pub fn inbound_result(mut result: ServerResult, client_stateless: bool) -> ServerResult {
    if client_stateless && let Some(result_type) = result_type_of(&mut result) {
        result_type.get_or_insert(ResultType::COMPLETE);
    }
    result
}

/// How many times a relay answers a server's `input_required` for a client of the handshake era
/// before it gives up (rmcp's and the reference SDKs' own limit).
pub const MAX_INPUT_ROUNDS: usize = rmcp::model::DEFAULT_MRTR_MAX_ROUNDS;

/// How long a relay waits before sending a request again when the server's `input_required`
/// asked nothing and gave only its state back (it is still at work): doubling from 100 ms with
/// each such round in a row, at most 3.2 s, so a busy server is not asked ten times at once.
pub fn wait_before_asking_again(state_only_rounds: u32) -> std::time::Duration {
    std::time::Duration::from_millis(100 << state_only_rounds.min(5))
}

/// `request` again, carrying the client's answers to the server's input requests and the state
/// the server asked back: how a server of the stateless era gets, from a client of the handshake
/// era, what it asked with an `input_required` result. Only the requests that may be answered so
/// can carry them.
pub fn with_input(
    request: &mut ClientRequest,
    responses: Option<InputResponses>,
    request_state: Option<String>,
) -> Result<(), ErrorData> {
    match request {
        ClientRequest::CallToolRequest(call) => {
            call.params.input_responses = responses;
            call.params.request_state = request_state;
        }
        ClientRequest::GetPromptRequest(get) => {
            get.params.input_responses = responses;
            get.params.request_state = request_state;
        }
        ClientRequest::ReadResourceRequest(read) => {
            read.params.input_responses = responses;
            read.params.request_state = request_state;
        }
        other => {
            return Err(ErrorData::internal_error(
                format!(
                    "the MCP server asked for input in answer to {}",
                    other.method()
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// A server's input request as the request a server of the handshake era sends its client.
pub fn as_server_request(request: InputRequest) -> Result<ServerRequest, ErrorData> {
    Ok(match request {
        InputRequest::CreateMessage(sample) => ServerRequest::CreateMessageRequest(sample),
        InputRequest::Elicitation(elicit) => ServerRequest::ElicitRequest(elicit),
        InputRequest::ListRoots(roots) => ServerRequest::ListRootsRequest(roots),
        // A kind rmcp added later: its wire form is a server's request all the same.
        other => serde_json::to_value(&other)
            .and_then(serde_json::from_value)
            .map_err(|e| {
                ErrorData::internal_error(format!("an input request of unknown kind: {e}"), None)
            })?,
    })
}

/// The `resultType` of the results that carry one.
fn result_type_of(result: &mut ServerResult) -> Option<&mut Option<ResultType>> {
    Some(match result {
        ServerResult::CompleteResult(r) => &mut r.result_type,
        ServerResult::GetPromptResult(r) => &mut r.result_type,
        ServerResult::ListPromptsResult(r) => &mut r.result_type,
        ServerResult::ListResourcesResult(r) => &mut r.result_type,
        ServerResult::ListResourceTemplatesResult(r) => &mut r.result_type,
        ServerResult::ReadResourceResult(r) => &mut r.result_type,
        ServerResult::ListToolsResult(r) => &mut r.result_type,
        ServerResult::CallToolResult(r) => &mut r.result_type,
        ServerResult::ListSkillsResult(r) => &mut r.result_type,
        ServerResult::GetSkillResult(r) => &mut r.result_type,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use rmcp::model::{
        CallToolRequest, CallToolRequestParams, ClientCapabilities, Implementation, PingRequest,
        ProgressToken, SetLevelRequest, SetLevelRequestParams, SubscribeRequest,
        SubscribeRequestParams, UnsubscribeRequest, UnsubscribeRequestParams,
    };
    use serde_json::json;

    use super::*;

    fn set_level(level: LoggingLevel) -> ClientRequest {
        SetLevelRequest::new(SetLevelRequestParams::new(level)).into()
    }

    fn call() -> ClientRequest {
        CallToolRequest::new(CallToolRequestParams::new("echo")).into()
    }

    fn subscribe(uri: &str) -> ClientRequest {
        SubscribeRequest::new(SubscribeRequestParams::new(uri)).into()
    }

    #[test]
    fn a_server_still_at_work_is_asked_again_less_and_less_often() {
        let cases = [(0, 100), (1, 200), (4, 1600), (5, 3200), (9, 3200)];
        for (rounds, millis) in cases {
            assert_eq!(
                wait_before_asking_again(rounds).as_millis(),
                millis,
                "{rounds}"
            );
        }
    }

    #[test]
    fn answers_to_a_servers_input_requests_ride_the_request_again() {
        use rmcp::model::{
            GetPromptRequest, GetPromptRequestParams, ListToolsRequest, ReadResourceRequest,
            ReadResourceRequestParams,
        };
        let responses: InputResponses =
            [("confirm".to_string(), json!({"action": "accept"}))].into();
        let cases: [(ClientRequest, bool); 4] = [
            (call(), true),
            (
                GetPromptRequest::new(GetPromptRequestParams::new("greet")).into(),
                true,
            ),
            (
                ReadResourceRequest::new(ReadResourceRequestParams::new("memo://a")).into(),
                true,
            ),
            (ListToolsRequest::default().into(), false),
        ];
        for (mut request, carries) in cases {
            let method = request.method().to_string();
            let done = with_input(&mut request, Some(responses.clone()), Some("s1".into()));
            assert_eq!(done.is_ok(), carries, "{method}");
            if carries {
                let params = &serde_json::to_value(&request).unwrap()["params"];
                assert_eq!(
                    params["inputResponses"]["confirm"]["action"], "accept",
                    "{method}"
                );
                assert_eq!(params["requestState"], "s1", "{method}");
            }
        }
    }

    #[test]
    fn requests_a_stateless_server_lacks_are_answered_by_the_relay() {
        let cases = [
            (call(), false, Crossing::Forward),
            (call(), true, Crossing::Forward),
            (PingRequest::default().into(), false, Crossing::Forward),
            (PingRequest::default().into(), true, Crossing::AnswerEmpty),
            (set_level(LoggingLevel::Debug), false, Crossing::Forward),
            (
                set_level(LoggingLevel::Debug),
                true,
                Crossing::KeepLogLevel(LoggingLevel::Debug),
            ),
            (subscribe("memo://a"), false, Crossing::Forward),
            (
                subscribe("memo://a"),
                true,
                Crossing::Subscription(Change::Subscribe("memo://a".into())),
            ),
            (
                UnsubscribeRequest::new(UnsubscribeRequestParams::new("memo://a")).into(),
                true,
                Crossing::Subscription(Change::Unsubscribe("memo://a".into())),
            ),
        ];
        for (request, stateless, expected) in cases {
            assert_eq!(
                crossing(&request, stateless),
                expected,
                "{} to a {} server",
                request.method(),
                if stateless { "stateless" } else { "handshake" }
            );
        }
    }

    fn stateless_meta() -> RequestMetaObject {
        let mut meta = RequestMetaObject::with_client_context(
            ProtocolVersion::V_2026_07_28,
            Implementation::new("sdk", "2.3.0"),
            ClientCapabilities::default(),
        );
        meta.set_progress_token(ProgressToken(rmcp::model::NumberOrString::Number(3)));
        meta.0.insert("traceparent".into(), json!("00-abc-def-01"));
        meta
    }

    fn keys(meta: &RequestMetaObject) -> Vec<&str> {
        let mut keys: Vec<&str> = meta.0.keys().map(String::as_str).collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_handshake_server_gets_no_stateless_context_and_keeps_the_rest() {
        let mut meta = stateless_meta();
        meta.set_log_level(LoggingLevel::Info);
        let out = outbound_meta(meta, false, None);
        assert_eq!(keys(&out), ["progressToken", "traceparent"]);
    }

    #[test]
    fn a_stateless_server_gets_the_sessions_log_level_unless_the_request_names_one() {
        let cases = [
            (None, None, None),
            (None, Some(LoggingLevel::Debug), Some(LoggingLevel::Debug)),
            (
                Some(LoggingLevel::Error),
                Some(LoggingLevel::Debug),
                Some(LoggingLevel::Error),
            ),
            (Some(LoggingLevel::Error), None, Some(LoggingLevel::Error)),
        ];
        for (own, session, expected) in cases {
            let mut meta = stateless_meta();
            if let Some(level) = own {
                meta.set_log_level(level);
            }
            let out = outbound_meta(meta, true, session);
            assert_eq!(
                out.log_level(),
                expected,
                "own {own:?}, session {session:?}"
            );
            assert_eq!(out.protocol_version(), Some(ProtocolVersion::V_2026_07_28));
        }
    }

    fn result_type(result: &ServerResult) -> Option<String> {
        serde_json::to_value(result).unwrap()["resultType"]
            .as_str()
            .map(String::from)
    }

    #[test]
    fn a_stateless_client_gets_a_result_type_the_server_did_not_send() {
        use rmcp::model::{CallToolResult, ContentBlock, ListToolsResult};
        let mut from_handshake_server = CallToolResult::success(vec![ContentBlock::text("hi")]);
        from_handshake_server.result_type = None;
        let mut input_required = CallToolResult::success(vec![]);
        input_required.result_type = Some(ResultType::INPUT_REQUIRED);
        let cases = [
            (from_handshake_server.clone().into(), true, Some("complete")),
            (from_handshake_server.into(), false, None),
            (input_required.into(), true, Some("input_required")),
            (ListToolsResult::default().into(), true, Some("complete")),
            (ServerResult::empty(()), true, None),
        ];
        for (result, stateless, expected) in cases {
            let out = inbound_result(result, stateless);
            assert_eq!(result_type(&out).as_deref(), expected, "{out:?}");
        }
    }

    #[test]
    fn each_era_is_tried_first_where_preferred_and_the_other_after() {
        let cases = [
            (Era::Stateless, [Opening::Probe, Opening::Initialize]),
            (Era::Handshake, [Opening::Initialize, Opening::Discover]),
        ];
        for (preferred, expected) in cases {
            assert_eq!(openings(preferred), expected, "{preferred:?}");
        }
        assert!(matches!(
            lifecycle(Opening::Probe),
            ClientLifecycleMode::Auto {
                legacy_version: None,
                ..
            }
        ));
        assert!(matches!(
            lifecycle(Opening::Discover),
            ClientLifecycleMode::Discover { .. }
        ));
    }

    #[test]
    fn versions_from_2026_07_28_on_are_stateless() {
        for (version, stateless) in [
            (ProtocolVersion::V_2024_11_05, false),
            (ProtocolVersion::V_2025_06_18, false),
            (ProtocolVersion::V_2025_11_25, false),
            (ProtocolVersion::V_2026_07_28, true),
        ] {
            assert_eq!(is_stateless(&version), stateless, "{version}");
        }
    }
}
