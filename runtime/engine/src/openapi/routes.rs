//! The generated operations of one entity, as [`crate::rest::configure`] mounts them: the list
//! and bulk routes, the item routes (single-column keys only) and the relation routes. Read-only
//! tables (and views) get their read operations only.
//!
//! Operation ids follow Platformatic: `getCustomers`, `createCustomer`, `updateCustomers`,
//! `deleteCustomers`, `getCustomerById`, `updateCustomer` (upsert), `patchCustomer`,
//! `deleteCustomer`, `getEmailForCustomer`, `getInvoicesForCustomer`.

use heck::ToUpperCamelCase;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, Parameter};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Required, ResponseBuilder};

use super::params;
use super::responses::{self, json};
use super::schema;
use crate::config::LimitsConfig;
use crate::model::{AppModel, Entity, RelationKind};

/// One operation at a path.
pub struct Route {
    pub path: String,
    pub method: HttpMethod,
    pub operation: Operation,
}

/// What a generated operation answers besides its success: the error statuses.
const READ_ERRORS: &[u16] = &[400, 503];
const ITEM_READ_ERRORS: &[u16] = &[400, 404, 503];
const WRITE_ERRORS: &[u16] = &[400, 409, 413, 415, 422, 503];
const UPSERT_ERRORS: &[u16] = &[400, 409, 412, 413, 415, 422, 503];
const ITEM_WRITE_ERRORS: &[u16] = &[400, 404, 409, 412, 413, 415, 422, 503];
const DELETE_ERRORS: &[u16] = &[400, 422, 503];
const ITEM_DELETE_ERRORS: &[u16] = &[400, 404, 412, 422, 503];

