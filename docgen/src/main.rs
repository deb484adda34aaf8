//! `holdkit-docgen OUTDIR`: writes OUTDIR/man/TOOL.1 and OUTDIR/completions/{bash,zsh,fish}/
//! for the four tools, from their clap definitions, so the pages and completions can never
//! drift from the flags. Used by scripts/package.sh; not installed.

use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod environment;
mod pages;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: holdkit-docgen OUTDIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("holdkit-docgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let tools = [
        ("envpatch", envpatch::Cli::command()),
        ("svcctl", svcctl::Cli::command()),
        ("pgtruncate", pgtruncate::Cli::command()),
        ("holdctl", holdctl::Cli::command()),
    ];
    let man_dir = out.join("man");
    std::fs::create_dir_all(&man_dir)?;
    for (name, cmd) in &tools {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section("1")
            .manual("holdkit")
            .render(&mut page)?;
        page.extend_from_slice(pages::extra_sections(name).as_bytes());
        std::fs::write(man_dir.join(format!("{name}.1")), page)?;
    }
    use clap_complete::Shell;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let dir = out.join("completions").join(shell.to_string());
        std::fs::create_dir_all(&dir)?;
        for (name, cmd) in &tools {
            // Named as each shell's loader looks for them: bash-completion loads
            // completions/NAME on demand, zsh _NAME, fish NAME.fish.
            let file = match shell {
                Shell::Bash => name.to_string(),
                Shell::Zsh => format!("_{name}"),
                _ => format!("{name}.fish"),
            };
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), *name, &mut text);
            std::fs::write(dir.join(file), text)?;
        }
    }
    Ok(())
}
