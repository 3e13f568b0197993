use super::spellings::{ATTACKS, Expected, LEGIT, PROTECTED};
use super::*;
use proptest::prelude::*;

const DEFAULT: PathPolicy = PathPolicy {
    encoded_slash: EncodedSlash::Reject,
    path_params: PathParams::Reject,
};

const ALL_POLICIES: [PathPolicy; 6] = {
    use EncodedSlash as S;
    use PathParams as P;
    [
        PathPolicy {
            encoded_slash: S::Reject,
            path_params: P::Reject,
        },
        PathPolicy {
            encoded_slash: S::Decode,
            path_params: P::Reject,
        },
        PathPolicy {
            encoded_slash: S::Keep,
            path_params: P::Reject,
        },
        PathPolicy {
            encoded_slash: S::Reject,
            path_params: P::Keep,
        },
        PathPolicy {
            encoded_slash: S::Decode,
            path_params: P::Keep,
        },
        PathPolicy {
            encoded_slash: S::Keep,
            path_params: P::Keep,
        },
    ]
};

fn canon(path: &str, policy: &PathPolicy) -> Result<String, &'static str> {
    canonicalize(path, policy)
        .map(|c| c.into_owned())
        .map_err(|e| e.rule)
}

#[test]
fn the_default_policy_rejects_encoded_slashes_and_parameters() {
    assert_eq!(PathPolicy::default(), DEFAULT);
}

