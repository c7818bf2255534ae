//! A reply's Markdown as HTML for the web app, which inserts it as is: so the HTML is made safe
//! here. The model's text is untrusted (a document it quotes may have been written to attack the
//! reader), so:
//!
//! - raw HTML in the Markdown is shown as text, never parsed as markup;
//! - links keep only `http`, `https` and `mailto` targets, open in a new tab, and carry
//!   `rel="noopener noreferrer"`; any other link is plain text;
//! - images become links to their address: a remote image would be fetched the moment the reply
//!   is shown, and its URL could carry the conversation out.
//!
//! pulldown-cmark turns the Markdown into HTML, then ammonia keeps only an allow-list of tags and
//! attributes, whatever the first step let through.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let tags: HashSet<&str> = [
        "a",
        "p",
        "br",
        "hr",
        "em",
        "strong",
        "del",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "input",
    ]
    .into_iter()
    .collect();
    let mut builder = ammonia::Builder::default();
    builder
        .tags(tags)
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        // A relative link would point into the app itself, at the API.
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .clean_content_tags(["script", "style"].into_iter().collect())
        // The language of a fenced block, and the check boxes of a task list (disabled). Table
        // alignment comes as a style attribute, which is dropped with every other style.
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tag_attributes("ol", ["start"]);
    builder
});

/// The HTML of `markdown`, safe to insert into the page.
pub fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url, title, id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        Event::Start(Tag::CodeBlock(pulldown_cmark::CodeBlockKind::Fenced(lang))) => {
            // Only the language's first word, and only letters: it becomes a class name.
            let lang: String = lang
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '+')
                .collect();
            Event::Start(Tag::CodeBlock(pulldown_cmark::CodeBlockKind::Fenced(CowStr::from(lang))))
        }
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    CLEANER.clean(&html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_shown_as_text() {
        let html =
            to_html("Hi <script>alert(1)</script> and <b onclick=\"x()\">bold</b>\n\n<div>block</div>");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<b") && !html.contains("<div"), "{html}");
        assert!(html.contains("&lt;div&gt;block&lt;/div&gt;"), "{html}");
    }

    #[test]
    fn only_web_and_mail_links_survive_and_they_open_apart() {
        let html = to_html(
            "[a](https://example.com/x) [b](javascript:alert(1)) [c](mailto:me@example.com) [d](/session) [e](data:text/html,x)",
        );
        assert!(html.contains(r#"href="https://example.com/x""#), "{html}");
        assert!(html.contains(r#"href="mailto:me@example.com""#), "{html}");
        assert!(
            html.contains(r#"rel="noopener noreferrer""#) && html.contains(r#"target="_blank""#),
            "{html}"
        );
        for bad in ["javascript:", "/session", "data:"] {
            assert!(!html.contains(&format!("href=\"{bad}")), "{bad} in {html}");
        }
        assert!(html.contains(">b</a>"), "the text of a refused link stays: {html}");
    }

    #[test]
    fn an_image_becomes_a_link_and_nothing_is_loaded() {
        let html = to_html("see ![x](http://203.0.113.9/x.png) and ![y](javascript:alert(1))");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains(r#"href="http://203.0.113.9/x.png""#), "{html}");
        assert!(html.contains(">x</a>"), "{html}");
        assert!(!html.contains("javascript"), "{html}");
    }

    #[test]
    fn ordinary_markdown_renders() {
        let html = to_html(
            "# Title\n\n**bold** _it_ ~~no~~ `code`\n\n```rust title=\"x\" onclick\nfn main() {}\n```\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n- [x] done\n",
        );
        for part in [
            "<h1>Title</h1>",
            "<strong>bold</strong>",
            "<em>it</em>",
            "<del>no</del>",
            "<code>code</code>",
            r#"<code class="language-rust">fn main() {}"#,
            "<table>",
            "<td>2</td>",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        assert!(html.contains(r#"type="checkbox""#) && html.contains("disabled"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
    }
}
