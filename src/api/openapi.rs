//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, generated from the router's own route
//! declarations ([`super::declared_routes`]).
//!
//! What the router knows is taken from it, so it cannot drift: every route's method and path,
//! its path parameters (the `{name}` segments) and who may call it (public, or a bearer token
//! of at least a role, from the same declaration the authorization middleware enforces). What
//! only a person can say (a summary, the query parameters, the bodies and the answers) comes
//! from [`describe`]: a route without a description there makes the document incomplete, and
//! the API's tests fail on it.

use super::{Access, Declared};
use serde_json::{Map, Value, json};

/// What [`describe`] says of one route.
#[derive(Debug, Default)]
pub struct Operation {
    pub summary: &'static str,
    /// `(name, schema, description)` of each query parameter (all optional).
    pub query: &'static [Param],
    /// The request body's schema, by component name.
    pub body: Option<&'static str>,
    /// The success answer: status, media type and schema (a component name, or `None` for a
    /// free-form body of that media type).
    pub ok: (u16, &'static str, Option<&'static str>),
    /// Client errors it may answer, besides 401/403 (from the access) and 503 (starting up).
    pub errors: &'static [u16],
}

const JSON: &str = "application/json";

/// A query parameter: name, schema (see [`scalar`]) and description.
type Param = (&'static str, &'static str, &'static str);
const MONTH: Param = (
    "month",
    "month",
    "Calendar month `YYYY-MM` (default: the current one).",
);
const SERVICE: Param = ("service", "string", "Only this service (a catalogue id).");
const PLAN_QUERY: &[Param] = &[
    (
        "growth",
        "number",
        "What-if: extra growth per month as a fraction (0.1 = +10 %).",
    ),
    (
        "from",
        "date",
        "Plan from this day (`YYYY-MM-DD`; default: today).",
    ),
];

/// The description of each declared route; `None` for a route nobody described yet.
pub fn describe(method: &axum::http::Method, path: &str) -> Option<Operation> {
    use axum::http::Method as M;
    let op = match (method.clone(), path) {
        (M::GET, "/") => Operation {
            summary: "The web console (HTML; its scripts come from this origin only).",
            ok: (200, "text/html", None),
            ..Default::default()
        },
        (M::GET, "/console/{file}") => Operation {
            summary: "A static file of the console (script, stylesheet).",
            ok: (200, "text/plain", None),
            errors: &[404],
            ..Default::default()
        },
        (M::GET, "/healthz") => Operation {
            summary: "Readiness: 200 `ok`; 503 while starting (with its progress), halted or unassigned.",
            ok: (200, JSON, Some("Health")),
            errors: &[503],
            ..Default::default()
        },
        (M::GET, "/livez") => Operation {
            summary: "Liveness: the process answers.",
            ok: (200, JSON, None),
            ..Default::default()
        },
        (M::GET, "/metrics") => Operation {
            summary: "Prometheus metrics (text exposition format).",
            ok: (200, "text/plain", None),
            ..Default::default()
        },
        (M::GET, "/api/v1/openapi.json") => Operation {
            summary: "This document.",
            ok: (200, JSON, None),
            ..Default::default()
        },
        (M::GET, "/api/v1/session") => Operation {
            summary: "Who the token belongs to and its role (what the console offers).",
            ok: (200, JSON, Some("Session")),
            ..Default::default()
        },
        (M::GET, "/api/v1/services") => Operation {
            summary: "The service catalogue: services, components, dependencies, agreements, SLOs.",
            ok: (200, JSON, Some("Services")),
            ..Default::default()
        },
        (M::GET, "/api/v1/services/{id}/sla") => Operation {
            summary: "A service's SLA over a window: availability, error budget, ticket clocks.",
            query: &[(
                "window",
                "string",
                "`month:YYYY-MM`, `quarter:YYYY-Qn`, `rolling:30d` (default: this month).",
            )],
            ok: (200, JSON, Some("ServiceSla")),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/breaches") => Operation {
            summary: "Breaches, newest state: ticket response and resolution, SLO budgets.",
            query: &[
                SERVICE,
                (
                    "since",
                    "date-time",
                    "Only breaches detected at or after this instant.",
                ),
            ],
            ok: (200, JSON, Some("Breaches")),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/breaches/{id}") => Operation {
            summary: "A breach with its review status, due date and review trail.",
            ok: (200, JSON, Some("BreachDetail")),
            errors: &[404],
            ..Default::default()
        },
        (M::POST, "/api/v1/breaches/{id}/review") => Operation {
            summary: "Records a review entry on a breach's trail (reviewer role).",
            body: Some("ReviewRequest"),
            ok: (201, JSON, Some("ReviewRecorded")),
            errors: &[400, 404, 409, 413, 415, 422],
            ..Default::default()
        },
        (M::GET, "/api/v1/reviews") => Operation {
            summary: "The breach register: every breach with its review status, due date and trail.",
            query: &[SERVICE],
            ok: (200, JSON, Some("Register")),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/reviews/verify") => Operation {
            summary: "Checks the review journal's hash chain on disk.",
            ok: (200, JSON, None),
            ..Default::default()
        },
        (M::GET, "/api/v1/tickets/{id}/sla") => Operation {
            summary: "A ticket's response and resolution clocks (live, or rebuilt from history).",
            ok: (200, JSON, Some("TicketSla")),
            errors: &[404],
            ..Default::default()
        },
        (M::GET, "/api/v1/burn-rate-alerts") => Operation {
            summary: "Multi-window burn-rate alerts of the SLOs.",
            query: &[SERVICE],
            ok: (200, JSON, Some("ObjectList")),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/catalogue/drift") => Operation {
            summary: "Telemetry the catalogue lacks, and catalogue entries without telemetry.",
            query: &[(
                "days",
                "integer",
                "Look back this many days, 1 to 400 (default 7).",
            )],
            ok: (200, JSON, None),
            errors: &[400],
            ..Default::default()
        },
        (M::POST, "/api/v1/query") => Operation {
            summary: "Read-only SQL over the history (bounded, cancellable; JSON, NDJSON or Arrow).",
            body: Some("QueryRequest"),
            ok: (200, JSON, Some("QueryResult")),
            errors: &[400, 408, 413, 415, 422, 429],
            ..Default::default()
        },
        (M::GET, "/api/v1/reports/service-review") => Operation {
            summary: "The monthly service review pack (HTML, CSV or JSON).",
            query: &[
                SERVICE,
                MONTH,
                ("format", "string", "`html` (default), `csv` or `json`."),
                (
                    "as_of",
                    "date-time",
                    "Review statuses as of this instant (default: now).",
                ),
            ],
            ok: (200, "text/html", None),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/reports/{name}") => Operation {
            summary: "A named report of `queries/` over one month.",
            query: &[MONTH],
            ok: (200, JSON, Some("Report")),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/evidence/sample") => Operation {
            summary: "A reproducible sample of the month's tickets with their SLA evidence.",
            query: &[
                MONTH,
                ("n", "integer", "How many tickets, 1 to 1000 (default 20)."),
                (
                    "seed",
                    "integer",
                    "Sampling seed (default: derived from the month).",
                ),
            ],
            ok: (200, JSON, None),
            errors: &[400],
            ..Default::default()
        },
        (M::GET, "/api/v1/problems/candidates") => Operation {
            summary: "Recurring incidents that are candidates for a problem record.",
            ok: (200, JSON, Some("ObjectList")),
            ..Default::default()
        },
        (M::GET, "/api/v1/forecasts") => Operation {
            summary: "A metric's forecast with its interval, model and backtest accuracy.",
            query: &[
                ("service", "string", "The service (a catalogue id)."),
                ("component", "string", "The component."),
                ("metric", "string", "The capacity metric."),
                (
                    "horizon",
                    "string",
                    "How far ahead, e.g. `30d` (default: the plan's).",
                ),
            ],
            ok: (200, JSON, None),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::POST, "/api/v1/forecasts/refit") => Operation {
            summary: "Refits every forecast now (admin role).",
            ok: (200, JSON, None),
            ..Default::default()
        },
        (M::GET, "/api/v1/capacity/plans") => Operation {
            summary: "Every component's capacity plan: risk, exhaustion dates, headroom.",
            query: PLAN_QUERY,
            ok: (200, JSON, Some("ObjectList")),
            errors: &[400],
            ..Default::default()
        },
        (M::GET, "/api/v1/capacity/plans/{service}/{component}") => Operation {
            summary: "One component's capacity plans.",
            query: PLAN_QUERY,
            ok: (200, JSON, Some("ObjectList")),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/capacity/plans/{service}/{component}/chart.svg") => Operation {
            summary: "One component's forecast chart (SVG).",
            query: PLAN_QUERY,
            ok: (200, "image/svg+xml", None),
            errors: &[400, 404],
            ..Default::default()
        },
        (M::GET, "/api/v1/staffing") => Operation {
            summary: "Weekly ticket-volume forecast per service (the staffing view).",
            query: &[SERVICE],
            ok: (200, JSON, None),
            errors: &[400, 404],
            ..Default::default()
        },
        _ => return None,
    };
    Some(op)
}

/// The document for `routes`. Routes [`describe`] does not know are listed in
/// `x-undescribed` (the tests require it to be absent).
pub fn document(routes: &[Declared]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut undescribed = Vec::new();
    for route in routes {
        let Some(op) = describe(&route.method, route.path) else {
            undescribed.push(format!("{} {}", route.method, route.path));
            continue;
        };
        let item = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        item[route.method.as_str().to_ascii_lowercase()] = operation(route, &op);
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "slacap",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "SLA attainment, breaches and their reviews, capacity forecasts and \
                read-only SQL over the history. Errors answer `{\"error\": \"...\"}`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token of `api.tokens`; its role (viewer < reviewer \
                        < admin) is checked per route (`x-required-role`).",
                }
            },
            "schemas": schemas(),
        },
    });
    if !undescribed.is_empty() {
        doc["x-undescribed"] = json!(undescribed);
    }
    doc
}

