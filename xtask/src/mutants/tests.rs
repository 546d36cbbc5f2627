use super::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| (*arg).to_owned()).collect()
}

fn selected(list: &[&str]) -> Vec<&'static str> {
    let options = Options::parse(&args(list)).expect("arguments");
    let modules = options.select().expect("a selection");
    modules
        .iter()
        .map(|module| {
            MODULES
                .iter()
                .find(|m| *m == module)
                .map_or("?", |m| m.name)
        })
        .collect()
}

#[test]
fn the_canary_is_the_three_small_modules_of_part_3() {
    assert_eq!(selected(&["--canary"]), ["pkce", "redirect", "secret"]);
    assert_eq!(selected(&["--canary", "--file", "secret"]), ["secret"]);
}

#[test]
fn modules_are_chosen_by_part_by_name_or_by_path() {
    assert_eq!(selected(&["--part", "4"]), ["rs-auth", "rs-introspection"]);
    assert_eq!(selected(&["--file", "logic/users.rs"]), ["login"]);
    assert_eq!(
        selected(&["--file", "tokens", "--file", "form.rs"]),
        ["tokens", "form"]
    );
    assert_eq!(selected(&[]).len(), MODULES.len());
    let none = Options::parse(&args(&["--part", "4", "--file", "pkce"])).expect("arguments");
    assert!(none.select().is_err());
    assert!(Options::parse(&args(&["--part"])).is_err());
    assert!(Options::parse(&args(&["--part", "three"])).is_err());
    assert!(Options::parse(&args(&["--fast"])).is_err());
}

/// The shape of cargo-mutants 27's `outcomes.json`, cut down to the fields
/// read, with the baseline first as cargo-mutants writes it.
const OUTCOMES: &str = r#"{"outcomes": [
  {"scenario": "Baseline", "summary": "Success"},
  {"scenario": {"Mutant": {"file": "part3-as-full/src/p.rs",
     "name": "part3-as-full/src/p.rs:72:5: replace f -> bool with true",
     "span": {"start": {"line": 72, "column": 5}}}}, "summary": "CaughtMutant"},
  {"scenario": {"Mutant": {"file": "part3-as-full/src/p.rs",
     "name": "part3-as-full/src/p.rs:9:40: replace || with && in f",
     "span": {"start": {"line": 9, "column": 40}}}}, "summary": "MissedMutant"},
  {"scenario": {"Mutant": {"file": "part3-as-full/src/p.rs",
     "name": "part3-as-full/src/p.rs:9:8: delete ! in f",
     "span": {"start": {"line": 9, "column": 8}}}}, "summary": "Timeout"},
  {"scenario": {"Mutant": {"file": "part3-as-full/src/q.rs",
     "name": "part3-as-full/src/q.rs:1:1: replace g -> Self with Default::default()",
     "span": {"start": {"line": 1, "column": 1}}}}, "summary": "Unviable"},
  {"scenario": {"Mutant": {"file": "part3-as-full/src/q.rs",
     "name": "part3-as-full/src/q.rs:3:1: replace h -> bool with false",
     "span": {"start": {"line": 3, "column": 1}}}}, "summary": "MissedMutant"}
]}"#;

#[test]
fn outcomes_are_read_without_the_baseline_or_positions() {
    let outcomes = parse_outcomes(OUTCOMES).expect("outcomes");
    let kinds: Vec<Kind> = outcomes.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Caught,
            Kind::Missed,
            Kind::Timeout,
            Kind::Unviable,
            Kind::Missed
        ]
    );
    assert_eq!(outcomes[1].mutant, "replace || with && in f");
    assert_eq!(outcomes[1].position, "part3-as-full/src/p.rs:9:40");
    assert!(parse_outcomes(&OUTCOMES.replace("\"Timeout\"", "\"Exploded\"")).is_err());
    assert!(parse_outcomes("[]").is_err());
}

#[test]
fn equivalents_need_a_file_a_mutant_and_a_reason() {
    let text = "# comment\n\n[[equivalent]]\nfile = 'a.rs'\n\
                mutant = 'replace \"x\" with y'\nreason = 'both are empty'\n";
    assert_eq!(
        parse_equivalents(text).expect("list"),
        [Equivalent {
            file: "a.rs".to_owned(),
            mutant: "replace \"x\" with y".to_owned(),
            reason: "both are empty".to_owned(),
        }]
    );
    assert!(parse_equivalents("[[equivalent]]\nfile = 'a.rs'\nmutant = 'm'\n").is_err());
    assert!(
        parse_equivalents("[[equivalent]]\nfile = 'a.rs'\nmutant = 'm'\nreason = ' '\n").is_err()
    );
    assert!(parse_equivalents("[[equivalent]]\nfile = \"a.rs\"\n").is_err());
    assert!(parse_equivalents("file = 'a.rs'\n").is_err());
}

