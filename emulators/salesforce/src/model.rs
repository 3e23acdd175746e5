//! Values, field types, Salesforce ids and date formatting shared by the data store, SOQL and the
//! REST/Bulk serialisers, and the allocation-free writers of Bulk CSV cells.

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

    /// The text of a CSV cell as Bulk API 2.0 writes it (unquoted form; the caller quotes). The
    /// reference that `write_csv` and `SObject::write_csv_cell` are tested against.
    #[cfg(test)]
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

    /// The whole cell the original Bulk writer made from `csv_text`: quoted, `"` doubled.
    #[cfg(test)]
    pub fn csv_cell_reference(&self) -> String {
        format!("\"{}\"", self.csv_text().replace('"', "\"\""))
    }

    /// Appends this value as one quoted Bulk API 2.0 CSV cell: `csv_text` in quotes, with any `"`
    /// doubled. Writes into the page buffer, so a cell costs no allocation.
    pub fn write_csv(&self, out: &mut Vec<u8>) {
        if let Value::Str(s) = self {
            return write_csv_str(out, s);
        }
        // The other kinds never contain a quote.
        out.push(b'"');
        match self {
            Value::Null | Value::Str(_) => {}
            Value::Int(i) => write_int(out, *i),
            Value::Double(d) => write_double(&mut Bytes(out), *d),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Date(d) => write_date(out, *d),
            Value::DateTime(ms) => write_datetime_bulk(out, *ms),
        }
        out.push(b'"');
    }
}

/// A double as Salesforce writes it (into JSON text or, through `Bytes`, a CSV page).
fn write_double(out: &mut impl std::fmt::Write, d: f64) {
    let _ = if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
        write!(out, "{d:.1}")
    } else if d.is_finite() {
        write!(out, "{d}")
    } else {
        out.write_str("null")
    };
}

// ---------------------------------------------------------------------------------------------
// Bulk API 2.0 CSV, written as bytes straight into a results page (a page is up to millions of
// cells, so nothing here allocates per cell).

/// `fmt::Write` into a page, for the values still formatted by `std`.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends `s` as one quoted CSV cell.
pub fn write_csv_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_csv_escaped(out, s);
    out.push(b'"');
}

/// `s` as one quoted CSV cell, for text that is written many times.
pub fn csv_cell(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_csv_str(&mut out, s);
    out
}

/// Appends `s` with every `"` doubled (the inside of a quoted CSV cell).
pub fn push_csv_escaped(out: &mut Vec<u8>, s: &str) {
    let mut parts = s.split('"');
    if let Some(first) = parts.next() {
        out.extend_from_slice(first.as_bytes());
    }
    for p in parts {
        out.extend_from_slice(b"\"\"");
        out.extend_from_slice(p.as_bytes());
    }
}

/// The decimal digits of `n`, zero-padded to at least `min_len` digits (at most 32), at the end of
/// `buf`.
fn digits(buf: &mut [u8; 32], mut n: u64, min_len: usize) -> &[u8] {
    let mut len = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 && len >= min_len {
            break;
        }
    }
    &buf[buf.len() - len..]
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (like `{n:0width$}`).
pub fn write_uint(out: &mut Vec<u8>, n: u64, width: usize) {
    // A u64 has at most 20 digits, so only padding can be longer than the buffer.
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(32)));
    out.extend_from_slice(digits(&mut [0; 32], n, width));
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    if i < 0 {
        out.push(b'-');
    }
    write_uint(out, i.unsigned_abs(), 0);
}

/// Appends the double nearest to `k / 10^decimals` (`d`, with `k` a whole number) exactly as
/// `write_double` would, but without the float formatter: with `0 < |k| < 1e15` that decimal has
/// at most 15 significant digits, so no other decimal of that length reads back as `d` and it is
/// the shortest form `{d}` prints. Zero (whose sign shows), larger or non-finite values and more
/// than 8 decimals take `write_double`.
pub fn write_decimal(out: &mut Vec<u8>, k: f64, decimals: u32, d: f64) {
    if !(k.is_finite() && k != 0.0 && k.abs() < 1e15 && k.fract() == 0.0 && decimals <= 8) {
        return write_double(&mut Bytes(out), d);
    }
    if k < 0.0 {
        out.push(b'-');
    }
    let dec = decimals as usize;
    let mut buf = [0; 32];
    // At least one digit before the point.
    let text = digits(&mut buf, k.abs() as u64, dec + 1);
    let (int, frac) = text.split_at(text.len() - dec);
    let frac_len = frac.iter().rposition(|c| *c != b'0').map_or(0, |p| p + 1);
    out.extend_from_slice(int);
    out.push(b'.');
    if frac_len == 0 {
        out.push(b'0');
    } else {
        out.extend_from_slice(&frac[..frac_len]);
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

/// Year, month and day of a day number (days since 1970-01-01), proleptic Gregorian calendar:
/// Howard Hinnant's `civil_from_days`, exact for every `i64` day a datetime can reach.
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u64, day as u64)
}

