//! libpq's password file: `host:port:db:user:password` lines, `*` matching anything.

use conventions::secrets::Secret;
use std::path::Path;

/// The password for this connection from a pgpass file (`host:port:db:user:password`,
/// `*` matches anything, `\:` and `\\` escape). A missing file is no password;
/// a file others can read is ignored with a warning, as libpq does.
pub(crate) fn pgpass_lookup(
    file: &Path,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Result<Option<Secret>, String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "password file {} has group or world access and was ignored: chmod 600 it",
            file.display()
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("password file {} could not be read: {e}", file.display()))?;
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            // The fifth field runs to the end of the line, colons included.
            return Ok(Some(Secret::new(fields[4].clone())));
        }
    }
    Ok(None)
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_matching() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pgtruncate-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:*:nope\nlocalhost:5432:app:u:pa\\:ss:word\n*:*:*:*:fallback-pw\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            pgpass_lookup(&file, "localhost", 5432, "app", "u")
                .unwrap()
                .as_ref()
                .map(Secret::expose),
            Some("pa:ss:word")
        );
        assert_eq!(
            pgpass_lookup(&file, "db", 1, "x", "y")
                .unwrap()
                .as_ref()
                .map(Secret::expose),
            Some("fallback-pw")
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(pgpass_lookup(&file, "localhost", 5432, "app", "u").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
