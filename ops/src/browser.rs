//! The web app's address, and opening a link in the person's browser: the commands in `$BROWSER`
//! when it is set (a `:`-separated list, each with `%s` for the link or taking it as its last
//! argument, as other tools read it), otherwise `open` on macOS and `xdg-open` elsewhere.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a launcher may take to say it failed. One that is still running after this is a
/// browser itself, which runs until it is closed.
const LAUNCH_PATIENCE: Duration = Duration::from_secs(3);

/// The web app's URL, served at the API's root.
pub fn app_url(api_url: &str) -> String {
    format!("{}/", api_url.trim_end_matches('/'))
}

/// The app's link that signs a browser in with a one-time `code`: the code rides in the
/// fragment, which the browser never sends to a server or in a `Referer`.
pub fn sign_in_link(api_url: &str, code: &str) -> String {
    format!("{}#signin={code}", app_url(api_url))
}

/// Opens `url` with the commands of `browser_env` (the `BROWSER` variable's value) or the
/// platform's opener: the command that opened it, or why none could.
pub fn open(url: &str, browser_env: Option<&str>) -> Result<String, String> {
    let candidates: Vec<Vec<String>> = match browser_env.map(str::trim).filter(|b| !b.is_empty()) {
        Some(list) => list.split(':').filter_map(|entry| command_line(entry, url)).collect(),
        None => vec![vec![default_opener().to_owned(), url.to_owned()]],
    };
    let mut failures = Vec::new();
    for argv in &candidates {
        match launch(argv) {
            Ok(()) => return Ok(argv[0].clone()),
            Err(why) => failures.push(format!("{}: {why}", argv[0])),
        }
    }
    Err(if failures.is_empty() { "BROWSER names no command".to_owned() } else { failures.join("; ") })
}

fn default_opener() -> &'static str {
    if cfg!(target_os = "macos") { "open" } else { "xdg-open" }
}

/// One `BROWSER` entry as a command line: `%s` replaced by the link, or the link appended.
fn command_line(entry: &str, url: &str) -> Option<Vec<String>> {
    let mut argv: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
    if argv.is_empty() {
        return None;
    }
    if argv.iter().any(|a| a.contains("%s")) {
        for a in &mut argv {
            *a = a.replace("%s", url);
        }
    } else {
        argv.push(url.to_owned());
    }
    Some(argv)
}

fn launch(argv: &[String]) -> Result<(), String> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if started.elapsed() >= LAUNCH_PATIENCE => return Ok(()),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_carries_the_code_in_the_fragment_of_the_app_s_root() {
        assert_eq!(app_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(
            app_url("https://abc.lambda-url.us-east-1.on.aws/"),
            "https://abc.lambda-url.us-east-1.on.aws/"
        );
        assert_eq!(sign_in_link("http://127.0.0.1:1", "c0de"), "http://127.0.0.1:1/#signin=c0de");
    }

    #[test]
    fn browser_entries_take_the_link_in_place_of_percent_s_or_last() {
        let url = "http://h/#signin=x";
        assert_eq!(command_line("firefox", url).unwrap(), ["firefox", url]);
        assert_eq!(command_line(" chromium --new-window ", url).unwrap(), ["chromium", "--new-window", url]);
        assert_eq!(command_line("w3m -o x=%s", url).unwrap(), ["w3m", "-o", &format!("x={url}")]);
        assert_eq!(command_line("  ", url), None);
    }

    #[test]
    fn the_first_browser_that_starts_gets_the_link() {
        let dir = std::env::temp_dir().join(format!("opsctl-browser-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let seen = dir.join("seen");
        let script = dir.join("record");
        std::fs::write(&script, format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", seen.display())).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();

        let list = format!("/nonexistent/browser:false:{}", script.display());
        assert_eq!(open("http://h/#signin=abc", Some(&list)).unwrap(), script.display().to_string());
        assert_eq!(std::fs::read_to_string(&seen).unwrap(), "http://h/#signin=abc");

        let refused = open("http://h/", Some("/nonexistent/browser:false")).unwrap_err();
        assert!(
            refused.contains("/nonexistent/browser: ") && refused.contains("false: exited with"),
            "{refused}"
        );
        assert_eq!(open("http://h/", Some(" : ")).unwrap_err(), "BROWSER names no command");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
