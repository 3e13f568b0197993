//! Decoders applied before detection: URL (percent and `+`) decoding, HTML character references
//! and JavaScript escapes. Each is a single linear pass that never fails: what does not decode
//! is kept as it is (a detector sees at least the raw text).

use std::borrow::Cow;

/// Percent-decodes `s` (`+` as space when `plus`); invalid escapes stay literal; bytes that do not
/// form UTF-8 are replaced (the caller refuses non-UTF-8 input before detection where it must).
pub fn url_decode(s: &str, plus: bool) -> Cow<'_, str> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || (plus && c == b'+')) {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push(hex(b[i + 1]).unwrap_or(0) * 16 + hex(b[i + 2]).unwrap_or(0));
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

const NAMED: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("amp", '&'),
    ("colon", ':'),
    ("lpar", '('),
    ("rpar", ')'),
    ("tab", '\t'),
    ("newline", '\n'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("equals", '='),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("grave", '`'),
    ("semi", ';'),
    ("nbsp", ' '),
    ("period", '.'),
    ("comma", ','),
    ("excl", '!'),
    ("plus", '+'),
    ("num", '#'),
    ("percnt", '%'),
];

/// Decodes HTML character references (`&#106;`, `&#x6A`, `&colon;`; the `;` optional as browsers
/// accept) in `s`.
pub fn html_decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p + 1..];
        if let Some(r) = rest.strip_prefix('#') {
            let (radix, digits) = match r.strip_prefix(['x', 'X']) {
                Some(h) => (16, h),
                None => (10, r),
            };
            let n = digits
                .bytes()
                .take_while(|c| (*c as char).is_digit(radix))
                .count();
            if n > 0
                && let Some(c) = u32::from_str_radix(&digits[..n.min(8)], radix)
                    .ok()
                    .and_then(char::from_u32)
            {
                out.push(c);
                let used = r.len() - digits.len() + n;
                rest = &r[used..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
                continue;
            }
        } else {
            let n = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
            let name = rest[..n].to_ascii_lowercase();
            if let Some((_, c)) = NAMED.iter().find(|(k, _)| *k == name) {
                out.push(*c);
                rest = &rest[n..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
                continue;
            }
        }
        out.push('&');
    }
    out.push_str(rest);
    out
}

/// Decodes JavaScript and CSS escapes (`\u0061`, `\u{61}`, `\x61`, `\61 `) in `s`.
pub fn js_decode(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let r = &s[i + 1..];
        let (digits, skip) = if let Some(h) = r.strip_prefix("u{") {
            let n = h.bytes().take_while(u8::is_ascii_hexdigit).count();
            (&h[..n], 2 + n + usize::from(h[n..].starts_with('}')))
        } else if let Some(h) = r.strip_prefix('u') {
            let n = h.bytes().take(4).take_while(u8::is_ascii_hexdigit).count();
            (&h[..n], 1 + n)
        } else if let Some(h) = r.strip_prefix('x') {
            let n = h.bytes().take(2).take_while(u8::is_ascii_hexdigit).count();
            (&h[..n], 1 + n)
        } else {
            let n = r.bytes().take(6).take_while(u8::is_ascii_hexdigit).count();
            (&r[..n], n + usize::from(r[n..].starts_with(' ')))
        };
        match u32::from_str_radix(digits, 16)
            .ok()
            .and_then(char::from_u32)
        {
            Some(d) if !digits.is_empty() => {
                out.push(d);
                for _ in 0..r[..skip].chars().count() {
                    it.next();
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        assert_eq!(url_decode("a%27+b%2", true), "a' b%2");
        assert_eq!(
            html_decode("&#106;ava&#x73;cript&colon;x&amp"),
            "javascript:x&"
        );
        assert_eq!(js_decode("\\u0061lert\\x28"), "alert(");
    }
}