fn operation(route: &Declared, op: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_parameters(route.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    for (name, kind, description) in op.query {
        parameters.push(json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": scalar(kind),
        }));
    }
    let (status, media, schema) = op.ok;
    let content = match schema {
        Some(name) => {
            json!({ media: {"schema": {"$ref": format!("#/components/schemas/{name}")}} })
        }
        None => json!({ media: {} }),
    };
    let mut responses = Map::new();
    responses.insert(
        status.to_string(),
        json!({"description": "Success.", "content": content}),
    );
    let mut errors: Vec<u16> = op.errors.to_vec();
    if let Access::Role(_) = route.access {
        errors.extend([401, 403]);
    }
    if route.path.starts_with("/api/") {
        errors.push(503); // the SLA state is still being rebuilt at start-up
    }
    errors.sort_unstable();
    errors.dedup();
    for code in errors {
        // `/healthz` says why it is not ready in its own shape; every other error is `Error`.
        let shape = if code == 503 && schema == Some("Health") {
            "Health"
        } else {
            "Error"
        };
        responses.insert(
            code.to_string(),
            json!({
                "description": error_description(code),
                "content": {JSON: {"schema": {"$ref": format!("#/components/schemas/{shape}")}}},
            }),
        );
    }
    let id = operation_id(route);
    let mut value = json!({
        "operationId": id,
        "summary": op.summary,
        "parameters": parameters,
        "responses": responses,
    });
    match route.access {
        Access::Public => value["security"] = json!([]),
        Access::Role(role) => {
            value["security"] = json!([{"bearer": []}]);
            value["x-required-role"] = json!(role.as_str());
        }
    }
    if let Some(body) = op.body {
        value["requestBody"] = json!({
            "required": true,
            "content": {JSON: {"schema": {"$ref": format!("#/components/schemas/{body}")}}},
        });
    }
    value
}