#[test]
fn the_report_counts_per_module_and_leaves_out_equivalents() {
    let modules = [module(3, "p", &["src/p.rs"]), module(3, "q", &["src/q.rs"])];
    let dirs = BTreeMap::from([(3, "part3-as-full".to_owned())]);
    let equivalents = parse_equivalents(
        "[[equivalent]]\nfile = 'part3-as-full/src/q.rs'\n\
         mutant = 'replace h -> bool with false'\nreason = 'r'\n\
         [[equivalent]]\nfile = 'part3-as-full/src/q.rs'\nmutant = 'gone'\nreason = 'r'\n\
         [[equivalent]]\nfile = 'part3-as-full/src/other.rs'\nmutant = 'not run'\nreason = 'r'\n",
    )
    .expect("list");
    let outcomes = parse_outcomes(OUTCOMES).expect("outcomes");
    let report = Report::new(&modules, &outcomes, &equivalents, &dirs);
    let p = Counts {
        caught: 1,
        missed: 1,
        timeout: 1,
        ..Counts::default()
    };
    let q = Counts {
        unviable: 1,
        equivalent: 1,
        ..Counts::default()
    };
    assert_eq!(report.rows, [(modules[0], p.clone()), (modules[1], q)]);
    assert_eq!(p.score(), "33%");
    assert_eq!(report.failed(), 2);
    let text = report.render();
    assert!(
        text.contains("missed: part3-as-full/src/p.rs:9:40: replace || with && in f"),
        "{text}"
    );
    assert!(
        text.contains("timeout: part3-as-full/src/p.rs:9:8: delete ! in f"),
        "{text}"
    );
    assert!(
        text.contains("stale entry in xtask/mutants-equivalent.toml: part3-as-full/src/q.rs: gone"),
        "{text}"
    );
    assert!(!text.contains("not run"), "{text}");
    assert!(text.ends_with("1 passed, 2 failed\n"), "{text}");
}

#[test]
fn a_score_is_never_rounded_up_to_the_goal() {
    let counts = Counts {
        caught: 949,
        missed: 51,
        ..Counts::default()
    };
    assert_eq!(counts.score(), "94%");
    assert_eq!(Counts::default().score(), "-");
}

#[test]
fn every_listed_module_file_and_equivalent_exists() {
    let root = workspace::root();
    let dirs = part_dirs(&root).expect("parts");
    let mut paths = Vec::new();
    for module in MODULES {
        let dir = dirs.get(&module.part).expect("the module's part");
        for file in module.files {
            let path = format!("{dir}/{file}");
            assert!(root.join(&path).is_file(), "{path}");
            paths.push(path);
        }
    }
    let text = fs::read_to_string(root.join(EQUIVALENT_LIST)).expect("the equivalent list");
    for entry in parse_equivalents(&text).expect("a valid equivalent list") {
        assert!(
            paths.contains(&entry.file),
            "{} is not a mutated module file",
            entry.file
        );
    }
}

#[test]
fn iterate_is_an_option() {
    let options = Options::parse(&args(&["--iterate", "--file", "tokens"])).expect("arguments");
    assert!(options.iterate);
    assert!(!Options::parse(&args(&[])).expect("arguments").iterate);
}

#[test]
fn latest_outcomes_round_trip_by_name() {
    let outcomes = parse_outcomes(OUTCOMES).expect("outcomes");
    let text: String = outcomes
        .iter()
        .map(|outcome| format!("{:?}\t{}\n", outcome.kind, outcome.name()))
        .collect();
    assert_eq!(parse_latest(&text).expect("latest"), outcomes);
    assert!(parse_latest("Caught no tab here").is_err());
    assert!(parse_latest("Exploded\tpart3-as-full/src/p.rs:1:1: x").is_err());
    assert!(parse_latest("Caught\tno position").is_err());
}

/// An iteration keeps what the last run caught or could not build, takes
/// this run's outcome for what it tested again, and refuses to report a
/// mutant that neither run tested (a missed one skipped, or code that moved).
#[test]
fn an_iteration_merges_with_the_last_run() {
    let outcome = |name: &str, kind| Outcome::from_name(name, kind).expect("a name");
    let previous = [
        outcome("p.rs:1:1: a", Kind::Caught),
        outcome("p.rs:2:1: b", Kind::Missed),
        outcome("p.rs:3:1: c", Kind::Unviable),
        outcome("p.rs:4:1: d", Kind::Timeout),
    ];
    let now = [
        outcome("p.rs:2:1: b", Kind::Caught),
        outcome("p.rs:4:1: d", Kind::Missed),
    ];
    let names: Vec<String> = ["p.rs:1:1: a", "p.rs:2:1: b", "p.rs:3:1: c", "p.rs:4:1: d"]
        .map(str::to_owned)
        .into();
    let merged = merge_iteration(&names, &previous, &now).expect("merged");
    let kinds: Vec<Kind> = merged.iter().map(|outcome| outcome.kind).collect();
    assert_eq!(
        kinds,
        [Kind::Caught, Kind::Caught, Kind::Unviable, Kind::Missed]
    );
    // A missed mutant the iteration did not test again, and a mutant that
    // moved to another line, have no outcome to report.
    assert!(merge_iteration(&names, &previous, &now[..1]).is_err());
    let moved = ["p.rs:9:1: a".to_owned()];
    assert!(merge_iteration(&moved, &previous, &now).is_err());
}
