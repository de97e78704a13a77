//! One man page from a clap command and hand-written roff: clap's sections (name, synopsis,
//! description, options, commands), then the caller's (FILES, ENVIRONMENT, EXIT STATUS...),
//! then the version. Shared by ambientctl(1) and ambientd(1).

use std::io::{self, Write};

/// Writes `command`'s page with `sections` (roff, each starting with `.SH`) after its commands.
pub fn write(command: clap::Command, sections: &str, out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(command);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    out.write_all(sections.as_bytes())?;
    man.render_version_section(out)
}
