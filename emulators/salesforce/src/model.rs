//! Values, field types, Salesforce ids and date formatting shared by the data store, SOQL and the
//! REST/Bulk serialisers.

use std::cmp::Ordering;
use std::fmt::Write as _;

/// A field's type, as far as SOQL comparisons and serialisation care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FType {
    Id,
    String,
    Int,
    Double,
    Boolean,
    Date,
    DateTime,
}

impl FType {
    /// The type name Salesforce uses in "value of filter criterion" errors.
    pub fn soql_name(self) -> &'static str {
        match self {
            FType::Id => "id",
            FType::String => "string",
            FType::Int => "int",
            FType::Double => "double",
            FType::Boolean => "boolean",
            FType::Date => "date",
            FType::DateTime => "dateTime",
        }
    }

    pub fn quoted(self) -> bool {
        matches!(self, FType::Id | FType::String)
    }
}

/// One field value. Dates are days since 1970-01-01, datetimes milliseconds since the epoch (UTC).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Date(i32),
    DateTime(i64),
}

impl Value {
    /// SOQL ordering: nulls compare lowest; strings case-insensitively.
    pub fn soql_cmp(&self, other: &Value) -> Ordering {
        use Value::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Str(a), Str(b)) => cmp_ci(a, b),
            (Int(a), Int(b)) => a.cmp(b),
            (Int(a), Double(b)) => (*a as f64).partial_cmp(b).unwrap_or(Ordering::Equal),
            (Double(a), Int(b)) => a.partial_cmp(&(*b as f64)).unwrap_or(Ordering::Equal),
            (Double(a), Double(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Bool(a), Bool(b)) => a.cmp(b),
            (Date(a), Date(b)) => a.cmp(b),
            (DateTime(a), DateTime(b)) => a.cmp(b),
            // Mixed kinds do not occur after type checking; give a stable answer anyway.
            _ => self.rank().cmp(&other.rank()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Double(_) => 2,
            Value::Date(_) => 3,
            Value::DateTime(_) => 4,
            Value::Str(_) => 5,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// JSON text as Salesforce's REST API writes it.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Str(s) => write_json_str(out, s),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Double(d) => write_double(out, *d),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Date(d) => {
                out.push('"');
                out.push_str(&format_date(*d));
                out.push('"');
            }
            Value::DateTime(ms) => {
                out.push('"');
                out.push_str(&format_datetime_rest(*ms));
                out.push('"');
            }
        }
    }

    /// The text of a CSV cell as Bulk API 2.0 writes it (unquoted form; the caller quotes).
    pub fn csv_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => {
                let mut s = String::new();
                write_double(&mut s, *d);
                s
            }
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => format_date(*d),
            Value::DateTime(ms) => format_datetime_bulk(*ms),
        }
    }
}

fn write_double(out: &mut String, d: f64) {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
        let _ = write!(out, "{d:.1}");
    } else if d.is_finite() {
        let _ = write!(out, "{d}");
    } else {
        out.push_str("null");
    }
}

pub fn cmp_ci(a: &str, b: &str) -> Ordering {
    let la = a.chars().flat_map(char::to_lowercase);
    let lb = b.chars().flat_map(char::to_lowercase);
    la.cmp(lb)
}

pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------------
// Dates

const UNIX_EPOCH_JULIAN: i32 = 2_440_588;

pub fn date_from_days(days: i32) -> Option<time::Date> {
    time::Date::from_julian_day(days.checked_add(UNIX_EPOCH_JULIAN)?).ok()
}

pub fn format_date(days: i32) -> String {
    match date_from_days(days) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        None => String::new(),
    }
}

