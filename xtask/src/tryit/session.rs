//! One chapter's Try it session: the reader's terminal, recorded.
//!
//! A script calls [`Session::block`] to open each anchored block the
//! chapter includes, [`Session::assign`] for the shell variables the
//! reader sets, and [`Session::run`] for each command as the chapter shows
//! it. The command is split like a shell would ([`super::shell`]), run
//! without one, and its output (stdout and stderr in order) normalized
//! ([`super::normalize`]) and appended under it.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};

use super::{normalize::Normalizer, shell};
use crate::process::{ChildGuard, clean_environment, strip_ansi};

/// How long one command may run.
const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// The programs a chapter's commands may name.
const PROGRAMS: &[&str] = &["curl", "grep", "mkdir", "stat", "chmod"];

/// A recorded session, rendered by [`Session::markdown`].
pub struct Session {
    part: u32,
    /// The working directory of every command (cookie jars, saved pages)
    /// and of the servers' logs.
    pub dir: PathBuf,
    vars: BTreeMap<String, String>,
    /// The rules applied to every output.
    pub normalizer: Normalizer,
    blocks: Vec<(String, String)>,
    /// `(shown, actual)`: what the reader types for what this run uses.
    aliases: Vec<(String, String)>,
    /// When set, the next output shows only its last lines, after `…`.
    pub tail: Option<usize>,
}

/// What a command printed, before and after normalization, and its status.
pub struct Output {
    /// As the program printed it (ANSI codes and CRLFs removed).
    pub raw: String,
    /// The exit code (`-1` when a signal ended it).
    pub code: i32,
}

impl Session {
    /// A session for chapter `part`, working in a fresh `dir`.
    pub fn new(part: u32, dir: &Path) -> Result<Self> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self {
            part,
            dir: dir.to_path_buf(),
            vars: BTreeMap::new(),
            normalizer: Normalizer::default(),
            blocks: Vec::new(),
            aliases: Vec::new(),
            tail: None,
        })
    }

    /// Starts the anchored block `anchor`; what follows goes into it.
    pub fn block(&mut self, anchor: &str) {
        self.blocks.push((anchor.to_owned(), String::new()));
    }

    /// Sets shell variables on one `$ A=… B=…` line: each runs with its
    /// actual value and is shown (and replaced in every later output) as
    /// `shown`.
    pub fn assign(&mut self, assignments: &[(&str, &str, &str)]) {
        let line: Vec<String> = assignments
            .iter()
            .map(|(name, _, shown)| format!("{name}={shown}"))
            .collect();
        self.print(&format!("$ {}\n", line.join(" ")));
        for (name, actual, shown) in assignments {
            self.vars.insert((*name).to_owned(), (*actual).to_owned());
            if actual != shown {
                self.normalizer
                    .replacements
                    .push(((*actual).to_owned(), (*shown).to_owned()));
            }
        }
    }

    /// Declares that the server the book shows on `shown` runs on `actual`:
    /// commands go to `actual`, outputs show `shown`.
    pub fn port(&mut self, actual: u16, shown: u16) {
        self.normalizer.ports.push((actual, shown));
    }

    /// Declares that the reader's `shown` (a path, say) is `actual` here.
    pub fn alias(&mut self, actual: &str, shown: &str) {
        self.aliases.push((shown.to_owned(), actual.to_owned()));
        self.normalizer
            .replacements
            .push((actual.to_owned(), shown.to_owned()));
    }

    /// A word of a command as this run needs it: aliases and ports mapped.
    pub fn actual(&self, word: &str) -> String {
        let mut word = word.to_owned();
        for (shown, actual) in &self.aliases {
            word = word.replace(shown.as_str(), actual);
        }
        for &(actual, shown) in &self.normalizer.ports {
            word = super::normalize::replace_port(&word, shown, &actual.to_string());
        }
        word
    }

    /// Runs `command` as the chapter shows it and records it with its output.
    pub fn run(&mut self, command: &str) -> Result<Output> {
        let words = shell::words(command, &self.vars)?;
        let Some((program, args)) = words.split_first() else {
            bail!("empty command");
        };
        if !PROGRAMS.contains(&program.as_str()) {
            bail!("`{program}` is not a program a Try it session runs ({PROGRAMS:?})");
        }
        let mut process = Command::new(program);
        process.args(args.iter().map(|arg| self.actual(arg)));
        self.run_as(command, process)
    }

    /// Runs `process`, recording it as `shown` (how the reader types it).
    pub fn run_as(&mut self, shown: &str, mut process: Command) -> Result<Output> {
        clean_environment(&mut process);
        let capture = self.dir.join("output.txt");
        let file = fs::File::create(&capture)
            .with_context(|| format!("cannot create {}", capture.display()))?;
        let child = process
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot run `{shown}`"))?;
        let status = ChildGuard(child).wait_within(STEP_DEADLINE, &format!("`{shown}`"))?;
        let bytes = fs::read(&capture)?;
        let raw = strip_ansi(&String::from_utf8_lossy(&bytes)).replace("\r\n", "\n");
        let mut shown_output = self.normalizer.apply(&raw).trim_end().to_owned();
        if let Some(lines) = self.tail.take() {
            let all: Vec<&str> = shown_output.lines().collect();
            let kept = &all[all.len().saturating_sub(lines)..];
            shown_output = std::iter::once("…")
                .chain(kept.iter().copied())
                .collect::<Vec<_>>()
                .join("\n");
        }
        self.print(&format!("$ {shown}\n"));
        if !shown_output.is_empty() {
            self.print(&shown_output);
            self.print("\n");
        }
        Ok(Output {
            raw,
            code: status.code().unwrap_or(-1),
        })
    }

    /// Records `text` in the current block as it is.
    pub fn print(&mut self, text: &str) {
        if self.blocks.is_empty() {
            self.block("session");
        }
        if let Some((_, block)) = self.blocks.last_mut() {
            block.push_str(text);
        }
    }

    /// The generated chapter file: one ```` ```console ```` fence per block,
    /// between the anchor markers the chapter includes it by.
    pub fn markdown(&self) -> String {
        let part = self.part;
        let mut out = format!(
            "<!-- Generated by `cargo xtask tryit --write` from a real run of part {part}'s Try it: do not edit. -->\n\
             <!-- Ports are the documented defaults; ids, secrets and times are <placeholders>. Include one block by its anchor. -->\n"
        );
        for (anchor, text) in &self.blocks {
            out.push_str(&format!(
                "\n<!-- ANCHOR: {anchor} -->\n```console\n{}\n```\n<!-- ANCHOR_END: {anchor} -->\n",
                text.trim_end()
            ));
        }
        out
    }
}

/// The value of `name:` in an HTTP response's headers (any case).
pub fn header<'a>(response: &'a str, name: &str) -> Result<&'a str> {
    response
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
        .with_context(|| format!("no `{name}` header in:\n{response}"))
}

/// The string member `key` of a JSON document.
pub fn json_string(document: &str, key: &str) -> Result<String> {
    let value: serde_json::Value =
        serde_json::from_str(document.trim()).with_context(|| format!("not JSON:\n{document}"))?;
    value[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no string `{key}` in {document}"))
}
