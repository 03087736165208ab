//! Property-based fuzzing (proptest) of what reads user or network input: secret-ref paths and
//! the config merge, the Airbyte client's response parsing, the simulator's request checks
//! against its reference, JWT claim reading, route lookup. No input panics, and the merge obeys its stated
//! invariants. Case counts are bounded for CI (PROPTEST_CASES raises them for a longer run).

use std::collections::BTreeMap;

use airbyte_client::{ApiError, BearerToken, Endpoint};
use airbyte_sim::reference::{Reference, Strictness};
use embedded_crds::{SecretKeyRef, SecretValueRef};
use embedded_operator::controllers::secret_values::{merge, set_path};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The simulator's reference, loaded once (compiling its schemas takes a moment).
static STRICT: std::sync::LazyLock<Reference> = std::sync::LazyLock::new(|| {
    Reference::load(&Strictness {
        refuse_unknown_fields: true,
        tenant_field: "workspace_name".into(),
    })
});

fn config() -> impl Strategy<Value = Map<String, Value>> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::btree_map("[a-c]{1,2}", inner.clone(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            prop::collection::vec(inner, 0..3).prop_map(Value::Array),
        ]
    });
    prop::collection::btree_map("[a-c]{1,2}", value, 0..5).prop_map(|m| m.into_iter().collect())
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-c]{1,2}", 1..4).prop_map(|segments| segments.join("."))
}

fn lookup<'a>(config: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut current = config.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512), ..ProptestConfig::default() })]

    /// Either the value lands at its path and everything outside the path is untouched, or the
    /// merge says which prefix is not an object, and nothing panics.
    #[test]
    fn set_path_places_the_value_or_names_the_blocking_prefix(base in config(), path in path(), value in "[a-z0-9]{0,8}") {
        let mut merged = base.clone();
        match set_path(&mut merged, &path, Value::String(value.clone())) {
            Ok(()) => {
                prop_assert_eq!(lookup(&merged, &path), Some(&Value::String(value)));
                let first = path.split('.').next().unwrap();
                for (key, original) in &base {
                    if key != first {
                        prop_assert_eq!(merged.get(key), Some(original));
                    }
                }
            }
            Err(message) => {
                prop_assert!(message.contains("is not an object"), "{}", message);
                prop_assert_eq!(&merged, &base);
            }
        }
    }

    #[test]
    fn merge_applies_every_reference_once(base in config(), paths in prop::collection::vec(path(), 0..4)) {
        let refs: Vec<SecretValueRef> = paths.iter().map(|p| SecretValueRef {
            path: p.clone(),
            secret_key_ref: SecretKeyRef { name: "s".into(), key: "k".into(), namespace: None },
        }).collect();
        let values: BTreeMap<String, String> = paths.iter().map(|p| (p.clone(), format!("v-{p}"))).collect();
        let distinct: std::collections::HashSet<&String> = paths.iter().collect();
        match merge(&base, &values, &refs) {
            Ok(merged) => {
                prop_assert_eq!(distinct.len(), paths.len(), "duplicate paths are refused");
                // Overlapping paths are refused, so every value is where it was put.
                for p in &paths {
                    prop_assert_eq!(lookup(&merged, p), Some(&Value::String(format!("v-{p}"))));
                }
            }
            Err(message) => prop_assert!(
                message.contains("two secret references") || message.contains("overlap") || message.contains("is not an object"),
                "{}",
                message
            ),
        }
    }

    #[test]
    fn api_errors_parse_any_body_without_panicking(status in 400u16..600, body in prop::collection::vec(any::<u8>(), 0..512), detail in ".{0,64}") {
        for bytes in [body, json!({"detail": detail}).to_string().into_bytes(), json!({"detail": [{"loc": [detail.clone(), 3], "msg": detail}]}).to_string().into_bytes()] {
            let error = ApiError::from_response(Endpoint::SourcesCreate, status, &bytes, None);
            prop_assert_eq!(error.status(), Some(status));
            prop_assert!(error.to_string().len() < 2000);
        }
    }

    #[test]
    fn the_simulators_request_checks_never_panic(body in prop::collection::vec(any::<u8>(), 0..256), query in ".{0,128}", value in config()) {
        let reference = &*STRICT;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        for operation in &reference.operations {
            let _ = operation.check_body(parsed.as_ref(), false);
            let _ = operation.check_body(Some(&Value::Object(value.clone())), true);
            let _ = operation.check_query(&query);
        }
    }

    #[test]
    fn token_claims_are_read_or_ignored(text in ".{0,256}", payload in prop::collection::vec(any::<u8>(), 0..128)) {
        use base64::Engine;
        let _ = BearerToken::new(text).claims();
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        let token = BearerToken::new(format!("x.{encoded}.y"));
        let _ = token.expires_at();
        let shown = format!("{token:?}");
        prop_assert!(!shown.contains(&encoded) || encoded.is_empty());
    }

    #[test]
    fn route_lookup_never_panics(method in "[A-Z]{0,7}", path in "(/[a-z_{}-]{0,12}){0,8}") {
        let reference = &*STRICT;
        let _ = reference.route(&method, &path);
        let _ = reference.route(&method, &format!("/api/v1{path}"));
        let _ = Endpoint::from_label(&path);
    }
}
