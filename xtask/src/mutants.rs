//! `cargo xtask mutants [--canary] [--part N] [--file F]... [--list] [--iterate]`:
//! mutation testing of the security code, with a pinned cargo-mutants.
//!
//! A test suite that passes proves little about code that refuses things:
//! delete a check and most suites still pass. cargo-mutants makes such
//! small changes (a `>` becomes `>=`, a function returns `true`) one at a
//! time and runs the part's own tests against each; a change no test
//! notices ("missed") is a rule no test guards. This command runs it on the
//! modules listed in [`MODULES`] and prints, per module, how many mutants
//! the tests caught, missed, timed out on, or could not build (unviable).
//!
//! Some changes cannot alter behaviour at all (an equivalent mutant); each
//! is listed with its reason in `xtask/mutants-equivalent.toml`, so it is
//! not counted and the reason can be reviewed. The last line is
//! `N passed, M failed`: caught mutants pass, missed and timed-out ones
//! fail, and the command fails when any did.
//!
//! `--iterate` tests again only the mutants the last run of these modules
//! did not catch (cargo-mutants' own `--iterate`), after tests were added
//! for them, and reports every mutant of the modules: its outcome in this
//! run, or its earlier one when it was caught (or unviable) before and the
//! code it mutates has not moved since.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::workspace;

/// The cargo-mutants release the figures in the book were measured with;
/// another release may generate other mutants.
const CARGO_MUTANTS_VERSION: &str = "27.0.0";

/// Where the pinned cargo-mutants is installed, under the repository root.
const INSTALL_ROOT: &str = ".cache/cargo-mutants";

/// The reviewed list of equivalent mutants, relative to the root.
const EQUIVALENT_LIST: &str = "xtask/mutants-equivalent.toml";

/// Every mutant's latest outcome, one `kind<TAB>name` line each, kept in a
/// part's output directory for `--iterate`.
const LATEST_OUTCOMES: &str = "latest-outcomes.txt";

/// A group of source files whose mutants are reported together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Module {
    /// The part whose package holds the files and whose tests run.
    pub part: u32,
    /// A short name, also accepted by `--file`.
    pub name: &'static str,
    /// The files, relative to the part's directory.
    pub files: &'static [&'static str],
}

/// The security code: the AS in part 3 (which later parts carry unchanged,
/// so it is tested where it is written) and the RS's own code in part 4.
pub const MODULES: &[Module] = &[
    module(3, "pkce", &["src/authorization_server/logic/pkce.rs"]),
    module(
        3,
        "redirect",
        &["src/authorization_server/logic/redirect.rs"],
    ),
    module(3, "secret", &["src/authorization_server/logic/secret.rs"]),
    module(
        3,
        "registration",
        &["src/authorization_server/logic/clients.rs"],
    ),
    module(
        3,
        "authorization",
        &["src/authorization_server/logic/authorization.rs"],
    ),
    module(
        3,
        "login",
        &[
            "src/authorization_server/logic/login.rs",
            "src/authorization_server/logic/users.rs",
        ],
    ),
    module(3, "tokens", &["src/authorization_server/logic/tokens.rs"]),
    module(
        3,
        "introspection",
        &["src/authorization_server/logic/introspection.rs"],
    ),
    module(3, "form", &["src/authorization_server/form.rs"]),
    module(
        3,
        "cimd",
        &[
            "src/authorization_server/logic/document_fetch.rs",
            "src/authorization_server/logic/client_metadata_document.rs",
        ],
    ),
    module(4, "rs-auth", &["src/server/auth.rs"]),
    module(4, "rs-introspection", &["src/server/introspection.rs"]),
];

/// The modules CI runs on every push: the three smallest (about 60
/// mutants), enough to notice that the tests stopped guarding a rule. Each
/// caught mutant costs an incremental build and the unit tests, each missed
/// one the whole test run as well.
const CANARY: &[&str] = &["pkce", "redirect", "secret"];

