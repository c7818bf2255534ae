//! `make eval`: the local target's retrieval and development model measured on the evaluation set
//! in `eval/`, with the hashing fallback and with all-MiniLM-L6-v2 (BENCHMARKS.md, "Local
//! retrieval quality"). The real model must keep the figures it reached and beat the fallback;
//! both are printed. With `EVAL_SWEEP=1`, both also run with no floor, and the retrieval figures are
//! printed for a range of floors: the calibration of each embedder's floor.

mod support;

#[path = "eval/mod.rs"]
mod eval;

use eval::{HEADER, Question, row, run, score};

fn sweep(name: &str, flag: &str, questions: &[Question]) {
    let (answers, _) = run(&format!("{name}-sweep"), &["--embedder", flag, "--score-floor=-1"], questions);
    println!("\n{name}: retrieval by score floor (no floor during the run)");
    println!("floor  recall@1 recall@5 false citations");
    for step in 0..=14 {
        let floor = step as f32 * 0.05;
        let f = score(questions, &answers, Some(floor));
        println!(
            "{floor:>5.2} {:>9.3} {:>8.3} {:>15.3}  {:?}",
            f.recall_1, f.recall_5, f.false_citation_rate, f.false_citations
        );
    }
    // Where the expected document's best passage scored, and the unanswerable questions' best.
    for (q, a) in questions.iter().zip(&answers) {
        let best = a.citations.first().map_or(f32::NAN, |c| c.1);
        let expected = q.source.as_ref().and_then(|s| a.citations.iter().find(|c| &c.0 == s)).map(|c| c.1);
        println!("  {:<10} {:<13} best {best:.3} expected {expected:?}", q.id, q.kind);
    }
}

#[test]
fn the_real_model_keeps_its_figures_and_beats_the_fallback() {
    let questions = eval::questions();
    assert!(questions.len() >= 50, "the evaluation set has {} questions", questions.len());
    match std::env::var("EVAL_SWEEP").as_deref() {
        Ok("minilm") => return sweep("MiniLM", "minilm", &questions),
        Ok("hashing") => return sweep("local/hashing", "hashing", &questions),
        Ok(_) => {
            sweep("local/hashing", "hashing", &questions);
            sweep("MiniLM", "minilm", &questions);
        }
        Err(_) => {}
    }
    // EVAL_EMBEDDER=minilm measures the real model alone, while tuning it.
    let hashing = if std::env::var("EVAL_EMBEDDER").as_deref() == Ok("minilm") {
        eval::Figures::default()
    } else {
        let (hashing_answers, run_figures) = run("hashing", &["--embedder", "hashing"], &questions);
        assert_eq!(run_figures.status["embedder"], "local/hashing", "{}", run_figures.status);
        assert_eq!(run_figures.health["embedder"], "local/hashing", "{}", run_figures.health);
        let figures = score(&questions, &hashing_answers, None);
        println!("{}", eval::bench_line("hashing", &figures, &run_figures));
        figures
    };
    let (minilm_answers, minilm_run) = run("minilm", &["--embedder", "minilm"], &questions);
    assert_eq!(
        minilm_run.status["embedder"], "sentence-transformers/all-MiniLM-L6-v2",
        "{}",
        minilm_run.status
    );
    assert_eq!(
        minilm_run.health["embedder"], "sentence-transformers/all-MiniLM-L6-v2",
        "{}",
        minilm_run.health
    );
    let minilm = score(&questions, &minilm_answers, None);
    println!("{}", eval::bench_line("minilm", &minilm, &minilm_run));
    println!("\n{HEADER}");
    println!("{}", row("local/hashing", &hashing));
    println!("{}", row("all-MiniLM-L6-v2", &minilm));
    println!("\nMiniLM misses: {:?}\nMiniLM false citations: {:?}", minilm.misses, minilm.false_citations);
    println!("hashing misses: {:?}\nhashing false citations: {:?}", hashing.misses, hashing.false_citations);
    for (q, a) in questions.iter().zip(&minilm_answers) {
        if minilm.misses.contains(&q.id) || minilm.false_citations.contains(&q.id) {
            println!(
                "\n{} {:?} (expected {:?}, {:?})\n{}\n{:?}",
                q.id, q.question, q.source, q.keyword, a.reply, a.citations
            );
        }
    }
    // The targets are recall@5 >= 0.95, hit rate >= 0.90 and false citations <= 0.05;
    // the real model does not reach them yet (BENCHMARKS.md says by how much). What is asserted
    // is that it keeps what it reached and stays ahead of the fallback.
    println!("\ntargets: recall@5 >= 0.95, hit rate >= 0.90, false citations <= 0.05");
    assert!(minilm.recall_5 >= 0.92, "MiniLM recall@5 fell to {:.3}", minilm.recall_5);
    assert!(minilm.recall_1 >= 0.82, "MiniLM recall@1 fell to {:.3}", minilm.recall_1);
    assert!(minilm.hit_rate >= 0.66, "MiniLM hit rate fell to {:.3}", minilm.hit_rate);
    if hashing.answerable > 0 {
        assert!(
            minilm.recall_5 > hashing.recall_5 && minilm.hit_rate > hashing.hit_rate,
            "{minilm:?} vs {hashing:?}"
        );
    }
}
