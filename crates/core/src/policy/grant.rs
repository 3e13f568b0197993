//! Permissions and grants. A permission is `resource.action` (two or more dot-separated segments
//! of `a-z 0-9 _ -`). A grant is a permission pattern: `*` as a segment matches exactly one
//! segment, except as the last segment where it matches one or more (`tools.*` covers
//! `tools.read_file.execute`); the grant `*` matches every permission.

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub fn valid_permission(p: &str) -> bool {
    p.split('.').count() >= 2 && p.split('.').all(valid_segment)
}

pub fn valid_grant(g: &str) -> bool {
    g == "*" || (g.split('.').count() >= 2 && g.split('.').all(|s| s == "*" || valid_segment(s)))
}

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
