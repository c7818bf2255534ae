//! The smoke results as JUnit XML, the report format CI systems display.

use std::fmt::Write;
use std::time::Duration;

use super::{CheckResult, Verdict};

pub fn render(suite: &str, results: &[CheckResult], elapsed: Duration) -> String {
    let failures = results.iter().filter(|r| matches!(r.verdict, Verdict::Fail(_))).count();
    let skipped = results.iter().filter(|r| matches!(r.verdict, Verdict::Skip(_))).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"opsctl smoke\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{t:.3}\">\n  \
         <testsuite name=\"{s}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{t:.3}\">",
        n = results.len(),
        t = elapsed.as_secs_f64(),
        s = escape(suite),
    );
    for r in results {
        let head = format!(
            "    <testcase classname=\"smoke\" name=\"{}\" time=\"{:.3}\"",
            escape(r.name),
            r.duration.as_secs_f64()
        );
        let _ = match &r.verdict {
            Verdict::Pass if r.detail.is_empty() => writeln!(xml, "{head}/>"),
            Verdict::Pass => writeln!(
                xml,
                "{head}>\n      <system-out>{}</system-out>\n    </testcase>",
                escape(&r.detail)
            ),
            Verdict::Fail(why) => writeln!(
                xml,
                "{head}>\n      <failure message=\"{m}\">{m}</failure>\n    </testcase>",
                m = escape(why)
            ),
            Verdict::Skip(why) => {
                writeln!(xml, "{head}>\n      <skipped message=\"{}\"/>\n    </testcase>", escape(why))
            }
        };
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Escapes text for an attribute or element, dropping the control characters XML 1.0 forbids.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_skips_are_counted_and_text_escaped() {
        let results = vec![
            CheckResult {
                name: "health",
                verdict: Verdict::Pass,
                detail: String::new(),
                duration: Duration::from_millis(5),
            },
            CheckResult {
                name: "chat",
                verdict: Verdict::Fail("got <500> & \"oops\"\u{1}".into()),
                detail: String::new(),
                duration: Duration::from_millis(1500),
            },
            CheckResult {
                name: "rag_upload",
                verdict: Verdict::Skip("RAG is off".into()),
                detail: String::new(),
                duration: Duration::ZERO,
            },
        ];
        let xml = render("opsctl smoke dev (local)", &results, Duration::from_secs(2));
        assert!(xml.contains(r#"tests="3" failures="1" errors="0" skipped="1" time="2.000""#), "{xml}");
        assert!(xml.contains(r#"<testcase classname="smoke" name="chat" time="1.500">"#), "{xml}");
        assert!(xml.contains("got &lt;500&gt; &amp; &quot;oops&quot;</failure>"), "{xml}");
        assert!(xml.contains(r#"<skipped message="RAG is off"/>"#), "{xml}");
    }
}
