//! A real OpenTelemetry Collector for the tests: `agentarea-otelcol` (`tests/otelcol`, the
//! collector's OTLP receiver and its file exporter, built from the collector's Go modules by
//! `scripts/setup-test-deps.sh`). It listens for OTLP over gRPC and HTTP on free loopback ports and
//! writes everything it receives as OTLP JSON lines into a directory of the test; [`Collector::spans`]
//! reads them back, so a test checks what a real collector received, not what a fake decoded.
//!
//! The binary is found the way the control plane's is: `AGENTAREA_OTELCOL_BIN_DIR` (which
//! `scripts/test.sh` exports), else `tests/otelcol/build.sh`, which builds it once into the cache.
//!
//! ```ignore
//! let collector = Collector::start();
//! let operator = Operator::start(&ns.name, &collector.sdk_env(OtlpProtocol::HttpProtobuf)).await;
//! let spans = collector
//!     .wait_for_spans(|s| s.attribute_str("agentarea.task") == Some(&task), Duration::from_secs(30))
//!     .await;
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{ChildProcess, free_port};

/// One span as the collector exported it (OTLP JSON), flattened with its resource's service name.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id; `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    /// OTLP `SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i64,
    /// OTLP `Status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i64,
    /// The span's attributes as JSON: strings, numbers (OTLP JSON's string-encoded `intValue`
    /// becomes a number), booleans, arrays, objects (a `kvlistValue`).
    pub attributes: BTreeMap<String, Value>,
    /// The resource's `service.name`, if it has one.
    pub service_name: Option<String>,
    /// All the resource's attributes, converted as `attributes` are.
    pub resource_attributes: BTreeMap<String, Value>,
    /// The instrumentation scope's name (the tracer's name).
    pub scope_name: String,
}

impl Span {
    /// The attribute `key` if it is a string.
    pub fn attribute_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    /// The attribute `key` if it is an integer.
    pub fn attribute_i64(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }
}

/// The protocol an OpenTelemetry SDK exports with, as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

/// A running collector; stopped (and its directory removed, unless the test failed) when dropped.
pub struct Collector {
    pub process: ChildProcess,
    /// Holds the config, and the exported `traces.jsonl`, `metrics.jsonl` and `logs.jsonl`.
    pub dir: PathBuf,
    grpc_port: u16,
    http_port: u16,
}

impl Collector {
    /// Starts a collector on free loopback ports and waits until its HTTP receiver answers.
    pub fn start() -> Self {
        let binary = otelcol_bin_dir().join("agentarea-otelcol");
        let dir =
            std::env::temp_dir().join(format!("agentarea-otel-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the collector's directory");
        // A port found free can be taken before the collector binds it: try a few pairs.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (grpc_port, http_port) = (free_port(), free_port());
            let config = dir.join("config.yaml");
            std::fs::write(&config, config_yaml(&dir, grpc_port, http_port))
                .expect("write the collector's config");
            let process = ChildProcess::spawn(
                "otelcol",
                Command::new(&binary).arg("--config").arg(&config),
            );
            match wait_until_answers(http_port, &process) {
                Ok(()) => {
                    return Self {
                        process,
                        dir,
                        grpc_port,
                        http_port,
                    };
                }
                Err(output) if attempt < 3 && output.contains("address already in use") => {
                    continue;
                }
                Err(output) => panic!("the collector did not start:\n{output}"),
            }
        }
    }

    /// The OTLP/HTTP base URL (`http://127.0.0.1:PORT`); traces go to `/v1/traces` under it.
    pub fn otlp_http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The OTLP/gRPC endpoint (`http://127.0.0.1:PORT`, plaintext).
    pub fn otlp_grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The standard SDK environment that sends a process's telemetry here with `protocol`: the
    /// endpoint and protocol, and a batch delay of 100 ms (the default is 5 s) so spans arrive
    /// soon after they end.
    pub fn sdk_env(&self, protocol: OtlpProtocol) -> Vec<(&'static str, String)> {
        let (endpoint, protocol) = match protocol {
            OtlpProtocol::Grpc => (self.otlp_grpc_endpoint(), "grpc"),
            OtlpProtocol::HttpProtobuf => (self.otlp_http_endpoint(), "http/protobuf"),
            OtlpProtocol::HttpJson => (self.otlp_http_endpoint(), "http/json"),
        };
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_string()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
        ]
    }

    /// The file the collector writes received traces to, one OTLP JSON export request a line.
    pub fn traces_file(&self) -> PathBuf {
        self.dir.join("traces.jsonl")
    }

    /// Every span the collector has written out so far (it flushes every 100 ms), in the order
    /// received.
    pub fn spans(&self) -> Vec<Span> {
        let text = match std::fs::read_to_string(self.traces_file()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![],
            Err(e) => panic!("read {}: {e}", self.traces_file().display()),
        };
        // Only whole lines: the last one may still be being written.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .flat_map(|line| {
                let request: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("the collector wrote a line that is not JSON: {e}"));
                parse_spans(&request)
            })
            .collect()
    }

    /// Waits until at least one received span satisfies `predicate` and returns all that do;
    /// panics after `timeout` with the names of the spans that did arrive.
    pub async fn wait_for_spans<F>(&self, predicate: F, timeout: Duration) -> Vec<Span>
    where
        F: Fn(&Span) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let spans = self.spans();
            let matching: Vec<Span> = spans.iter().filter(|s| predicate(s)).cloned().collect();
            if !matching.is_empty() {
                return matching;
            }
            if tokio::time::Instant::now() >= deadline {
                let received: Vec<String> = spans
                    .iter()
                    .map(|s| format!("{} {:?}", s.name, s.attributes))
                    .collect();
                panic!(
                    "no matching span after {timeout:?}; the collector received {} span(s):\n{}",
                    spans.len(),
                    received.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every received span of trace `trace_id`.
    pub fn trace(&self, trace_id: &str) -> Vec<Span> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.process.terminate(Duration::from_secs(5));
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("the collector's files are in {}", self.dir.display());
        }
    }
}