/// Fills `slot` with `v` in decimal, zero-padded to the slot's width.
fn put_digits(slot: &mut [u8], mut v: u64) {
    for c in slot.iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Appends `format_date(days)` without allocating. Years outside 0..=9999 (signs, or no date at
/// all past the `time` crate's range) are left to `format_date`.
pub fn write_date(out: &mut Vec<u8>, days: i32) {
    let (y, m, d) = civil_from_days(i64::from(days));
    if !(0..=9999).contains(&y) {
        return out.extend_from_slice(format_date(days).as_bytes());
    }
    let mut b = *b"0000-00-00";
    put_digits(&mut b[0..4], y as u64);
    put_digits(&mut b[5..7], m);
    put_digits(&mut b[8..10], d);
    out.extend_from_slice(&b);
}

/// Appends `format_datetime_bulk(ms)` without allocating; years outside 0..=9999 as in
/// `write_date`.
pub fn write_datetime_bulk(out: &mut Vec<u8>, ms: i64) {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    if !(0..=9999).contains(&y) {
        return out.extend_from_slice(format_datetime_bulk(ms).as_bytes());
    }
    let t = ms.rem_euclid(86_400_000) as u64;
    let mut b = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut b[0..4], y as u64);
    put_digits(&mut b[5..7], m);
    put_digits(&mut b[8..10], d);
    put_digits(&mut b[11..13], t / 3_600_000);
    put_digits(&mut b[14..16], t / 60_000 % 60);
    put_digits(&mut b[17..19], t / 1000 % 60);
    put_digits(&mut b[20..23], t % 1000);
    out.extend_from_slice(&b);
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

/// `generated_id` as ASCII bytes on the stack, for writers that append it to a page; `None` when
/// the prefix is not 3 ASCII characters (key prefixes always are).
pub fn generated_id_bytes(prefix: &str, index: u64) -> Option<[u8; 18]> {
    let p: [u8; 3] = prefix.as_bytes().try_into().ok()?;
    if !p.is_ascii() {
        return None;
    }
    let mut b = [0u8; 18];
    b[..3].copy_from_slice(&p);
    b[3..5].copy_from_slice(b"Em");
    let mut n = index.wrapping_add(1);
    for slot in b[5..15].iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    for chunk in 0..3 {
        let mut flags = 0usize;
        for j in 0..5 {
            if b[chunk * 5 + j].is_ascii_uppercase() {
                flags |= 1 << j;
            }
        }
        b[15 + chunk] = SUFFIX[flags];
    }
    Some(b)
}

/// Appends the generated id as one quoted CSV cell.
pub fn write_csv_generated_id(out: &mut Vec<u8>, prefix: &str, index: u64) {
    match generated_id_bytes(prefix, index) {
        Some(b) => {
            out.push(b'"');
            out.extend_from_slice(&b);
            out.push(b'"');
        }
        None => write_csv_str(out, &generated_id(prefix, index)),
    }
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

    /// A deterministic spread of test inputs.
    fn sample(k: u64) -> u64 {
        mix(k ^ 0x5eed)
    }

    /// What a byte writer appends to an empty page, as text.
    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).expect("UTF-8")
    }

    fn csv(v: &Value) -> String {
        text(|out| v.write_csv(out))
    }

    #[test]
    fn csv_cells_match_csv_text_for_every_value_kind() {
        let mut values = vec![Value::Null, Value::Bool(true), Value::Bool(false)];
        for s in [
            "",
            "\"",
            "\"\"",
            "a\"b\"",
            "\"start",
            "end\"",
            "comma, here",
            "line\nbreak\r\n",
            "Zürich ✓ 東京 🎉",
            "tab\t| ^ ` ;",
        ] {
            values.push(Value::Str(s.to_string()));
        }
        for i in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            1234567890,
            i64::MIN,
            i64::MAX,
            i64::MIN + 1,
        ] {
            values.push(Value::Int(i));
        }
        for d in [
            0.0,
            -0.0,
            0.1,
            -2.5,
            1e15,
            -1e15,
            999_999_999_999_999.0,
            1e-7,
            123.456,
            1e300,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            values.push(Value::Double(d));
        }
        for d in [
            i32::MIN,
            -4_000_000,
            -719_528,
            -1,
            0,
            1,
            2_932_896,
            2_932_897,
            i32::MAX,
        ] {
            values.push(Value::Date(d));
        }
        for ms in [
            i64::MIN,
            -62_167_219_200_001,
            -1,
            0,
            1,
            253_402_300_800_000,
            i64::MAX,
        ] {
            values.push(Value::DateTime(ms));
        }
        for v in &values {
            assert_eq!(csv(v), v.csv_cell_reference(), "{v:?}");
        }
    }

    #[test]
    fn dates_match_the_time_crate() {
        let check = |d: i32| assert_eq!(text(|o| write_date(o, d)), format_date(d), "day {d}");
        // Every day around the edges: negative years, year 0, the epoch, leap centuries, 9999 and
        // the ends of the time crate's range; a spread in between.
        for centre in [
            -3_652_425, -719_528, -719_162, -25_567, 0, 10_957, 47_482, 2_932_896, -5_000_000,
            3_000_000,
        ] {
            for d in centre - 800..=centre + 800 {
                check(d);
            }
        }
        for d in (-5_000_000..=5_000_000).step_by(37) {
            check(d);
        }
        for d in [i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 2_440_588] {
            check(d);
        }
    }

    #[test]
    fn datetimes_match_the_time_crate() {
        let check = |ms: i64| {
            let got = text(|o| write_datetime_bulk(o, ms));
            assert_eq!(got, format_datetime_bulk(ms), "ms {ms}");
        };
        let day = 86_400_000i64;
        for centre in [
            0,
            -62_167_219_200_000, // 0000-01-01
            -62_135_596_800_000, // 0001-01-01
            253_402_300_800_000, // 10000-01-01
            -377_705_116_800_000,
            951_782_400_000, // 2000-02-29
        ] {
            for k in -3000..=3000 {
                check(centre + k);
                check(centre + k * day / 3 + k);
            }
        }
        for k in 0..200_000 {
            let r = sample(k);
            check(r as i64);
            check((r % 800_000_000_000_000) as i64 - 400_000_000_000_000);
        }
        for ms in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            check(ms);
        }
    }

    #[test]
    fn decimals_match_float_formatting() {
        for dec in 0..=8u32 {
            assert_eq!(10f64.powi(dec as i32), 10u64.pow(dec) as f64);
        }
        let check = |k: f64, dec: u32| {
            let d = k / 10f64.powi(dec.min(30) as i32);
            let mut slow = String::new();
            write_double(&mut slow, d);
            assert_eq!(
                text(|o| write_decimal(o, k, dec, d)),
                slow,
                "k {k} decimals {dec}"
            );
        };
        for dec in 0..=10u32 {
            for j in 0..40_000u64 {
                let r = sample(j * 11 + u64::from(dec));
                let m = 10u64.pow(1 + (r % 16) as u32);
                let k = ((r >> 8) % m) as f64;
                check(if r & 1 == 0 { k } else { -k }, dec);
            }
            for k in [
                0.0,
                -0.0,
                1.0,
                -1.0,
                5.0,
                10f64.powi(dec as i32),
                1e15 - 1.0,
                -(1e15 - 1.0),
                1e15,
                1e16 + 2.0,
                9_007_199_254_740_993.0,
                f64::INFINITY,
                f64::NAN,
            ] {
                check(k, dec);
            }
        }
    }

    #[test]
    fn uints_match_padded_format() {
        for n in [0, 1, 9, 10, 99, 1_000_000_001, u64::MAX - 1, u64::MAX] {
            for w in 0..=40 {
                assert_eq!(text(|o| write_uint(o, n, w)), format!("{n:0w$}"));
            }
        }
    }

    #[test]
    fn generated_id_bytes_match_generated_id() {
        for prefix in ["001", "a0Z", "00D", "zzz"] {
            for k in 0..5000u64 {
                for index in [k, sample(k) % 839_299_365_868_340_224] {
                    let b = generated_id_bytes(prefix, index).expect("3 ASCII characters");
                    assert_eq!(b.as_slice(), generated_id(prefix, index).as_bytes());
                    let cell = text(|o| write_csv_generated_id(o, prefix, index));
                    assert_eq!(cell, format!("\"{}\"", generated_id(prefix, index)));
                }
            }
        }
        assert_eq!(generated_id_bytes("01", 5), None);
        assert_eq!(generated_id_bytes("0é", 5), None);
        assert_eq!(
            text(|o| write_csv_generated_id(o, "a\"b2", 5)),
            Value::Str(generated_id("a\"b2", 5)).csv_cell_reference()
        );
        for s in ["", "plain", "\"", "a\"\"b", "Zürich \"✓\""] {
            assert_eq!(
                String::from_utf8(csv_cell(s)).expect("UTF-8"),
                Value::Str(s.to_string()).csv_cell_reference()
            );
        }
    }
}
