//! `cargo xtask book --screenshot`: opens a built chapter in headless
//! Chromium and proves that what a reader sees is rendered, not source.
//!
//! mdBook leaves an unresolved `{{#include}}` in the page as text, and a
//! mermaid diagram stays a block of diagram source when the preprocessor or
//! the script is missing: both build without a warning. So Chromium loads
//! `book/book/part4.html` (a chapter with code listings and a sequence
//! diagram), runs its scripts for up to five seconds of virtual time, and
//! prints the resulting DOM, on which [`dom_problems`] asserts. A second
//! run saves a screenshot of the top of the chapter (its diff summary, a
//! diagram, code) to `target/book/part4.png`, for a human to look at.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};

/// The chapter checked: it has `{{#include}}`d Rust listings and mermaid.
const CHAPTER: &str = "part4";
/// Smaller than this, a 1280×2000 screenshot is a blank page.
const MIN_PNG_BYTES: usize = 50_000;
/// Chromium gets this long to load, run scripts and exit.
const DEADLINE: Duration = Duration::from_secs(120);

/// Renders the chapter, asserts on its DOM, then saves the screenshot.
pub fn run(root: &Path) -> Result<()> {
    let page = root.join("book/book").join(format!("{CHAPTER}.html"));
    if !page.is_file() {
        bail!("{} is missing: the build did not write it", page.display());
    }
    let chromium = ensure_chromium()?;
    let url = file_url(&page)?;

    let dom = chromium_run(&chromium, &["--dump-dom".to_owned(), url.to_string()])?;
    let problems = dom_problems(&dom);
    if !problems.is_empty() {
        bail!(
            "{} does not render as it should:\n  {}",
            page.display(),
            problems.join("\n  ")
        );
    }
    let diagrams = dom.matches(r#"<pre class="mermaid""#).count();
    let listings = dom.matches(LISTING).count();
    println!(
        "screenshot: {CHAPTER}.html renders {listings} code blocks and {diagrams} mermaid diagram(s) as SVG"
    );

    let out_dir = root.join("target/book");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let png = out_dir.join(format!("{CHAPTER}.png"));
    let _ = fs::remove_file(&png);
    // The top of the page: headless Chromium paints nothing when it has
    // scrolled to a `#fragment` before the screenshot. The chapter opens
    // with the generated diff summary and a diagram of the module split.
    chromium_run(
        &chromium,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".to_owned(),
            "--hide-scrollbars".to_owned(),
            url.to_string(),
        ],
    )?;
    let bytes = fs::read(&png).with_context(|| format!("Chromium wrote no {}", png.display()))?;
    // A blank 1280×2000 page compresses to about 12 kB; the rendered top of
    // the chapter, with text, code and a diagram, to several hundred.
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.len() < MIN_PNG_BYTES {
        bail!(
            "{} is not a plausible screenshot ({} bytes)",
            png.display(),
            bytes.len()
        );
    }
    println!(
        "screenshot: saved {} ({} bytes)",
        png.display(),
        bytes.len()
    );
    Ok(())
}

/// How a fenced code block's `<code>` element starts in mdBook's HTML.
const LISTING: &str = r#"<code class="language-"#;

