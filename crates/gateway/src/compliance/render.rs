//! The report as JSON, markdown or HTML. The HTML page is self-contained (inline style, no
//! script, no external asset) and every text in it is escaped; markdown table cells have their
//! `|`, `<`, `>` and line breaks escaped. All three carry the notice and, when there is one, the
//! catalogue's attribution.

use super::{Control, Report, Score};
use std::fmt::Write;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The [`Report`] serialized (field names documented in DESIGN.md).
    Json,
    /// A markdown document.
    Markdown,
    /// A self-contained HTML page.
    Html,
}

impl Format {
    /// `json`, `markdown` (or `md`), `html`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "markdown" | "md" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    /// The media type of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

/// `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Markdown => markdown(report),
        Format::Html => html(report),
    }
}

fn score_line(s: &Score) -> String {
    let pct = s.percent.map_or("n/a".into(), |p| format!("{p}%"));
    format!(
        "{pct} — met {}, partial {}, not met {}, not applicable {}, not assessed {}",
        s.met, s.partial, s.not_met, s.not_applicable, s.not_assessed
    )
}

/// Text for a markdown table cell or heading: no `|`, line break or raw HTML gets through.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

fn evidence_text(c: &Control) -> String {
    c.evidence
        .iter()
        .map(|e| format!("{} = {}", e.key, e.value))
        .collect::<Vec<_>>()
        .join("; ")
}

fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", cell(&r.title));
    let _ = writeln!(
        out,
        "Generated {} by Palisade (`{}`).\n",
        r.generated_at, r.standard
    );
    let _ = writeln!(out, "> {}\n", r.notice);
    if let Some(a) = &r.attribution {
        let _ = writeln!(out, "> {}\n", cell(a));
    }
    let _ = writeln!(out, "**Overall:** {}\n", score_line(&r.summary));
    for g in &r.groups {
        let _ = writeln!(out, "## {} {}\n", g.id, cell(&g.title));
        let _ = writeln!(out, "Score: {}\n", score_line(&g.score));
        let _ = writeln!(
            out,
            "| Id | Status | Requirement | Evidence | Tests | Remediation |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
        for c in &g.controls {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&c.id),
                c.status.as_str(),
                cell(&c.title),
                cell(&evidence_text(c)),
                cell(&c.tests.join(", ")),
                cell(c.remediation.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    if !r.not_in_catalogue.is_empty() {
        let _ = writeln!(out, "## Chapters not in this catalogue\n");
        for a in &r.not_in_catalogue {
            let _ = writeln!(out, "- {} {}: {}", a.id, cell(&a.title), a.note);
        }
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;width:100%;margin-bottom:2em}\
td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}\
.met{color:#176f2c}.partial{color:#8a5a00}.not_met{color:#b00020}\
.not_applicable,.not_assessed{color:#666}blockquote{border-left:4px solid #ccc;margin:1em 0;padding-left:1em}";

fn html(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n\
         <p>Generated {} by Palisade (<code>{}</code>).</p>\n<blockquote>{}</blockquote>\n",
        esc(&r.title),
        esc(&r.title),
        esc(&r.generated_at),
        esc(r.standard),
        esc(r.notice)
    );
    if let Some(a) = &r.attribution {
        let _ = writeln!(out, "<blockquote>{}</blockquote>", esc(a));
    }
    let _ = writeln!(
        out,
        "<p><strong>Overall:</strong> {}</p>",
        esc(&score_line(&r.summary))
    );
    for g in &r.groups {
        let _ = writeln!(
            out,
            "<h2>{} {}</h2>\n<p>Score: {}</p>\n<table><tr><th>Id</th><th>Status</th>\
             <th>Requirement</th><th>Evidence</th><th>Tests</th><th>Remediation</th></tr>",
            esc(&g.id),
            esc(&g.title),
            esc(&score_line(&g.score))
        );
        for c in &g.controls {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.id),
                c.status.as_str(),
                c.status.as_str(),
                esc(&c.title),
                esc(&evidence_text(c)),
                esc(&c.tests.join(", ")),
                esc(c.remediation.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table>\n");
    }
    if !r.not_in_catalogue.is_empty() {
        out.push_str("<h2>Chapters not in this catalogue</h2>\n<ul>\n");
        for a in &r.not_in_catalogue {
            let _ = writeln!(out, "<li>{} {}: {}</li>", esc(&a.id), esc(&a.title), a.note);
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::{Evidence, Group, NOTICE, Status};

    fn hostile() -> Report {
        let control = Control {
            id: "X-1".into(),
            title: "a | b\nc".into(),
            status: Status::NotMet,
            evidence: vec![Evidence {
                key: "routes open without auth".into(),
                value: "[\"/<script>alert(1)</script>\"]".into(),
            }],
            tests: vec!["crates/x.rs::t".into()],
            remediation: Some("fix <b>it</b> & \"quote\"".into()),
        };
        Report {
            standard: "nist-800-53-moderate",
            title: "T <i>".into(),
            generated_at: "2030-01-01T00:00:00Z".into(),
            notice: NOTICE,
            attribution: Some("A & B".into()),
            summary: Score::of([&control]),
            groups: vec![Group {
                id: "X".into(),
                title: "X".into(),
                score: Score::of([&control]),
                controls: vec![control],
            }],
            not_in_catalogue: vec![],
        }
    }

    #[test]
    fn html_escapes_every_text_and_loads_nothing() {
        let page = render(&hostile(), Format::Html);
        assert!(!page.contains("<script") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("fix &lt;b&gt;it&lt;/b&gt; &amp; &quot;quote&quot;"));
        assert!(page.contains("A &amp; B") && page.contains("not an attestation"));
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!page.contains(external), "{external}");
        }
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let md = render(&hostile(), Format::Markdown);
        let row = md.lines().find(|l| l.starts_with("| X-1 |")).unwrap();
        assert!(row.contains("a \\| b c"), "{row}");
        assert_eq!(row.matches(" | ").count(), 5, "{row}");
        assert!(
            !row.contains("<script") && row.contains("&lt;script&gt;"),
            "{row}"
        );
        assert!(md.contains("> A & B") && md.contains("not an attestation"));
    }

    #[test]
    fn json_keeps_the_documented_field_names() {
        let v: serde_json::Value = serde_json::from_str(&render(&hostile(), Format::Json)).unwrap();
        let c = &v["groups"][0]["controls"][0];
        assert_eq!(c["status"], "not_met");
        for field in ["id", "title", "status", "evidence", "tests", "remediation"] {
            assert!(c.get(field).is_some(), "{field}");
        }
        assert_eq!(v["summary"]["not_met"], 1);
        assert_eq!(v["summary"]["percent"], 0.0);
        assert!(v["not_in_catalogue"].is_array() && v["attribution"] == "A & B");
    }
}
