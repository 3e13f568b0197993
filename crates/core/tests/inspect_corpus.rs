//! The inspect detectors on labelled corpora, at the thresholds of issue 19: at paranoia 2, SQLi
//! detection ≥ 97% and XSS ≥ 95% on the libinjection development set (`../shared/data/
//! libinjection`, read in place; the test says it skipped when that folder is absent and fails
//! instead under `CI=true`), and false positives ≤ 1% per detector on the committed benign corpus
//! (`tests/data/benign/benign.jsonl`, built by `build.py` beside it). The figures printed are the
//! report of `scripts/inspect-eval`.

use palisade_core::inspect::eval::{Report, parse_line};
use std::path::{Path, PathBuf};

fn report_of(path: &Path) -> Report {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut report = Report::default();
    for line in text.lines() {
        if let Some(s) = parse_line(line, &name) {
            report.add(&s);
        }
    }
    report
}

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/libinjection");
    if dir.join("libinjection_samples.jsonl").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "../shared/data/libinjection is missing under CI=true"
    );
    eprintln!(
        "SKIPPED: {} is absent (the libinjection development set)",
        dir.display()
    );
    None
}

#[test]
fn libinjection_detection_at_paranoia_2() {
    let Some(dir) = shared_data() else { return };
    let report = report_of(&dir.join("libinjection_samples.jsonl"));
    println!("{}", report.render());
    let sqli = report.detection_by_category["sqli"].rate(2);
    let xss = report.detection_by_category["xss"].rate(2);
    assert!(
        sqli >= 97.0,
        "SQLi detection at paranoia 2: {sqli:.2}% < 97%"
    );
    assert!(xss >= 95.0, "XSS detection at paranoia 2: {xss:.2}% < 95%");
    // Upstream's own list of benign inputs that looked like SQL to earlier versions.
    let fp = report.false_positives_by_source["false_positives.txt"].rate(2);
    assert!(
        fp <= 3.0,
        "libinjection false_positives.txt flagged at paranoia 2: {fp:.2}%"
    );
}

#[test]
fn libinjection_unit_cases() {
    let Some(dir) = shared_data() else { return };
    let text = std::fs::read_to_string(dir.join("libinjection_sqli_unit_tests.jsonl")).unwrap();
    let (mut agree, mut total) = (0, 0);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let input = v["input"].as_str().unwrap();
        let expected = v["is_sqli"].as_bool().unwrap();
        let found = palisade_core::inspect::sqli::detect(input).is_some_and(|f| f.level <= 2);
        total += 1;
        agree += usize::from(found == expected);
        if found != expected {
            println!("disagree (expected {expected}): {input:?}");
        }
    }
    println!("libinjection unit cases: {agree}/{total} agree");
    assert!(
        agree * 100 >= total * 75,
        "{agree}/{total} agree with libinjection's unit cases"
    );
}

#[test]
fn benign_corpus_false_positives_at_paranoia_2() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/benign/benign.jsonl");
    let report = report_of(&path);
    println!("{}", report.render());
    let total: u64 = report
        .false_positives_by_source
        .values()
        .map(|c| c.total)
        .sum();
    assert!(
        total >= 5000,
        "the benign corpus has {total} values; at least 5,000 wanted"
    );
    for (detector, count) in &report.false_positives_by_detector {
        let rate = count.rate(2);
        assert!(
            rate <= 1.0,
            "{detector}: {rate:.2}% of benign values flagged at paranoia 2"
        );
    }
}
