//! The request deadline: every request of every port answers within
//! `limits.request_timeout_secs`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{middleware, web};

use crate::api::ApiContext;
use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode};

/// Answers 503 `REQUEST_TIMEOUT` for a request still running after
/// `limits.request_timeout_secs`; dropping its handler frees what it held (a transaction rolls
/// back, a connection goes back to its pool), and the statement itself stops at the same limit
/// in the database.
pub async fn deadline(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = req.app_data::<web::Data<ApiContext>>().map_or_else(
        || LimitsConfig::default().request_timeout(),
        |ctx| ctx.limits().request_timeout(),
    );
    tokio::time::timeout(limit, next.call(req))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request did not finish within {} s (limits.request_timeout_secs) and was stopped",
                    limit.as_secs_f64()
                ),
            )
            .into())
        })
}
