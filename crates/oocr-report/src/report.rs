//! A report as a list of blocks (headings, paragraphs, tables, figures), rendered to Markdown
//! (figures linked as files beside it) and to one self-contained HTML page (figures embedded as
//! base64 PNG).

use crate::error::{ReportError, Result};
use std::fmt::Write as _;
use std::path::Path;

/// One piece of a report.
#[derive(Debug, Clone)]
pub enum Block {
    /// A heading of level 1–3.
    Heading(u8, String),
    /// A paragraph of plain text (`inline code` in backticks is kept).
    Para(String),
    /// A table: header cells, then rows.
    Table(Vec<String>, Vec<Vec<String>>),
    /// A figure: file stem relative to the report folder (`STEM.png`, `STEM.svg`), and caption.
    Figure(String, String),
    /// A preformatted block.
    Code(String),
}

/// Renders Markdown; figures are linked as `STEM.png` (with the SVG named in the caption).
pub fn markdown(blocks: &[Block]) -> String {
    let mut s = String::new();
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(s, "{} {t}\n", "#".repeat(*l as usize));
            }
            Block::Para(t) => {
                let _ = writeln!(s, "{t}\n");
            }
            Block::Table(head, rows) => {
                let cell = |c: &String| c.replace('|', "\\|");
                let _ = writeln!(
                    s,
                    "| {} |",
                    head.iter().map(cell).collect::<Vec<_>>().join(" | ")
                );
                let _ = writeln!(s, "|{}", " --- |".repeat(head.len()));
                for r in rows {
                    let _ = writeln!(
                        s,
                        "| {} |",
                        r.iter().map(cell).collect::<Vec<_>>().join(" | ")
                    );
                }
                s.push('\n');
            }
            Block::Figure(stem, cap) => {
                let _ = writeln!(s, "![{stem}]({stem}.png)\n\n*{cap}* ([SVG]({stem}.svg))\n");
            }
            Block::Code(t) => {
                let _ = writeln!(s, "```text\n{t}\n```\n");
            }
        }
    }
    s
}

/// Escapes text for HTML and turns `code` spans into `<code>`.
fn inline(t: &str) -> String {
    let esc = t
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut out = String::new();
    for (i, part) in esc.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;\
margin:2em auto;padding:0 1em;line-height:1.5;color:#222}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}\
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.95em;color:#444}\
code{background:#f4f4f4;padding:0 3px}pre{background:#f4f4f4;padding:8px;overflow-x:auto}\
.pass{color:#0a7d28;font-weight:bold}.fail{color:#c0161b;font-weight:bold}";

/// Renders one self-contained HTML page; figures are read from `dir` and embedded as base64 PNG.
pub fn html(blocks: &[Block], title: &str, dir: &Path) -> Result<String> {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n",
        inline(title)
    );
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(s, "<h{l}>{}</h{l}>", inline(t));
            }
            Block::Para(t) => {
                let _ = writeln!(s, "<p>{}</p>", inline(t));
            }
            Block::Table(head, rows) => {
                s.push_str("<table><tr>");
                for h in head {
                    let _ = write!(s, "<th>{}</th>", inline(h));
                }
                s.push_str("</tr>\n");
                for r in rows {
                    s.push_str("<tr>");
                    for c in r {
                        let class = match c.as_str() {
                            "PASS" => " class=\"pass\"",
                            "FAIL" => " class=\"fail\"",
                            _ => "",
                        };
                        let _ = write!(s, "<td{class}>{}</td>", inline(c));
                    }
                    s.push_str("</tr>\n");
                }
                s.push_str("</table>\n");
            }
            Block::Figure(stem, cap) => {
                let png = dir.join(format!("{stem}.png"));
                let bytes = std::fs::read(&png).map_err(|e| ReportError::io(&png, e))?;
                let _ = writeln!(
                    s,
                    "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{1}\"><figcaption>{0}</figcaption></figure>",
                    inline(cap),
                    base64(&bytes)
                );
            }
            Block::Code(t) => {
                let _ = writeln!(s, "<pre>{}</pre>", inline(&t.replace('`', "'")));
            }
        }
    }
    s.push_str("</body></html>\n");
    Ok(s)
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn markdown_and_html_render_tables_and_escape() {
        let blocks = vec![
            Block::Heading(1, "T".into()),
            Block::Para("a <b> `x`".into()),
            Block::Table(
                vec!["id".into(), "pass".into()],
                vec![vec!["a|b".into(), "PASS".into()]],
            ),
        ];
        let md = markdown(&blocks);
        assert!(md.contains("| a\\|b | PASS |"));
        let h = html(&blocks, "t", Path::new(".")).unwrap();
        assert!(h.contains("a &lt;b&gt; <code>x</code>"));
        assert!(h.contains("<td class=\"pass\">PASS</td>"));
    }
}