/// OTLP gRPC and HTTP in; each signal to its own JSON lines file, flushed every 100 ms. The
/// collector's own metrics (a Prometheus endpoint on :8888 by default) are off, so parallel
/// collectors do not fight over a port.
fn config_yaml(dir: &Path, grpc_port: u16, http_port: u16) -> String {
    let file = |name: &str| serde_json::to_string(&dir.join(name)).expect("path as JSON");
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "127.0.0.1:{grpc_port}"
      http:
        endpoint: "127.0.0.1:{http_port}"
exporters:
  file/traces:
    path: {traces}
    flush_interval: 100ms
  file/metrics:
    path: {metrics}
    flush_interval: 100ms
  file/logs:
    path: {logs}
    flush_interval: 100ms
service:
  telemetry:
    logs:
      level: info
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/traces]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
    logs:
      receivers: [otlp]
      exporters: [file/logs]
"#,
        traces = file("traces.jsonl"),
        metrics = file("metrics.jsonl"),
        logs = file("logs.jsonl"),
    )
}

/// Waits until `GET /v1/traces` on the HTTP receiver gets an HTTP answer (405: it takes POST).
/// The collector starts its receivers last, so then the whole pipeline is up. On failure, returns
/// the collector's output.
fn wait_until_answers(port: u16, process: &ChildProcess) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if http_answers(port) {
            return Ok(());
        }
        if let Some(status) = process.exit_status() {
            return Err(format!("exited with {status}:\n{}", process.output()));
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("not answering after 30s:\n{}", process.output()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// The binary's directory: `AGENTAREA_OTELCOL_BIN_DIR`, else what `tests/otelcol/build.sh`
/// prints (building it first if it is not cached).
pub fn otelcol_bin_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| crate::cached_build("AGENTAREA_OTELCOL_BIN_DIR", "tests/otelcol/build.sh"))
}

/// The spans of one OTLP JSON `ExportTraceServiceRequest` (the file exporter's line format).
pub fn parse_spans(request: &Value) -> Vec<Span> {
    let mut spans = vec![];
    for resource_spans in array(&request["resourceSpans"]) {
        let resource_attributes = attributes(&resource_spans["resource"]["attributes"]);
        let service_name = resource_attributes
            .get("service.name")
            .and_then(Value::as_str)
            .map(str::to_string);
        for scope_spans in array(&resource_spans["scopeSpans"]) {
            let scope_name = string(&scope_spans["scope"]["name"]);
            for span in array(&scope_spans["spans"]) {
                let parent = string(&span["parentSpanId"]);
                spans.push(Span {
                    trace_id: string(&span["traceId"]),
                    span_id: string(&span["spanId"]),
                    parent_span_id: (!parent.is_empty()).then_some(parent),
                    name: string(&span["name"]),
                    kind: span["kind"].as_i64().unwrap_or(0),
                    status_code: span["status"]["code"].as_i64().unwrap_or(0),
                    attributes: attributes(&span["attributes"]),
                    service_name: service_name.clone(),
                    resource_attributes: resource_attributes.clone(),
                    scope_name: scope_name.clone(),
                });
            }
        }
    }
    spans
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn string(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// `[{key, value: AnyValue}]` as a map of plain JSON values.
fn attributes(list: &Value) -> BTreeMap<String, Value> {
    array(list)
        .iter()
        .map(|kv| (string(&kv["key"]), any_value(&kv["value"])))
        .collect()
}

/// An OTLP JSON `AnyValue` as plain JSON. `intValue` is a string in OTLP JSON (64 bits); it
/// becomes a number. `bytesValue` stays base64.
fn any_value(value: &Value) -> Value {
    let Some(object) = value.as_object() else {
        return Value::Null;
    };
    if let Some(v) = object.get("stringValue") {
        return v.clone();
    }
    if let Some(v) = object.get("intValue") {
        return match v {
            Value::String(s) => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| v.clone()),
            other => other.clone(),
        };
    }
    for key in ["doubleValue", "boolValue", "bytesValue"] {
        if let Some(v) = object.get(key) {
            return v.clone();
        }
    }
    if let Some(v) = object.get("arrayValue") {
        return Value::Array(array(&v["values"]).iter().map(any_value).collect());
    }
    if let Some(v) = object.get("kvlistValue") {
        return Value::Object(attributes(&v["values"]).into_iter().collect());
    }
    Value::Null
}
