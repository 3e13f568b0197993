//! The cross-site-scripting detector. It reads the input the way a browser would in the four
//! places a parameter lands: HTML content (a tag that runs script or loads content, an event
//! handler attribute), an attribute value (a quote that closes the attribute followed by a new
//! attribute or tag), a script (a quote or `</script>` break followed by a call), and a URL
//! (`javascript:`, `vbscript:`, `data:text/html`). HTML character references and JavaScript
//! escapes are decoded first, and whitespace and control characters browsers ignore inside a
//! scheme are dropped. A lexer of tags and attributes, not a list of attack strings.

use super::decode::{html_decode, js_decode};

/// An XSS finding: the rule and the paranoia level from which it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XssFinding {
    /// The matched rule's short name.
    pub rule: &'static str,
    /// The paranoia level from which it counts (1–4).
    pub level: u8,
}

/// Tags that run script, load active content or re-target the page.
const ACTIVE_TAGS: &[&str] = &[
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "svg",
    "math",
    "style",
    "link",
    "meta",
    "base",
    "form",
    "isindex",
    "xml",
    "import",
    "animate",
    "set",
    "handler",
    "listener",
    "xss",
    "vmlframe",
    "template",
    "portal",
    "noscript",
    "xmp",
    "plaintext",
    "title",
    "textarea",
    "image",
    "video",
    "audio",
    "source",
    "body",
    "html",
    "marquee",
    "bgsound",
    "layer",
    "ilayer",
    "details",
    "dialog",
];
/// Attributes whose value is a URL or script.
const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "xlink:href",
    "background",
    "lowsrc",
    "dynsrc",
    "poster",
    "codebase",
    "from",
    "to",
    "values",
    "by",
    "content",
    "srcdoc",
    "style",
    "location",
    "code",
    "folder",
    "ping",
    "xmlns",
    "attributename",
];
/// JavaScript sinks and calls typical of a payload.
const SINKS: &[&str] = &[
    "alert",
    "confirm",
    "prompt",
    "eval",
    "fromcharcode",
    "settimeout",
    "setinterval",
    "atob",
    "execscript",
    "msgbox",
    "document.write",
    "window.open",
    "constructor",
];

fn push(best: &mut Option<XssFinding>, rule: &'static str, level: u8) {
    if best.is_none_or(|b| level < b.level) {
        *best = Some(XssFinding { rule, level });
    }
}

/// The strongest XSS finding in `input`, if any.
pub fn detect(input: &str) -> Option<XssFinding> {
    if !input.bytes().any(may_trigger) {
        return None;
    }
    let decoded = js_decode(&html_decode(input));
    let lower = decoded.to_ascii_lowercase();
    let mut best = None;
    html_context(&lower, &mut best);
    url_context(&lower, &mut best);
    script_context(&lower, &mut best);
    best
}

/// Whether `b` is a byte without one of which no rule here matches (a tag, a scheme, a call,
/// an attribute, an entity or an escape): the detector's quick test, shared with `scan`.
pub(super) const fn may_trigger(b: u8) -> bool {
    matches!(b, b'<' | b':' | b'(' | b'`' | b'=' | b'&' | b'\\')
}

/// Drops what browsers ignore inside a URL scheme: whitespace, control characters.
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '\u{feff}')
        .collect()
}

fn is_script_url(v: &str) -> bool {
    let v = squeeze(v.trim_start_matches(['"', '\'', '`', ' ']));
    v.starts_with("javascript:")
        || v.starts_with("vbscript:")
        || v.starts_with("livescript:")
        || v.starts_with("mocha:")
        || (v.starts_with("data:")
            && (v.contains("html")
                || v.contains("script")
                || v.contains("svg")
                || v.contains("base64")))
}

fn has_sink_call(s: &str) -> bool {
    let b = s.as_bytes();
    SINKS.iter().any(|w| {
        let mut from = 0;
        while let Some(p) = s[from..].find(w) {
            let at = from + p;
            let after = at + w.len();
            let before_ok = at == 0 || !b[at - 1].is_ascii_alphanumeric();
            let mut j = after;
            while j < b.len() && (b[j] == b' ' || b[j] == b')') && b[j] != b'(' {
                if b[j] == b')' {
                    break;
                }
                j += 1;
            }
            if before_ok && j < b.len() && matches!(b[j], b'(' | b'`') {
                return true;
            }
            from = after;
        }
        false
    }) || s.contains("document.cookie")
        || s.contains("document.domain")
        || s.contains("location.href")
        || s.contains("top.location")
        || s.contains("self.location")
        || s.contains("innerhtml")
}

