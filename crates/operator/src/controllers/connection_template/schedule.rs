//! A ConnectionTemplate's own check: its cron expression, described by Airbyte in words (asked
//! only when the spec changed). An expression Airbyte calls invalid stalls the template before
//! anything is read or written.

use super::desired::Desired;
use crate::controllers::error::Error;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::Reason;

/// The schedule, as Airbyte describes it.
#[derive(Debug, PartialEq)]
pub enum Schedule {
    /// No schedule declared (Airbyte's default applies).
    None,
    /// As described before (the expression did not change).
    Known(Option<String>),
    Valid {
        description: String,
    },
    Invalid {
        description: String,
    },
}

impl Schedule {
    /// What status shows.
    pub fn description(&self) -> Option<String> {
        match self {
            Schedule::None => None,
            Schedule::Known(known) => known.clone(),
            Schedule::Valid { description } | Schedule::Invalid { description } => {
                Some(description.clone())
            }
        }
    }

    /// An invalid expression stops the template.
    pub fn stall(&self, desired: &Desired) -> Option<(Reason, String)> {
        let Schedule::Invalid { description } = self else {
            return None;
        };
        let expression = desired.cron_expression.clone().unwrap_or_default();
        Some((
            Reason::InvalidCronExpression,
            format!(
                "spec.cronExpression {expression:?} is not a valid Quartz cron expression: {description}"
            ),
        ))
    }
}

/// Asks Airbyte about the cron expression when it may have changed (`known`: the description in
/// status).
pub async fn check<A: AirbyteApi>(
    airbyte: &A,
    desired: &Desired,
    changed: bool,
    known: Option<String>,
) -> Result<Schedule, Error> {
    let Some(expression) = &desired.cron_expression else {
        return Ok(Schedule::None);
    };
    if !changed && known.is_some() {
        return Ok(Schedule::Known(known));
    }
    let described = airbyte.describe_cron(expression).await?;
    Ok(if described.is_valid {
        Schedule::Valid {
            description: described.description,
        }
    } else {
        Schedule::Invalid {
            description: described.description,
        }
    })
}