fn split_ms(ms: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn fmt_dt(ms: i64, zone: &str) -> String {
    match split_ms(ms) {
        Some(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{zone}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        None => String::new(),
    }
}

/// `2026-01-01T00:00:00.000+0000`, the REST API's datetime form.
pub fn format_datetime_rest(ms: i64) -> String {
    fmt_dt(ms, "+0000")
}

/// `2026-01-01T00:00:00.000Z`, the Bulk API 2.0 CSV datetime form.
pub fn format_datetime_bulk(ms: i64) -> String {
    fmt_dt(ms, "Z")
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = s.get(0..4)?.parse().ok()?;
    let m: u8 = s.get(5..7)?.parse().ok()?;
    let d: u8 = s.get(8..10)?.parse().ok()?;
    let month = time::Month::try_from(m).ok()?;
    let date = time::Date::from_calendar_date(y, month, d).ok()?;
    Some(date.to_julian_day() - UNIX_EPOCH_JULIAN)
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm|±hhmm)` into epoch milliseconds.
pub fn parse_datetime(s: &str) -> Option<i64> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let days = parse_date(s.get(0..10)?)?;
    let rest = s.get(11..)?;
    let b = rest.as_bytes();
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let hh: i64 = rest.get(0..2)?.parse().ok()?;
    let mm: i64 = rest.get(3..5)?.parse().ok()?;
    let ss: i64 = rest.get(6..8)?.parse().ok()?;
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut tail = rest.get(8..)?;
    let mut millis = 0i64;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            return None;
        }
        let mut three = digits.clone();
        three.truncate(3);
        while three.len() < 3 {
            three.push('0');
        }
        millis = three.parse().ok()?;
        tail = frac.get(digits.len()..)?;
    }
    let offset_min: i64 = if tail == "Z" {
        0
    } else {
        let sign = match tail.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let t = tail.get(1..)?.replace(':', "");
        if t.len() != 4 || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let oh: i64 = t.get(0..2)?.parse().ok()?;
        let om: i64 = t.get(2..4)?.parse().ok()?;
        sign * (oh * 60 + om)
    };
    let secs = i64::from(days) * 86_400 + hh * 3600 + mm * 60 + ss - offset_min * 60;
    Some(secs * 1000 + millis)
}

// ---------------------------------------------------------------------------------------------
// Ids

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Adds Salesforce's 3-character case-safety suffix to a 15-character id.
pub fn id18(id15: &str) -> String {
    let b = id15.as_bytes();
    let mut out = String::with_capacity(18);
    out.push_str(id15);
    for chunk in 0..3 {
        let mut flags = 0usize;
        for j in 0..5 {
            if let Some(c) = b.get(chunk * 5 + j)
                && c.is_ascii_uppercase()
            {
                flags |= 1 << j;
            }
        }
        out.push(SUFFIX[flags] as char);
    }
    out
}

/// Normalises a 15- or 18-character id to 18 characters; `None` if it is not id-shaped.
pub fn normalize_id(id: &str) -> Option<String> {
    if !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => Some(id18(id)),
        18 => {
            let fixed = id18(id.get(..15)?);
            if fixed.eq_ignore_ascii_case(id) {
                Some(fixed)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The id of the `index`-th generated record of an object: prefix + "Em" + 10 base62 digits, so
/// ids sort in generation order.
pub fn generated_id(prefix: &str, index: u64) -> String {
    let mut digits = [b'0'; 10];
    let mut n = index + 1;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    let mut s = String::with_capacity(15);
    s.push_str(prefix);
    s.push_str("Em");
    s.push_str(std::str::from_utf8(&digits).unwrap_or("0000000000"));
    id18(&s)
}

/// A random id with the given 3-character prefix (for jobs, cursors, users created at run time).
pub fn random_id(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut s = String::from(prefix);
    s.push_str("Em");
    while s.len() < 15 {
        s.push(BASE62[rng.random_range(0..62)] as char);
    }
    id18(&s)
}

pub fn random_alnum(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| BASE62[rng.random_range(0..62)] as char)
        .collect()
}

/// Key prefixes of common standard objects.
pub fn standard_key_prefix(object: &str) -> Option<&'static str> {
    Some(match object.to_ascii_lowercase().as_str() {
        "account" => "001",
        "contact" => "003",
        "opportunity" => "006",
        "lead" => "00Q",
        "case" => "500",
        "user" => "005",
        "organization" => "00D",
        "campaign" => "701",
        "task" => "00T",
        "event" => "00U",
        "product2" => "01t",
        "asset" => "02i",
        "contract" => "800",
        "order" => "801",
        _ => return None,
    })
}

/// splitmix64: a cheap deterministic hash for generated values.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id18_matches_known_ids() {
        // Known pair from Salesforce documentation examples.
        assert_eq!(id18("001A0000006Vm9r"), "001A0000006Vm9rIAC");
        assert_eq!(
            normalize_id("001A0000006Vm9r").as_deref(),
            Some("001A0000006Vm9rIAC")
        );
        assert_eq!(
            normalize_id("001A0000006Vm9rIAC").as_deref(),
            Some("001A0000006Vm9rIAC")
        );
        assert_eq!(normalize_id("001A0000006Vm9rXXX"), None);
    }

    #[test]
    fn datetimes_round_trip() {
        let ms = parse_datetime("2026-01-01T00:00:00Z").unwrap_or_default();
        assert_eq!(format_datetime_rest(ms), "2026-01-01T00:00:00.000+0000");
        assert_eq!(
            parse_datetime("2026-01-01T01:00:00.5+01:00"),
            Some(ms + 500)
        );
        assert_eq!(
            format_date(parse_date("2025-02-28").unwrap_or_default()),
            "2025-02-28"
        );
        assert!(parse_datetime("2026-13-01T00:00:00Z").is_none());
    }

    #[test]
    fn generated_ids_sort_in_order() {
        let a = generated_id("001", 9);
        let b = generated_id("001", 10);
        let c = generated_id("001", 61);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.len(), 18);
    }
}
