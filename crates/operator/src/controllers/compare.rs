//! Comparing a configuration Airbyte shows (secret values masked) with the declared one.

use serde_json::{Map, Value};

use airbyte_client::models::MASKED_SECRET;

/// Whether every value declared in `desired` is in `observed` (nested objects compared the same
/// way). A masked value counts as equal: Airbyte never shows secrets back, and a changed Secret is
/// noticed through the config hash instead. Keys only Airbyte has (template defaults) are ignored.
pub fn contains(observed: &Map<String, Value>, desired: &Map<String, Value>) -> bool {
    desired
        .iter()
        .all(|(key, want)| match (observed.get(key), want) {
            (Some(Value::Object(have)), Value::Object(want)) => contains(have, want),
            (Some(Value::String(masked)), _) if masked == MASKED_SECRET => true,
            (Some(have), want) => have == want,
            (None, _) => false,
        })
}

/// Whether `observed` holds exactly the declared keys and values (masked values count as equal).
pub fn same(observed: &Map<String, Value>, desired: &Map<String, Value>) -> bool {
    observed.len() == desired.len()
        && desired
            .iter()
            .all(|(key, want)| match (observed.get(key), want) {
                (Some(Value::Object(have)), Value::Object(want)) => same(have, want),
                (Some(Value::String(masked)), _) if masked == MASKED_SECRET => true,
                (Some(have), want) => have == want,
                (None, _) => false,
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn masked_values_and_extra_keys() {
        let desired = map(json!({"a": 1, "secret": "s", "n": {"x": 2}}));
        let observed = map(json!({"a": 1, "secret": MASKED_SECRET, "n": {"x": 2}, "default": 5}));
        assert!(
            contains(&observed, &desired),
            "template defaults are not drift"
        );
        assert!(
            !same(&observed, &desired),
            "an extra key is drift for a template"
        );
        let exact = map(json!({"a": 1, "secret": MASKED_SECRET, "n": {"x": 2}}));
        assert!(same(&exact, &desired));
        let changed = map(json!({"a": 2, "secret": MASKED_SECRET, "n": {"x": 2}}));
        assert!(!contains(&changed, &desired) && !same(&changed, &desired));
        let removed_nested = map(json!({"a": 1, "secret": MASKED_SECRET, "n": {}}));
        assert!(!contains(&removed_nested, &desired));
    }
}
