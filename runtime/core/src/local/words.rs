//! The words both local development doubles match on: the SQLite index's keyword search and
//! `local/extractive`'s sentence choice. English only, as the evaluation set is.

/// English function words, plus the scaffolding of questions ("what do I know", "tell me"):
/// matching on them would quote any sentence at all.
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "but", "by", "can", "could", "describe", "did", "do", "does", "doing", "done", "for", "from",
    "get", "give", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into",
    "is", "it", "its", "just", "know", "knew", "known", "list", "me", "mine", "my", "no", "not", "of", "on",
    "or", "our", "please", "she", "should", "show", "so", "some", "tell", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "to", "up", "us", "was", "we", "were", "what",
    "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// The meaningful words of `text`: lowercased, stop words and single letters dropped, stemmed.
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() > 1 && !STOP_WORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
}

/// A light suffix stripper: enough for "languages"/"language", "programming"/"program" or
/// "coding"/"code" to meet, both sides being stemmed alike. A final "e" is dropped last so "code"
/// and "cod(ing)" agree.
fn stem(word: &str) -> String {
    let n = word.len();
    let mut w = if n > 4 && word.ends_with("ies") {
        format!("{}y", &word[..n - 3])
    } else if n > 5 && word.ends_with("ing") {
        undouble(&word[..n - 3])
    } else if n > 4 && word.ends_with("ed") {
        undouble(&word[..n - 2])
    } else if n > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..n - 1].to_owned()
    } else {
        word.to_owned()
    };
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    w
}

/// "programm(ing)" → "program", "runn(ing)" → "run"; but "call(ed)" keeps its "ll", as in English.
fn undouble(stem: &str) -> String {
    match stem.as_bytes() {
        [.., a, b] if stem.len() > 3 && a == b && !b"aeiouylsz".contains(b) && b.is_ascii_alphabetic() => {
            stem[..stem.len() - 1].to_owned()
        }
        _ => stem.to_owned(),
    }
}

/// The meaningful words of `text`, lowercased but not stemmed: for an index that stems them
/// itself (SQLite FTS5's porter tokenizer), each once, in order of first use.
pub fn content_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase) {
        if w.chars().count() > 1 && !STOP_WORDS.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemming_meets_common_word_forms() {
        assert_eq!(stem("languages"), stem("language"));
        assert_eq!(stem("coding"), stem("code"));
        assert_eq!(stem("libraries"), stem("library"));
        assert_eq!(stem("class"), "class");
        assert_eq!(stem("programming"), stem("program"));
        assert_eq!(stem("running"), "run");
        assert_eq!(stem("called"), "call");
        let mut ts: Vec<String> = terms("What are THE tools I know?").collect();
        ts.sort();
        assert_eq!(ts, ["tool"]);
    }
}
