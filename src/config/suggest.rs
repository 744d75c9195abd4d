//! "Did you mean …?" for misspelt names.

/// Edit distance between two short ASCII-ish strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate nearest to `word`, if it is near enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let len = word.chars().count();
    if len > 64 {
        return None;
    }
    let limit = (len / 3).clamp(1, 3);
    candidates
        .iter()
        // The distance is at least the length difference: skip hopeless candidates cheaply.
        .filter(|c| c.len().abs_diff(len) <= limit)
        .map(|c| (distance(&word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        assert_eq!(
            closest("keepalve", &["keepalive", "deadtime"]),
            Some("keepalive")
        );
        assert_eq!(closest("zzzzzz", &["keepalive", "deadtime"]), None);
    }
}