const fn module(part: u32, name: &'static str, files: &'static [&'static str]) -> Module {
    Module { part, name, files }
}

/// Parses the arguments, runs cargo-mutants once per part, and reports.
pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let root = workspace::root();
    let selected = options.select()?;
    let equivalents = parse_equivalents(&read(&root.join(EQUIVALENT_LIST))?)?;
    if options.list {
        for module in &selected {
            println!(
                "part {} {:<18} {}",
                module.part,
                module.name,
                module.files.join(" ")
            );
        }
        return Ok(());
    }
    let cargo_mutants = install(&root)?;
    let mut outcomes = Vec::new();
    let mut parts: Vec<u32> = selected.iter().map(|module| module.part).collect();
    parts.dedup();
    for part in parts {
        let modules: Vec<&Module> = selected.iter().filter(|m| m.part == part).collect();
        outcomes.extend(run_part(
            &root,
            &cargo_mutants,
            part,
            &modules,
            options.iterate,
        )?);
    }
    let report = Report::new(&selected, &outcomes, &equivalents, &part_dirs(&root)?);
    print!("{}", report.render());
    if report.failed() > 0 {
        bail!("{} mutant(s) survived the tests", report.failed());
    }
    Ok(())
}

/// What the command line asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    canary: bool,
    part: Option<u32>,
    files: Vec<String>,
    list: bool,
    iterate: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--canary" => options.canary = true,
                "--list" => options.list = true,
                "--iterate" => options.iterate = true,
                "--part" => {
                    let value = args.next().context("--part needs a number")?;
                    options.part = Some(value.parse().context("--part needs a number")?);
                }
                "--file" => options.files.push(
                    args.next()
                        .context("--file needs a module or file")?
                        .clone(),
                ),
                other => bail!(
                    "unknown argument `{other}` \
                     (mutants [--canary] [--part N] [--file MODULE|PATH]... [--list] [--iterate])"
                ),
            }
        }
        Ok(options)
    }

    /// The modules to mutate, in [`MODULES`] order. `--file` names a module
    /// or ends one of its files' paths (`pkce`, `logic/pkce.rs`).
    fn select(&self) -> Result<Vec<Module>> {
        let selected: Vec<Module> = MODULES
            .iter()
            .filter(|module| !self.canary || CANARY.contains(&module.name))
            .filter(|module| self.part.is_none_or(|part| module.part == part))
            .filter(|module| {
                self.files.is_empty()
                    || self.files.iter().any(|wanted| {
                        module.name == wanted
                            || module
                                .files
                                .iter()
                                .any(|file| file.ends_with(wanted.as_str()))
                    })
            })
            .copied()
            .collect();
        if selected.is_empty() {
            bail!("no security module matches; `cargo xtask mutants --list` shows them");
        }
        Ok(selected)
    }
}

/// The directory of each part, by number (`3` ⇒ `part3-as-full`).
fn part_dirs(root: &Path) -> Result<BTreeMap<u32, String>> {
    let mut dirs = BTreeMap::new();
    for entry in fs::read_dir(root).context("cannot list the repository root")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(part) = workspace::part_number(&name) {
            dirs.insert(part, name);
        }
    }
    Ok(dirs)
}

/// The pinned cargo-mutants, installed under [`INSTALL_ROOT`] when missing
/// or of another version.
fn install(root: &Path) -> Result<PathBuf> {
    let install_root = root.join(INSTALL_ROOT);
    let binary = install_root.join("bin").join("cargo-mutants");
    let version = Command::new(&binary)
        .args(["mutants", "--version"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    if version.as_deref() == Some(&format!("cargo-mutants {CARGO_MUTANTS_VERSION}")) {
        return Ok(binary);
    }
    println!("installing cargo-mutants {CARGO_MUTANTS_VERSION} into {INSTALL_ROOT}");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "install",
            "--locked",
            "--force",
            // Unoptimized: 1m12s instead of 3m38s to build on 2 cores, and
            // cargo-mutants spends its time waiting for cargo, not computing.
            "--debug",
            "cargo-mutants",
            "--version",
        ])
        .arg(format!("={CARGO_MUTANTS_VERSION}"))
        .arg("--root")
        .arg(&install_root)
        .status()
        .context("cannot run cargo install")?;
    if !status.success() {
        bail!("cargo install cargo-mutants {CARGO_MUTANTS_VERSION} failed ({status})");
    }
    Ok(binary)
}

