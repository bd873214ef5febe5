//! Content-Security-Policy: rendering a directive list, and hashing the inline scripts of a built
//! `index.html` so they run without `'unsafe-inline'`.

use base64::{engine::general_purpose::STANDARD, Engine};
use lol_html::{element, text, RewriteStrSettings};
use sha2::{Digest, Sha256};

use crate::policy::Directives;

/// `'sha256-…'` of a script's text as the browser hashes it: CRLF and lone CR become LF first
/// (the HTML parser does this before tokenising), then UTF-8, SHA-256, standard base64.
pub fn script_hash(text: &str) -> String {
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(normalised.as_bytes()))
    )
}

/// The hashes of every inline script the browser would execute in `html`, in document order:
/// scripts without `src` whose type is JavaScript, a module, an import map or speculation rules.
/// Data blocks (`application/json`, `application/ld+json`, …) are skipped. Uses a real HTML
/// tokenizer (lol_html): script text is raw, hashed exactly as written.
pub fn inline_script_hashes(html: &str) -> Result<Vec<String>, String> {
    use std::{cell::RefCell, rc::Rc};
    let hashes = Rc::new(RefCell::new(Vec::new()));
    let current: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    {
        let (h, c1, c2) = (hashes.clone(), current.clone(), current.clone());
        let settings = RewriteStrSettings::new()
            .append_element_content_handler(element!("script", move |el| {
                let executable = el.get_attribute("src").is_none()
                    && is_executable(el.get_attribute("type").as_deref());
                *c1.borrow_mut() = executable.then(String::new);
                Ok(())
            }))
            .append_element_content_handler(text!("script", move |chunk| {
                let mut current = c2.borrow_mut();
                if let Some(buffer) = current.as_mut() {
                    buffer.push_str(chunk.as_str());
                    if chunk.last_in_text_node() {
                        let text = current.take().expect("present");
                        if !text.is_empty() {
                            h.borrow_mut().push(script_hash(&text));
                        }
                    }
                }
                Ok(())
            }));
        lol_html::rewrite_str(html, settings).map_err(|e| format!("cannot parse the HTML: {e}"))?;
    }
    let out = hashes.borrow().clone();
    Ok(out)
}

fn is_executable(script_type: Option<&str>) -> bool {
    let Some(t) = script_type.map(|t| t.trim().to_ascii_lowercase()) else {
        return true;
    };
    matches!(
        t.as_str(),
        "" | "text/javascript"
            | "application/javascript"
            | "application/ecmascript"
            | "text/ecmascript"
            | "module"
            | "importmap"
            | "speculationrules"
    )
}

/// Renders directives as a header value, adding `extra` sources to the named directives.
pub fn render(directives: &Directives, extra: &[(&str, Vec<String>)]) -> String {
    let mut parts = Vec::with_capacity(directives.0.len());
    for (name, sources) in &directives.0 {
        let mut all: Vec<&str> = sources.iter().map(String::as_str).collect();
        for (target, more) in extra {
            if target == name {
                for source in more {
                    if !all.contains(&source.as_str()) {
                        all.push(source);
                    }
                }
            }
        }
        if all.is_empty() {
            parts.push(name.clone());
        } else {
            parts.push(format!("{name} {}", all.join(" ")));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_vector_hashes_as_browsers_do() {
        assert_eq!(
            script_hash("var inline = 1;"),
            "'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8='"
        );
    }

    #[test]
    fn crlf_and_lone_cr_hash_like_lf() {
        let lf = script_hash("\n  var inline = 1;\n");
        assert_eq!(script_hash("\r\n  var inline = 1;\r\n"), lf);
        assert_eq!(script_hash("\r  var inline = 1;\r"), lf);
    }

    #[test]
    fn inline_classic_scripts_are_hashed_and_others_skipped() {
        let html = r#"<!doctype html><html><head>
<script>var inline = 1;</script>
<script type="module" src="/assets/index-abc.js"></script>
<script src="/x.js"></script>
<script type="application/ld+json">{"a":1}</script>
<script type="importmap">{"imports":{}}</script>
</head><body><script></script></body></html>"#;
        let hashes = inline_script_hashes(html).unwrap();
        assert_eq!(
            hashes,
            vec![
                script_hash("var inline = 1;"),
                script_hash(r#"{"imports":{}}"#)
            ]
        );
    }

    #[test]
    fn script_text_is_hashed_raw_without_decoding_entities() {
        let hashes = inline_script_hashes("<script>if (a &amp;&amp; b) {}</script>").unwrap();
        assert_eq!(hashes, vec![script_hash("if (a &amp;&amp; b) {}")]);
    }
}
