//! `demo`: a guided demonstration of the shop's distributed-systems concepts against the
//! processes a running `confeitaria up` supervises (found, like every other command, through
//! the data directory of the cluster file) or, with `--compose`, against the containers of
//! `docker-compose.yml`. The scenarios are written once, over [`control::ShopControl`].
//!
//! Each scenario names its concept, does one thing, says what to look at (the `/painel`
//! dashboard, a command) and prints a verdict built only from what it measured: every line
//! marked ✔ or ✘ is a check made against the running shop, never a sentence printed
//! unconditionally. The demo exits non-zero when any verdict fails.
//!
//! - [`shop`]: [`shop::DemoShop`], the running shop seen from the demo (HTTP with deadlines,
//!   its [`control::ShopControl`], waits on conditions);
//! - [`control`]: the faults the scenarios ask for, and [`control::Processes`] (`up`);
//! - [`compose`]: [`compose::Compose`], the same faults made on containers;
//! - [`report`]: [`report::Report`] and [`report::Verdict`], how checks are printed and judged;
//! - one module per scenario: [`transparency`], [`failover`], [`consistency`],
//!   [`concurrency`], [`recovery`], [`degradation`], [`scalability`].

use clap::ValueEnum;
use tokio::io::AsyncBufReadExt;

use crate::args::{DemoArgs, Lang, Scenario};
use crate::context::Context;
use crate::error::CliError;
use crate::output::table;

/// `tr!(lang, "português {x}", "English {x}", x = …)`: the sentence in the demo's language.
macro_rules! tr {
    ($l:expr, $pt:literal, $en:literal $(, $($a:tt)*)?) => {
        match $l {
            $crate::args::Lang::Pt => format!($pt $(, $($a)*)?),
            $crate::args::Lang::En => format!($en $(, $($a)*)?),
        }
    };
}

pub mod compose;
pub mod concurrency;
pub mod consistency;
pub mod control;
pub mod degradation;
pub mod failover;
pub mod recovery;
pub mod report;
pub mod scalability;
pub mod shop;
pub mod transparency;

use report::{Outcome, Report, Verdict};
use shop::DemoShop;

/// What a scenario says before it acts, in both languages (`{painel}` and `{shop}` stand
/// for the dashboard's and the storefront's URLs).
#[derive(Debug, Clone, Copy)]
pub struct Info {
    /// The concept, as the thesis names it.
    pub title: (&'static str, &'static str),
    /// What the concept means here.
    pub concept: (&'static str, &'static str),
    /// What the scenario does.
    pub action: (&'static str, &'static str),
    /// Where to look while it runs.
    pub look: (&'static str, &'static str),
}

impl Info {
    fn pick(lang: Lang, s: (&'static str, &'static str)) -> &'static str {
        match lang {
            Lang::Pt => s.0,
            Lang::En => s.1,
        }
    }
}

