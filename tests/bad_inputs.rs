//! The bad-input corpus, `tests/bad_scenarios/`: every kind of mistake a person makes in a
//! scenario or sweep file. Each `<case>.json` (a sweep when named `*.sweep.json`) is refused with
//! exactly the one-line error in `<case>.expected` (naming the file, the place and what was
//! expected), exit code 2, no panic, nothing written, and an earlier run folder left untouched.

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sim() -> Command {
    let mut c = Command::cargo_bin("sim").unwrap();
    c.current_dir(root());
    c
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn cases() -> Vec<(String, PathBuf, String)> {
    let dir = root().join("tests/bad_scenarios");
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let rel = PathBuf::from("tests/bad_scenarios").join(&name);
            let stem = name.trim_end_matches(".json").to_string();
            let expected = fs::read_to_string(dir.join(format!("{stem}.expected")))
                .unwrap_or_else(|_| panic!("{stem}.expected is missing"));
            (stem, rel, expected.trim_end().to_string())
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn the_corpus_has_at_least_thirty_cases_with_sweeps_among_them() {
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    assert!(cases.iter().filter(|c| c.0.ends_with(".sweep")).count() >= 3);
    // Every expectation names its file.
    for (stem, rel, expected) in &cases {
        if stem != "sweep_missing_scenario.sweep" {
            assert!(
                expected.starts_with(&rel.display().to_string()),
                "{stem}: {expected}"
            );
        }
    }
}

#[test]
fn every_bad_scenario_is_refused_with_its_error_and_nothing_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    // An earlier run folder that must survive every refusal byte for byte.
    let out = tmp.path().join("earlier");
    sim()
        .args(["run", "-q", "scenarios/mobile_desktop.json", "--out"])
        .arg(&out)
        .assert()
        .success();
    let before = tree(&out);
    for (stem, rel, expected) in cases() {
        let sweep = stem.ends_with(".sweep");
        let mut cmds = Vec::new();
        if sweep {
            let mut c = sim();
            c.arg("sweep")
                .arg(&rel)
                .arg("--out")
                .arg(tmp.path().join("sweep"));
            cmds.push(c);
        } else {
            let mut v = sim();
            v.arg("validate").arg(&rel);
            cmds.push(v);
            let mut r = sim();
            r.arg("run").arg(&rel).arg("--out").arg(&out);
            cmds.push(r);
        }
        for mut c in cmds {
            let o = c.output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{stem}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stem}: one line\n{stderr}");
            assert_eq!(stderr.trim_end(), format!("error: {expected}"), "{stem}");
            assert!(o.stdout.is_empty(), "{stem}");
        }
        assert_eq!(tree(&out), before, "{stem}: the earlier run folder changed");
        assert!(
            !tmp.path().join("sweep").exists(),
            "{stem}: a sweep folder appeared"
        );
    }
    // Nothing but the earlier folder was written.
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["earlier"]);
}
