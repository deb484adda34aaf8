//! Figures and lists for people: the one summary line each tool ends with on stderr,
//! and the short view on a terminal.

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `["a", "b", "c"]` → `a, b and c`.
pub fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The lines of `items`, at most `max` of them: past that, the first `max - 1` and then
/// `... and N more`, so a long list in a view still fits on a screen.
pub fn capped<T>(items: &[T], max: usize, line: impl Fn(&T) -> String) -> Vec<String> {
    let shown = if items.len() > max {
        max.saturating_sub(1)
    } else {
        items.len()
    };
    let mut lines: Vec<String> = items[..shown].iter().map(line).collect();
    if shown < items.len() {
        lines.push(format!("... and {} more", items.len() - shown));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_lists_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(150 * 1024 * 1024), "150.0 MiB");
        assert_eq!(list(&["a".into()]), "a");
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        let n = |x: &u32| x.to_string();
        assert_eq!(capped(&[1, 2, 3], 3, n), ["1", "2", "3"]);
        assert_eq!(capped(&[1, 2, 3, 4], 3, n), ["1", "2", "... and 2 more"]);
    }
}
