//! Bearer-token access control: the token's SHA-256 is compared (in constant time) with the
//! configured hashes, and the role a route needs is the one it declared where it was defined
//! (`api::routes`). A route without a declaration is refused. `/healthz` and `/metrics` are
//! declared public for probes and scrapers.

use super::error::ApiError;
use super::{Access, AppState, Declared};
use crate::config::Role;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

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

/// The authorization layer's view: the shared state and what every route declared.
#[derive(Clone)]
pub struct Guard {
    state: AppState,
    declared: Arc<HashMap<(Method, &'static str), Access>>,
}

impl Guard {
    pub fn new(state: AppState, declared: Vec<Declared>) -> Guard {
        let declared = declared
            .into_iter()
            .map(|d| ((d.method, d.path), d.access))
            .collect();
        Guard {
            state,
            declared: Arc::new(declared),
        }
    }

    /// The declared access of the route a request matched; HEAD is served by GET routes.
    fn access(&self, method: &Method, matched: &str) -> Option<Access> {
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        self.declared
            .iter()
            .find(|((m, p), _)| *m == method && *p == matched)
            .map(|(_, access)| *access)
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The holder of `token` among `tokens`. Every configured hash is compared in constant time,
/// and all of them are compared, so the answer's timing tells nothing about which hash came
/// close.
pub fn find_holder<'a>(
    tokens: &'a [crate::config::ApiToken],
    token: &str,
) -> Option<&'a crate::config::ApiToken> {
    let hash = token_hash(token);
    let mut found = None;
    for candidate in tokens {
        if bool::from(candidate.sha256.as_bytes().ct_eq(hash.as_bytes())) {
            found = Some(candidate);
        }
    }
    found
}

fn forbidden(message: String) -> Response {
    ApiError {
        status: StatusCode::FORBIDDEN,
        message,
    }
    .into_response()
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

pub async fn authorize(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let Some(matched) = request.extensions().get::<MatchedPath>().cloned() else {
        // No route matched: the fallback answers 404 and reveals nothing.
        return next.run(request).await;
    };
    let needed = match guard.access(request.method(), matched.as_str()) {
        Some(Access::Public) => return next.run(request).await,
        Some(Access::Role(role)) => role,
        None => {
            tracing::error!(route = matched.as_str(), method = %request.method(), "route without an access declaration refused");
            return forbidden("this route declares no access and is closed".into());
        }
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let Some(token) = token else {
        return unauthorized("an `Authorization: Bearer <token>` header is required");
    };
    let Some(holder) = find_holder(&guard.state.config.settings.api.tokens, token) else {
        return unauthorized("the token is not valid");
    };
    if holder.role < needed {
        return forbidden(format!(
            "this route needs the {} role; the token has {}",
            needed.as_str(),
            holder.role.as_str()
        ));
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
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn a_token_is_found_by_its_hash_only() {
        let tokens = vec![
            token_entry("a", Role::Viewer, "one"),
            token_entry("b", Role::Admin, "two"),
        ];
        assert_eq!(
            find_holder(&tokens, "two").map(|t| t.name.as_str()),
            Some("b")
        );
        assert!(find_holder(&tokens, "three").is_none());
        assert!(!format!("{:?}", tokens[0]).contains(&token_hash("one")));
    }
}
