//! The hold profile a run follows (the holdkit-profile crate reads it under the host's
//! trust rules), the units and flags it names with the command line's overrides, and
//! `holdctl profiles`, the listing. holdctl's code names no application: everything
//! application-specific is the profile's data.

use crate::cli::Cli;
use conventions::ToolError;
use profile::{Profile, Source, Spec};
use reports::holdctl::{ListedProfile, ProfileInfo};

/// The profile as `--profile` named it, read and validated.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// What `--profile` was given: passed on to pgtruncate as `--preset` unchanged, so
    /// both tools read the same file.
    pub spec: String,
    pub profile: Profile,
    /// Every include chosen, each checked against the profile.
    pub includes: Vec<String>,
}

impl Chosen {
    /// The API unit: `--service`, else the profile's.
    pub fn api(&self, cli: &Cli) -> String {
        cli.service
            .clone()
            .unwrap_or_else(|| self.profile.units.api.to_string())
    }

    /// The other units: `--monitor` alone when given (the two-unit case of the
    /// runbook), else the profile's `others`.
    pub fn others(&self, cli: &Cli) -> Vec<String> {
        match &cli.monitor {
            Some(unit) => vec![unit.clone()],
            None => self
                .profile
                .units
                .others
                .iter()
                .map(|u| u.to_string())
                .collect(),
        }
    }

    /// The flags hibernate writes, in the profile's order.
    pub fn flags(&self) -> Vec<(String, String)> {
        self.profile
            .flags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// What wake writes without a hold record: each flag's `wake_flags` value, or
    /// unset.
    pub fn wake_flags(&self) -> Vec<(String, Option<String>)> {
        self.profile
            .flags
            .keys()
            .map(|k| (k.clone(), self.profile.wake_flags.get(k).cloned()))
            .collect()
    }

    pub fn info(&self) -> ProfileInfo {
        info(&self.profile)
    }
}

pub fn info(profile: &Profile) -> ProfileInfo {
    ProfileInfo {
        name: profile.name.clone(),
        source: profile.source.to_string(),
        sha256: profile.sha256.clone(),
    }
}

/// Reads the profile `--profile` names and checks the includes against it: an untrusted
/// file is refused (exit 3) before a byte is read, a broken one is a usage error naming
/// its file and line, an include the profile does not define a usage error.
pub fn choose(cli: &Cli) -> Result<Chosen, ToolError> {
    let spec = Spec::parse(&cli.profile).map_err(ToolError::from)?;
    let profile = profile::load(&spec).map_err(ToolError::from)?;
    let includes = cli.includes();
    for ((flag, name), on) in crate::cli::INCLUDE_SPELLINGS
        .into_iter()
        .zip([cli.include_opportunities, cli.include_auth])
    {
        if on && !profile.includes.contains_key(name) && !profile.tables.groups.contains_key(name) {
            return Err(ToolError::usage(format!(
                "{flag} is the spelling of --include {name}, which {} defines neither as an include nor as a group: use --include with one of its names; nothing was changed",
                profile.describe()
            )));
        }
    }
    profile.select(&includes).map_err(ToolError::from)?;
    Ok(Chosen {
        spec: cli.profile.clone(),
        profile,
        includes,
    })
}

/// The profile a hold was made with, read again for wake: the record holds everything
/// wake needs, so a profile that can no longer be read is a warning, as is one whose
/// text changed since.
pub fn recheck(recorded: &ProfileInfo) -> Option<String> {
    let spec = if recorded.source == Source::BuiltIn.to_string() {
        Spec::Name(recorded.name.clone())
    } else {
        Spec::File(recorded.source.clone().into())
    };
    match profile::load(&spec) {
        Ok(now) if now.sha256 == recorded.sha256 => None,
        Ok(now) => Some(format!(
            "profile {} ({}) changed since the hold was made (sha256 {} then, {} now): wake undoes the hold as its record says, not as the profile says now",
            recorded.name, recorded.source, recorded.sha256, now.sha256
        )),
        Err(e) => Some(format!(
            "the hold's profile {} ({}) cannot be read now ({e}): wake undoes the hold as its record says, which needs no profile",
            recorded.name, recorded.source
        )),
    }
}

/// `holdctl profiles`: every profile a name can choose, each read as a run would read
/// it, so the listing says which ones a run would refuse and why.
pub fn list() -> Result<Vec<ListedProfile>, ToolError> {
    let dir = profile::profile_dir();
    let listed = profile::list_in(&dir).map_err(ToolError::from)?;
    Ok(listed
        .into_iter()
        .map(|l| {
            let spec = match &l.source {
                Source::BuiltIn => Spec::Name(l.name.clone()),
                Source::File(path) => Spec::File(path.clone()),
            };
            let loaded = match &l.source {
                // A built-in profile is read by its name: a file of the same name would
                // have been listed instead.
                Source::BuiltIn => profile::load_in(&spec, &dir),
                Source::File(_) => profile::load(&spec),
            };
            let (description, sha256, api, error) = match loaded {
                Ok(p) => (
                    p.description.clone(),
                    Some(p.sha256.clone()),
                    Some(p.units.api.to_string()),
                    None,
                ),
                Err(e) => (None, None, None, Some(e.to_string())),
            };
            ListedProfile {
                name: l.name,
                source: l.source.to_string(),
                description,
                sha256,
                api,
                error,
            }
        })
        .collect())
}
