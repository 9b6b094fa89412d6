//! The bearer scheme of an API with auth on: callers send `Authorization: Bearer <JWT>`, and
//! every operation can answer 401 (no token, or a refused one) and 403 (a role without the
//! grant).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, path::Operation};

use super::responses;

/// The name of the scheme in `components.securitySchemes`.
const BEARER: &str = "bearerAuth";

pub fn scheme(components: ComponentsBuilder) -> ComponentsBuilder {
    components.security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "A JWT whose role claim names the caller's role (`runtime token --role R` \
                     mints one for development)",
                ))
                .build(),
        ),
    )
}

pub fn requirement() -> SecurityRequirement {
    SecurityRequirement::new(BEARER, Vec::<String>::new())
}

/// Adds the 401 and 403 answers to an operation.
pub fn refusals(operation: &mut Operation) {
    for status in [401, 403] {
        if let Some(response) = responses::error(status) {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert(response);
        }
    }
}