/// Runs cargo-mutants on `modules` of `part` with that part's own tests,
/// and returns its outcomes.
///
/// cargo-mutants builds a copy of the tree. On a workstation its builds go
/// to a target directory of their own, kept between runs (the dependencies
/// are compiled once), so a long run never holds the build lock of the
/// workspace's `target/` that everyone else's cargo waits on; and without
/// debug information, which halves each mutant's link. Under CI, which has
/// just built the workspace's tests, they use that build's `target/` and
/// profile instead, so no dependency is compiled twice. One job: the
/// machines this runs on have two cores.
///
/// With `iterate`, only the mutants the last run did not catch are tested,
/// and the others keep their earlier outcome (see [`merge_iteration`]).
fn run_part(
    root: &Path,
    cargo_mutants: &Path,
    part: u32,
    modules: &[&Module],
    iterate: bool,
) -> Result<Vec<Outcome>> {
    let dirs = part_dirs(root)?;
    let dir = dirs
        .get(&part)
        .with_context(|| format!("no part {part} in the workspace"))?;
    let output = root.join("target").join("mutants").join(dir);
    fs::create_dir_all(&output).with_context(|| format!("cannot create {}", output.display()))?;
    let mut command = Command::new(cargo_mutants);
    command.current_dir(root);
    if std::env::var_os("CI").is_some() {
        command.env("CARGO_TARGET_DIR", root.join("target"));
    } else {
        command
            .env(
                "CARGO_TARGET_DIR",
                root.join("target").join("mutants").join("build"),
            )
            .env("CARGO_PROFILE_DEV_DEBUG", "0")
            .env("CARGO_PROFILE_TEST_DEBUG", "0");
    }
    let latest_path = output.join(LATEST_OUTCOMES);
    let previous = if iterate {
        let text = read(&latest_path)
            .context("--iterate needs an earlier run of these modules to start from")?;
        Some(parse_latest(&text)?)
    } else {
        None
    };
    let files: Vec<String> = (modules.iter())
        .flat_map(|module| module.files.iter().map(|file| format!("{dir}/{file}")))
        .collect();
    command
        .args(["mutants", "--jobs", "1", "--package", dir])
        .args(["--test-package", dir])
        // The part's tests: its unit tests and its one integration-test
        // binary. The binaries have no tests of their own, and leaving them
        // out of every cargo command (build too) saves two links a mutant.
        .args(["--cargo-arg=--lib", "--cargo-arg=--test=it"])
        .arg("--output")
        .arg(&output);
    for file in &files {
        command.arg("--file").arg(file);
    }
    if iterate {
        command.arg("--iterate");
    }
    println!("part {part}: cargo mutants on {}", names(modules));
    let outcomes_path = output.join("mutants.out").join("outcomes.json");
    // A file left by an earlier run must not pass for this run's outcomes.
    if outcomes_path.exists() {
        fs::remove_file(&outcomes_path)
            .with_context(|| format!("cannot remove {}", outcomes_path.display()))?;
    }
    let status = command.status().context("cannot run cargo-mutants")?;
    // 0: all caught; 2: some missed; 3: some timed out. Anything else (4:
    // the unmutated tree already fails its tests) means no figure holds.
    if !matches!(status.code(), Some(0 | 2 | 3)) {
        bail!(
            "cargo-mutants failed on part {part} ({status}); see {}",
            output.display()
        );
    }
    let mut outcomes = parse_outcomes(&read(&outcomes_path)?)?;
    if let Some(previous) = previous {
        let names = list_mutants(root, cargo_mutants, dir, &files)?;
        outcomes = merge_iteration(&names, &previous, &outcomes)?;
    }
    let latest: String = (outcomes.iter())
        .map(|outcome| format!("{:?}\t{}\n", outcome.kind, outcome.name()))
        .collect();
    fs::write(&latest_path, latest)
        .with_context(|| format!("cannot write {}", latest_path.display()))?;
    Ok(outcomes)
}

