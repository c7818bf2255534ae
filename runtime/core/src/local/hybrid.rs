//! Hybrid ranking for the local SQLite index: the cosine ranking and the BM25 keyword ranking
//! merged by reciprocal rank fusion (Cormack et al., 2009). RRF uses ranks only, so the two
//! scales (a cosine in [-1, 1], BM25 unbounded) never need to be made comparable, and a passage
//! near the top of both lists beats one at the top of just one.
//!
//! The fused value only orders the hits. Each hit keeps its cosine as its score, which the
//! retrieval floor reads: a passage the keywords alone brought in still has to be close enough
//! in meaning to count.

use std::collections::HashMap;

use super::words;

/// RRF's constant: how fast a rank's weight falls. 60 is the value of the original paper and of
/// most search engines that offer RRF; the evaluation (BENCHMARKS.md) found no better one.
pub const RRF_K: f32 = 60.0;

/// Candidates taken from each ranking before fusion, at least; more when more hits are asked for.
pub const MIN_CANDIDATES: usize = 50;

/// A candidate from the cosine ranking (best first): its row id and cosine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub id: i64,
    pub cosine: f32,
}

/// The FTS5 query for a question: each content word quoted (so FTS5 reads none as an operator),
/// any of them matching. `None` when the question has no content word to search for.
pub fn fts_query(question: &str) -> Option<String> {
    let words = words::content_words(question);
    (!words.is_empty()).then(|| words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" OR "))
}

/// The `k` best row ids by RRF over the cosine ranking `by_vector` and the keyword ranking
/// `by_keyword` (both best first), each with its cosine. `cosine_of` gives the cosine of a row
/// only the keywords found. Ties go to the higher cosine, then the lower id, so the order is
/// stable.
pub fn fuse(
    by_vector: &[Scored],
    by_keyword: &[i64],
    k: usize,
    mut cosine_of: impl FnMut(i64) -> Option<f32>,
) -> Vec<Scored> {
    let mut fused: HashMap<i64, (f32, f32)> = HashMap::new();
    for (rank, hit) in by_vector.iter().enumerate() {
        fused.entry(hit.id).or_insert((0.0, hit.cosine)).0 += weight(rank);
    }
    for (rank, id) in by_keyword.iter().enumerate() {
        match fused.get_mut(id) {
            Some(entry) => entry.0 += weight(rank),
            None => {
                // A row the mirror no longer holds was deleted between the two reads: skip it.
                if let Some(cosine) = cosine_of(*id) {
                    fused.insert(*id, (weight(rank), cosine));
                }
            }
        }
    }
    let mut ranked: Vec<(i64, f32, f32)> = fused.into_iter().map(|(id, (rrf, cos))| (id, rrf, cos)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(k).map(|(id, _, cosine)| Scored { id, cosine }).collect()
}

fn weight(rank: usize) -> f32 {
    1.0 / (RRF_K + rank as f32 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: i64, cosine: f32) -> Scored {
        Scored { id, cosine }
    }

    #[test]
    fn a_row_high_in_both_rankings_beats_one_first_in_only_one() {
        let by_vector = [s(1, 0.9), s(2, 0.8), s(3, 0.7)];
        let by_keyword = [4, 2, 5];
        let got = fuse(&by_vector, &by_keyword, 3, |id| Some(0.1 * id as f32));
        assert_eq!(got[0], s(2, 0.8), "{got:?}");
        assert_eq!(got.len(), 3);
        // A keyword-only row keeps its own cosine, for the floor.
        let all = fuse(&by_vector, &by_keyword, 10, |id| Some(0.1 * id as f32));
        assert!(all.contains(&s(4, 0.4)) && all.contains(&s(5, 0.5)), "{all:?}");
    }

    #[test]
    fn without_keywords_the_cosine_order_stays() {
        let by_vector = [s(7, 0.9), s(3, 0.5), s(9, 0.2)];
        assert_eq!(fuse(&by_vector, &[], 5, |_| None), by_vector.to_vec());
    }

    #[test]
    fn rows_gone_from_the_mirror_are_skipped() {
        assert_eq!(fuse(&[], &[1, 2], 5, |id| (id == 2).then_some(0.3)), vec![s(2, 0.3)]);
    }

    #[test]
    fn the_query_quotes_content_words_only() {
        assert_eq!(
            fts_query("How much salt goes into the sourdough?").as_deref(),
            Some("\"much\" OR \"salt\" OR \"goes\" OR \"sourdough\"")
        );
        assert_eq!(fts_query("what is it?"), None);
        // Quotes and FTS5 operators in the question are not passed through.
        assert_eq!(fts_query("NEAR(\"a b\") AND c*").as_deref(), Some("\"near\""));
    }
}
