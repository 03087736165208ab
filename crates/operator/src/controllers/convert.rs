//! Conversions from the CRD types (which know nothing of the Airbyte client) to the client's
//! request types.

use airbyte_client::models;

/// A tag filter's mode as the API spells it.
pub fn tag_mode(mode: embedded_crds::TagMode) -> models::TagMode {
    match mode {
        embedded_crds::TagMode::Any => models::TagMode::Any,
        embedded_crds::TagMode::All => models::TagMode::All,
    }
}

/// A template's stream selection mode as the API spells it.
pub fn stream_selection_mode(
    mode: embedded_crds::StreamSelectionMode,
) -> models::StreamSelectionMode {
    match mode {
        embedded_crds::StreamSelectionMode::Suggested => models::StreamSelectionMode::Suggested,
        embedded_crds::StreamSelectionMode::All => models::StreamSelectionMode::All,
        embedded_crds::StreamSelectionMode::Whitelist => models::StreamSelectionMode::Whitelist,
    }
}

/// A connection template's schema-change policy as the API spells it.
pub fn preference(
    preference: embedded_crds::NonBreakingChangesPreference,
) -> models::NonBreakingChangesPreference {
    use embedded_crds::NonBreakingChangesPreference as Spec;
    use models::NonBreakingChangesPreference as Api;
    match preference {
        Spec::Ignore => Api::Ignore,
        Spec::Disable => Api::Disable,
        Spec::PropagateColumns => Api::PropagateColumns,
        Spec::PropagateFully => Api::PropagateFully,
    }
}
