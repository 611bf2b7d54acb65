//! The HTTP API (SPEC.md "Service"): routes, request parsing naming the
//! field at fault, the bearer token (H-1), the limits (H-2), and errors as
//! JSON with a status.

use super::state::{health_score, status_of, HealthInputs, Service};
use super::Limits;
use crate::engine::index::QueryContext;
use crate::error::Error;
use crate::lang::Language;
use crate::search::response;
use crate::search::searcher::{Mode, QueryOptions, Searcher};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Everything a handler reaches.
pub struct App {
    pub service: Arc<Service>,
    pub limits: Limits,
    /// The bearer token every request must carry (H-1), when set.
    pub token: Option<Vec<u8>>,
    /// Searches running or holding a place (H-2).
    pub searches: Arc<tokio::sync::Semaphore>,
    /// Requests waiting for a place.
    pub waiting: AtomicUsize,
    /// Whether `mode: "rerank"` can be served (a rerank model was loaded).
    pub rerank: bool,
}

/// The routes, with the body limit and the token check.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/search", post(search))
        .route("/batch", post(batch))
        .route("/health", get(health))
        .route("/stats", get(stats))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(app.clone(), auth))
        .with_state(app)
}

/// An error answer: `{"error": ..., "field"?: ...}` with its status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message, "status": self.status.as_u16()});
        if let Some(f) = self.field {
            body["field"] = Value::String(f);
        }
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// The request field a leann error names (a CLI flag `--top-k` is the
/// request's `top_k`).
fn field_of(arg: &str) -> String {
    arg.trim_start_matches("--").replace('-', "_")
}

/// How an engine error is answered.
impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::Argument { arg, .. } => {
                return ApiError::field(&field_of(arg), e.to_string());
            }
            Error::Config { field, why } => {
                return ApiError::field(field, format!("field `{field}`: {why}"));
            }
            Error::Input { .. } | Error::Precondition { .. } => StatusCode::BAD_REQUEST,
            Error::Server { .. } => StatusCode::BAD_GATEWAY,
            Error::Replaced { .. } | Error::Locked { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// H-1: with a token, every request carries `Authorization: Bearer TOKEN`,
/// compared in constant time.
async fn auth(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if let Some(want) = &app.token {
        let got = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::as_bytes);
        let ok = got.is_some_and(|g| constant_time_eq(g, want));
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer TOKEN, the --token-file's content)",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Equal bytes, in time that depends on the lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {} {}: POST /search, POST /batch, GET /health, GET /stats",
            req.method(),
            req.uri().path()
        ),
    )
}

/// One search as a request names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    query: String,
    #[serde(default, alias = "topK")]
    top_k: Option<usize>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    filters: Option<Filters>,
    #[serde(default, alias = "semanticRatio")]
    semantic_ratio: Option<f32>,
    /// Echoed back in a batch's answers.
    #[serde(default)]
    id: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filters {
    #[serde(default)]
    pub(crate) languages: Vec<String>,
    #[serde(default)]
    pub(crate) paths: Vec<String>,
}

/// A batch: queries as strings or as search requests; `top_k` and the
/// other fields given here apply to those that do not say.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    queries: Vec<BatchQuery>,
    #[serde(default, alias = "topK")]
    top_k: Option<usize>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    filters: Option<Filters>,
    #[serde(default, alias = "semanticRatio")]
    semantic_ratio: Option<f32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BatchQuery {
    Text(String),
    Request(SearchRequest),
}

/// The body as JSON of type T, or a 400 naming the field (or 413 past the
/// body limit).
fn parse<T: serde::de::DeserializeOwned>(
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<T, ApiError> {
    let body = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "the request body is larger than the service accepts (--max-body-bytes)",
            )
        } else {
            ApiError::new(status, format!("request body: {}", r.body_text()))
        }
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::new(StatusCode::BAD_REQUEST, format!("request body: {inner}"))
        } else {
            ApiError::field(&path, format!("field `{path}`: {inner}"))
        }
    })
}

/// The query options a request asks for, within the service's limits.
pub(crate) fn options(
    limits: &Limits,
    rerank: bool,
    query: &str,
    top_k: Option<usize>,
    mode: Option<&str>,
    filters: Option<&Filters>,
    semantic_ratio: Option<f32>,
) -> std::result::Result<QueryOptions, ApiError> {
    if query.len() > limits.max_query_bytes {
        return Err(ApiError::field(
            "query",
            format!(
                "the query is {} bytes long; this service accepts at most {}",
                query.len(),
                limits.max_query_bytes
            ),
        ));
    }
    let k = top_k.unwrap_or(10);
    if k == 0 || k > limits.max_top_k {
        return Err(ApiError::field(
            "top_k",
            format!("top_k {k} is outside 1..={}", limits.max_top_k),
        ));
    }
    let mode = match mode.unwrap_or("retrieve") {
        "retrieve" => Mode::Retrieve,
        "rerank" if rerank => Mode::Rerank,
        "rerank" => {
            return Err(ApiError::field(
                "mode",
                "mode \"rerank\" needs a rerank model: start the service with --rerank-model DIR (or search.rerankModel in the index's config)",
            ))
        }
        other => {
            return Err(ApiError::field(
                "mode",
                format!("mode {other:?} is not \"retrieve\" or \"rerank\""),
            ))
        }
    };
    if let Some(r) = semantic_ratio {
        if !(0.0..=1.0).contains(&r) {
            return Err(ApiError::field(
                "semantic_ratio",
                format!("semantic_ratio {r} is outside 0..1"),
            ));
        }
    }
    let f = filters.map(|f| (f.languages.as_slice(), f.paths.as_slice()));
    let (langs, paths) = f.unwrap_or((&[], &[]));
    Ok(QueryOptions {
        k,
        languages: Language::parse_names(langs, "filters.languages")?,
        paths: paths.to_vec(),
        mode,
        rerank_candidates: None,
        semantic_ratio,
        with_text: false,
    })
}

