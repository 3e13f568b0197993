//! Permissions and grants. A permission is `resource.action` (two or more dot-separated segments
//! of `a-z 0-9 _ -`). A grant is a permission pattern: `*` as a segment matches exactly one
//! segment, except as the last segment where it matches one or more (`tools.*` covers
//! `tools.read_file.execute`); the grant `*` matches every permission.

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A permission is two or more dot-separated segments of `a-z 0-9 _ -` (`graphs.read`).
pub fn valid_permission(p: &str) -> bool {
    p.split('.').count() >= 2 && p.split('.').all(valid_segment)
}

/// A grant is `*`, or a permission whose segments may be `*` (`admin.*`, `*.read`).
pub fn valid_grant(g: &str) -> bool {
    g == "*" || (g.split('.').count() >= 2 && g.split('.').all(|s| s == "*" || valid_segment(s)))
}

/// Whether `grant` covers `permission` (`*` covers everything; `*` covers one segment, a
/// trailing `*` the rest).
pub fn grant_matches(grant: &str, permission: &str) -> bool {
    if grant == "*" {
        return true;
    }
    let mut want = permission.split('.');
    let mut pattern = grant.split('.').peekable();
    while let Some(g) = pattern.next() {
        let last = pattern.peek().is_none();
        match want.next() {
            None => return false,
            Some(_) if g == "*" && last => return true,
            Some(_) if g == "*" => {}
            Some(p) if p == g => {}
            Some(_) => return false,
        }
    }
    want.next().is_none()
}

/// Does `mine` cover every permission `theirs` can match? (May a holder of `mine` hand out
/// `theirs` without handing out more than they have.)
pub fn grant_covers(mine: &str, theirs: &str) -> bool {
    if mine == "*" {
        return true;
    }
    if theirs == "*" {
        return false;
    }
    let m: Vec<&str> = mine.split('.').collect();
    let t: Vec<&str> = theirs.split('.').collect();
    for (i, ms) in m.iter().enumerate() {
        let mine_is_last = i + 1 == m.len();
        if mine_is_last && *ms == "*" {
            return t.len() > i;
        }
        let Some(ts) = t.get(i) else {
            return false;
        };
        // A trailing `*` of theirs matches any depth; only a trailing `*` of mine covers that.
        if i + 1 == t.len() && *ts == "*" {
            return false;
        }
        if *ms != "*" && ms != ts {
            return false;
        }
    }
    t.len() == m.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        let table = [
            ("*", "graphs.write", true),
            ("graphs.*", "graphs.write", true),
            ("graphs.*", "graphs", false),
            ("*.read", "graphs.read", true),
            ("*.read", "graphs.write", false),
            ("*.read", "tools.read_file.read", false),
            ("tools.*", "tools.read_file.execute", true),
            ("tools.read_file.execute", "tools.read_file.execute", true),
            ("tools.read_file.execute", "tools.write_file.execute", false),
            ("tools.*.execute", "tools.read_file.execute", true),
            ("tools.*.execute", "tools.read_file.delete", false),
            ("graphs.write", "graphs.write.extra", false),
            ("graphs.write.extra", "graphs.write", false),
        ];
        for (grant, permission, expected) in table {
            assert_eq!(
                grant_matches(grant, permission),
                expected,
                "{grant} vs {permission}"
            );
        }
    }

    #[test]
    fn coverage() {
        let table = [
            ("*", "*", true),
            ("*", "tools.*", true),
            ("tools.*", "*", false),
            ("tools.*", "tools.read_file.execute", true),
            ("tools.*", "tools.*.execute", true),
            ("tools.*", "tools.*", true),
            ("tools.*.execute", "tools.*", false),
            ("tools.*.execute", "tools.read_file.execute", true),
            ("*.execute", "tools.read_file.execute", false),
            ("*.execute", "tools.execute", true),
            ("*.read", "*.read", true),
            ("graphs.read", "*.read", false),
            ("graphs.*", "graphs.read", true),
            ("graphs.read", "graphs.read", true),
            ("graphs.read", "graphs.write", false),
            ("admin.*", "admin.tenants.write", true),
            ("*.write", "admin.tenants.write", false),
        ];
        for (mine, theirs, expected) in table {
            assert_eq!(
                grant_covers(mine, theirs),
                expected,
                "{mine} covers {theirs}"
            );
        }
    }

    #[test]
    fn syntax() {
        assert!(valid_permission("graphs.write") && valid_permission("tools.read_file.execute"));
        for bad in [
            "graphs",
            "Graphs.write",
            "graphs..write",
            "graphs.*",
            "",
            "a.b c",
        ] {
            assert!(!valid_permission(bad), "{bad:?}");
        }
        assert!(valid_grant("*") && valid_grant("*.read") && valid_grant("agents.*"));
        for bad in ["", "agents", "agents.**", "a..b", "*x.read"] {
            assert!(!valid_grant(bad), "{bad:?}");
        }
    }

    proptest! {
        /// Coverage is sound: whatever `theirs` matches, `mine` matches too.
        #[test]
        fn a_covering_grant_matches_everything_the_covered_one_does(
            mine in "(\\*|[ab])(\\.(\\*|[ab])){1,3}",
            theirs in "(\\*|[ab])(\\.(\\*|[ab])){1,3}",
            permission in "[ab](\\.[ab]){1,4}",
        ) {
            if grant_covers(&mine, &theirs) && grant_matches(&theirs, &permission) {
                prop_assert!(grant_matches(&mine, &permission), "{} {} {}", mine, theirs, permission);
            }
        }

        /// A grant without wildcards matches only the identical permission.
        #[test]
        fn literal_grants_match_only_themselves(
            a in "[a-z]{1,6}(\\.[a-z]{1,6}){1,3}",
            b in "[a-z]{1,6}(\\.[a-z]{1,6}){1,3}",
        ) {
            prop_assert_eq!(grant_matches(&a, &b), a == b);
        }

        /// Changing any non-wildcard segment of a matching pair breaks the match.
        #[test]
        fn a_differing_literal_segment_never_matches(
            segs in proptest::collection::vec("[a-z]{1,6}", 2..5),
            wild in proptest::collection::vec(any::<bool>(), 5),
            flip in 0usize..5,
        ) {
            let flip = flip % segs.len();
            let grant: Vec<String> = segs.iter().enumerate()
                .map(|(i, s)| if wild[i] && i != flip { "*".to_string() } else { s.clone() })
                .collect();
            let mut permission = segs.clone();
            permission[flip].push('x');
            prop_assert!(!grant_matches(&grant.join("."), &permission.join(".")));
        }
    }
}
