//! Bearer-token access control for `/api/v1`: the token's SHA-256 is looked up among the
//! configured hashes, and the route's method and path decide the role it needs. `/healthz` and
//! `/metrics` stay open for probes and scrapers.

use super::AppState;
use super::error::ApiError;
use crate::config::Role;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Who made a request, for the audit trail (added to the request's extensions).
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// Lower-case hex SHA-256.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A token entry for `token` (for the demo and tests; operators write the hash into
/// `slacap.toml`).
pub fn token_entry(name: &str, role: Role, token: &str) -> crate::config::ApiToken {
    crate::config::ApiToken {
        name: name.to_string(),
        role,
        sha256: token_hash(token),
    }
}

/// The least role a route needs.
pub fn required_role(method: &Method, path: &str) -> Role {
    if path == "/api/v1/forecasts/refit" {
        Role::Admin
    } else if method == Method::POST && path.ends_with("/review") {
        Role::Reviewer
    } else {
        Role::Viewer
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.into(),
    }
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        return next.run(request).await;
    }
    let needed = required_role(request.method(), path);
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return unauthorized("an `Authorization: Bearer <token>` header is required");
    };
    let hash = token_hash(token);
    let Some(holder) = state
        .config
        .settings
        .api
        .tokens
        .iter()
        .find(|t| t.sha256 == hash)
    else {
        return unauthorized("the token is not valid");
    };
    if holder.role < needed {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "this route needs the {} role; the token has {}",
                needed.as_str(),
                holder.role.as_str()
            ),
        }
        .into_response();
    }
    request.extensions_mut().insert(Principal {
        name: holder.name.clone(),
        role: holder.role,
    });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn routes_need_the_least_role_that_fits() {
        assert_eq!(
            required_role(&Method::GET, "/api/v1/breaches"),
            Role::Viewer
        );
        assert_eq!(required_role(&Method::POST, "/api/v1/query"), Role::Viewer);
        assert_eq!(
            required_role(&Method::POST, "/api/v1/breaches/x/review"),
            Role::Reviewer
        );
        assert_eq!(
            required_role(&Method::POST, "/api/v1/forecasts/refit"),
            Role::Admin
        );
    }
}
