//! Quartz cron expressions, as Airbyte schedules connections: six or seven fields (seconds,
//! minutes, hours, day of month, month, day of week, optional year), one of the two day fields
//! `?`. Checked field by field, and described in words for `cron/describe`.

/// One field's name and allowed range.
struct Field {
    name: &'static str,
    low: u32,
    high: u32,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 7] = [
    Field {
        name: "seconds",
        low: 0,
        high: 59,
        names: &[],
    },
    Field {
        name: "minutes",
        low: 0,
        high: 59,
        names: &[],
    },
    Field {
        name: "hours",
        low: 0,
        high: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        low: 1,
        high: 31,
        names: &[],
    },
    Field {
        name: "month",
        low: 1,
        high: 12,
        names: &MONTHS,
    },
    Field {
        name: "day of week",
        low: 1,
        high: 7,
        names: &DAYS,
    },
    Field {
        name: "year",
        low: 1970,
        high: 2099,
        names: &[],
    },
];

/// Checks an expression; the error says which field is wrong and why.
pub fn check(expression: &str) -> Result<(), String> {
    let parts: Vec<&str> = expression.split_whitespace().collect();
    if !(6..=7).contains(&parts.len()) {
        return Err(format!(
            "a Quartz cron expression has 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), this one has {}",
            parts.len()
        ));
    }
    for (index, part) in parts.iter().enumerate() {
        check_field(&FIELDS[index], part, index)?;
    }
    match (parts[3] == "?", parts[5] == "?") {
        (true, true) => Err("only one of day of month and day of week can be '?'".into()),
        (false, false) => Err(
            "one of day of month and day of week must be '?' (Quartz does not support both)".into(),
        ),
        _ => Ok(()),
    }
}

fn check_field(field: &Field, text: &str, index: usize) -> Result<(), String> {
    let day_field = index == 3 || index == 5;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("{}: empty item in {text:?}", field.name));
        }
        if item == "?" && day_field || item == "*" {
            continue;
        }
        if day_field && special_day(field, item) {
            continue;
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(step) if step >= 1 => {}
                _ => return Err(format!("{}: {step:?} is not a positive step", field.name)),
            }
        }
        if range == "*" {
            continue;
        }
        let (first, last) = match range.split_once('-') {
            Some((first, last)) => (first, Some(last)),
            None => (range, None),
        };
        let first = value(field, first)?;
        if let Some(last) = last {
            let last = value(field, last)?;
            if last < first && index != 5 {
                return Err(format!("{}: range {range:?} runs backwards", field.name));
            }
        }
    }
    Ok(())
}

/// `L`, `W`, `LW`, `L-3`, `15W` (day of month); `L`, `5L`, `6#3` (day of week).
fn special_day(field: &Field, item: &str) -> bool {
    let is_number = |text: &str, low: u32, high: u32| {
        text.parse::<u32>().is_ok_and(|n| (low..=high).contains(&n))
    };
    if field.name == "day of month" {
        item == "L"
            || item == "LW"
            || item.strip_prefix("L-").is_some_and(|n| is_number(n, 0, 30))
            || item.strip_suffix('W').is_some_and(|n| is_number(n, 1, 31))
    } else {
        item == "L"
            || item
                .strip_suffix('L')
                .is_some_and(|d| value(field, d).is_ok())
            || item
                .split_once('#')
                .is_some_and(|(d, n)| value(field, d).is_ok() && is_number(n, 1, 5))
    }
}

fn value(field: &Field, text: &str) -> Result<u32, String> {
    if let Some(position) = field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        return Ok(position as u32 + field.low);
    }
    match text.parse::<u32>() {
        Ok(number) if (field.low..=field.high).contains(&number) => Ok(number),
        Ok(number) => Err(format!(
            "{}: {number} is outside {}-{}",
            field.name, field.low, field.high
        )),
        Err(_) => Err(format!("{}: {text:?} is not a value", field.name)),
    }
}

/// A description in words of a valid expression.
pub fn describe(expression: &str) -> String {
    let parts: Vec<&str> = expression.split_whitespace().collect();
    let single = |text: &str| text.parse::<u32>().ok();
    let time = match (single(parts[0]), single(parts[1]), single(parts[2])) {
        (Some(s), Some(m), Some(h)) => format!("At {h:02}:{m:02}:{s:02}"),
        (Some(0), Some(m), None) if parts[2] == "*" => format!("At minute {m} of every hour"),
        (Some(0), None, None) if parts[1] == "*" && parts[2] == "*" => "Every minute".into(),
        _ => format!(
            "At second {}, minute {}, hour {}",
            parts[0], parts[1], parts[2]
        ),
    };
    let mut days = Vec::new();
    if parts[3] != "?" && parts[3] != "*" {
        days.push(format!("on day of month {}", parts[3]));
    }
    if parts[5] != "?" && parts[5] != "*" {
        days.push(format!("on day of week {}", parts[5]));
    }
    if parts[4] != "*" {
        days.push(format!("in month {}", parts[4]));
    }
    if let Some(year) = parts.get(6).filter(|y| **y != "*") {
        days.push(format!("in year {year}"));
    }
    if days.is_empty() {
        format!("{time}, every day")
    } else {
        format!("{time}, {}", days.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartz_expressions_are_checked_field_by_field() {
        for ok in [
            "0 0 12 * * ?",
            "0 15 10 ? * MON-FRI",
            "0 0/5 14,18 * * ?",
            "0 15 10 L * ?",
            "0 15 10 ? * 6#3",
            "0 0 0 1 JAN ? 2030",
            "0 0 * * * ?",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("0 0 12 * *", "6 or 7 fields"),
            ("0 0 25 * * ?", "hours: 25 is outside 0-23"),
            ("0 0 12 * * *", "must be '?'"),
            ("0 0 12 ? * ?", "only one"),
            ("0 61 * * * ?", "minutes"),
            ("0 0 12 * FOO ?", "month"),
            ("0 0/0 * * * ?", "step"),
            ("* * * * *", "6 or 7 fields"),
        ] {
            let error = check(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn descriptions_read_as_words() {
        assert_eq!(describe("0 30 2 * * ?"), "At 02:30:00, every day");
        assert_eq!(
            describe("0 0 8 ? * MON-FRI"),
            "At 08:00:00, on day of week MON-FRI"
        );
        assert_eq!(
            describe("0 15 * * * ?"),
            "At minute 15 of every hour, every day"
        );
    }
}
