//! Calls of stateless clients parked while a server of the handshake era waits for their input.
//!
//! A server of the handshake era asks its client for input in the middle of a call (sampling,
//! elicitation, roots) with a request on the call's stream, and waits for the answer before it
//! answers the call. A client of the stateless era cannot be asked so: it is asked by an
//! `input_required` result, and answers by sending the call again with `inputResponses` and the
//! `requestState` it was given. So the relay answers such a client `input_required` with the
//! server's request, parks the call (still waiting upstream) under a random name carried in
//! `requestState`, and when the call comes again under that name, gives the server its answer and
//! goes on waiting ([`asking`](super::asking)).
//!
//! A parked call lives in the relay process that holds its upstream session, as the upstream
//! session does (a session of the handshake era cannot move between processes). A call that comes
//! again after [`PARK_FOR`], or to another replica of the relay (a bridge of several replicas, the
//! gateway in several operators, behind a Service that spreads requests), is told its state is not
//! held here, and the client calls again from the start.

// Sampling and roots are deprecated in 2026-07-28 (SEP-2577), yet servers of the handshake era
// still ask for them: the relay carries them across, so it names the deprecated types.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    ClientCapabilities, ClientRequest, ClientResult, CreateMessageResult, ElicitResult, ErrorCode,
    ErrorData, InputRequest, InputResponses, ListRootsResult, ProgressToken, RequestId,
    ServerRequest, ServerResult,
};
use rmcp::service::Peer;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::sync::lock;

/// How long a parked call waits for its client to come again.
pub const PARK_FOR: Duration = Duration::from_secs(300);

/// What starts the `requestState` of a call parked by the relay.
const STATE_PREFIX: &str = "agentarea-relay-parked/";

/// A server's request to the client of a call, and where its answer goes.
pub struct Ask {
    pub request: ServerRequest,
    pub answer: oneshot::Sender<Result<ClientResult, ErrorData>>,
}

/// Where the server's requests during one call go: to the call's relay, which asks its client.
pub type Asks = mpsc::UnboundedSender<Ask>;

/// Points a call's progress at the client request that now waits for it.
pub type Redirect = Box<dyn Fn(Peer<RoleServer>, RequestId, Option<ProgressToken>) + Send + Sync>;

/// A call waiting upstream: its answer to come, the server's requests during it, and what cancels
/// it upstream (dropping it does).
pub struct Call {
    pub answer: JoinHandle<Result<ServerResult, ErrorData>>,
    pub asks: mpsc::UnboundedReceiver<Ask>,
    pub redirect: Redirect,
    pub cancel: CancellationToken,
}

impl Drop for Call {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A parked call, and the server's requests that wait for the client's answers, by their keys in
/// the `input_required` result.
pub struct Held {
    pub call: Call,
    pub waiting: Vec<(String, Ask)>,
}

/// The parked calls of one relay process, by name.
#[derive(Clone, Default)]
pub struct Parked {
    held: Arc<Mutex<HashMap<String, Held>>>,
}

impl Parked {
    /// Parks `held` for [`PARK_FOR`] and gives the `requestState` that takes it back.
    pub fn park(&self, held: Held) -> String {
        let name = uuid::Uuid::new_v4().simple().to_string();
        lock(&self.held).insert(name.clone(), held);
        let parked = self.clone();
        let expiring = name.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PARK_FOR).await;
            // Dropped: the call is cancelled upstream, and the server told its requests failed.
            drop(parked.take(&expiring));
        });
        format!("{STATE_PREFIX}{name}")
    }

    /// The call parked under `name`, taken out.
    pub fn take(&self, name: &str) -> Option<Held> {
        lock(&self.held).remove(name)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.held).len()
    }
}

/// The name of the parked call a request comes back for, if its `requestState` names one.
pub fn parked_name(request: &ClientRequest) -> Option<&str> {
    let state = match request {
        ClientRequest::CallToolRequest(call) => call.params.request_state.as_deref(),
        ClientRequest::GetPromptRequest(get) => get.params.request_state.as_deref(),
        ClientRequest::ReadResourceRequest(read) => read.params.request_state.as_deref(),
        _ => None,
    }?;
    state.strip_prefix(STATE_PREFIX)
}