/// The `{name}` segments of a route path.
pub fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `get_api_v1_breaches_id_review`-style ids: unique because (method, path) is.
fn operation_id(route: &Declared) -> String {
    let path: String = route
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = path
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let method = route.method.as_str().to_ascii_lowercase();
    if path.is_empty() {
        format!("{method}_console")
    } else {
        format!("{method}_{path}")
    }
}

fn scalar(kind: &str) -> Value {
    match kind {
        "integer" => json!({"type": "integer"}),
        "number" => json!({"type": "number"}),
        "date-time" => json!({"type": "string", "format": "date-time"}),
        "date" => json!({"type": "string", "format": "date"}),
        "month" => json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}),
        _ => json!({"type": "string"}),
    }
}

fn error_description(code: u16) -> &'static str {
    match code {
        400 => "Bad request: a parameter or the body is invalid.",
        401 => "No valid bearer token.",
        403 => "The token's role may not do this.",
        404 => "No such resource.",
        408 => "The query ran out of time.",
        409 => "The review does not fit the breach's trail at this point.",
        413 => "The body is too large.",
        415 => "The body is not JSON.",
        422 => "The body does not have the expected shape, or the result is too large.",
        429 => "Too many queries at once.",
        503 => "Starting up: the SLA state is still being rebuilt.",
        _ => "Error.",
    }
}