/// Run `f` on the current snapshot on the blocking pool, within the bound
/// on concurrent searches and the request timeout (H-2).
async fn run_limited<T, F>(app: &Arc<App>, f: F) -> std::result::Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Searcher, &mut QueryContext) -> std::result::Result<T, ApiError> + Send + 'static,
{
    if app.service.is_opening() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the index is still being opened; retry shortly",
        ));
    }
    let busy = || {
        app.service.rejected.fetch_add(1, Ordering::Relaxed);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "busy: {} searches running and {} waiting; retry shortly",
                app.limits.max_concurrent, app.limits.max_queued
            ),
        )
    };
    // A free place is taken at once; otherwise the request waits, unless
    // max_queued requests already do.
    let permit = match app.searches.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            if app.waiting.fetch_add(1, Ordering::SeqCst) >= app.limits.max_queued {
                app.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(busy());
            }
            let p = tokio::time::timeout(
                app.limits.request_timeout,
                app.searches.clone().acquire_owned(),
            )
            .await;
            app.waiting.fetch_sub(1, Ordering::SeqCst);
            match p {
                Ok(Ok(p)) => p,
                _ => return Err(busy()),
            }
        }
    };
    let service = app.service.clone();
    let task = tokio::task::spawn_blocking(move || {
        let _place = permit;
        let snapshot = service
            .snapshot()
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
        let mut ctx = service.context();
        let r = f(&snapshot, &mut ctx);
        service.give_back(ctx);
        r
    });
    match tokio::time::timeout(app.limits.request_timeout, task).await {
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the search took longer than {} ms",
                app.limits.request_timeout.as_millis()
            ),
        )),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: the search stopped ({e}); a bug in leann: please report it"),
        )),
        Ok(Ok(r)) => r,
    }
}

async fn search(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let t = Instant::now();
    let answer = async {
        let req: SearchRequest = parse(body)?;
        let o = options(
            &app.limits,
            app.rerank,
            &req.query,
            req.top_k,
            req.mode.as_deref(),
            req.filters.as_ref(),
            req.semantic_ratio,
        )?;
        run_limited(&app, move |s, ctx| {
            let results = s.query(&req.query, &o, ctx)?;
            Ok(json!({
                "items": response::items(&results),
                "latency": response::millis(t.elapsed()),
            }))
        })
        .await
    }
    .await;
    finish(&app, t, answer)
}

async fn batch(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let t = Instant::now();
    let answer = async {
        let req: BatchRequest = parse(body)?;
        if req.queries.is_empty() || req.queries.len() > app.limits.max_batch_queries {
            return Err(ApiError::field(
                "queries",
                format!(
                    "a batch holds 1..={} queries; this one has {}",
                    app.limits.max_batch_queries,
                    req.queries.len()
                ),
            ));
        }
        // Every query is checked before any runs.
        let mut jobs = Vec::with_capacity(req.queries.len());
        for (i, q) in req.queries.into_iter().enumerate() {
            let (query, id, o) = match q {
                BatchQuery::Text(s) => {
                    let o = options(
                        &app.limits,
                        app.rerank,
                        &s,
                        req.top_k,
                        req.mode.as_deref(),
                        req.filters.as_ref(),
                        req.semantic_ratio,
                    );
                    (s, Value::from(i), o)
                }
                BatchQuery::Request(r) => {
                    let o = options(
                        &app.limits,
                        app.rerank,
                        &r.query,
                        r.top_k.or(req.top_k),
                        r.mode.as_deref().or(req.mode.as_deref()),
                        r.filters.as_ref().or(req.filters.as_ref()),
                        r.semantic_ratio.or(req.semantic_ratio),
                    );
                    (r.query, r.id.unwrap_or(Value::from(i)), o)
                }
            };
            let o = o.map_err(|mut e| {
                e.field = e.field.map(|f| format!("queries[{i}].{f}"));
                e
            })?;
            jobs.push((query, id, o));
        }
        run_limited(&app, move |s, ctx| {
            let mut out = Vec::with_capacity(jobs.len());
            for (query, id, o) in jobs {
                let tq = Instant::now();
                match s.query(&query, &o, ctx) {
                    Ok(results) => out.push(json!({
                        "id": id,
                        "items": response::items(&results),
                        "latency": response::millis(tq.elapsed()),
                    })),
                    Err(e) => {
                        let e = ApiError::from(e);
                        out.push(json!({
                            "id": id,
                            "error": e.message,
                            "status": e.status.as_u16(),
                        }))
                    }
                }
            }
            Ok(json!({"results": out, "latency": response::millis(t.elapsed())}))
        })
        .await
    }
    .await;
    finish(&app, t, answer)
}

