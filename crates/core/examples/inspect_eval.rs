//! `inspect_eval FILE.jsonl…`: detection and false-positive rates of the inspect detectors by
//! category, source file and paranoia level (the engine of `scripts/inspect-eval`). With
//! `--misses CATEGORY` it also prints the attacks of that category not flagged at paranoia 2, and
//! with `--false-positives` the benign values flagged at paranoia 2, for study.

use palisade_core::inspect::eval::{Report, findings, parse_line};
use palisade_core::inspect::{Detector, scan};
use std::io::BufRead;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = Report::default();
    let mut misses: Option<String> = None;
    let mut show_fp = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--misses" => misses = it.next().cloned(),
            "--false-positives" => show_fp = true,
            _ => files.push(a.clone()),
        }
    }
    if files.is_empty() {
        eprintln!("usage: inspect_eval [--misses CATEGORY] [--false-positives] FILE.jsonl…");
        std::process::exit(2);
    }
    for path in &files {
        let file = std::fs::File::open(path).unwrap_or_else(|e| {
            eprintln!("{path}: {e}");
            std::process::exit(2)
        });
        let name = std::path::Path::new(path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
            let Some(s) = parse_line(&line, &name) else {
                continue;
            };
            if s.attack
                && misses.as_deref() == Some(s.category.as_str())
                && !findings(&s).iter().any(|f| f.level <= 2)
            {
                println!("MISS {} {:?}", s.source, s.values);
            }
            if !s.attack && show_fp {
                for (v, h) in &s.values {
                    for f in scan(v, *h, &Detector::ALL).iter().filter(|f| f.level <= 2) {
                        println!("FP {} {}/{} {v:?}", s.source, f.detector.name(), f.rule);
                    }
                }
            }
            report.add(&s);
        }
    }
    print!("{}", report.render());
}