/// The schemas the operations refer to. Objects describe the fields clients rely on and allow
/// others (new fields are added without a version change).
fn schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let text = json!({"type": "string"});
    let nullable_text = json!({"type": ["string", "null"]});
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": text},
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "description": "`ok`, or why not ready (503)."},
                "events_replayed": {"type": "integer"},
                "elapsed_ms": {"type": "integer"},
            },
        },
        "Session": {
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": text,
                "role": {"type": "string", "enum": ["viewer", "reviewer", "admin"]},
            },
        },
        "Services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "slos"],
                "properties": {
                    "id": text, "name": text, "owner": nullable_text,
                    "agreement": {}, "components": {"type": "array"},
                    "dependencies": {"type": "array"}, "slos": {"type": "array"},
                },
            },
        },
        "ServiceSla": {
            "type": "object",
            "required": ["service", "window", "as_of", "availability", "tickets"],
            "properties": {
                "service": text, "window": {"type": "object"}, "as_of": time,
                "availability": {"type": "array", "items": {"type": "object"}},
                "tickets": {"type": "array", "items": {"type": "object"}},
            },
        },
        "Breach": {
            "type": "object",
            "required": ["id", "service", "kind", "detected_at", "observed", "target", "definition"],
            "properties": {
                "id": text,
                "definition": text,
                "service": text,
                "kind": {"type": "string", "enum": ["ticket_response", "ticket_resolution", "slo_budget_exhausted"]},
                "ticket": nullable_text,
                "slo": nullable_text,
                "slo_window": nullable_text,
                "detected_at": time,
                "observed": {"type": "number"},
                "target": {"type": "number"},
            },
        },
        "Breaches": {"type": "array", "items": {"$ref": "#/components/schemas/Breach"}},
        "ReviewStatus": {"type": "string", "enum": ["open", "acknowledged", "reviewed", "closed"]},
        "BreachDetail": {
            "type": "object",
            "required": ["breach", "review_status", "review_due_by", "review_overdue", "trail"],
            "properties": {
                "breach": {"$ref": "#/components/schemas/Breach"},
                "review_status": {"$ref": "#/components/schemas/ReviewStatus"},
                "review_due_by": time,
                "review_overdue": {"type": "boolean"},
                "trail": {"type": "array", "items": {"type": "object"}},
            },
        },
        "Register": {"type": "array", "items": {"$ref": "#/components/schemas/BreachDetail"}},
        "ActionItem": {
            "type": "object",
            "required": ["description", "owner", "due"],
            "additionalProperties": false,
            "properties": {
                "description": text, "owner": text,
                "due": {"type": "string", "format": "date"},
            },
        },
        "ReviewRequest": {
            "type": "object",
            "required": ["reviewer", "status"],
            "additionalProperties": false,
            "properties": {
                "reviewer": text,
                "status": {"$ref": "#/components/schemas/ReviewStatus"},
                "decision": nullable_text,
                "root_cause": nullable_text,
                "actions": {"type": "array", "items": {"$ref": "#/components/schemas/ActionItem"}},
                "problem": nullable_text,
                "minutes": nullable_text,
                "corrects": {"type": ["integer", "null"], "minimum": 1},
                "note": nullable_text,
            },
        },
        "ReviewRecorded": {
            "type": "object",
            "required": ["entry", "breach"],
            "properties": {
                "entry": {"type": "object"},
                "breach": {"$ref": "#/components/schemas/BreachDetail"},
            },
        },
        "TicketSla": {"type": "object", "required": ["ticket"], "properties": {"ticket": text}},
        "QueryRequest": {
            "type": "object",
            "required": ["sql"],
            "additionalProperties": false,
            "properties": {
                "sql": text,
                "format": {"type": "string", "enum": ["json", "ndjson", "arrow"], "default": "json"},
            },
        },
        "QueryResult": {
            "type": "object",
            "required": ["columns", "rows"],
            "properties": {"columns": {"type": "array"}, "rows": {"type": "array"}},
        },
        "Report": {
            "type": "object",
            "required": ["report", "window", "columns", "rows"],
            "properties": {
                "report": text,
                "window": {"type": "object", "properties": {"start": time, "end": time}},
                "columns": {"type": "array"}, "rows": {"type": "array"},
            },
        },
        "ObjectList": {"type": "array", "items": {"type": "object"}},
    })
}

/// `GET /api/v1/openapi.json`: built once from the declared routes.
pub async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse;
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    axum::Json(
        DOCUMENT
            .get_or_init(|| document(&super::declared_routes()))
            .clone(),
    )
    .into_response()
}
