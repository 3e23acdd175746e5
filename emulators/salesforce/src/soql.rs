//! The SOQL subset: `SELECT f1, f2 FROM Obj [WHERE …] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …]
//! [LIMIT n] [OFFSET n]`. WHERE takes comparisons (`= != <> < <= > >=`), `LIKE`, `[NOT] IN (…)`,
//! `AND`, `OR`, `NOT` and parentheses; values are strings, numbers, `true`/`false`/`null`, date and
//! datetime literals and the date literals TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n.
//! Errors come back as Salesforce's (errorCode, message) with its excerpt/caret/Row:Column header.

use crate::data::{Dataset, SObject};
use crate::model::{FType, Value, normalize_id, parse_date, parse_datetime};
use std::cmp::Ordering;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub struct SoqlError {
    pub code: &'static str,
    pub message: String,
}

const CUSTOM_FIELD_HINT: &str = "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.";
const CUSTOM_OBJECT_HINT: &str = "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.";
const RELATIONSHIP_HINT: &str = "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.";

/// Salesforce's message header: `\n<line>\n<spaces>^\nERROR at Row:r:Column:c\n<text>`.
pub fn located(src: &str, pos: usize, text: &str) -> String {
    let pos = pos.min(src.len());
    let before = src.get(..pos).unwrap_or(src);
    let row = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    let line_end = src[line_start..]
        .find('\n')
        .map(|i| line_start + i)
        .unwrap_or(src.len());
    let line = &src[line_start..line_end];
    format!(
        "\n{line}\n{}^\nERROR at Row:{row}:Column:{col}\n{text}",
        " ".repeat(col - 1)
    )
}

