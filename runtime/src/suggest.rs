// The one "did you mean" of the project: the runtime's hints (`Did you
// mean 'host'?`) and the derive's (`did you mean `default`?`) both come
// from this function; `qomgen-macros` includes this file, so it has no
// inner attributes and depends on `strsim` alone.

/// The closest candidate to a misspelt name, if one is close enough: an
/// optimal-string-alignment distance (edits plus adjacent transpositions,
/// the commonest typo: `hots` for `host`) of at most a third of the
/// misspelt name's length, between 1 and 3; the least in byte order among
/// equally close ones, so that the answer does not depend on the order of
/// `candidates` (a hash map's).
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = wrong.chars().count();
    let limit = (len / 3).clamp(1, 3);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        // Each edit changes the length by at most one: a candidate whose
        // length differs by more than the limit cannot be within it.
        if c.chars().count().abs_diff(len) > limit {
            continue;
        }
        let d = strsim::osa_distance(wrong, c);
        if d <= limit && best.is_none_or(|b| (d, c) < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}