/// The client's answers a request carries.
pub fn input_responses(request: &ClientRequest) -> InputResponses {
    let responses = match request {
        ClientRequest::CallToolRequest(call) => call.params.input_responses.clone(),
        ClientRequest::GetPromptRequest(get) => get.params.input_responses.clone(),
        ClientRequest::ReadResourceRequest(read) => read.params.input_responses.clone(),
        _ => None,
    };
    responses.unwrap_or_default()
}

/// Whether the server may ask a stateless client for input during `request`: only the requests
/// whose result may be `input_required` can carry the answers back.
pub fn may_ask_during(request: &ClientRequest) -> bool {
    matches!(
        request,
        ClientRequest::CallToolRequest(_)
            | ClientRequest::GetPromptRequest(_)
            | ClientRequest::ReadResourceRequest(_)
    )
}

/// A server's request as an input request of the stateless era; why not, if the client cannot
/// be asked it (a kind it did not declare, or a kind that is no input request).
pub fn as_input_request(
    request: ServerRequest,
    client: &ClientCapabilities,
) -> Result<InputRequest, ErrorData> {
    let declared = |kind: &str, yes: bool| {
        if yes {
            Ok(())
        } else {
            Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("the client cannot be asked for {kind}: it did not declare the capability"),
                None,
            ))
        }
    };
    match request {
        ServerRequest::CreateMessageRequest(sample) => {
            declared("sampling", client.sampling.is_some())?;
            Ok(InputRequest::CreateMessage(sample))
        }
        ServerRequest::ElicitRequest(elicit) => {
            declared("elicitation", client.elicitation.is_some())?;
            Ok(InputRequest::Elicitation(elicit))
        }
        ServerRequest::ListRootsRequest(roots) => {
            declared("roots", client.roots.is_some())?;
            Ok(InputRequest::ListRoots(roots))
        }
        other => Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!(
                "{} cannot be asked of a client of the stateless era during a call",
                serde_json::to_value(&other)
                    .ok()
                    .and_then(|v| v["method"].as_str().map(String::from))
                    .unwrap_or_else(|| "this request".into())
            ),
            None,
        )),
    }
}

/// The client's answer to `asked`, as the result the server waits for.
pub fn client_answer(asked: &ServerRequest, answer: Value) -> Result<ClientResult, ErrorData> {
    let unreadable =
        |e: serde_json::Error| ErrorData::invalid_params(format!("the client's answer: {e}"), None);
    Ok(match asked {
        ServerRequest::CreateMessageRequest(_) => ClientResult::CreateMessageResult(Box::new(
            serde_json::from_value::<CreateMessageResult>(answer).map_err(unreadable)?,
        )),
        ServerRequest::ElicitRequest(_) => ClientResult::ElicitResult(
            serde_json::from_value::<ElicitResult>(answer).map_err(unreadable)?,
        ),
        ServerRequest::ListRootsRequest(_) => ClientResult::ListRootsResult(
            serde_json::from_value::<ListRootsResult>(answer).map_err(unreadable)?,
        ),
        _ => ClientResult::empty(()),
    })
}

/// Gives each waiting request of `held` its answer from `responses`; a request the client did not
/// answer is told so.
pub fn answer_waiting(waiting: Vec<(String, Ask)>, responses: &InputResponses) {
    for (key, ask) in waiting {
        let answer = match responses.get(&key) {
            Some(answer) => client_answer(&ask.request, answer.clone()),
            None => Err(ErrorData::invalid_params(
                format!("the client sent no answer to input request {key}"),
                None,
            )),
        };
        let _ = ask.answer.send(answer);
    }
}

/// The error for a call that comes again for a parked call this relay does not hold.
pub fn not_held() -> ErrorData {
    ErrorData::invalid_params(
        "the state of this call is not held here (it expired, or the call came to another \
         replica): call again without requestState",
        None,
    )
}

#[cfg(test)]
mod tests {
    use rmcp::model::{
        CallToolRequest, CallToolRequestParams, ElicitRequest, ElicitRequestParams,
        ElicitationAction, ListToolsRequest, PingRequest,
    };
    use serde_json::json;