/// Record the request's latency and outcome; answer.
fn finish(app: &App, t: Instant, answer: std::result::Result<Value, ApiError>) -> Response {
    let ms = t.elapsed().as_secs_f64() * 1e3;
    match answer {
        Ok(v) => {
            app.service.record(ms, true);
            axum::Json(v).into_response()
        }
        Err(e) => {
            // Refused requests (4xx) are the client's; 5xx count against
            // health.
            if e.status.is_server_error() && e.status != StatusCode::SERVICE_UNAVAILABLE {
                app.service.record(ms, false);
            }
            e.into_response()
        }
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let snap = match app.service.snapshot() {
        Ok(s) => s,
        Err(e) => {
            let status = if app.service.is_opening() {
                "opening"
            } else {
                "failed"
            };
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": status, "healthScore": 0, "error": e})),
            )
                .into_response();
        }
    };
    let st = crate::engine::stats::stats(&snap.index);
    let lat = app.service.latency();
    let watch = app.service.watch_state();
    let queries = app.service.queries.load(Ordering::Relaxed);
    let errors = app.service.errors.load(Ordering::Relaxed);
    let inputs = HealthInputs {
        delta_ratio: st.delta_index_size as f64 / st.main_index_size.max(1) as f64,
        error_rate: app.service.recent_error_rate(),
        watch_failed: watch.failed.is_some(),
        watch_polling: watch.polling,
    };
    let score = health_score(&inputs);
    let mut problems = Vec::new();
    if inputs.delta_ratio > 0.10 {
        problems.push(format!(
            "the delta is {:.1}% of the main index (above 10%): compact (`leann index compact`) or rebuild",
            inputs.delta_ratio * 100.0
        ));
    }
    if let Some(f) = &watch.failed {
        problems.push(format!("the watch stopped: {f}"));
    }
    if watch.polling {
        problems.push("the watch polls the whole tree (the OS limit on watches)".to_string());
    }
    if inputs.error_rate > 0.0 {
        problems.push(format!(
            "{:.1}% of the last {} searches failed ({errors} of {queries} since start)",
            inputs.error_rate * 100.0,
            super::state::LATENCY_WINDOW
        ));
    }
    axum::Json(json!({
        "status": status_of(score),
        "healthScore": score,
        "storageSize": st.bytes,
        "indexSize": st.bytes,
        "avgLatency": lat.avg,
        "p50Latency": lat.p50,
        "p99Latency": lat.p99,
        "queries": queries,
        "errors": errors,
        "rejected": app.service.rejected.load(Ordering::Relaxed),
        "chunks": st.live,
        "mainIndexSize": st.main_index_size,
        "deltaIndexSize": st.delta_index_size,
        "snapshot": app.service.generation(),
        "uptimeSeconds": app.service.uptime_secs(),
        "watch": {
            "enabled": watch.enabled,
            "ready": watch.ready,
            "polling": watch.polling,
            "batches": watch.batches,
            "lastUpdateSeconds": watch.last_update_secs,
            "lastWarning": watch.last_warning,
            "error": watch.failed,
        },
        "problems": problems,
    }))
    .into_response()
}

async fn stats(State(app): State<Arc<App>>) -> Response {
    match app.service.snapshot() {
        Ok(s) => axum::Json(crate::engine::stats::stats(&s.index)).into_response(),
        Err(e) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn options_name_the_field_at_fault() {
        let l = Limits::default();
        let e = options(&l, false, "q", Some(0), None, None, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("top_k"));
        let e = options(&l, false, "q", None, Some("rerank"), None, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("mode"));
        let e = options(&l, false, "q", None, Some("fast"), None, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("mode"));
        let e = options(&l, false, "q", None, None, None, Some(1.5)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("semantic_ratio"));
        let long = "a".repeat(l.max_query_bytes + 1);
        let e = options(&l, false, &long, None, None, None, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("query"));
        let f = Filters {
            languages: vec!["klingon".into()],
            paths: vec![],
        };
        let e = options(&l, false, "q", None, None, Some(&f), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("filters.languages[0]"), "{e:?}");
        let o = options(&l, true, "q", Some(3), Some("rerank"), None, Some(0.2)).unwrap();
        assert_eq!(
            (o.k, o.mode, o.semantic_ratio),
            (3, Mode::Rerank, Some(0.2))
        );
    }
}