/// Every generated route of the entity at `index`.
pub fn entity_routes(model: &AppModel, index: usize, limits: &LimitsConfig) -> Vec<Route> {
    let entity = &model.entities[index];
    let mut routes = Vec::new();
    let collection = format!("/{}", entity.plural);
    let row = schema::row_name(entity);
    let plural = entity.plural.to_upper_camel_case();
    let ty = &entity.type_name;

    routes.push(Route {
        path: collection.clone(),
        method: HttpMethod::Get,
        operation: operation(
            entity,
            format!("get{plural}"),
            format!("List {}", entity.plural),
            params::list(entity, limits),
            READ_ERRORS,
        )
        .response(
            "200",
            responses::page(format!("a page of {}", entity.plural), &row),
        )
        .build(),
    });
    if entity.is_writable() {
        routes.push(Route {
            path: collection.clone(),
            method: HttpMethod::Post,
            operation: operation(
                entity,
                format!("create{ty}"),
                format!(
                    "Create one {} or, with an array, many in one statement",
                    entity.name
                ),
                Vec::new(),
                WRITE_ERRORS,
            )
            .request_body(Some(body(schema::one_or_many(&schema::input_name(entity)))))
            .response("201", created(entity, &row))
            .build(),
        });
        routes.push(Route {
            path: collection.clone(),
            method: HttpMethod::Put,
            operation: operation(
                entity,
                format!("update{plural}"),
                format!(
                    "Set the body's fields on every matching {} (a filter is required)",
                    entity.name
                ),
                params::filters(entity),
                WRITE_ERRORS,
            )
            .request_body(Some(body(schema::reference(&schema::patch_name(entity)))))
            .response(
                "200",
                responses::ok("the updated rows", schema::array_of(&row, None)).build(),
            )
            .build(),
        });
        routes.push(Route {
            path: collection,
            method: HttpMethod::Delete,
            operation: operation(
                entity,
                format!("delete{plural}"),
                format!(
                    "Delete every matching {} (a filter is required)",
                    entity.name
                ),
                params::filters(entity),
                DELETE_ERRORS,
            )
            .response(
                "200",
                responses::ok("the deleted rows", schema::array_of(&row, None)).build(),
            )
            .build(),
        });
    }

    let Some(key) = entity.primary_key else {
        return routes;
    };
    let Some(path_key) = params::path_key(entity, "id") else {
        return routes;
    };
    let item = format!("/{}/{{id}}", entity.plural);
    let key_name = entity.fields[key].name.to_upper_camel_case();
    let the_row = || schema::reference(&row);
    let written = |description: String| {
        responses::ok(description, the_row())
            .header(
                "ETag",
                responses::etag("the written row's version, as a `GET` of it answers it"),
            )
            .build()
    };
    routes.push(Route {
        path: item.clone(),
        method: HttpMethod::Get,
        operation: operation(
            entity,
            format!("get{ty}By{key_name}"),
            format!("Get one {}", entity.name),
            vec![
                path_key.clone(),
                params::fields(entity),
                params::if_none_match(),
            ],
            ITEM_READ_ERRORS,
        )
        .response(
            "200",
            responses::ok(format!("the {}", entity.name), the_row())
                .header(
                    "ETag",
                    responses::etag(
                        "the row's version (not with `fields`): a hash of the row as this \
                         route answers it, for `If-Match` and `If-None-Match`",
                    ),
                )
                .build(),
        )
        .response("304", responses::not_modified())
        .build(),
    });
    if entity.is_writable() {
        routes.push(Route {
            path: item.clone(),
            method: HttpMethod::Put,
            operation: operation(
                entity,
                format!("update{ty}"),
                format!(
                    "Insert the {}, or update the fields the body names when it exists",
                    entity.name
                ),
                vec![path_key.clone(), params::if_match()],
                UPSERT_ERRORS,
            )
            .request_body(Some(body(schema::reference(&schema::input_name(entity)))))
            .response("200", written(format!("the stored {}", entity.name)))
            .build(),
        });
        routes.push(Route {
            path: item.clone(),
            method: HttpMethod::Patch,
            operation: operation(
                entity,
                format!("patch{ty}"),
                format!("Update the fields of the {} the body names", entity.name),
                vec![path_key.clone(), params::if_match()],
                ITEM_WRITE_ERRORS,
            )
            .request_body(Some(body(schema::reference(&schema::patch_name(entity)))))
            .response("200", written(format!("the updated {}", entity.name)))
            .build(),
        });
        routes.push(Route {
            path: item,
            method: HttpMethod::Delete,
            operation: operation(
                entity,
                format!("delete{ty}"),
                format!("Delete the {}", entity.name),
                vec![path_key.clone(), params::if_match()],
                ITEM_DELETE_ERRORS,
            )
            .response(
                "200",
                responses::ok(format!("the deleted {}", entity.name), the_row()).build(),
            )
            .build(),
        });
    }

    for relation in &entity.relations {
        if relation.kind == RelationKind::OneToMany && relation.local_field != key {
            continue;
        }
        let target = &model.entities[relation.target];
        let target_row = schema::row_name(target);
        let operation_id = format!("get{}For{ty}", relation.name.to_upper_camel_case());
        let operation = match relation.kind {
            RelationKind::ManyToOne => operation(
                entity,
                operation_id,
                format!("Get the {} of a {}", relation.name, entity.name),
                vec![path_key.clone(), params::fields(target)],
                ITEM_READ_ERRORS,
            )
            .response(
                "200",
                responses::ok(
                    format!(
                        "the {} (404 when the {} has none)",
                        relation.name, entity.name
                    ),
                    schema::reference(&target_row),
                )
                .build(),
            ),
            RelationKind::OneToMany => {
                let mut parameters = vec![path_key.clone()];
                parameters.extend(params::list(target, limits));
                operation(
                    entity,
                    operation_id,
                    format!("List the {} of a {}", relation.name, entity.name),
                    parameters,
                    ITEM_READ_ERRORS,
                )
                .response(
                    "200",
                    responses::page(
                        format!("a page of the {}'s {}", entity.name, relation.name),
                        &target_row,
                    ),
                )
            }
        };
        routes.push(Route {
            path: format!("/{}/{{id}}/{}", entity.plural, relation.name),
            method: HttpMethod::Get,
            operation: operation.build(),
        });
    }
    routes
}

fn operation(
    entity: &Entity,
    id: String,
    summary: String,
    parameters: Vec<Parameter>,
    errors: &[u16],
) -> OperationBuilder {
    let mut builder = OperationBuilder::new()
        .tag(&entity.table)
        .operation_id(Some(id))
        .summary(Some(summary))
        .parameters(Some(parameters));
    for status in errors {
        if let Some(response) = responses::error(*status) {
            builder = builder.response(status.to_string(), response);
        }
    }
    builder
}

fn body(
    schema: impl Into<utoipa::openapi::RefOr<Schema>>,
) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content("application/json", json(schema))
        .build()
}

/// `201`: the created row (with `Location`), or the created rows for an array body.
fn created(entity: &Entity, row: &str) -> utoipa::openapi::Response {
    let mut response = ResponseBuilder::new()
        .description(format!(
            "the created {} (an object), or the created rows (an array, for an array body)",
            entity.name
        ))
        .content("application/json", json(schema::one_or_many(row)));
    if entity.primary_key.is_some() {
        response = response.header(
            "Location",
            HeaderBuilder::new()
                .schema(Schema::Object(
                    ObjectBuilder::new().schema_type(Type::String).build(),
                ))
                .description(Some(format!(
                    "for one object: the path of the new {}, `/{}/<key>`",
                    entity.name, entity.plural
                )))
                .build(),
        );
    }
    response.build()
}