/// Everything wrong with a chapter's rendered DOM; empty when it is fine.
pub fn dom_problems(dom: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for raw in ["{{#include", "{{#rustdoc_include"] {
        let count = dom.matches(raw).count();
        if count > 0 {
            problems.push(format!(
                "{count} unexpanded `{raw}` (a missing file or the preprocessor did not run)"
            ));
        }
    }
    // A fenced block is `<pre …><div class="buttons">…</div><code
    // class="language-x hljs">`: highlight.js adds `hljs` when it ran.
    let listings = dom.matches(LISTING).count();
    let rust = dom.matches(r#"<code class="language-rust"#).count();
    let highlighted = dom
        .split(LISTING)
        .skip(1)
        .filter(|rest| rest.split('"').next().is_some_and(|c| c.contains("hljs")))
        .count();
    if listings == 0 {
        problems.push("no code blocks (`<code class=\"language-…`)".to_owned());
    } else if rust == 0 {
        problems.push("no Rust listing (`<code class=\"language-rust`)".to_owned());
    } else if highlighted < listings {
        problems.push(format!(
            "{} of {listings} code blocks were not highlighted (no `hljs` class)",
            listings - highlighted
        ));
    }
    if dom.contains("```mermaid") || dom.contains("language-mermaid") {
        problems.push(
            "a mermaid block is still a code block: the mdbook-mermaid preprocessor did not run"
                .to_owned(),
        );
    }
    let blocks: Vec<&str> = dom
        .split(r#"<pre class="mermaid""#)
        .skip(1)
        .map(|rest| rest.split("</pre>").next().unwrap_or_default())
        .collect();
    if blocks.is_empty() {
        problems.push("no mermaid diagram (`<pre class=\"mermaid\"`)".to_owned());
    }
    for (index, block) in blocks.iter().enumerate() {
        let number = index + 1;
        if !block.contains("<svg") {
            problems.push(format!(
                "mermaid diagram {number} was not rendered to <svg> (is mermaid.min.js loaded?)"
            ));
        } else if block.contains(r#"aria-roledescription="error""#)
            || block.contains("Syntax error in text")
        {
            problems.push(format!(
                "mermaid diagram {number} rendered as a syntax error"
            ));
        }
    }
    problems
}

/// Runs headless Chromium with a fresh profile and the common flags, waits
/// for it (at most [`DEADLINE`]) and returns what it printed.
fn chromium_run(chromium: &Path, extra: &[String]) -> Result<String> {
    let profile = fresh_dir("chromium-profile")?;
    let stdout_path = profile.with_extension("stdout");
    let stdout = fs::File::create(&stdout_path)
        .with_context(|| format!("cannot create {}", stdout_path.display()))?;
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", chromium.display()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_dir_all(&profile);
            bail!("Chromium did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = fs::read_to_string(&stdout_path).unwrap_or_default();
    let _ = fs::remove_file(&stdout_path);
    let _ = fs::remove_dir_all(&profile);
    if !status.success() {
        bail!(
            "{} {} failed ({status})",
            chromium.display(),
            extra.join(" ")
        );
    }
    Ok(output)
}

/// A new, empty directory under the system's temporary directory.
fn fresh_dir(label: &str) -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let dir = std::env::temp_dir().join(format!("xtask-{label}-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// `file:///…` for an absolute path, every byte but `A-Z a-z 0-9 - . _ ~ /`
/// percent-encoded (a space, a `#` or a `?` must not end the path).
fn file_url(path: &Path) -> Result<String> {
    if !path.is_absolute() {
        bail!("{} is not an absolute path", path.display());
    }
    let mut url = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(url)
}

/// Debian's `chromium` on `PATH`; installed with apt-get when missing.
fn ensure_chromium() -> Result<PathBuf> {
    crate::process::ensure_debian_program("chromium", "chromium")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_encode_what_would_end_the_path() {
        assert_eq!(
            file_url(Path::new("/home/a b/book#1/part4.html")).expect("url"),
            "file:///home/a%20b/book%231/part4.html"
        );
        assert_eq!(
            file_url(Path::new("/tmp/é")).expect("url"),
            "file:///tmp/%C3%A9"
        );
        assert!(file_url(Path::new("book/part4.html")).is_err());
    }

    const RENDERED: &str = r#"<html><body><main>
<h1 id="part-4">Part 4</h1>
<pre class="playground"><div class="buttons"></div><code class="language-rust ignore hljs">fn main() {}</code></pre>
<pre><code class="language-console hljs shell">$ cargo run</code></pre>
<h2 id="the-dance">The dance</h2>
<pre class="mermaid" data-processed="true"><svg aria-roledescription="sequence"></svg></pre>
</main></body></html>"#;

    #[test]
    fn a_rendered_chapter_passes() {
        assert_eq!(dom_problems(RENDERED), Vec::<String>::new());
    }

    #[test]
    fn raw_includes_and_unrendered_diagrams_fail() {
        let raw = RENDERED
            .replace("fn main() {}", "{{#include ../../x.rs:main}}")
            .replace(
                r#" data-processed="true"><svg aria-roledescription="sequence"></svg>"#,
                ">sequenceDiagram\n A->>B: hi",
            );
        assert_eq!(
            dom_problems(&raw),
            [
                "1 unexpanded `{{#include` (a missing file or the preprocessor did not run)",
                "mermaid diagram 1 was not rendered to <svg> (is mermaid.min.js loaded?)",
            ]
        );
        let unhighlighted = RENDERED.replace("language-console hljs shell", "language-console");
        assert_eq!(
            dom_problems(&unhighlighted),
            ["1 of 2 code blocks were not highlighted (no `hljs` class)"]
        );
        let no_preprocessor =
            r#"<pre><code class="language-mermaid hljs">sequenceDiagram</code></pre>"#;
        assert_eq!(
            dom_problems(no_preprocessor),
            [
                "no Rust listing (`<code class=\"language-rust`)",
                "a mermaid block is still a code block: the mdbook-mermaid preprocessor did not run",
                "no mermaid diagram (`<pre class=\"mermaid\"`)",
            ]
        );
    }
}
