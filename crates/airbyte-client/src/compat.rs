//! What this process learnt about the API revision the server speaks, so that each fallback is
//! tried once and then remembered (per client, i.e. for the process and its base URL).
//!
//! Airbyte has moved the token endpoints (`/api/v1/embedded/*` → `/api/v1/account/applications/*`),
//! renamed the tenant field of token requests (`workspace_name`, `external_user_id`,
//! `customer_name`) and switched source updates from `PATCH` to `PUT`. The client speaks the
//! current reference first and falls back once when the server answers that it does not know it.

use std::sync::atomic::{AtomicU8, Ordering};

/// The tenant field names, current first.
pub const TENANT_FIELDS: [&str; 3] = ["workspace_name", "customer_name", "external_user_id"];

/// One decision about the server, made once.
#[derive(Default)]
pub(crate) struct Choice(AtomicU8);

impl Choice {
    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    /// Records `value`; true when this changed what was known.
    pub fn set(&self, value: u8) -> bool {
        self.0.swap(value, Ordering::AcqRel) != value
    }
}

#[derive(Default)]
pub(crate) struct Compat {
    /// 0: current `/api/v1/account/applications/*` token paths; 1: deprecated `/api/v1/embedded/*`.
    pub token_paths: Choice,
    /// Index into [`TENANT_FIELDS`].
    pub tenant_field: Choice,
    /// 0: `PUT` source updates; 1: `PATCH` (servers of the October 2025 revision).
    pub source_update: Choice,
}

impl Compat {
    pub fn deprecated_token_paths(&self) -> bool {
        self.token_paths.get() == 1
    }

    pub fn tenant_field(&self) -> &'static str {
        TENANT_FIELDS[usize::from(self.tenant_field.get()).min(TENANT_FIELDS.len() - 1)]
    }
}

/// The tenant field a refused token request asks for instead of `sent`, if its answer names one.
pub fn tenant_field_asked_for(sent: &str, error: &crate::ApiError) -> Option<u8> {
    let named = |field: &str| {
        error.fields().iter().any(|e| {
            e.field.as_deref().is_some_and(|f| f.ends_with(field)) || e.message.contains(field)
        })
    };
    TENANT_FIELDS
        .iter()
        .position(|field| *field != sent && named(field))
        .map(|index| index as u8)
}
