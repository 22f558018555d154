//! [`Report`]: a scenario's steps and checks, printed as they happen; [`Verdict`]: what the
//! checks add up to. A scenario passes only when it made at least one check and every check
//! held; a scenario that could not run here (no learner, no Redis) is skipped, never passed.

use crate::args::Lang;

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// A check failed, or the scenario stopped.
    Fail,
    /// The shop lacks what the scenario needs (it says what).
    Skipped,
}

impl Outcome {
    /// The word printed for it.
    pub fn word(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Outcome::Pass, Lang::Pt) => "OK",
            (Outcome::Fail, Lang::Pt) => "FALHOU",
            (Outcome::Skipped, Lang::Pt) => "PULADO",
            (Outcome::Pass, Lang::En) => "PASS",
            (Outcome::Fail, Lang::En) => "FAIL",
            (Outcome::Skipped, Lang::En) => "SKIPPED",
        }
    }
}

/// A scenario's verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Pass, fail or skipped.
    pub outcome: Outcome,
    /// The figures that decided it, one line.
    pub summary: String,
    /// Checks made, and how many held.
    pub checks: (usize, usize),
}

impl Verdict {
    /// `VEREDITO [name] OK — summary` (`VERDICT [name] PASS — …` in English).
    pub fn line(&self, lang: Lang, name: &str) -> String {
        let head = match lang {
            Lang::Pt => "VEREDITO",
            Lang::En => "VERDICT",
        };
        let (held, made) = self.checks;
        let counted = match lang {
            Lang::Pt => format!("{held}/{made} verificações"),
            Lang::En => format!("{held}/{made} checks"),
        };
        format!(
            "{head} [{name}] {} — {} ({counted})",
            self.outcome.word(lang),
            self.summary
        )
    }
}

/// What one scenario measured so far.
#[derive(Debug)]
pub struct Report {
    lang: Lang,
    held: usize,
    made: usize,
    skipped: Option<String>,
    summary: Vec<String>,
    quiet: bool,
}

impl Report {
    /// An empty report that prints as it goes.
    pub fn new(lang: Lang) -> Self {
        Self {
            lang,
            held: 0,
            made: 0,
            skipped: None,
            summary: Vec::new(),
            quiet: false,
        }
    }

    /// A report that prints nothing (for tests).
    pub fn quiet(lang: Lang) -> Self {
        Self {
            quiet: true,
            ..Self::new(lang)
        }
    }

    /// The report's language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Prints a step: something done or seen, not judged.
    pub fn step(&self, text: impl AsRef<str>) {
        if !self.quiet {
            println!("  · {}", text.as_ref());
        }
    }

    /// Records and prints one check of something measured; returns `ok`.
    pub fn check(&mut self, ok: bool, text: impl AsRef<str>) -> bool {
        self.made += 1;
        if ok {
            self.held += 1;
        }
        if !self.quiet {
            println!("  {} {}", if ok { "✔" } else { "✘" }, text.as_ref());
        }
        ok
    }

    /// Adds a figure to the verdict's one-line summary.
    pub fn figure(&mut self, text: impl Into<String>) {
        self.summary.push(text.into());
    }

    /// Marks the scenario as not runnable on this shop, saying why.
    pub fn skip(&mut self, why: impl Into<String>) {
        self.skipped = Some(why.into());
    }

    /// The verdict: skipped when marked so and nothing failed; passed when at least one
    /// check was made and all held; failed otherwise.
    pub fn finish(self) -> Verdict {
        let failed = self.held < self.made;
        let (outcome, summary) = match (&self.skipped, failed) {
            (Some(why), false) => (Outcome::Skipped, why.clone()),
            _ if failed || self.made == 0 => (Outcome::Fail, self.summary.join("; ")),
            _ => (Outcome::Pass, self.summary.join("; ")),
        };
        Verdict {
            outcome,
            summary,
            checks: (self.held, self.made),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_check_fails_the_scenario() {
        let mut r = Report::quiet(Lang::Pt);
        r.check(true, "a");
        r.check(false, "b");
        r.figure("x = 1");
        let v = r.finish();
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.checks, (1, 2));
        assert_eq!(
            v.line(Lang::Pt, "failover"),
            "VEREDITO [failover] FALHOU — x = 1 (1/2 verificações)"
        );
    }

    #[test]
    fn a_scenario_without_checks_does_not_pass() {
        assert_eq!(Report::quiet(Lang::En).finish().outcome, Outcome::Fail);
        let mut r = Report::quiet(Lang::En);
        r.check(true, "a");
        let v = r.finish();
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(v.line(Lang::En, "x").starts_with("VERDICT [x] PASS"));
    }

    #[test]
    fn skipping_never_hides_a_failed_check() {
        let mut r = Report::quiet(Lang::Pt);
        r.skip("sem learner");
        assert_eq!(r.finish().outcome, Outcome::Skipped);
        let mut r = Report::quiet(Lang::Pt);
        r.check(false, "a");
        r.skip("sem learner");
        assert_eq!(r.finish().outcome, Outcome::Fail);
    }
}