/// The scenario's name as `--only` takes it.
pub fn name(s: Scenario) -> String {
    s.to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

fn info(s: Scenario) -> Info {
    match s {
        Scenario::Transparencia => transparency::INFO,
        Scenario::Failover => failover::INFO,
        Scenario::Consistencia => consistency::INFO,
        Scenario::Concorrencia => concurrency::INFO,
        Scenario::Recuperacao => recovery::INFO,
        Scenario::Degradacao => degradation::INFO,
        Scenario::Escalabilidade => scalability::INFO,
    }
}

async fn run_one(shop: &DemoShop, s: Scenario, rep: &mut Report) -> Result<(), CliError> {
    match s {
        Scenario::Transparencia => transparency::run(shop, rep).await,
        Scenario::Failover => failover::run(shop, rep).await,
        Scenario::Consistencia => consistency::run(shop, rep).await,
        Scenario::Concorrencia => concurrency::run(shop, rep).await,
        Scenario::Recuperacao => recovery::run(shop, rep).await,
        Scenario::Degradacao => degradation::run(shop, rep).await,
        Scenario::Escalabilidade => scalability::run(shop, rep).await,
    }
}

/// Waits for Enter (or the end of standard input).
async fn pause(lang: Lang) {
    println!(
        "{}",
        tr!(lang, "  [Enter] para executar…", "  [Enter] to run it…")
    );
    let mut line = String::new();
    let _ = tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
}

/// The admin token for the Compose stack: `--token`, or one signed with
/// `CONFEITARIA_JWT_SECRET` from the environment or from `env_file` (the `.env` that
/// scripts/compose.sh writes).
fn compose_token(ctx: &Context, env_file: &std::path::Path) -> Result<String, CliError> {
    use confeitaria_types::auth::{self, TokenRole};
    if let Some(t) = &ctx.global.token {
        return Ok(t.clone());
    }
    const VAR: &str = "CONFEITARIA_JWT_SECRET";
    let secret = match std::env::var(VAR) {
        Ok(s) if !s.is_empty() => s,
        _ => {
            let text = std::fs::read_to_string(env_file).map_err(|e| {
                CliError::Other(format!(
                    "--compose needs the stack's JWT secret: set {VAR}, give --token, or run \
                     from the directory of the .env scripts/compose.sh wrote ({}: {e})",
                    env_file.display()
                ))
            })?;
            text.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{VAR}=")))
                .map(|s| s.trim().trim_matches('"').to_owned())
                .ok_or_else(|| CliError::Other(format!("{} has no {VAR}", env_file.display())))?
        }
    };
    auth::sign(
        secret.as_bytes(),
        TokenRole::Admin,
        "confeitaria-demo",
        auth::now_secs(),
        3600,
    )
    .map_err(|e| CliError::Other(format!("signing a token: {e}")))
}

/// `demo`: runs the scenarios in order and prints a verdict for each, then a summary.
pub async fn demo(ctx: &Context, args: &DemoArgs) -> Result<(), CliError> {
    let lang = args.lang;
    let shop = if args.compose {
        let (ctl, layout) = compose::Compose::connect(&args.compose_project).await?;
        let token = compose_token(ctx, &args.compose_env)?;
        DemoShop::new(lang, layout, std::sync::Arc::new(ctl), token)
    } else {
        DemoShop::connect(ctx, lang).await?
    };
    let mut scenarios: Vec<Scenario> = if args.only.is_empty() {
        Scenario::value_variants().to_vec()
    } else {
        args.only.clone()
    };
    scenarios.sort();
    scenarios.dedup();

    println!(
        "{}",
        tr!(
            lang,
            "Confeitaria — demonstração guiada ({n} cenários, loja em {kind})\nloja: {shop}/   painel: {painel}\n\
             Abra o painel no navegador e, noutro terminal, `confeitaria watch`.",
            "Confeitaria — guided demonstration ({n} scenarios, shop on {kind})\nshop: {shop}/   dashboard: {painel}\n\
             Open the dashboard in a browser and, in another terminal, `confeitaria watch`.",
            n = scenarios.len(),
            kind = shop.ctl.kind(),
            shop = shop.gateway.as_deref().unwrap_or("-"),
            painel = shop.painel()
        )
    );

    let mut results: Vec<(Scenario, Verdict)> = Vec::new();
    for (i, &s) in scenarios.iter().enumerate() {
        let inf = info(s);
        let subst = |t: &str| {
            t.replace("{painel}", &shop.painel())
                .replace("{shop}", shop.gateway.as_deref().unwrap_or("-"))
        };
        println!(
            "\n━━━ {}/{} · {} [{}] ━━━",
            i + 1,
            scenarios.len(),
            Info::pick(lang, inf.title),
            name(s)
        );
        let (c, a, l) = match lang {
            Lang::Pt => ("Conceito", "O que faz", "Observe"),
            Lang::En => ("Concept", "What it does", "Look at"),
        };
        println!("{c}: {}", subst(Info::pick(lang, inf.concept)));
        println!("{a}: {}", subst(Info::pick(lang, inf.action)));
        println!("{l}: {}", subst(Info::pick(lang, inf.look)));
        if !args.yes {
            pause(lang).await;
        }
        let mut rep = Report::new(lang);
        let outcome = match shop.heal().await {
            Ok(()) => run_one(&shop, s, &mut rep).await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            rep.check(
                false,
                tr!(lang, "o cenário parou: {e}", "the scenario stopped: {e}"),
            );
        }
        let verdict = rep.finish();
        println!("{}", verdict.line(lang, &name(s)));
        results.push((s, verdict));
    }
    // Leave the shop as it was found: every process running, one leader.
    if let Err(e) = shop.heal().await {
        eprintln!("confeitaria: {e}");
    }

    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(s, v)| vec![name(*s), v.outcome.word(lang).to_owned(), v.summary.clone()])
        .collect();
    let heads = match lang {
        Lang::Pt => ["CENÁRIO", "VEREDITO", "MEDIDO"],
        Lang::En => ["SCENARIO", "VERDICT", "MEASURED"],
    };
    println!();
    print!("{}", table(&heads, &rows));
    let failed = results
        .iter()
        .filter(|(_, v)| v.outcome == Outcome::Fail)
        .count();
    if failed > 0 {
        return Err(CliError::Other(tr!(
            lang,
            "{failed} veredito(s) falharam",
            "{failed} verdict(s) failed"
        )));
    }
    Ok(())
}