#[test]
fn attack_table_is_large_and_every_spelling_has_its_expected_outcome() {
    assert!(ATTACKS.len() >= 100, "{} attack spellings", ATTACKS.len());
    let mut failures = Vec::new();
    for &(input, expected) in ATTACKS {
        let got = canon(input, &DEFAULT);
        let want = match expected {
            Expected::Refused(rule) => Err(rule),
            Expected::Forwarded(path) => Ok(path.to_string()),
        };
        if got != want {
            failures.push(format!("{input:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_attack_is_refused_or_forwarded_in_a_form_that_is_already_canonical() {
    for &(input, expected) in ATTACKS {
        if let Expected::Forwarded(path) = expected {
            let again = canonicalize(path, &DEFAULT).expect("canonical form is accepted");
            assert!(matches!(again, Cow::Borrowed(p) if p == path), "{input:?}");
        }
    }
    // The protected resource is reached by many spellings; each is forwarded as exactly it.
    let reaching = ATTACKS
        .iter()
        .filter(|(_, e)| *e == Expected::Forwarded(PROTECTED))
        .count();
    assert!(reaching >= 30, "{reaching}");
}

#[test]
fn every_rule_is_exercised_by_the_tables_or_the_policy_tests() {
    let mut seen: Vec<&str> = ATTACKS
        .iter()
        .filter_map(|(_, e)| match e {
            Expected::Refused(rule) => Some(*rule),
            Expected::Forwarded(_) => None,
        })
        .collect();
    seen.push(DOT_SEGMENT_PARAMETER); // under path_params = keep, tested below
    for rule in RULES {
        assert!(seen.contains(rule), "{rule} is never exercised");
    }
    for rule in &seen {
        assert!(RULES.contains(rule), "{rule} is not listed in RULES");
    }
}

#[test]
fn legit_table_is_forwarded_exactly_as_specified() {
    assert!(LEGIT.len() >= 30, "{} legitimate spellings", LEGIT.len());
    let mut failures = Vec::new();
    for &(input, want) in LEGIT {
        let got = canon(input, &DEFAULT);
        if got != Ok(want.to_string()) {
            failures.push(format!("{input:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_canonical_path_is_borrowed_and_a_rewritten_one_is_owned() {
    let p = "/api/v1/users/42";
    assert!(matches!(canonicalize(p, &DEFAULT), Ok(Cow::Borrowed(s)) if std::ptr::eq(s, p)));
    assert!(matches!(
        canonicalize("/files/a%20b/caf%C3%A9/50%25off/", &DEFAULT),
        Ok(Cow::Borrowed(_))
    ));
    assert!(matches!(
        canonicalize("/api//v1", &DEFAULT),
        Ok(Cow::Owned(_))
    ));
    assert!(canonicalize("/a%2fb", &DEFAULT).is_err());
}

#[test]
fn the_refusal_explains_the_rule_without_echoing_the_path() {
    for &(input, expected) in ATTACKS {
        if let Expected::Refused(rule) = expected {
            let err = canonicalize(input, &DEFAULT).expect_err(input);
            let text = err.to_string();
            assert!(text.contains(rule), "{text}");
            assert!(
                !text.contains("the path has no unambiguous"),
                "{rule} lacks a sentence"
            );
            assert!(!text.contains("admin") && !text.contains("users"), "{text}");
        }
    }
    let err = Ambiguous {
        rule: DOT_SEGMENT_PARAMETER,
    };
    assert!(err.to_string().contains("servlet"), "{err}");
}

#[test]
fn encoded_slash_decode_splits_before_dot_segments_and_merging() {
    let decode = PathPolicy {
        encoded_slash: EncodedSlash::Decode,
        ..DEFAULT
    };
    let cases = [
        ("/api%2Fadmin/users", "/api/admin/users"),
        ("/api%2fadmin%2Fusers", "/api/admin/users"),
        ("/api/x%2F..%2Fadmin/users", "/api/admin/users"),
        ("/api/x/..%2fadmin/users", "/api/admin/users"),
        ("/api%2F%2Fadmin/users", "/api/admin/users"),
        ("/a%2F", "/a/"),
        ("/a/b%2F%2e%2e", "/a/"),
        ("%2Fa", "not-origin-form"),
    ];
    for (input, want) in cases {
        let got = canon(input, &decode).unwrap_or_else(|rule| rule.to_string());
        assert_eq!(got, want, "{input:?}");
    }
    // Other rules still hold.
    assert_eq!(canon("/a%252Fb", &decode), Err("double-encoding"));
    assert_eq!(canon("/a;b", &decode), Err("path-parameter"));
    assert_eq!(canon("/a%5Cb", &decode), Err("backslash"));
}

#[test]
fn encoded_slash_keep_forwards_it_as_data_in_upper_case() {
    let keep = PathPolicy {
        encoded_slash: EncodedSlash::Keep,
        ..DEFAULT
    };
    assert_eq!(
        canon("/api%2fadmin/users", &keep),
        Ok("/api%2Fadmin/users".into())
    );
    assert_eq!(
        canon("/api/admin%2Fusers", &keep),
        Ok("/api/admin%2Fusers".into())
    );
    // `..%2F` is one segment, not a dot segment.
    assert_eq!(canon("/a/..%2Fb/c", &keep), Ok("/a/..%2Fb/c".into()));
    assert_eq!(canon("/a/%2F/../b", &keep), Ok("/a/b".into()));
    assert!(matches!(
        canonicalize("/a%2Fb", &keep),
        Ok(Cow::Borrowed(_))
    ));
    assert_eq!(canon("/a%252Fb", &keep), Err("double-encoding"));
}

#[test]
fn path_params_keep_forwards_them_but_refuses_parameterized_dot_segments() {
    let keep = PathPolicy {
        path_params: PathParams::Keep,
        ..DEFAULT
    };
    assert_eq!(
        canon("/api/admin;/users", &keep),
        Ok("/api/admin;/users".into())
    );
    assert_eq!(canon("/a;b=1/c;d", &keep), Ok("/a;b=1/c;d".into()));
    assert!(matches!(
        canonicalize("/a;b=1/c;d", &keep),
        Ok(Cow::Borrowed(_))
    ));
    assert_eq!(canon("/a;/../b", &keep), Ok("/b".into()));
    assert_eq!(canon("/a/b..;/c", &keep), Ok("/a/b..;/c".into()));
    assert_eq!(canon("/a/;../c", &keep), Ok("/a/;../c".into()));
    for dotted in [
        "/api/..;/admin",
        "/api/x/..;x=1/admin",
        "/api/.;/admin",
        "/api/%2e%2E;/a",
    ] {
        assert_eq!(
            canon(dotted, &keep),
            Err("dot-segment-parameter"),
            "{dotted:?}"
        );
    }
    assert_eq!(canon("/api/..;", &keep), Err("dot-segment-parameter"));
    // An encoded `;` is data under both policies.
    assert_eq!(canon("/a%3bb", &keep), Ok("/a%3Bb".into()));
    assert_eq!(canon("/a/..%3B/b", &keep), Ok("/a/..%3B/b".into()));
}

#[test]
fn policies_deserialize_from_snake_case() {
    let s: EncodedSlash = serde_json::from_str("\"decode\"").unwrap();
    assert_eq!(s, EncodedSlash::Decode);
    let p: PathParams = serde_json::from_str("\"keep\"").unwrap();
    assert_eq!(p, PathParams::Keep);
    assert_eq!(
        serde_json::to_string(&EncodedSlash::Reject).unwrap(),
        "\"reject\""
    );
    assert!(serde_json::from_str::<EncodedSlash>("\"Decode\"").is_err());
}

#[test]
fn prefixes_match_at_segment_boundaries() {
    let cases = [
        ("/api/admin/", "/api/admin", false, true),
        ("/api/admin/", "/api/admin/", false, true),
        ("/api/admin/", "/api/admin/x", false, true),
        ("/api/admin/", "/api/administrators", false, false),
        ("/api/admin/", "/api/adminx/y", false, false),
        ("/api/admin/", "/api/", false, false),
        ("/api/admin/", "/api", false, false),
        ("/api/admin", "/api/admin", false, true),
        ("/api/admin", "/api/admin/", false, true),
        ("/api/admin", "/api/admin/x/y", false, true),
        ("/api/admin", "/api/administrators", false, false),
        ("/api/admin", "/api/admi", false, false),
        ("/", "/", false, true),
        ("/", "/anything/at/all", false, true),
        ("/api/Admin/", "/api/admin/x", false, false),
        ("/api/Admin/", "/api/admin/x", true, true),
        ("/api/admin/", "/API/ADMIN", true, true),
        ("/api/admin/", "/API/ADMINS", true, false),
        ("/api/%C3%A9/", "/api/%c3%a9/x", true, true),
        ("/api/%C3%A9/", "/api/%c3%a9/x", false, false),
    ];
    for (prefix, path, ci, want) in cases {
        assert_eq!(
            prefix_matches(prefix, path, ci),
            want,
            "{prefix:?} {path:?} ci={ci}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// Paths built from the alphabet where canonicalizers disagree: half of them from the whole
/// alphabet (mostly refused), half from the tokens no rule refuses under every policy (so that
/// the properties about accepted paths see plenty of them).
fn interesting_path() -> impl Strategy<Value = String> {
    const BENIGN: &[&str] = &[
        "/",
        "/",
        "/",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2F",
        "%2f",
        "%25",
        ";",
        "a",
        "b",
        "A",
        "e",
        "f",
        "F",
        "0",
        "2",
        "5",
        "%41",
        "%61",
        "%7e",
        "~",
        "%C3%A9",
        "%c3%a9",
        "\u{e9}",
        "%20",
        "%3B",
        ":",
        "@",
        "+",
        "|",
        "%2B",
        "%E2%80%A5",
        "\"",
        "{",
        "\u{ff41}",
    ];
    const REFUSED: &[&str] = &["%", "\\", "%5C", "%00", " ", "%C0%AE", "%C3", "%0a", "\t"];
    let benign = prop::sample::select(BENIGN);
    let any = prop::sample::select([BENIGN, REFUSED].concat());
    let tokens = prop_oneof![
        prop::collection::vec(benign, 0..24),
        prop::collection::vec(any, 0..24),
    ];
    let tokens = (prop::bool::weighted(0.97), tokens).prop_map(|(rooted, tokens)| {
        let mut s = String::from(if rooted { "/" } else { "" });
        s.extend(tokens);
        s
    });
    prop_oneof![tokens, segmented_path()]
}

/// Paths of whole segments, so that empty and dot segments meet often (`/a//../b`).
fn segmented_path() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec![
        "", "", ".", "..", "%2e", "%2E%2e", ".%2E", "a", "b", "%61", "c%2Fd", "..%2f", "x;y",
        "..;", "%C3%A9", "%25", "%252e", "~",
    ]);
    prop::collection::vec(segment, 0..10).prop_map(|segs| {
        segs.iter().fold(String::new(), |mut s, seg| {
            s.push('/');
            s.push_str(seg);
            s
        })
    })
}

fn has_dot_segment(p: &str) -> bool {
    p.split('/').any(|seg| seg == "." || seg == "..")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn canonicalization_is_idempotent_and_its_output_is_recognized_as_canonical(
        input in interesting_path()
    ) {
        for policy in &ALL_POLICIES {
            if let Ok(once) = canonicalize(&input, policy) {
                let twice = canonicalize(&once, policy);
                prop_assert!(
                    matches!(&twice, Ok(Cow::Borrowed(t)) if *t == once),
                    "{input:?} -> {once:?} -> {twice:?} under {policy:?}"
                );
            }
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_full_rules(input in interesting_path()) {
        for policy in &ALL_POLICIES {
            if !input.starts_with('/') {
                continue;
            }
            let slow = canonicalize_slow(&input, policy).map_err(|e| e.rule);
            match canonicalize(&input, policy) {
                // Borrowed only when the full rules produce the input itself.
                Ok(Cow::Borrowed(s)) => prop_assert_eq!(slow, Ok(s.to_string())),
                // Owned only when the output differs from the input (no needless copy).
                Ok(Cow::Owned(s)) => {
                    prop_assert_ne!(&s, &input);
                    prop_assert_eq!(slow, Ok(s));
                }
                Err(e) => prop_assert_eq!(slow, Err(e.rule)),
            }
        }
    }

    #[test]
    fn the_output_is_rooted_and_free_of_dots_empty_segments_and_separator_escapes(
        input in interesting_path()
    ) {
        for policy in &ALL_POLICIES {
            let Ok(out) = canonicalize(&input, policy) else { continue };
            prop_assert!(out.starts_with('/'), "{out:?}");
            prop_assert!(!has_dot_segment(&out), "{input:?} -> {out:?}");
            prop_assert!(!out.contains("//"), "{input:?} -> {out:?}");
            prop_assert!(!out.contains('\\') && !out.contains("%5C"), "{out:?}");
            prop_assert!(out.bytes().all(|c| c.is_ascii_graphic()), "{out:?}");
            // Every escape is upper case and never an unreserved character.
            for (i, _) in out.match_indices('%') {
                let v = u8::from_str_radix(&out[i + 1..i + 3], 16).unwrap();
                prop_assert_eq!(&out[i + 1..i + 3], format!("{v:02X}"));
                prop_assert!(!is_unreserved(v), "{out:?}");
            }
            if policy.encoded_slash != EncodedSlash::Keep {
                prop_assert!(!out.contains("%2F"), "{input:?} -> {out:?}");
            }
            if policy.path_params == PathParams::Reject {
                prop_assert!(!out.contains(';'), "{out:?}");
            }
        }
    }

    /// Agreement with the `url` crate (WHATWG URL): for every input the canonicalizer accepts,
    /// `url::Url::parse("http://h" + input).path()` (which resolves dot segments, encoded ones
    /// included, but neither decodes unreserved characters nor merges slashes) canonicalizes to
    /// the same path. Under `encoded_slash = "decode"` only for inputs without `%2F`: `url`
    /// keeps `%2F` inside its segment when resolving `..`, which `decode` deliberately does not.
    #[test]
    fn canonicalization_agrees_with_the_url_crate(input in interesting_path()) {
        for policy in &ALL_POLICIES {
            let Ok(ours) = canonicalize(&input, policy) else { continue };
            if policy.encoded_slash == EncodedSlash::Decode
                && input.to_ascii_uppercase().contains("%2F")
            {
                continue;
            }
            let parsed = url::Url::parse(&format!("http://h{input}"));
            prop_assert!(parsed.is_ok(), "url refuses {input:?}");
            let parsed = parsed.unwrap();
            let theirs = canonicalize(parsed.path(), policy);
            prop_assert_eq!(
                theirs.as_deref().map_err(|e| e.rule),
                Ok(&*ours),
                "{:?}: url path {:?} under {:?}", input, parsed.path(), policy
            );
        }
    }

    #[test]
    fn arbitrary_strings_never_panic_and_are_refused_or_canonical(input in ".{0,40}") {
        for policy in &ALL_POLICIES {
            if let Ok(out) = canonicalize(&input, policy) {
                prop_assert!(out.starts_with('/'));
                prop_assert!(!out.contains("//") && !has_dot_segment(&out));
            }
        }
    }

    #[test]
    fn prefix_matching_is_segment_aligned(
        prefix in "(/[a-c]{1,3}){0,3}/?", path in "(/[a-c]{0,3}){0,4}/?"
    ) {
        let base = prefix.strip_suffix('/').unwrap_or(&prefix);
        let want = path == base || path.starts_with(&format!("{base}/"));
        prop_assert_eq!(prefix_matches(&prefix, &path, false), want);
        prop_assert_eq!(
            prefix_matches(&prefix.to_ascii_uppercase(), &path, true),
            want
        );
    }
}

#[test]
fn double_encoding_is_read_after_unreserved_decoding() {
    // `%25` then `0` and `%41` (A): a second decoding reads `%0A`, a line feed.
    assert_eq!(canon("/%250%41", &DEFAULT), Err("double-encoding"));
    assert_eq!(canon("/%25%30%41", &DEFAULT), Err("double-encoding"));
    // `%25` then `4` and `%31` (1): `%41` is a letter, a literal percent it stays.
    assert_eq!(canon("/%254%31", &DEFAULT), Ok("/%2541".into()));
    assert_eq!(canon("/%25", &DEFAULT), Ok("/%25".into()));
    assert_eq!(canon("/%252", &DEFAULT), Ok("/%252".into()));
}
