//! Durations on the command line: `500ms`, `5s`, `2m`, `1h`, `1m30s`; a bare number is
//! seconds (as systemd reads `TimeoutStopSec=90`).

use std::time::Duration;

/// The longest duration any flag takes: 24 days, under PostgreSQL's limit for its
/// timeouts (2^31 ms) and far past any lock or job wait that makes sense. Bounding
/// durations here keeps every deadline computed from them free of overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 24 * 3600);

/// Parses a duration of at most [`MAX_DURATION`]. Errors are one sentence naming the
/// bad input.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let d = parse_unbounded(input)?;
    if d > MAX_DURATION {
        return Err(format!(
            "duration {input:?} is longer than the limit of 24 days: give a shorter one, e.g. 30s or 10m"
        ));
    }
    Ok(d)
}

fn parse_unbounded(input: &str) -> Result<Duration, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err("empty duration: give a number with a unit, e.g. 500ms, 5s or 2m".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("duration {input:?} is too large"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad(input));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad(input))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" | "sec" => Duration::from_secs(number),
            "m" | "min" => number
                .checked_mul(60)
                .map(Duration::from_secs)
                .ok_or_else(|| bad(input))?,
            "h" => number
                .checked_mul(3600)
                .map(Duration::from_secs)
                .ok_or_else(|| bad(input))?,
            _ => return Err(bad(input)),
        };
        rest = &rest[unit_len..];
        total = total.checked_add(part).ok_or_else(|| bad(input))?;
    }
    Ok(total)
}

fn bad(input: &str) -> String {
    format!("invalid duration {input:?}: use a number with a unit (ms, s, m, h), e.g. 500ms, 5s, 2m or 1m30s")
}

/// Formats a duration the way [`parse_duration`] reads it back (`1500ms` → `1500ms`,
/// `90s` → `90s`): whole seconds when exact, else milliseconds.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A human age: `3m`, `2h5m`, `45s`, for messages such as "idle in transaction for 3m".
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 if s % 60 == 0 => format!("{}m", s / 60),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        _ if s % 3600 / 60 == 0 => format!("{}h", s / 3600),
        _ => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 7s "), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "5x",
            "-5s",
            "5 s",
            "1.5s",
            "ms5",
            "5sm",
            "abc",
            "99999999999999999999h",
            "5124095576030431h",
            "18446744073709551615s",
            "18446744073709551615",
            "25d",
            "577h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_duration("5x").unwrap_err().contains("\"5x\""));
        assert!(parse_duration("577h").unwrap_err().contains("24 days"));
        assert_eq!(parse_duration("576h"), Ok(MAX_DURATION));
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::from_millis(1500),
            Duration::from_secs(90),
            Duration::ZERO,
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn ages() {
        assert_eq!(human_age(Duration::from_secs(45)), "45s");
        assert_eq!(human_age(Duration::from_secs(180)), "3m");
        assert_eq!(human_age(Duration::from_secs(185)), "3m5s");
        assert_eq!(human_age(Duration::from_secs(7200)), "2h");
        assert_eq!(human_age(Duration::from_secs(7500)), "2h5m");
    }
}