/// The names (`file:line:column: description`) of every mutant of `files`
/// as the code stands, from `cargo mutants --list --json` (no build).
fn list_mutants(
    root: &Path,
    cargo_mutants: &Path,
    dir: &str,
    files: &[String],
) -> Result<Vec<String>> {
    let mut command = Command::new(cargo_mutants);
    command
        .current_dir(root)
        .args(["mutants", "--list", "--json", "--package", dir]);
    for file in files {
        command.arg("--file").arg(file);
    }
    let output = command
        .output()
        .context("cannot run cargo mutants --list")?;
    if !output.status.success() {
        bail!(
            "cargo mutants --list failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: Value =
        serde_json::from_slice(&output.stdout).context("cargo mutants --list printed no JSON")?;
    (json
        .as_array()
        .context("cargo mutants --list printed no list")?)
    .iter()
    .map(|mutant| {
        (mutant["name"].as_str().map(str::to_owned)).context("a listed mutant without a name")
    })
    .collect()
}

/// Every mutant in `names` with its outcome: this run's when it was tested
/// now, else the earlier run's when that caught it or could not build it
/// (cargo-mutants' `--iterate` skips exactly those). A mutant with neither
/// is an error: no figure would be true.
fn merge_iteration(
    names: &[String],
    previous: &[Outcome],
    now: &[Outcome],
) -> Result<Vec<Outcome>> {
    names
        .iter()
        .map(|name| {
            let tested_now = now.iter().find(|outcome| outcome.name() == *name);
            let earlier = || {
                previous.iter().find(|outcome| {
                    outcome.name() == *name && matches!(outcome.kind, Kind::Caught | Kind::Unviable)
                })
            };
            (tested_now.or_else(earlier).cloned())
                .with_context(|| format!("{name}: tested neither now nor by the last run"))
        })
        .collect()
}

/// Reads [`LATEST_OUTCOMES`].
fn parse_latest(text: &str) -> Result<Vec<Outcome>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (kind, name) = (line.split_once('\t'))
                .with_context(|| format!("{LATEST_OUTCOMES}: no tab in `{line}`"))?;
            let kind = match kind {
                "Caught" => Kind::Caught,
                "Missed" => Kind::Missed,
                "Timeout" => Kind::Timeout,
                "Unviable" => Kind::Unviable,
                other => bail!("{LATEST_OUTCOMES}: unknown outcome `{other}`"),
            };
            Outcome::from_name(name, kind)
        })
        .collect()
}

fn names(modules: &[&Module]) -> String {
    let names: Vec<&str> = modules.iter().map(|module| module.name).collect();
    names.join(", ")
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// What happened to one mutant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    /// The mutated file, relative to the repository root.
    file: String,
    /// `replace is_unreserved -> bool with true`, without the position,
    /// so the equivalent list survives edits elsewhere in the file.
    mutant: String,
    /// `file:line:column`, for the report.
    position: String,
    kind: Kind,
}

impl Outcome {
    /// cargo-mutants' name of the mutant: `file:line:column: description`.
    fn name(&self) -> String {
        format!("{}: {}", self.position, self.mutant)
    }

