//! A fault-injecting proxy between the operator and the real apiserver (the apiserver does not
//! misbehave on request): it cuts watch streams every few seconds, answers a share of writes
//! with 409, 429 and 500, and adds latency. The operator's kubeconfig points at the proxy (plain
//! HTTP on loopback); the proxy speaks TLS to the apiserver with the admin certificate, passing
//! the operator's user agent on, so the audit log still tells the operator's requests apart.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

#[derive(Clone, Debug)]
pub struct ProxyFaults {
    /// Share of write requests answered 409, 429 and 500 (each).
    pub write_error_rate: f64,
    pub latency: Duration,
    /// Watch streams are cut after a random time in this range.
    pub watch_cut_after: (Duration, Duration),
}

#[derive(Default, Debug)]
pub struct ProxyCounters {
    pub requests: AtomicU64,
    pub injected: AtomicU64,
    pub watch_cuts: AtomicU64,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    faults: ProxyFaults,
    counters: Arc<ProxyCounters>,
}

pub struct KubeProxy {
    pub url: String,
    pub counters: Arc<ProxyCounters>,
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for KubeProxy {
    fn drop(&mut self) {
        self._task.abort();
    }
}

/// Starts the proxy in front of `upstream` (https), authenticating with the admin client
/// certificate of the control plane in `pki`.
pub async fn start(upstream: &str, pki: &Path, faults: ProxyFaults) -> KubeProxy {
    let read = |name: &str| std::fs::read(pki.join(name)).unwrap();
    let mut identity = read("admin.crt");
    identity.extend(read("admin.key"));
    let http = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(&read("ca.crt")).unwrap())
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    let counters = Arc::new(ProxyCounters::default());
    let shared = Arc::new(Shared {
        upstream: upstream.trim_end_matches('/').to_string(),
        http,
        faults,
        counters: counters.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().fallback(forward).with_state(shared);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    KubeProxy {
        url,
        counters,
        _task: task,
    }
}

/// A kubeconfig for the operator that points at the proxy.
pub fn write_kubeconfig(path: &Path, url: &str) {
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: proxy, cluster: {{server: \"{url}\"}}}}]\nusers: [{{name: proxy, user: {{}}}}]\ncontexts: [{{name: proxy, context: {{cluster: proxy, user: proxy}}}}]\ncurrent-context: proxy\n"
    );
    std::fs::write(path, config).unwrap();
}

fn status(code: u16, reason: &str) -> Response {
    let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("injected by the test proxy ({code})"), "reason": reason, "code": code});
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if code == 429 {
        headers.insert("retry-after", HeaderValue::from_static("1"));
    }
    (
        StatusCode::from_u16(code).unwrap(),
        headers,
        body.to_string(),
    )
        .into_response()
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(shared.faults.latency).await;
    let method = request.method().clone();
    let uri = request.uri().clone();
    let query = uri.query().unwrap_or("");
    let is_watch = query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    let is_write = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    if is_write {
        let roll: f64 = rand::random();
        let rate = shared.faults.write_error_rate;
        let injected = if roll < rate {
            Some((409, "Conflict"))
        } else if roll < 2.0 * rate {
            Some((429, "TooManyRequests"))
        } else if roll < 3.0 * rate {
            Some((500, "InternalError"))
        } else {
            None
        };
        if let Some((code, reason)) = injected {
            shared.counters.injected.fetch_add(1, Ordering::Relaxed);
            return status(code, reason);
        }
    }
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let mut upstream = shared.http.request(
        method,
        format!(
            "{}{}",
            shared.upstream,
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        ),
    );
    for (name, value) in parts.headers.iter() {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "authorization"
        ) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(_) => return status(503, "ServiceUnavailable"),
    };
    let code = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            headers.insert(name.clone(), value.clone());
        }
    }
    let stream = answer.bytes_stream();
    let body = if is_watch {
        let (low, high) = shared.faults.watch_cut_after;
        let after = low + (high - low).mul_f64(rand::random::<f64>());
        let counters = shared.counters.clone();
        let deadline = tokio::time::sleep(after);
        let cut = Box::pin(async move {
            deadline.await;
            counters.watch_cuts.fetch_add(1, Ordering::Relaxed);
        });
        // The stream ends at the deadline: the client sees a closed watch, as after a network cut.
        Body::from_stream(stream.take_until(cut))
    } else {
        Body::from_stream(stream)
    };
    (code, headers, body).into_response()
}
