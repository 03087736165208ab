//! A short, stable hash of an applied configuration (Secret values included), recorded in status
//! so that a changed Secret value is noticed without comparing masked secrets with Airbyte.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// `sha256:` + 32 hex characters of the canonical JSON (object keys sorted).
pub fn config_hash(value: &impl Serialize) -> String {
    let canonical =
        serde_json::to_vec(&serde_json::to_value(value).unwrap_or_default()).unwrap_or_default();
    format!("sha256:{}", hex::encode(&Sha256::digest(&canonical)[..16]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter_and_values_do() {
        let a = super::config_hash(&json!({"a": 1, "b": {"c": "x"}}));
        let b = super::config_hash(&json!({"b": {"c": "x"}, "a": 1}));
        let c = super::config_hash(&json!({"a": 1, "b": {"c": "y"}}));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("sha256:") && a.len() == 39);
    }
}
