//! `--preset NAME|FILE`: a hold profile (the holdkit-profile crate: `cornice` built in,
//! others in the profile directory or given by path) and the groups the include flags
//! select from it. The tables themselves are the profile's data, never this code's.

use crate::Cli;
use conventions::ToolError;
pub use profile::{Profile, Selection};
use reports::pgtruncate::ProfileInfo;

/// The runbook's flags, each the spelling of one include.
const RUNBOOK_FLAGS: [(&str, &str); 2] = [
    ("--include-opportunities", "opportunities"),
    ("--include-auth", "auth"),
];

/// The profile `--preset` names and what the include flags select from it; `None`
/// without `--preset`.
pub fn load(cli: &Cli) -> Result<Option<(Profile, Selection)>, ToolError> {
    let Some(given) = &cli.preset else {
        return Ok(None);
    };
    let spec = profile::Spec::parse(given).map_err(ToolError::from)?;
    let profile = profile::load(&spec).map_err(ToolError::from)?;
    let mut includes: Vec<&str> = cli.include.iter().map(String::as_str).collect();
    for ((flag, name), on) in RUNBOOK_FLAGS
        .into_iter()
        .zip([cli.include_opportunities, cli.include_auth])
    {
        if !on {
            continue;
        }
        if !profile.includes.contains_key(name) && !profile.tables.groups.contains_key(name) {
            return Err(ToolError::usage(format!(
                "{flag} is the spelling of --include {name}, which {} defines neither as an include nor as a group ({}): use --include with one of its names; nothing was truncated",
                profile.describe(),
                known(&profile)
            )));
        }
        includes.push(name);
    }
    let selection = profile.select(&includes).map_err(ToolError::from)?;
    Ok(Some((profile, selection)))
}

fn known(profile: &Profile) -> String {
    let names = profile.include_names();
    if names.is_empty() {
        "it defines no include".into()
    } else {
        format!("its includes: {}", names.join(", "))
    }
}

/// The report's account of the profile followed.
pub fn info(profile: &Profile) -> ProfileInfo {
    ProfileInfo {
        name: profile.name.clone(),
        source: profile.source.to_string(),
        sha256: profile.sha256.clone(),
    }
}