    use super::*;

    fn elicit() -> ServerRequest {
        let params: ElicitRequestParams = serde_json::from_value(
            json!({"message": "Confirm?", "requestedSchema": {"type": "object", "properties": {}}}),
        )
        .unwrap();
        ServerRequest::ElicitRequest(ElicitRequest::new(params))
    }

    fn call_with(state: Option<&str>) -> ClientRequest {
        let mut params = CallToolRequestParams::new("confirm");
        params.request_state = state.map(String::from);
        ClientRequest::CallToolRequest(CallToolRequest::new(params))
    }

    #[test]
    fn a_parked_call_is_named_only_by_the_relays_own_state() {
        let cases = [
            (call_with(None), None),
            (call_with(Some("agentarea-relay-parked/abc")), Some("abc")),
            // A server's own state is the server's.
            (call_with(Some("opaque-server-state")), None),
            (
                ClientRequest::ListToolsRequest(ListToolsRequest::default()),
                None,
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(parked_name(&request), expected, "{request:?}");
        }
    }

    #[test]
    fn only_requests_that_may_end_input_required_are_asked_during() {
        assert!(may_ask_during(&call_with(None)));
        assert!(!may_ask_during(&ClientRequest::ListToolsRequest(
            ListToolsRequest::default()
        )));
        assert!(!may_ask_during(&ClientRequest::PingRequest(
            PingRequest::default()
        )));
    }

    #[test]
    fn a_client_is_asked_only_what_it_declared() {
        let none = ClientCapabilities::default();
        let eliciting: ClientCapabilities =
            serde_json::from_value(json!({"elicitation": {}})).unwrap();
        assert!(as_input_request(elicit(), &eliciting).is_ok());
        let refused = as_input_request(elicit(), &none).unwrap_err();
        assert!(refused.message.contains("elicitation"), "{refused:?}");
        let ping = ServerRequest::PingRequest(PingRequest::default());
        assert!(as_input_request(ping, &eliciting).is_err());
    }

    #[test]
    fn answers_reach_the_requests_they_answer() {
        let (first, mut first_answer) = oneshot::channel();
        let (second, mut second_answer) = oneshot::channel();
        let waiting = vec![
            (
                "0".to_string(),
                Ask {
                    request: elicit(),
                    answer: first,
                },
            ),
            (
                "1".to_string(),
                Ask {
                    request: elicit(),
                    answer: second,
                },
            ),
        ];
        let responses: InputResponses = [(
            "0".to_string(),
            json!({"action": "accept", "content": {"ok": true}}),
        )]
        .into();
        answer_waiting(waiting, &responses);
        match first_answer.try_recv().unwrap().unwrap() {
            ClientResult::ElicitResult(result) => {
                assert_eq!(result.action, ElicitationAction::Accept)
            }
            other => panic!("{other:?}"),
        }
        let unanswered = second_answer.try_recv().unwrap().unwrap_err();
        assert!(unanswered.message.contains("input request 1"));

        let unreadable = client_answer(&elicit(), json!({"action": 7})).unwrap_err();
        assert!(unreadable.message.contains("the client's answer"));
    }

    #[tokio::test]
    async fn a_parked_call_is_taken_once_and_cancelled_when_dropped() {
        let parked = Parked::default();
        let cancel = CancellationToken::new();
        let (_asks, receiver) = mpsc::unbounded_channel();
        let held = Held {
            call: Call {
                answer: tokio::spawn(std::future::pending()),
                asks: receiver,
                redirect: Box::new(|_, _, _| {}),
                cancel: cancel.clone(),
            },
            waiting: Vec::new(),
        };
        let state = parked.park(held);
        let name = state.strip_prefix(STATE_PREFIX).unwrap().to_string();
        assert_eq!(parked.len(), 1);
        assert!(parked.take("someone-else's").is_none());
        let held = parked.take(&name).expect("held under its name");
        assert!(parked.take(&name).is_none(), "taken once");
        assert!(!cancel.is_cancelled());
        drop(held);
        assert!(
            cancel.is_cancelled(),
            "a dropped call is cancelled upstream"
        );
    }
}
