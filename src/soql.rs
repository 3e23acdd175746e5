//! Just enough SOQL reading for the config's checks: the top-level clauses of a query, found
//! outside string literals and parentheses (sub-queries, function calls). The job script reads
//! queries the same way (`_clause_positions` in glue_scripts/sfglue_extract.py). No network.

/// The query's bytes with every string literal and every parenthesised part blanked out (the
/// quotes and parentheses too), so keywords and commas found in it are top-level ones. Same
/// byte length as `soql`: offsets into it are offsets into `soql`.
fn top_level(soql: &str) -> String {
    let mut out = Vec::with_capacity(soql.len());
    let mut depth = 0usize;
    let mut in_literal = false;
    let mut escaped = false;
    for &b in soql.as_bytes() {
        let blank = if in_literal {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'\'' {
                in_literal = false;
            }
            true
        } else {
            match b {
                b'\'' => {
                    in_literal = true;
                    true
                }
                b'(' => {
                    depth += 1;
                    true
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    true
                }
                _ => depth > 0,
            }
        };
        // Blanking every byte of a multi-byte character keeps the text valid UTF-8.
        out.push(if blank { b' ' } else { b });
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Runs of white space outside string literals become one space; the ends are trimmed. Text
/// inside quotes is kept exactly: `Name = 'A  B'` must not become `'A B'`.
pub fn fold_whitespace(soql: &str) -> String {
    let mut out = String::with_capacity(soql.len());
    let mut in_literal = false;
    let mut escaped = false;
    let mut pending_space = false;
    for c in soql.trim().chars() {
        if in_literal {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '\'' {
                in_literal = false;
            }
            continue;
        }
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if c == '\'' {
            in_literal = true;
        }
        out.push(c);
    }
    out
}

/// A top-level word of the query (a keyword or a name), with its byte range.
struct Word<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

fn words(masked: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in masked
        .char_indices()
        .chain(std::iter::once((masked.len(), ' ')))
    {
        let part_of_word = !(c.is_whitespace() || c == ',');
        match (start, part_of_word) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push(Word {
                    text: &masked[s..i],
                    start: s,
                    end: i,
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The clauses that can follow the select list, in the order SOQL allows them.
const CLAUSES: [&[&str]; 8] = [
    &["FROM"],
    &["WHERE"],
    &["WITH"],
    &["GROUP", "BY"],
    &["ORDER", "BY"],
    &["LIMIT"],
    &["OFFSET"],
    &["FOR"],
];

/// The parts of a query that the config checks look at.
#[derive(Debug, PartialEq, Eq)]
pub struct Shape {
    /// The top-level items of the SELECT list, as written (trimmed).
    pub select: Vec<String>,
    /// The items of the top-level ORDER BY, as written (trimmed); empty without one.
    pub order_by: Vec<String>,
    pub has_limit: bool,
    pub has_offset: bool,
}

/// Reads a query that starts with SELECT; `None` when it has no top-level FROM.
pub fn shape(soql: &str) -> Option<Shape> {
    let masked = top_level(soql);
    let words = words(&masked);
    // Each clause found: its index in CLAUSES, where its keyword starts, where its body starts.
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    for i in 0..words.len() {
        for (k, keyword) in CLAUSES.iter().enumerate() {
            let matches = keyword.iter().enumerate().all(|(j, part)| {
                words
                    .get(i + j)
                    .is_some_and(|w| w.text.eq_ignore_ascii_case(part))
            });
            if matches && !found.iter().any(|f| f.0 == k) {
                found.push((k, words[i].start, words[i + keyword.len() - 1].end));
            }
        }
    }
    // A clause's body runs to the next clause's keyword.
    let body = |k: usize| -> Option<std::ops::Range<usize>> {
        let (_, _, start) = *found.iter().find(|f| f.0 == k)?;
        let end = found
            .iter()
            .map(|f| f.1)
            .filter(|&s| s > start)
            .min()
            .unwrap_or(soql.len());
        Some(start..end)
    };
    let from = found.iter().find(|f| f.0 == 0)?.1;
    let select_start = soql.len() - soql.trim_start().len();
    let keyword = soql.get(select_start..select_start + 6)?;
    if !keyword.eq_ignore_ascii_case("SELECT") || select_start + 6 > from {
        return None;
    }
    Some(Shape {
        select: items(soql, &masked, select_start + 6..from),
        order_by: body(4).map(|r| items(soql, &masked, r)).unwrap_or_default(),
        has_limit: body(5).is_some(),
        has_offset: body(6).is_some(),
    })
}

/// The comma-separated items of `soql[range]`, split at top-level commas only, trimmed.
fn items(soql: &str, masked: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = range.start;
    for (i, b) in masked.as_bytes()[range.clone()].iter().enumerate() {
        if *b == b',' {
            out.push(soql[from..range.start + i].trim().to_string());
            from = range.start + i + 1;
        }
    }
    out.push(soql[from..range.end].trim().to_string());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_folded_outside_string_literals_only() {
        assert_eq!(
            fold_whitespace(
                "  SELECT Id,\n\tName  FROM Account WHERE Name = 'A  B\t' OR Name = 'it\\'s  x'  "
            ),
            "SELECT Id, Name FROM Account WHERE Name = 'A  B\t' OR Name = 'it\\'s  x'"
        );
        assert_eq!(fold_whitespace("SELECT Id FROM A"), "SELECT Id FROM A");
    }

    #[test]
    fn the_select_list_skips_sub_queries_and_functions() {
        let s = shape(
            "SELECT Id, (SELECT Id, Name FROM Contacts), FORMAT(Amount), SystemModstamp FROM Account",
        )
        .unwrap();
        assert_eq!(
            s.select,
            [
                "Id",
                "(SELECT Id, Name FROM Contacts)",
                "FORMAT(Amount)",
                "SystemModstamp"
            ]
        );
        assert!(s.order_by.is_empty());
        assert!(!s.has_limit && !s.has_offset);
    }

    #[test]
    fn clauses_inside_literals_and_sub_queries_do_not_count() {
        let s = shape(
            "select Id, Name from Account where Name = 'x LIMIT 5 ORDER BY Id' \
             and Id in (select AccountId from Contact order by Id limit 3) \
             order by SystemModstamp asc nulls last, Id limit 100",
        )
        .unwrap();
        assert_eq!(s.select, ["Id", "Name"]);
        assert_eq!(s.order_by, ["SystemModstamp asc nulls last", "Id"]);
        assert!(s.has_limit);
        assert!(!s.has_offset);
        let s = shape("SELECT Id FROM Account WHERE Name = '(' OFFSET 10").unwrap();
        assert!(s.has_offset);
        assert!(!s.has_limit);
    }

    #[test]
    fn a_query_without_from_has_no_shape() {
        assert_eq!(shape("SELECT Id"), None);
        assert_eq!(shape("SELECT 'FROM' x"), None);
        assert_eq!(
            shape("SELECT Id, FROMAGE FROM Account").unwrap().select,
            ["Id", "FROMAGE"]
        );
    }
}
