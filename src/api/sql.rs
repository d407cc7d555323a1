//! `POST /api/v1/query`: read-only SQL over the history.
//!
//! `{"sql": "...", "format": "json"}` (the default) answers at most `api.query.max_rows` rows and
//! about `api.query.max_bytes` of row data, with `truncated: true` when the result had more (the
//! rest is never computed: the query is cancelled). `"format": "ndjson"` (one JSON object per
//! row) and `"format": "arrow"` (an Arrow IPC stream, for pandas, polars and DuckDB) stream the
//! whole result over chunked HTTP without building it in memory, within `api.query.timeout`.
//! Every request is logged with the token holder's name, never the token.

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::store::{QueryRun, UserQueryError, batches_to_json};
use crate::telemetry::add;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ResultFormat {
    #[default]
    Json,
    Ndjson,
    Arrow,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    sql: String,
    #[serde(default)]
    format: ResultFormat,
}

impl From<UserQueryError> for ApiError {
    fn from(error: UserQueryError) -> Self {
        let status = match &error {
            UserQueryError::Refused(_) | UserQueryError::Invalid(_) => StatusCode::BAD_REQUEST,
            UserQueryError::TooLarge(_) => StatusCode::UNPROCESSABLE_ENTITY,
            UserQueryError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            UserQueryError::Busy => StatusCode::TOO_MANY_REQUESTS,
            UserQueryError::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            UserQueryError::Store(_) => return ApiError::internal(error),
        };
        ApiError {
            status,
            message: error.to_string(),
        }
    }
}

/// The first 300 characters of `sql` on one line, for the log.
fn for_log(sql: &str) -> String {
    let one_line: String = sql
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line
}

pub async fn query(
    State(state): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    body: Result<Json<QueryBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let who = principal.map_or_else(|| "-".to_string(), |p| p.name.clone());
    let counters = state.pipeline.counters.clone();
    tracing::info!(token = %who, format = ?body.format, sql = %for_log(&body.sql), "sql query");
    let run = match state.queries.start(body.sql).await {
        Ok(run) => run,
        Err(error) => {
            match &error {
                UserQueryError::Refused(_) => add(&counters.sql_refused_total, 1),
                UserQueryError::TimedOut(_) | UserQueryError::Cancelled => {
                    add(&counters.sql_cancelled_total, 1)
                }
                _ => {}
            }
            tracing::info!(token = %who, %error, "sql query refused or failed");
            return Err(error.into());
        }
    };
    add(&counters.sql_queries_total, 1);
    match body.format {
        ResultFormat::Json => json(&state, run).await,
        ResultFormat::Ndjson => Ok(stream(run, ResultFormat::Ndjson)),
        ResultFormat::Arrow => Ok(stream(run, ResultFormat::Arrow)),
    }
}

/// Collects rows up to the limits; dropping `run` past them cancels the rest of the query.
async fn json(state: &AppState, mut run: QueryRun) -> Result<Response, ApiError> {
    let limits = state.queries.settings();
    let columns: Vec<String> = run
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let mut truncated = false;
    'batches: while let Some(batch) = run.next().await {
        let batch = batch.inspect_err(|e| {
            if matches!(e, UserQueryError::TimedOut(_)) {
                add(&state.pipeline.counters.sql_cancelled_total, 1);
            }
        })?;
        for row in batches_to_json(std::slice::from_ref(&batch)).map_err(ApiError::internal)? {
            if rows.len() >= limits.max_rows {
                truncated = true;
                break 'batches;
            }
            bytes += row.iter().map(|v| v.to_string().len() + 1).sum::<usize>();
            if bytes > limits.max_bytes {
                truncated = true;
                break 'batches;
            }
            rows.push(row);
        }
    }
    drop(run);
    Ok(Json(serde_json::json!({
        "columns": columns,
        "rows": rows,
        "truncated": truncated,
        "limits": {"max_rows": limits.max_rows, "max_bytes": limits.max_bytes},
    }))
    .into_response())
}

/// One chunk of a streamed result.
fn encode(
    format: ResultFormat,
    batch: &arrow::array::RecordBatch,
    arrow_writer: &mut Option<arrow_ipc::writer::StreamWriter<Vec<u8>>>,
) -> Result<Bytes, String> {
    match format {
        ResultFormat::Arrow => {
            let writer = match arrow_writer {
                Some(w) => w,
                None => arrow_writer.insert(
                    arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema())
                        .map_err(|e| e.to_string())?,
                ),
            };
            writer.write(batch).map_err(|e| e.to_string())?;
            Ok(Bytes::from(std::mem::take(writer.get_mut())))
        }
        _ => {
            let schema = batch.schema();
            let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
            let mut out = Vec::new();
            for row in batches_to_json(std::slice::from_ref(batch)).map_err(|e| e.to_string())? {
                let object: serde_json::Map<String, serde_json::Value> =
                    names.iter().map(|n| n.to_string()).zip(row).collect();
                serde_json::to_writer(&mut out, &object).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
            Ok(Bytes::from(out))
        }
    }
}

/// Streams the whole result. A failure mid-way ends NDJSON with an `{"error": ...}` line and
/// aborts an Arrow stream (its reader then sees a truncated stream, not a short result).
fn stream(run: QueryRun, format: ResultFormat) -> Response {
    let content_type = match format {
        ResultFormat::Arrow => "application/vnd.apache.arrow.stream",
        _ => "application/x-ndjson",
    };
    let state = (run, None, false);
    let body = futures::stream::unfold(state, move |(mut run, mut writer, done)| async move {
        if done {
            return None;
        }
        match run.next().await {
            Some(Ok(batch)) => match encode(format, &batch, &mut writer) {
                Ok(chunk) => Some((Ok(chunk), (run, writer, false))),
                Err(e) => Some((Err(std::io::Error::other(e)), (run, writer, true))),
            },
            Some(Err(error)) => {
                tracing::warn!(%error, "streamed query failed");
                let item = if format == ResultFormat::Arrow {
                    Err(std::io::Error::other(error.to_string()))
                } else {
                    let line = serde_json::json!({"error": error.to_string()}).to_string() + "\n";
                    Ok(Bytes::from(line))
                };
                Some((item, (run, writer, true)))
            }
            None => {
                let end = match writer.as_mut() {
                    Some(w) => w
                        .finish()
                        .map(|()| Bytes::from(std::mem::take(w.get_mut())))
                        .unwrap_or_default(),
                    None if format == ResultFormat::Arrow => {
                        // An empty result: still a valid stream with its schema.
                        arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &run.schema)
                            .and_then(|mut w| {
                                w.finish()?;
                                w.into_inner()
                            })
                            .map(Bytes::from)
                            .unwrap_or_default()
                    }
                    None => Bytes::new(),
                };
                Some((Ok(end), (run, writer, true)))
            }
        }
    });
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}
