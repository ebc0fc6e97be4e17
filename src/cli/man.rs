//! The man pages, rendered from the clap definitions.

use std::path::PathBuf;

use clap::Args;

// Options of the hidden `manpage` subcommand.
#[derive(Args, Debug)]
pub struct ManpageArgs {
    /// Write every page (see man_pages) into this directory instead of
    /// printing apache-scoreboard.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The man pages of the multi-call `applet` whose main subcommand is
/// `binary`, as (file name, roff), apache-scoreboard.1 first: one for
/// the binary, one per check under its command name (check_scoreboard_busy.1,
/// ...; the name it is installed and run as, through its symlink), one per
/// other subcommand (apache-scoreboard-dump.1, ...), and for each check an
/// `apache-scoreboard-check_*.1` that sources the check's page, the name the
/// main page refers to.
pub fn man_pages(applet: clap::Command, binary: &str) -> std::io::Result<Vec<(String, String)>> {
    // Subcommands are deferred (`defer = true`): build the whole tree, or
    // their pages would list no option.
    let mut applet = applet.mut_subcommand(binary, |c| c.disable_help_subcommand(true));
    applet.build();
    let main = applet.find_subcommand(binary).cloned().unwrap_or(applet);
    let version = main.get_version().unwrap_or_default().to_string();
    let render = |cmd: clap::Command, title: &str| -> std::io::Result<String> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .title(title)
            .source(format!("{binary} {version}"))
            .manual(binary)
            .render(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    let mut pages = vec![(format!("{binary}.1"), render(main.clone(), binary)?)];
    for sub in main.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = sub.get_name().to_string();
        if name.starts_with("check_") {
            let cmd = sub.clone().display_name(&name).bin_name(&name);
            pages.push((format!("{name}.1"), render(cmd, &name)?));
            pages.push((format!("{binary}-{name}.1"), format!(".so man1/{name}.1\n")));
        } else {
            let title = format!("{binary}-{name}");
            let cmd = sub
                .clone()
                .display_name(&title)
                .bin_name(format!("{binary} {name}"));
            pages.push((format!("{title}.1"), render(cmd, &title)?));
        }
    }
    Ok(pages)
}