fn html_context(s: &str, best: &mut Option<XssFinding>) {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(p) = s[i..].find('<') {
        let at = i + p;
        i = at + 1;
        let rest = &s[at + 1..];
        let rest_t = rest.trim_start_matches(['/', '!', '?', '%']);
        let name_len = rest_t
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'-' | b'_'))
            .count();
        if rest.starts_with("!--") || rest.starts_with("![cdata[") {
            push(best, "html-comment", 3);
        }
        if name_len == 0 {
            continue;
        }
        let name = &rest_t[..name_len];
        let name_base = name.rsplit(':').next().unwrap_or(name);
        // A tag: `<name` followed by whitespace, `/`, `>` or the end.
        let after = rest_t[name_len..].chars().next();
        let is_tag = after.is_none_or(|c| c.is_whitespace() || c == '/' || c == '>' || c == '\0');
        if !is_tag {
            continue;
        }
        if ACTIVE_TAGS.contains(&name_base) {
            let strong = matches!(
                name_base,
                "script"
                    | "iframe"
                    | "frame"
                    | "object"
                    | "embed"
                    | "applet"
                    | "svg"
                    | "math"
                    | "meta"
                    | "base"
                    | "isindex"
                    | "xss"
                    | "vmlframe"
                    | "portal"
                    | "frameset"
                    | "import"
                    | "animate"
                    | "set"
                    | "handler"
                    | "listener"
                    | "bgsound"
                    | "layer"
                    | "ilayer"
                    | "style"
                    | "link"
                    | "xml"
                    | "form"
            );
            push(best, "active-tag", if strong { 1 } else { 2 });
        } else {
            push(best, "html-tag", 3);
        }
        // The tag's attributes up to `>` (or the end of the input).
        let end = s[at..].find('>').map_or(s.len(), |e| at + e);
        let tag = &s[at..end];
        attributes(tag, best);
        let _ = b;
    }
}

fn attributes(tag: &str, best: &mut Option<XssFinding>) {
    let b = tag.as_bytes();
    let mut i = 1;
    while i < b.len() {
        // An attribute name starts after whitespace, `/`, a quote or the tag name.
        if b[i].is_ascii_alphabetic()
            && matches!(
                b[i - 1],
                b' ' | b'/' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'"' | b'\'' | b'`' | b'\0'
            )
        {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b':' | b'-' | b'_'))
            {
                i += 1;
            }
            let name = &tag[start..i];
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] == b'=' {
                let val = &tag[j + 1..];
                if name.starts_with("on") && name.len() > 3 {
                    push(best, "event-handler", 1);
                } else if URL_ATTRS.contains(&name) && is_script_url(val) {
                    push(best, "script-url-attribute", 1);
                } else if name == "style" && css_active(val) {
                    push(best, "active-style", 1);
                }
            }
            continue;
        }
        i += 1;
    }
}

fn css_active(v: &str) -> bool {
    let v = squeeze(v);
    v.contains("expression(")
        || v.contains("behavior:")
        || v.contains("-moz-binding")
        || v.contains("javascript:")
        || v.contains("@import")
}

fn url_context(s: &str, best: &mut Option<XssFinding>) {
    if is_script_url(s) {
        push(best, "script-url", 1);
    }
    let sq = squeeze(s);
    if sq.contains("javascript:") || sq.contains("vbscript:") {
        push(
            best,
            "script-url",
            if has_sink_call(s) || sq.contains("javascript:/") {
                1
            } else {
                2
            },
        );
    }
    if css_active(s) && (s.contains("style") || s.contains('{')) {
        push(best, "active-style", 2);
    }
}

fn script_context(s: &str, best: &mut Option<XssFinding>) {
    if s.contains("</script") {
        push(best, "script-break", 1);
    }
    let sink = has_sink_call(s);
    // An attribute break: a quote followed by a new event-handler attribute.
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if matches!(c, b'"' | b'\'' | b'`') {
            let rest = s[i + 1..].trim_start_matches([' ', '/', '\t', '\n', '\r', '\x0c']);
            let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            if n > 3 && rest.starts_with("on") && rest[n..].trim_start().starts_with('=') {
                push(best, "attribute-break", 1);
            }
            if rest.starts_with('>') && s[i..].contains('<') {
                push(best, "attribute-break", 3);
            }
            // A string break in script: '; alert(1)//, "-alert(1)-"
            if sink && rest.starts_with([';', '-', '+', ')', '}', '|', '&', '*', '^', ',']) {
                push(best, "script-string-break", 1);
            }
        }
    }
    if sink {
        let lvl = if s.contains('<') || s.contains('>') || s.contains("=") {
            2
        } else {
            3
        };
        push(best, "script-call", lvl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_found() {
        for s in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "\" onmouseover=\"alert(1)",
            "javascript:alert(1)",
            "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
            "';alert(String.fromCharCode(88))//",
        ] {
            assert!(detect(s).is_some_and(|f| f.level <= 2), "{s}");
        }
    }

    #[test]
    fn ordinary_text_is_not() {
        for s in [
            "a < b and c > d",
            "Tom & Jerry",
            "see https://example.com/a?b=c",
            "x<3 love",
        ] {
            assert!(
                detect(s).is_none_or(|f| f.level > 2),
                "{s}: {:?}",
                detect(s)
            );
        }
    }
}