fn err(code: &'static str, src: &str, pos: usize, text: &str) -> SoqlError {
    SoqlError {
        code,
        message: located(src, pos, text),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Date(i32),
    DateTime(i64),
    Op(&'static str),
    Comma,
    LParen,
    RParen,
    Colon,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    text: String,
}

fn tokenize(src: &str) -> Result<Vec<Token>, SoqlError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let push = |out: &mut Vec<Token>, tok: Tok, end: usize| {
            out.push(Token {
                tok,
                pos: start,
                text: src.get(start..end).unwrap_or("").to_string(),
            })
        };
        match c {
            b',' => {
                push(&mut out, Tok::Comma, i + 1);
                i += 1;
            }
            b'(' => {
                push(&mut out, Tok::LParen, i + 1);
                i += 1;
            }
            b')' => {
                push(&mut out, Tok::RParen, i + 1);
                i += 1;
            }
            b':' => {
                push(&mut out, Tok::Colon, i + 1);
                i += 1;
            }
            b'=' => {
                push(&mut out, Tok::Op("="), i + 1);
                i += 1;
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                push(&mut out, Tok::Op("!="), i + 2);
                i += 2;
            }
            b'<' => {
                let (op, len) = match b.get(i + 1) {
                    Some(b'=') => ("<=", 2),
                    Some(b'>') => ("!=", 2),
                    _ => ("<", 1),
                };
                push(&mut out, Tok::Op(op), i + len);
                i += len;
            }
            b'>' => {
                let (op, len) = if b.get(i + 1) == Some(&b'=') {
                    (">=", 2)
                } else {
                    (">", 1)
                };
                push(&mut out, Tok::Op(op), i + len);
                i += len;
            }
            b'\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                let mut closed = false;
                while j < b.len() {
                    match b[j] {
                        b'\\' => {
                            let e = b.get(j + 1).copied();
                            match e {
                                Some(b'n') => s.push('\n'),
                                Some(b't') => s.push('\t'),
                                Some(b'r') => s.push('\r'),
                                // Keep LIKE escapes for the pattern matcher.
                                Some(b'%') => s.push_str("\\%"),
                                Some(b'_') => s.push_str("\\_"),
                                Some(b'\\') => s.push_str("\\\\"),
                                Some(x @ (b'\'' | b'"')) => s.push(x as char),
                                _ => {
                                    return Err(err(
                                        "MALFORMED_QUERY",
                                        src,
                                        j,
                                        "Invalid string literal: invalid escape sequence",
                                    ));
                                }
                            }
                            j += 2;
                        }
                        b'\'' => {
                            closed = true;
                            j += 1;
                            break;
                        }
                        _ => {
                            let ch = src[j..].chars().next().unwrap_or(' ');
                            s.push(ch);
                            j += ch.len_utf8();
                        }
                    }
                }
                if !closed {
                    return Err(err("MALFORMED_QUERY", src, i, "unexpected token: '"));
                }
                push(&mut out, Tok::Str(s), j);
                i = j;
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                // A date / datetime literal or a number.
                let is_date =
                    b.len() >= i + 10 && src.get(i..i + 10).and_then(parse_date).is_some();
                if is_date {
                    let mut j = i + 10;
                    if b.get(j) == Some(&b'T') {
                        j += 1;
                        while j < b.len()
                            && (b[j].is_ascii_digit()
                                || matches!(b[j], b':' | b'.' | b'Z' | b'+' | b'-'))
                        {
                            j += 1;
                        }
                        let text = &src[i..j];
                        match parse_datetime(text) {
                            Some(ms) => push(&mut out, Tok::DateTime(ms), j),
                            None => {
                                return Err(err(
                                    "MALFORMED_QUERY",
                                    src,
                                    i,
                                    &format!(
                                        "line 1:{i} no viable alternative at character '{}'",
                                        text
                                    ),
                                ));
                            }
                        }
                    } else {
                        let d = src.get(i..j).and_then(parse_date).unwrap_or(0);
                        push(&mut out, Tok::Date(d), j);
                    }
                    i = j;
                } else {
                    let mut j = i;
                    if matches!(b[j], b'-' | b'+') {
                        j += 1;
                    }
                    let digits_start = j;
                    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                        j += 1;
                    }
                    if j == digits_start || src[digits_start..j].parse::<f64>().is_err() {
                        return Err(err(
                            "MALFORMED_QUERY",
                            src,
                            i,
                            &format!(
                                "unexpected token: {}",
                                &src[i..(j.max(i + 1)).min(src.len())]
                            ),
                        ));
                    }
                    push(&mut out, Tok::Num(src[i..j].to_string()), j);
                    i = j;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.')
                {
                    j += 1;
                }
                push(&mut out, Tok::Ident(src[i..j].to_string()), j);
                i = j;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(
                    "MALFORMED_QUERY",
                    src,
                    i,
                    &format!("unexpected token: {ch}"),
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
        text: "<EOF>".into(),
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

#[derive(Debug, Clone)]
pub enum Lit {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    Date(i32),
    DateTime(i64),
    /// A relative date literal: (keyword, n).
    Relative(String, i64),
}

#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        fpos: usize,
        op: &'static str,
        value: Lit,
        vpos: usize,
    },
    In {
        field: String,
        fpos: usize,
        negated: bool,
        values: Vec<(Lit, usize)>,
    },
}

#[derive(Debug, Clone)]
pub struct OrderKey {
    pub field: String,
    pub pos: usize,
    pub desc: bool,
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Query {
    /// `SELECT COUNT() FROM …`: only `totalSize` is answered.
    pub count_only: bool,
    pub fields: Vec<(String, usize)>,
    pub object: (String, usize),
    pub filter: Option<Expr>,
    pub order: Vec<OrderKey>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

const KEYWORDS: &[&str] = &[
    "select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc",
    "nulls", "first", "last", "limit", "offset", "true", "false", "null", "group", "having",
];

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn unexpected(&self, t: &Token) -> SoqlError {
        err(
            "MALFORMED_QUERY",
            self.src,
            t.pos,
            &format!("unexpected token: {}", t.text),
        )
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn expect_kw(&mut self, kw: &str) -> Result<Token, SoqlError> {
        if self.is_kw(kw) {
            Ok(self.next())
        } else {
            Err(self.unexpected(&self.peek().clone()))
        }
    }
    fn name(&mut self) -> Result<(String, usize), SoqlError> {
        let t = self.next();
        match &t.tok {
            Tok::Ident(s) if !KEYWORDS.contains(&s.to_ascii_lowercase().as_str()) => {
                Ok((s.clone(), t.pos))
            }
            _ => Err(self.unexpected(&t)),
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("select")?;
        let count_only = self.is_kw("count")
            && self.toks.get(self.i + 1).map(|t| &t.tok) == Some(&Tok::LParen)
            && self.toks.get(self.i + 2).map(|t| &t.tok) == Some(&Tok::RParen);
        let mut fields = Vec::new();
        if count_only {
            self.i += 3;
        } else {
            fields.push(self.name()?);
            while self.peek().tok == Tok::Comma {
                self.next();
                fields.push(self.name()?);
            }
        }
        self.expect_kw("from")?;
        let object = self.name()?;
        let mut q = Query {
            count_only,
            fields,
            object,
            filter: None,
            order: Vec::new(),
            limit: None,
            offset: None,
        };
        if self.is_kw("where") {
            self.next();
            q.filter = Some(self.or_expr()?);
        }
        if self.is_kw("order") {
            self.next();
            self.expect_kw("by")?;
            loop {
                let (field, pos) = self.name()?;
                let mut key = OrderKey {
                    field,
                    pos,
                    desc: false,
                    nulls_first: None,
                };
                if self.is_kw("asc") {
                    self.next();
                } else if self.is_kw("desc") {
                    self.next();
                    key.desc = true;
                }
                if self.is_kw("nulls") {
                    self.next();
                    if self.is_kw("first") {
                        self.next();
                        key.nulls_first = Some(true);
                    } else {
                        self.expect_kw("last")?;
                        key.nulls_first = Some(false);
                    }
                }
                q.order.push(key);
                if self.peek().tok == Tok::Comma {
                    self.next();
                } else {
                    break;
                }
            }
        }
        if self.is_kw("limit") {
            self.next();
            q.limit = Some(self.count()?);
        }
        if self.is_kw("offset") {
            self.next();
            q.offset = Some(self.count()?);
        }
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            return Err(self.unexpected(&t));
        }
        Ok(q)
    }

    fn count(&mut self) -> Result<u64, SoqlError> {
        let t = self.next();
        match &t.tok {
            Tok::Num(n) => n.parse::<u64>().map_err(|_| self.unexpected(&t)),
            _ => Err(self.unexpected(&t)),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, SoqlError> {
        let mut e = self.and_expr()?;
        while self.is_kw("or") {
            self.next();
            let r = self.and_expr()?;
            e = Expr::Or(Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    fn and_expr(&mut self) -> Result<Expr, SoqlError> {
        let mut e = self.factor()?;
        while self.is_kw("and") {
            self.next();
            let r = self.factor()?;
            e = Expr::And(Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    fn factor(&mut self) -> Result<Expr, SoqlError> {
        if self.is_kw("not") {
            self.next();
            return Ok(Expr::Not(Box::new(self.factor()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.next();
            let e = self.or_expr()?;
            let t = self.next();
            if t.tok != Tok::RParen {
                return Err(self.unexpected(&t));
            }
            return Ok(e);
        }
        let (field, fpos) = self.name()?;
        if self.is_kw("in") || self.is_kw("not") {
            let negated = self.is_kw("not");
            if negated {
                self.next();
                self.expect_kw("in")?;
            } else {
                self.next();
            }
            let t = self.next();
            if t.tok != Tok::LParen {
                return Err(self.unexpected(&t));
            }
            let mut values = vec![self.value()?];
            while self.peek().tok == Tok::Comma {
                self.next();
                values.push(self.value()?);
            }
            let t = self.next();
            if t.tok != Tok::RParen {
                return Err(self.unexpected(&t));
            }
            return Ok(Expr::In {
                field,
                fpos,
                negated,
                values,
            });
        }
        let op = if self.is_kw("like") {
            self.next();
            "like"
        } else {
            let t = self.next();
            match t.tok {
                Tok::Op(op) => op,
                _ => return Err(self.unexpected(&t)),
            }
        };
        let (value, vpos) = self.value()?;
        Ok(Expr::Cmp {
            field,
            fpos,
            op,
            value,
            vpos,
        })
    }

    fn value(&mut self) -> Result<(Lit, usize), SoqlError> {
        let t = self.next();
        let lit = match &t.tok {
            Tok::Str(s) => Lit::Str(s.clone()),
            Tok::Num(n) => Lit::Num(n.clone()),
            Tok::Date(d) => Lit::Date(*d),
            Tok::DateTime(ms) => Lit::DateTime(*ms),
            Tok::Ident(s) => {
                let l = s.to_ascii_uppercase();
                match l.as_str() {
                    "TRUE" => Lit::Bool(true),
                    "FALSE" => Lit::Bool(false),
                    "NULL" => Lit::Null,
                    "TODAY" | "YESTERDAY" | "TOMORROW" => Lit::Relative(l, 0),
                    "LAST_N_DAYS" | "NEXT_N_DAYS" => {
                        let c = self.next();
                        if c.tok != Tok::Colon {
                            return Err(self.unexpected(&c));
                        }
                        let n = self.count()?;
                        Lit::Relative(l, n as i64)
                    }
                    _ => return Err(self.unexpected(&t)),
                }
            }
            _ => return Err(self.unexpected(&t)),
        };
        Ok((lit, t.pos))
    }
}

pub fn parse(src: &str) -> Result<Query, SoqlError> {
    let toks = tokenize(src)?;
    let mut p = Parser { src, toks, i: 0 };
    p.query()
}

// ---------------------------------------------------------------------------------------------
// Compiled plan

#[derive(Debug, Clone)]
enum CExpr {
    True,
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    Not(Box<CExpr>),
    /// (field, operator, value, compare case-sensitively: ids)
    Cmp(usize, &'static str, Value, bool),
    /// Datetime/date range [start, end) for relative date literals (units of the field).
    Range(usize, &'static str, i64, i64),
    In(usize, bool, Vec<Value>, bool),
    Like(usize, Vec<char>),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub count_only: bool,
    pub obj: Arc<SObject>,
    pub fields: Vec<usize>,
    filter: CExpr,
    has_filter: bool,
    order: Vec<(usize, bool, bool)>,
    limit: Option<usize>,
    offset: usize,
}

pub fn compile(src: &str, data: &Dataset, now_ms: i64) -> Result<Plan, SoqlError> {
    if src.trim().is_empty() {
        return Err(SoqlError {
            code: "MALFORMED_QUERY",
            message: "A query string has to be specified".into(),
        });
    }
    let q = parse(src)?;
    let (oname, opos) = &q.object;
    let obj = data.get(oname).ok_or_else(|| {
        err(
            "INVALID_TYPE",
            src,
            *opos,
            &format!("sObject type '{oname}' is not supported. {CUSTOM_OBJECT_HINT}"),
        )
    })?;
    let resolve = |name: &str, pos: usize| -> Result<usize, SoqlError> {
        if let Some(i) = obj.field(name) {
            return Ok(i);
        }
        if let Some((rel, _)) = name.split_once('.') {
            return Err(err(
                "INVALID_FIELD",
                src,
                pos,
                &format!(
                    "Didn't understand relationship '{rel}' in field path. {RELATIONSHIP_HINT}"
                ),
            ));
        }
        Err(err(
            "INVALID_FIELD",
            src,
            pos,
            &format!(
                "No such column '{name}' on entity '{}'. {CUSTOM_FIELD_HINT}",
                obj.name
            ),
        ))
    };
    let mut fields = Vec::new();
    for (f, pos) in &q.fields {
        let i = resolve(f, *pos)?;
        if fields.contains(&i) {
            return Err(err(
                "MALFORMED_QUERY",
                src,
                *pos,
                &format!("duplicate field selected: {}", obj.fields[i].name),
            ));
        }
        fields.push(i);
    }
    let filter = match &q.filter {
        Some(e) => compile_expr(e, src, &obj, &resolve, now_ms)?,
        None => CExpr::True,
    };
    let mut order = Vec::new();
    for k in &q.order {
        let i = resolve(&k.field, k.pos)?;
        // SOQL: ASC puts nulls first, DESC puts them last, unless told.
        let nulls_first = k.nulls_first.unwrap_or(!k.desc);
        order.push((i, k.desc, nulls_first));
    }
    Ok(Plan {
        count_only: q.count_only,
        obj: obj.clone(),
        fields,
        has_filter: q.filter.is_some(),
        filter,
        order,
        limit: q.limit.map(|l| l as usize),
        offset: q.offset.unwrap_or(0) as usize,
    })
}

fn type_error(src: &str, pos: usize, field: &str, t: FType) -> SoqlError {
    let quotes = if t.quoted() {
        "should be enclosed in quotes"
    } else {
        "should not be enclosed in quotes"
    };
    err(
        "INVALID_FIELD",
        src,
        pos,
        &format!(
            "value of filter criterion for field '{field}' must be of type {} and {quotes}",
            t.soql_name()
        ),
    )
}

fn lit_value(lit: &Lit, t: FType, src: &str, pos: usize, field: &str) -> Result<Value, SoqlError> {
    Ok(match (lit, t) {
        (Lit::Null, _) => Value::Null,
        (Lit::Str(s), FType::String) => Value::Str(s.clone()),
        (Lit::Str(s), FType::Id) => match normalize_id(s) {
            Some(id) => Value::Str(id),
            None => {
                return Err(err(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    src,
                    pos,
                    &format!("invalid ID field: {s}"),
                ));
            }
        },
        (Lit::Num(n), FType::Int | FType::Double) => {
            if let Ok(i) = n.parse::<i64>() {
                Value::Int(i)
            } else {
                Value::Double(
                    n.parse::<f64>()
                        .map_err(|_| type_error(src, pos, field, t))?,
                )
            }
        }
        (Lit::Bool(b), FType::Boolean) => Value::Bool(*b),
        (Lit::Date(d), FType::Date) => Value::Date(*d),
        (Lit::DateTime(ms), FType::DateTime) => Value::DateTime(*ms),
        _ => return Err(type_error(src, pos, field, t)),
    })
}

fn compile_expr(
    e: &Expr,
    src: &str,
    obj: &SObject,
    resolve: &dyn Fn(&str, usize) -> Result<usize, SoqlError>,
    now_ms: i64,
) -> Result<CExpr, SoqlError> {
    Ok(match e {
        Expr::And(a, b) => CExpr::And(
            Box::new(compile_expr(a, src, obj, resolve, now_ms)?),
            Box::new(compile_expr(b, src, obj, resolve, now_ms)?),
        ),
        Expr::Or(a, b) => CExpr::Or(
            Box::new(compile_expr(a, src, obj, resolve, now_ms)?),
            Box::new(compile_expr(b, src, obj, resolve, now_ms)?),
        ),
        Expr::Not(a) => CExpr::Not(Box::new(compile_expr(a, src, obj, resolve, now_ms)?)),
        Expr::In {
            field,
            fpos,
            negated,
            values,
        } => {
            let i = resolve(field, *fpos)?;
            let t = obj.fields[i].ftype;
            let vals = values
                .iter()
                .map(|(l, p)| lit_value(l, t, src, *p, field))
                .collect::<Result<Vec<_>, _>>()?;
            CExpr::In(i, *negated, vals, t == FType::Id)
        }
        Expr::Cmp {
            field,
            fpos,
            op,
            value,
            vpos,
        } => {
            let i = resolve(field, *fpos)?;
            let t = obj.fields[i].ftype;
            if *op == "like" {
                match (value, t) {
                    (Lit::Str(s), FType::String | FType::Id) => {
                        CExpr::Like(i, s.to_lowercase().chars().collect())
                    }
                    _ => {
                        return Err(err(
                            "INVALID_QUERY_FILTER_OPERATOR",
                            src,
                            *fpos,
                            &format!("invalid operator on {} field: {field}", t.soql_name()),
                        ));
                    }
                }
            } else if let Lit::Relative(kw, n) = value {
                let day_ms = 86_400_000i64;
                let today = now_ms.div_euclid(day_ms);
                let (start, end) = match kw.as_str() {
                    "TODAY" => (today, today + 1),
                    "YESTERDAY" => (today - 1, today),
                    "TOMORROW" => (today + 1, today + 2),
                    "LAST_N_DAYS" => (today - n + 1, today + 1),
                    _ => (today + 1, today + n + 1),
                };
                match t {
                    FType::Date => CExpr::Range(i, op, start, end),
                    FType::DateTime => CExpr::Range(i, op, start * day_ms, end * day_ms),
                    _ => return Err(type_error(src, *vpos, field, t)),
                }
            } else {
                if matches!(*op, "<" | "<=" | ">" | ">=") && t == FType::Boolean {
                    return Err(err(
                        "INVALID_QUERY_FILTER_OPERATOR",
                        src,
                        *fpos,
                        &format!("invalid operator on boolean field: {field}"),
                    ));
                }
                CExpr::Cmp(
                    i,
                    op,
                    lit_value(value, t, src, *vpos, field)?,
                    t == FType::Id,
                )
            }
        }
    })
}

fn like(pat: &[char], s: &[char]) -> bool {
    // Iterative wildcard match: % = any run, _ = one char, \x = literal x.
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && pat[p] == '%' {
            star = Some((p, i));
            p += 1;
            continue;
        }
        let (matched, width) = match pat.get(p) {
            Some('\\') => (pat.get(p + 1) == Some(&s[i]), 2),
            Some('_') => (true, 1),
            Some(c) => (*c == s[i], 1),
            None => (false, 1),
        };
        if matched {
            p += width;
            i += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == '%' {
        p += 1;
    }
    p == pat.len()
}

/// Ids compare case-sensitively (they are base62), everything else the SOQL way.
fn cmp(a: &Value, b: &Value, cs: bool) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) if cs => x.cmp(y),
        _ => a.soql_cmp(b),
    }
}

fn eq(a: &Value, b: &Value, cs: bool) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => cmp(a, b, cs) == Ordering::Equal,
    }
}

fn eval(e: &CExpr, obj: &SObject, idx: usize) -> bool {
    match e {
        CExpr::True => true,
        CExpr::And(a, b) => eval(a, obj, idx) && eval(b, obj, idx),
        CExpr::Or(a, b) => eval(a, obj, idx) || eval(b, obj, idx),
        CExpr::Not(a) => !eval(a, obj, idx),
        CExpr::Cmp(f, op, v, cs) => {
            let x = obj.value(idx, *f);
            match *op {
                "=" => eq(&x, v, *cs),
                "!=" => !eq(&x, v, *cs),
                _ if x.is_null() || v.is_null() => false,
                "<" => cmp(&x, v, *cs) == Ordering::Less,
                "<=" => cmp(&x, v, *cs) != Ordering::Greater,
                ">" => cmp(&x, v, *cs) == Ordering::Greater,
                ">=" => cmp(&x, v, *cs) != Ordering::Less,
                _ => false,
            }
        }
        CExpr::Range(f, op, start, end) => {
            let x = match obj.value(idx, *f) {
                Value::Date(d) => i64::from(d),
                Value::DateTime(ms) => ms,
                _ => return *op == "!=",
            };
            match *op {
                "=" => x >= *start && x < *end,
                "!=" => !(x >= *start && x < *end),
                "<" => x < *start,
                "<=" => x < *end,
                ">" => x >= *end,
                ">=" => x >= *start,
                _ => false,
            }
        }
        CExpr::In(f, negated, vals, cs) => {
            let x = obj.value(idx, *f);
            let found = vals.iter().any(|v| eq(&x, v, *cs));
            found != *negated
        }
        CExpr::Like(f, pat) => match obj.value(idx, *f) {
            Value::Str(s) => {
                let chars: Vec<char> = s.to_lowercase().chars().collect();
                like(pat, &chars)
            }
            _ => false,
        },
    }
}

/// The records a query selects, in order, without materialising them.
#[derive(Debug, Clone)]
pub enum Selection {
    Range { start: usize, end: usize, rev: bool },
    List(Arc<Vec<u32>>),
}

impl Selection {
    pub fn len(&self) -> usize {
        match self {
            Selection::Range { start, end, .. } => end.saturating_sub(*start),
            Selection::List(v) => v.len(),
        }
    }
    pub fn get(&self, k: usize) -> Option<usize> {
        match self {
            Selection::Range { start, end, rev } => {
                if k >= end.saturating_sub(*start) {
                    None
                } else if *rev {
                    Some(end - 1 - k)
                } else {
                    Some(start + k)
                }
            }
            Selection::List(v) => v.get(k).map(|i| *i as usize),
        }
    }
}

impl Plan {
    /// Runs the filter (and sort, when the natural order does not already give it).
    pub fn execute(&self, include_deleted: bool) -> Selection {
        let obj = &self.obj;
        let n = obj.len();
        let skip_deleted = obj.has_deleted && !include_deleted;
        let natural = match self.order.as_slice() {
            [] => Some(false),
            [(f, desc, _)] if obj.naturally_sorted_by(*f) => Some(*desc),
            _ => None,
        };
        let want = self.limit.map(|l| l.saturating_add(self.offset));
        let cut = |mut v: Vec<u32>| -> Selection {
            let off = self.offset.min(v.len());
            v.drain(..off);
            if let Some(l) = self.limit {
                v.truncate(l);
            }
            Selection::List(Arc::new(v))
        };
        match natural {
            Some(rev) if !self.has_filter && !skip_deleted => {
                let total = n;
                let mut start = 0;
                let mut end = total;
                if rev {
                    end = total.saturating_sub(self.offset);
                    if let Some(l) = self.limit {
                        start = end.saturating_sub(l);
                    }
                } else {
                    start = self.offset.min(total);
                    if let Some(l) = self.limit {
                        end = start.saturating_add(l).min(total);
                    }
                }
                Selection::Range { start, end, rev }
            }
            Some(rev) => {
                let mut v = Vec::new();
                let mut visit = |idx: usize| -> bool {
                    if (!skip_deleted || !obj.is_deleted(idx)) && eval(&self.filter, obj, idx) {
                        v.push(idx as u32);
                    }
                    want.is_none_or(|w| v.len() < w)
                };
                if rev {
                    for idx in (0..n).rev() {
                        if !visit(idx) {
                            break;
                        }
                    }
                } else {
                    for idx in 0..n {
                        if !visit(idx) {
                            break;
                        }
                    }
                }
                cut(v)
            }
            None => {
                let mut keyed: Vec<(Vec<Value>, u32)> = (0..n)
                    .filter(|&idx| {
                        (!skip_deleted || !obj.is_deleted(idx)) && eval(&self.filter, obj, idx)
                    })
                    .map(|idx| {
                        (
                            self.order
                                .iter()
                                .map(|(f, _, _)| obj.value(idx, *f))
                                .collect(),
                            idx as u32,
                        )
                    })
                    .collect();
                keyed.sort_by(|a, b| {
                    for (k, (_, desc, nulls_first)) in self.order.iter().enumerate() {
                        let (x, y) = (&a.0[k], &b.0[k]);
                        let o = match (x.is_null(), y.is_null()) {
                            (true, true) => Ordering::Equal,
                            (true, false) => {
                                if *nulls_first {
                                    Ordering::Less
                                } else {
                                    Ordering::Greater
                                }
                            }
                            (false, true) => {
                                if *nulls_first {
                                    Ordering::Greater
                                } else {
                                    Ordering::Less
                                }
                            }
                            _ => {
                                let cs = self.obj.fields[self.order[k].0].ftype == FType::Id;
                                let o = cmp(x, y, cs);
                                if *desc { o.reverse() } else { o }
                            }
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    a.1.cmp(&b.1)
                });
                cut(keyed.into_iter().map(|(_, i)| i).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn located_formats_like_salesforce() {
        let m = located("SELECT Id, Foo FROM Account", 11, "No such column");
        assert_eq!(
            m,
            "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column"
        );
    }

    #[test]
    fn parses_subset() {
        let q = parse("SELECT Id, Name FROM Account WHERE SystemModstamp > 2026-01-01T00:00:00Z AND Name != 'x' ORDER BY Name DESC NULLS LAST LIMIT 10").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(q.fields.len(), 2);
        assert_eq!(q.limit, Some(10));
        assert!(parse("SELECT FROM Account").is_err());
        let c = parse("SELECT COUNT() FROM Account WHERE Name != 'x' LIMIT 5")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(c.count_only && c.fields.is_empty());
        assert!(
            !parse("SELECT Count FROM Account")
                .map(|q| q.count_only)
                .unwrap_or(true)
        );
        assert!(parse("SELECT COUNT(), Id FROM Account").is_err());
        let e = parse("SELECT Id FROM Account WHERE")
            .err()
            .unwrap_or_else(|| panic!("no error"));
        assert!(
            e.message.ends_with("unexpected token: <EOF>"),
            "{}",
            e.message
        );
    }

    #[test]
    fn no_panics_on_odd_input() {
        let pieces = [
            "SELECT",
            " ",
            "Id",
            ",",
            "FROM",
            "Account",
            "WHERE",
            "=",
            "'",
            "\\",
            "é",
            "日本",
            "(",
            ")",
            "2026-01-01",
            "T00:00:00Z",
            "-",
            "+",
            ".",
            "LIMIT",
            "99999999999999999999",
            ":",
            "LAST_N_DAYS",
            "IN",
            "NOT",
            "LIKE",
            "%",
            "\n",
            "<",
            ">",
            "!",
            "ORDER BY",
            "NULLS",
            "\u{0}",
        ];
        let mut seed = 1u64;
        for _ in 0..20_000 {
            let mut q = String::new();
            for _ in 0..(seed % 12) {
                seed = crate::model::mix(seed);
                q.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = crate::model::mix(seed);
            let _ = parse(&q);
            let _ = located(&q, (seed as usize) % (q.len() + 2), "x");
        }
    }

    #[test]
    fn like_matches() {
        let p: Vec<char> = "acme%".chars().collect();
        assert!(like(&p, &"acme corp".chars().collect::<Vec<_>>()));
        assert!(!like(&p, &"the acme".chars().collect::<Vec<_>>()));
        let p: Vec<char> = "%c_e%".chars().collect();
        assert!(like(&p, &"acme".chars().collect::<Vec<_>>()));
    }
}