    /// The outcome of the mutant cargo-mutants calls `name`.
    fn from_name(name: &str, kind: Kind) -> Result<Self> {
        let (position, mutant) = (name.split_once(": "))
            .with_context(|| format!("`{name}` is not `file:line:column: description`"))?;
        let file = (position.split(':').next())
            .filter(|file| !file.is_empty())
            .with_context(|| format!("`{name}` names no file"))?;
        Ok(Self {
            file: file.to_owned(),
            mutant: mutant.to_owned(),
            position: position.to_owned(),
            kind,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Caught,
    Missed,
    Timeout,
    Unviable,
}

/// The mutants of cargo-mutants' `outcomes.json` (the baseline is skipped).
fn parse_outcomes(text: &str) -> Result<Vec<Outcome>> {
    let json: Value = serde_json::from_str(text).context("outcomes.json is not JSON")?;
    let list = json["outcomes"]
        .as_array()
        .context("outcomes.json has no outcomes")?;
    let mut outcomes = Vec::new();
    for entry in list {
        let Some(mutant) = entry["scenario"].get("Mutant") else {
            continue;
        };
        let kind = match entry["summary"].as_str() {
            Some("CaughtMutant") => Kind::Caught,
            Some("MissedMutant") => Kind::Missed,
            Some("Timeout") => Kind::Timeout,
            Some("Unviable") => Kind::Unviable,
            other => bail!("unexpected outcome {other:?} in outcomes.json"),
        };
        let file = mutant["file"].as_str().context("a mutant without a file")?;
        let name = mutant["name"].as_str().context("a mutant without a name")?;
        let line = &mutant["span"]["start"]["line"];
        let column = &mutant["span"]["start"]["column"];
        // The name starts with `file:line:column: `; the rest describes it.
        let description = name
            .strip_prefix(&format!("{file}:{line}:{column}: "))
            .unwrap_or(name);
        outcomes.push(Outcome {
            file: file.to_owned(),
            mutant: description.to_owned(),
            position: format!("{file}:{line}:{column}"),
            kind,
        });
    }
    Ok(outcomes)
}

/// A mutant that cannot change behaviour, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Equivalent {
    file: String,
    mutant: String,
    reason: String,
}

/// Reads the equivalent list: `[[equivalent]]` tables of `file`, `mutant`
/// and `reason`, each a one-line string in single quotes (TOML literal
/// strings, so a mutant's `"` needs no escaping). A table without a reason
/// is an error: the reason is the point of the list.
fn parse_equivalents(text: &str) -> Result<Vec<Equivalent>> {
    let mut tables: Vec<BTreeMap<String, String>> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[[equivalent]]" {
            tables.push(BTreeMap::new());
            continue;
        }
        let number = index + 1;
        let (key, value) = line
            .split_once('=')
            .with_context(|| format!("{EQUIVALENT_LIST}:{number}: expected key = 'value'"))?;
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|rest| rest.strip_suffix('\''))
            .with_context(|| format!("{EQUIVALENT_LIST}:{number}: values are in single quotes"))?;
        let table = tables
            .last_mut()
            .with_context(|| format!("{EQUIVALENT_LIST}:{number}: outside [[equivalent]]"))?;
        table.insert(key.trim().to_owned(), value.to_owned());
    }
    tables
        .into_iter()
        .map(|mut table| {
            let mut take = |key: &str| {
                table
                    .remove(key)
                    .filter(|value| !value.trim().is_empty())
                    .with_context(|| format!("{EQUIVALENT_LIST}: an entry without `{key}`"))
            };
            Ok(Equivalent {
                file: take("file")?,
                mutant: take("mutant")?,
                reason: take("reason")?,
            })
        })
        .collect()
}

/// The counts of one module.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Counts {
    caught: usize,
    missed: usize,
    timeout: usize,
    unviable: usize,
    equivalent: usize,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.caught += other.caught;
        self.missed += other.missed;
        self.timeout += other.timeout;
        self.unviable += other.unviable;
        self.equivalent += other.equivalent;
    }

    fn failed(&self) -> usize {
        self.missed + self.timeout
    }

    /// Caught out of the mutants that count, in whole percent (rounded
    /// down, so 94.9 % never shows as 95 %).
    fn score(&self) -> String {
        let counted = self.caught + self.failed();
        if counted == 0 {
            return "-".to_owned();
        }
        format!("{}%", self.caught * 100 / counted)
    }
}

