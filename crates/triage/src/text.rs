//! What a ticket says, as the classifier reads it: HTML reduced to text (tags dropped, the common
//! entities decoded, block ends as line breaks), quoted replies and signatures dropped, white
//! space folded and everything lower-cased.

/// The text of a ticket's subject, description and first customer message, ready to learn from.
pub fn normalise(raw: &str) -> String {
    let text = if raw.contains('<') {
        html_to_text(raw)
    } else {
        raw.to_string()
    };
    let mut kept = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        // A signature, or the quoted mail this one answers: nothing after it is the customer's.
        if t == "--" || t == "-- " || is_quote_header(t) {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(t);
    }
    let joined = kept.join(" ");
    let folded: Vec<&str> = joined.split_whitespace().collect();
    folded.join(" ").to_lowercase()
}

/// "On Tue, 3 Mar 2026 at 10:00, Ann <ann@example.com> wrote:" and the like.
fn is_quote_header(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    (l.starts_with("on ") && l.ends_with("wrote:"))
        || l.starts_with("-----original message-----")
        || (l.starts_with("from:") && l.contains('@'))
}

fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&decode(&rest[..open]));
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        rest = &rest[open + close + 1..];
        // Script and style bodies are not text.
        if !tag.starts_with('/') && (name == "script" || name == "style") {
            let end = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower.find(&end).map_or("", |i| &rest[i..]);
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "blockquote" | "h1" | "h2" | "h3" | "hr"
        ) {
            out.push('\n');
        }
        if name == "blockquote" && !tag.starts_with('/') {
            out.push_str("> ");
        }
    }
    out.push_str(&decode(rest));
    out
}

fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_quotes_and_signatures_are_dropped_and_the_rest_folded_and_lower_cased() {
        let t = normalise(
            "<div>My Card was <b>declined</b>&nbsp;twice</div><script>x()</script><p>Help!</p>\
             <p>--</p><p>Ann, ACME</p>",
        );
        assert_eq!(t, "my card was declined twice help!");
        let mail = "Still waiting.\n> earlier text\nOn Mon, 2 Mar 2026, Bob <b@x.io> wrote:\nold";
        assert_eq!(normalise(mail), "still waiting.");
        assert_eq!(normalise("   "), "");
    }
}