/// The per-module counts, the survivors, and the stale equivalent entries.
#[derive(Debug)]
struct Report {
    rows: Vec<(Module, Counts)>,
    survivors: Vec<String>,
    stale: Vec<Equivalent>,
}

impl Report {
    fn new(
        modules: &[Module],
        outcomes: &[Outcome],
        equivalents: &[Equivalent],
        dirs: &BTreeMap<u32, String>,
    ) -> Self {
        let path_of = |module: &Module, file: &str| {
            format!(
                "{}/{file}",
                dirs.get(&module.part).map_or("", String::as_str)
            )
        };
        let mut rows = Vec::new();
        let mut survivors = Vec::new();
        let mut used = vec![false; equivalents.len()];
        for module in modules {
            let mut counts = Counts::default();
            for outcome in outcomes.iter().filter(|outcome| {
                module
                    .files
                    .iter()
                    .any(|f| path_of(module, f) == outcome.file)
            }) {
                let equivalent = equivalents
                    .iter()
                    .position(|e| e.file == outcome.file && e.mutant == outcome.mutant);
                match (outcome.kind, equivalent) {
                    (Kind::Unviable, _) => counts.unviable += 1,
                    (_, Some(index)) => {
                        used[index] = true;
                        counts.equivalent += 1;
                    }
                    (Kind::Caught, None) => counts.caught += 1,
                    (Kind::Missed | Kind::Timeout, None) => {
                        if outcome.kind == Kind::Missed {
                            counts.missed += 1;
                        } else {
                            counts.timeout += 1;
                        }
                        let what = if outcome.kind == Kind::Missed {
                            "missed"
                        } else {
                            "timeout"
                        };
                        survivors.push(format!("{what}: {}: {}", outcome.position, outcome.mutant));
                    }
                }
            }
            rows.push((*module, counts));
        }
        // An entry for a file that was mutated but matching no mutant is
        // stale: the code changed, and its reason may no longer hold.
        let mutated: Vec<&str> = outcomes.iter().map(|o| o.file.as_str()).collect();
        let stale = equivalents
            .iter()
            .zip(&used)
            .filter(|(e, used)| !**used && mutated.contains(&e.file.as_str()))
            .map(|(e, _)| e.clone())
            .collect();
        Self {
            rows,
            survivors,
            stale,
        }
    }

    fn total(&self) -> Counts {
        let mut total = Counts::default();
        for (_, counts) in &self.rows {
            total.add(counts);
        }
        total
    }

    fn failed(&self) -> usize {
        self.total().failed()
    }

    /// A table per module, the survivors, and `N passed, M failed`.
    fn render(&self) -> String {
        let mut out = String::from(
            "\npart module             caught missed timeout unviable equivalent  score\n",
        );
        let row = |part: &str, name: &str, c: &Counts| {
            format!(
                "{part:<4} {name:<18} {:>6} {:>6} {:>7} {:>8} {:>10} {:>6}\n",
                c.caught,
                c.missed,
                c.timeout,
                c.unviable,
                c.equivalent,
                c.score()
            )
        };
        for (module, counts) in &self.rows {
            out.push_str(&row(&module.part.to_string(), module.name, counts));
        }
        let total = self.total();
        out.push_str(&row("", "all", &total));
        for survivor in &self.survivors {
            out.push_str(&format!("{survivor}\n"));
        }
        for entry in &self.stale {
            out.push_str(&format!(
                "stale entry in {EQUIVALENT_LIST}: {}: {} (no such mutant)\n",
                entry.file, entry.mutant
            ));
        }
        out.push_str(&format!(
            "{} passed, {} failed\n",
            total.caught,
            total.failed()
        ));
        out
    }
}

#[cfg(test)]
mod tests;
