//! The record store: per sObject a schema, literal records and a generator whose records are made
//! on demand (record `i` is a pure function of `i`), so a million records take no memory.

use crate::model::{
    FType, Value, csv_cell, fnv, generated_id, mix, normalize_id, parse_date, parse_datetime,
    push_csv_escaped, standard_key_prefix, write_csv_generated_id, write_decimal, write_uint,
};
use crate::seed::{FieldGen, FieldTypeSeed, ObjectSeed, OrgKind, Seed};
use anyhow::{Context, anyhow, bail};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub ftype: FType,
}

#[derive(Debug, Clone)]
enum Gen {
    Id,
    IsDeleted(Option<u64>),
    Text(Vec<TemplatePart>),
    /// The values, and each as a finished CSV cell (escaping them per cell cost more than the
    /// rest of the cell).
    Picklist {
        values: Vec<String>,
        cells: Vec<Vec<u8>>,
    },
    Integer {
        min: i64,
        span: u64,
        salt: u64,
    },
    /// Values are `round(x * scale) / scale` with `scale = 10^decimals`.
    Number {
        min: f64,
        max: f64,
        decimals: u32,
        scale: f64,
        salt: u64,
    },
    BoolEvery(u64),
    BoolRandom(u64),
    Date {
        start: i32,
        step: i64,
    },
    DateTime {
        start: i64,
        step_ms: i64,
    },
    Reference {
        prefix: String,
        count: u64,
    },
    /// The value, and its CSV cell.
    Constant {
        value: Value,
        cell: Vec<u8>,
    },
    Null,
}

#[derive(Debug, Clone)]
enum TemplatePart {
    /// Literal text, and the same with `"` doubled for CSV cells.
    Lit {
        text: String,
        csv: Vec<u8>,
    },
    N(usize),
}

#[derive(Debug)]
pub struct SObject {
    pub name: String,
    pub key_prefix: String,
    pub fields: Vec<FieldDef>,
    index: HashMap<String, usize>,
    literal: Vec<Vec<Value>>,
    generated: u64,
    gens: Vec<Gen>,
    /// Per field: generated values rise with the record number and literal records do not exist,
    /// so the natural order is sorted by this field.
    monotonic: Vec<bool>,
    pub has_deleted: bool,
}

/// Query results keep record numbers as u32: a generator stays well below that.
pub const MAX_GENERATED: u64 = 1_000_000_000;

pub const ID_FIELD: usize = 0;
pub const IS_DELETED_FIELD: usize = 1;

impl SObject {
    pub fn len(&self) -> usize {
        self.literal.len() + self.generated as usize
    }

    pub fn field(&self, name: &str) -> Option<usize> {
        self.index.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn naturally_sorted_by(&self, field: usize) -> bool {
        self.monotonic.get(field).copied().unwrap_or(false)
    }

    pub fn is_deleted(&self, idx: usize) -> bool {
        self.has_deleted && matches!(self.value(idx, IS_DELETED_FIELD), Value::Bool(true))
    }

    /// The value of one field of record `idx` (literal records first, then generated ones).
    pub fn value(&self, idx: usize, field: usize) -> Value {
        if let Some(rec) = self.literal.get(idx) {
            return rec.get(field).cloned().unwrap_or(Value::Null);
        }
        let i = (idx - self.literal.len()) as u64;
        let n = i + 1;
        match self.gens.get(field) {
            None | Some(Gen::Null) => Value::Null,
            Some(Gen::Id) => Value::Str(generated_id(&self.key_prefix, i)),
            Some(Gen::IsDeleted(every)) => {
                Value::Bool(matches!(every, Some(k) if *k > 0 && n.is_multiple_of(*k)))
            }
            Some(Gen::Text(parts)) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        TemplatePart::Lit { text, .. } => s.push_str(text),
                        TemplatePart::N(w) => s.push_str(&format!("{n:0w$}", w = *w)),
                    }
                }
                Value::Str(s)
            }
            Some(Gen::Picklist { values: v, .. }) => {
                if v.is_empty() {
                    Value::Null
                } else {
                    Value::Str(v[(i % v.len() as u64) as usize].clone())
                }
            }
            Some(Gen::Integer { min, span, salt }) => {
                let r = if *span == 0 { 0 } else { mix(salt ^ n) % span };
                Value::Int(min.saturating_add(r as i64))
            }
            Some(Gen::Number {
                min,
                max,
                scale,
                salt,
                ..
            }) => Value::Double(scaled_number(*min, *max, *scale, *salt, n) / scale),
            Some(Gen::BoolEvery(k)) => Value::Bool(*k > 0 && n.is_multiple_of(*k)),
            Some(Gen::BoolRandom(salt)) => Value::Bool(mix(salt ^ n) & 1 == 1),
            Some(Gen::Date { start, step }) => {
                let d = i64::from(*start) + (i as i64).saturating_mul(*step);
                Value::Date(d.clamp(-700_000, 2_900_000) as i32)
            }
            Some(Gen::DateTime { start, step_ms }) => {
                Value::DateTime(start.saturating_add((i as i64).saturating_mul(*step_ms)))
            }
            Some(Gen::Reference { prefix, count }) => {
                if *count == 0 {
                    Value::Null
                } else {
                    Value::Str(generated_id(prefix, i % count))
                }
            }
            Some(Gen::Constant { value, .. }) => value.clone(),
        }
    }

    /// Appends field `field` of record `idx` as one quoted Bulk API 2.0 CSV cell: the bytes of
    /// `value(idx, field).csv_text()` in quotes with `"` doubled, but written straight into the
    /// page, because building a `Value` and two `String`s per cell dominated the cost of a page.
    pub fn write_csv_cell(&self, idx: usize, field: usize, out: &mut Vec<u8>) {
        if let Some(rec) = self.literal.get(idx) {
            return rec.get(field).unwrap_or(&Value::Null).write_csv(out);
        }
        let i = (idx - self.literal.len()) as u64;
        let n = i + 1;
        match self.gens.get(field) {
            Some(Gen::Id) => write_csv_generated_id(out, &self.key_prefix, i),
            Some(Gen::Reference { prefix, count }) if *count > 0 => {
                write_csv_generated_id(out, prefix, i % count)
            }
            Some(Gen::Text(parts)) => {
                out.push(b'"');
                for p in parts {
                    match p {
                        TemplatePart::Lit { csv, .. } => out.extend_from_slice(csv),
                        TemplatePart::N(w) => write_uint(out, n, *w),
                    }
                }
                out.push(b'"');
            }
            Some(Gen::Picklist { cells, .. }) if !cells.is_empty() => {
                if let Some(cell) = cells.get((i % cells.len() as u64) as usize) {
                    out.extend_from_slice(cell);
                }
            }
            Some(Gen::Number {
                min,
                max,
                decimals,
                scale,
                salt,
            }) => {
                let k = scaled_number(*min, *max, *scale, *salt, n);
                out.push(b'"');
                write_decimal(out, k, *decimals, k / scale);
                out.push(b'"');
            }
            Some(Gen::Constant { cell, .. }) => out.extend_from_slice(cell),
            // The rest make values without heap data (numbers, booleans, dates, null), which
            // `write_csv` writes without allocating.
            _ => self.value(idx, field).write_csv(out),
        }
    }
}

/// `round(x * scale)` for the pseudo-random `x` in `[min, max]` of record `n`; the generated
/// number is this divided by `scale`.
fn scaled_number(min: f64, max: f64, scale: f64, salt: u64, n: u64) -> f64 {
    let f = (mix(salt ^ n) >> 11) as f64 / (1u64 << 53) as f64;
    let v = min + (max - min) * f;
    (v * scale).round()
}

#[derive(Debug, Default)]
pub struct Dataset {
    objects: HashMap<String, Arc<SObject>>,
}

impl Dataset {
    pub fn get(&self, name: &str) -> Option<Arc<SObject>> {
        self.objects.get(&name.to_ascii_lowercase()).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.objects.values().map(|o| o.name.clone()).collect();
        v.sort();
        v
    }

    pub fn build(
        seed: &Seed,
        org_id: &str,
        user_ids: &[(String, &crate::seed::UserSeed)],
    ) -> anyhow::Result<Dataset> {
        let mut objects = HashMap::new();
        // Generated counts and prefixes first, for references.
        let mut targets: HashMap<String, (String, u64)> = HashMap::new();
        for (name, o) in &seed.objects {
            let prefix = key_prefix(name, o)?;
            let count = o.generator.as_ref().map(|g| g.count).unwrap_or(0);
            targets.insert(name.to_ascii_lowercase(), (prefix, count));
        }
        for (name, o) in &seed.objects {
            let obj = build_object(name, o, &targets).with_context(|| format!("object {name}"))?;
            objects.insert(name.to_ascii_lowercase(), Arc::new(obj));
        }
        if !objects.contains_key("organization") {
            objects.insert(
                "organization".into(),
                Arc::new(organization_object(seed, org_id)?),
            );
        }
        if !objects.contains_key("user") {
            objects.insert("user".into(), Arc::new(user_object(user_ids)?));
        }
        Ok(Dataset { objects })
    }
}

fn key_prefix(name: &str, o: &ObjectSeed) -> anyhow::Result<String> {
    let p = match &o.key_prefix {
        Some(p) => p.clone(),
        None => standard_key_prefix(name)
            .map(str::to_string)
            .unwrap_or_else(|| {
                // A stable made-up prefix for custom objects: a0 + one base62 char.
                let h = (fnv(name) % 62) as usize;
                let c =
                    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[h] as char;
                format!("a0{c}")
            }),
    };
    if p.len() != 3 || !p.bytes().all(|c| c.is_ascii_alphanumeric()) {
        bail!("key_prefix must be 3 letters or digits, got {p:?}");
    }
    Ok(p)
}

fn ftype_of(t: FieldTypeSeed) -> FType {
    match t {
        FieldTypeSeed::Id | FieldTypeSeed::Reference => FType::Id,
        FieldTypeSeed::String => FType::String,
        FieldTypeSeed::Int => FType::Int,
        FieldTypeSeed::Double => FType::Double,
        FieldTypeSeed::Boolean => FType::Boolean,
        FieldTypeSeed::Date => FType::Date,
        FieldTypeSeed::Datetime => FType::DateTime,
    }
}

fn parse_template(t: &str) -> anyhow::Result<Vec<TemplatePart>> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(pos) = rest.find("{n") {
        let after = &rest[pos + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| anyhow!("unclosed {{n in template {t:?}"))?;
        let spec = &after[..end];
        let width = if spec.is_empty() {
            0
        } else if let Some(w) = spec.strip_prefix(":0").or_else(|| spec.strip_prefix(':')) {
            w.parse::<usize>()
                .map_err(|_| anyhow!("bad width {spec:?} in template {t:?}"))?
                .min(30)
        } else {
            bail!("bad placeholder {{n{spec}}} in template {t:?}");
        };
        if pos > 0 {
            parts.push(literal_part(&rest[..pos]));
        }
        parts.push(TemplatePart::N(width));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(literal_part(rest));
    }
    Ok(parts)
}

fn literal_part(text: &str) -> TemplatePart {
    let mut csv = Vec::with_capacity(text.len());
    push_csv_escaped(&mut csv, text);
    TemplatePart::Lit {
        text: text.to_string(),
        csv,
    }
}

fn yaml_to_value(v: &serde_yaml::Value, t: FType, field: &str) -> anyhow::Result<Value> {
    use serde_yaml::Value as Y;
    Ok(match (v, t) {
        (Y::Null, _) => Value::Null,
        (Y::Bool(b), FType::Boolean) => Value::Bool(*b),
        (Y::Number(n), FType::Int) => Value::Int(
            n.as_i64()
                .ok_or_else(|| anyhow!("field {field}: {n} is not an integer"))?,
        ),
        (Y::Number(n), FType::Double) => Value::Double(n.as_f64().unwrap_or(0.0)),
        (Y::String(s), FType::Date) => {
            Value::Date(parse_date(s).ok_or_else(|| anyhow!("field {field}: bad date {s:?}"))?)
        }
        (Y::String(s), FType::DateTime) => Value::DateTime(
            parse_datetime(s).ok_or_else(|| anyhow!("field {field}: bad datetime {s:?}"))?,
        ),
        (Y::String(s), FType::Id) => {
            Value::Str(normalize_id(s).ok_or_else(|| anyhow!("field {field}: bad id {s:?}"))?)
        }
        (Y::String(s), FType::String) => Value::Str(s.clone()),
        (Y::Number(n), FType::String) => Value::Str(n.to_string()),
        (Y::Bool(b), FType::String) => Value::Str(b.to_string()),
        (other, t) => bail!("field {field}: value {other:?} does not fit type {t:?}"),
    })
}

fn infer_type(v: &serde_yaml::Value) -> FType {
    use serde_yaml::Value as Y;
    match v {
        Y::Bool(_) => FType::Boolean,
        Y::Number(n) if n.is_i64() || n.is_u64() => FType::Int,
        Y::Number(_) => FType::Double,
        Y::String(s) if parse_datetime(s).is_some() => FType::DateTime,
        Y::String(s) if parse_date(s).is_some() => FType::Date,
        _ => FType::String,
    }
}

fn gen_type(g: &FieldGen) -> FType {
    match g {
        FieldGen::Text { .. } | FieldGen::Picklist { .. } => FType::String,
        FieldGen::Integer { .. } => FType::Int,
        FieldGen::Number { .. } => FType::Double,
        FieldGen::Boolean { .. } => FType::Boolean,
        FieldGen::Date { .. } => FType::Date,
        FieldGen::Datetime { .. } => FType::DateTime,
        FieldGen::Reference { .. } => FType::Id,
        FieldGen::Constant { value, field_type } => field_type
            .map(ftype_of)
            .unwrap_or_else(|| infer_type(value)),
    }
}

struct SchemaBuilder {
    fields: Vec<FieldDef>,
    index: HashMap<String, usize>,
}

impl SchemaBuilder {
    fn new() -> Self {
        let mut s = SchemaBuilder {
            fields: Vec::new(),
            index: HashMap::new(),
        };
        s.add("Id", FType::Id);
        s.add("IsDeleted", FType::Boolean);
        s
    }
    fn add(&mut self, name: &str, t: FType) -> usize {
        if let Some(i) = self.index.get(&name.to_ascii_lowercase()) {
            return *i;
        }
        self.fields.push(FieldDef {
            name: name.to_string(),
            ftype: t,
        });
        let i = self.fields.len() - 1;
        self.index.insert(name.to_ascii_lowercase(), i);
        i
    }
}

fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn build_object(
    name: &str,
    o: &ObjectSeed,
    targets: &HashMap<String, (String, u64)>,
) -> anyhow::Result<SObject> {
    if !valid_field_name(name) {
        bail!("bad object name {name:?}");
    }
    let prefix = key_prefix(name, o)?;
    let mut schema = SchemaBuilder::new();
    // Generator fields, then declared, then inferred from literal records.
    if let Some(g) = &o.generator {
        if g.count > MAX_GENERATED {
            bail!(
                "generator count {} is above the maximum {MAX_GENERATED}",
                g.count
            );
        }
        for (f, fg) in &g.fields {
            if !valid_field_name(f) {
                bail!("bad field name {f:?}");
            }
            if f.eq_ignore_ascii_case("Id") || f.eq_ignore_ascii_case("IsDeleted") {
                bail!("field {f} is built in and cannot be generated");
            }
            schema.add(f, gen_type(fg));
        }
    }
    for (f, t) in &o.fields {
        if !valid_field_name(f) {
            bail!("bad field name {f:?}");
        }
        let i = schema.add(f, ftype_of(*t));
        if schema.fields[i].ftype != ftype_of(*t) {
            bail!("field {f}: declared type differs from the generator's");
        }
    }
    for r in &o.records {
        for (f, v) in r {
            if !valid_field_name(f) {
                bail!("bad field name {f:?}");
            }
            if !matches!(v, serde_yaml::Value::Null) {
                schema.add(f, infer_type(v));
            }
        }
    }
    let mut has_deleted = false;
    let mut literal = Vec::new();
    for (k, r) in o.records.iter().enumerate() {
        let mut rec = vec![Value::Null; schema.fields.len()];
        rec[IS_DELETED_FIELD] = Value::Bool(false);
        for (f, v) in r {
            let i = schema.add(f, FType::String);
            let t = schema.fields[i].ftype;
            rec[i] = yaml_to_value(v, t, f)?;
        }
        if rec[ID_FIELD].is_null() {
            // Literal records without an id get ids from the top of the id space.
            rec[ID_FIELD] = Value::Str(generated_id(
                &prefix,
                839_299_365_868_340_224 - 1_000_001 + k as u64,
            ));
        }
        if let Value::Str(id) = &rec[ID_FIELD]
            && !id.starts_with(&prefix)
        {
            bail!("record id {id} does not start with the key prefix {prefix}");
        }
        if matches!(rec[IS_DELETED_FIELD], Value::Bool(true)) {
            has_deleted = true;
        }
        literal.push(rec);
    }
    let mut gens = vec![Gen::Null; schema.fields.len()];
    gens[ID_FIELD] = Gen::Id;
    let mut generated = 0;
    let mut monotonic = vec![false; schema.fields.len()];
    monotonic[ID_FIELD] = true;
    if let Some(g) = &o.generator {
        generated = g.count;
        gens[IS_DELETED_FIELD] = Gen::IsDeleted(g.deleted_every);
        if g.deleted_every.is_some_and(|k| k > 0) {
            has_deleted = true;
        }
        for (f, fg) in &g.fields {
            let i = schema.add(f, gen_type(fg));
            let salt = fnv(name) ^ fnv(f).rotate_left(17);
            gens[i] = match fg {
                FieldGen::Text { template } => {
                    let parts = parse_template(template)?;
                    let only_padded = parts
                        .iter()
                        .filter(|p| matches!(p, TemplatePart::N(_)))
                        .count()
                        == 1
                        && parts.iter().all(|p| match p {
                            TemplatePart::N(w) => {
                                (*w as u32) >= 1 && (g.count as f64) < 10f64.powi(*w as i32)
                            }
                            TemplatePart::Lit { .. } => true,
                        })
                        && !matches!(parts.last(), Some(TemplatePart::Lit { .. }));
                    monotonic[i] = only_padded;
                    Gen::Text(parts)
                }
                FieldGen::Picklist { values } => Gen::Picklist {
                    values: values.clone(),
                    cells: values.iter().map(|v| csv_cell(v)).collect(),
                },
                FieldGen::Integer { min, max } => {
                    if max < min {
                        bail!("field {f}: max < min");
                    }
                    Gen::Integer {
                        min: *min,
                        span: (*max as i128 - *min as i128 + 1).min(u64::MAX as i128) as u64,
                        salt,
                    }
                }
                FieldGen::Number { min, max, decimals } => Gen::Number {
                    min: *min,
                    max: *max,
                    decimals: (*decimals).min(8),
                    scale: 10f64.powi((*decimals).min(8) as i32),
                    salt,
                },
                FieldGen::Boolean { every: Some(k) } => Gen::BoolEvery(*k),
                FieldGen::Boolean { every: None } => Gen::BoolRandom(salt),
                FieldGen::Date { start, step_days } => {
                    monotonic[i] = *step_days >= 0;
                    Gen::Date {
                        start: parse_date(start)
                            .ok_or_else(|| anyhow!("field {f}: bad date {start:?}"))?,
                        step: *step_days,
                    }
                }
                FieldGen::Datetime {
                    start,
                    step_seconds,
                } => {
                    monotonic[i] = *step_seconds >= 0;
                    Gen::DateTime {
                        start: parse_datetime(start)
                            .ok_or_else(|| anyhow!("field {f}: bad datetime {start:?}"))?,
                        step_ms: step_seconds.saturating_mul(1000),
                    }
                }
                FieldGen::Reference { object } => {
                    let (p, c) = targets
                        .get(&object.to_ascii_lowercase())
                        .cloned()
                        .ok_or_else(|| anyhow!("field {f}: unknown object {object}"))?;
                    Gen::Reference {
                        prefix: p,
                        count: c,
                    }
                }
                FieldGen::Constant { value, .. } => {
                    let value = yaml_to_value(value, schema.fields[i].ftype, f)?;
                    let mut cell = Vec::new();
                    value.write_csv(&mut cell);
                    Gen::Constant { value, cell }
                }
            };
        }
    }
    if !literal.is_empty() {
        monotonic.iter_mut().for_each(|m| *m = false);
    }
    Ok(SObject {
        name: name.to_string(),
        key_prefix: prefix,
        index: schema.index,
        fields: schema.fields,
        literal,
        generated,
        gens,
        monotonic,
        has_deleted,
    })
}

fn organization_object(seed: &Seed, org_id: &str) -> anyhow::Result<SObject> {
    let fields = [
        ("Name", FType::String),
        ("InstanceName", FType::String),
        ("IsSandbox", FType::Boolean),
        ("OrganizationType", FType::String),
        ("NamespacePrefix", FType::String),
        ("TrialExpirationDate", FType::DateTime),
    ];
    let mut schema = SchemaBuilder::new();
    for (f, t) in fields {
        schema.add(f, t);
    }
    let rec = vec![
        Value::Str(org_id.to_string()),
        Value::Bool(false),
        Value::Str(seed.org.name.clone()),
        Value::Str(seed.org.instance_name.clone()),
        Value::Bool(seed.org.kind == OrgKind::Sandbox),
        Value::Str("Enterprise Edition".into()),
        Value::Null,
        Value::Null,
    ];
    Ok(literal_object("Organization", "00D", schema, vec![rec]))
}

fn user_object(users: &[(String, &crate::seed::UserSeed)]) -> anyhow::Result<SObject> {
    let mut schema = SchemaBuilder::new();
    for (f, t) in [
        ("Username", FType::String),
        ("IsActive", FType::Boolean),
        ("FirstName", FType::String),
        ("LastName", FType::String),
        ("Name", FType::String),
        ("Email", FType::String),
    ] {
        schema.add(f, t);
    }
    let recs = users
        .iter()
        .map(|(id, u)| {
            let first = u.first_name.clone().unwrap_or_default();
            let last = u.last_name.clone().unwrap_or_else(|| "User".into());
            vec![
                Value::Str(id.clone()),
                Value::Bool(false),
                Value::Str(u.username.clone()),
                Value::Bool(u.active),
                Value::Str(first.clone()),
                Value::Str(last.clone()),
                Value::Str(format!("{first} {last}").trim().to_string()),
                Value::Str(u.email.clone().unwrap_or_else(|| u.username.clone())),
            ]
        })
        .collect();
    Ok(literal_object("User", "005", schema, recs))
}

fn literal_object(
    name: &str,
    prefix: &str,
    schema: SchemaBuilder,
    literal: Vec<Vec<Value>>,
) -> SObject {
    let n = schema.fields.len();
    SObject {
        name: name.into(),
        key_prefix: prefix.into(),
        index: schema.index,
        fields: schema.fields,
        literal,
        generated: 0,
        gens: vec![Gen::Null; n],
        monotonic: vec![false; n],
        has_deleted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every generator kind with the edge cases each can reach (widths up to the cap, quotes and
    /// line breaks in templates and picklists, ranges straddling zero, decimals past the cap,
    /// dates at both clamps, datetimes leaving years 0..=9999 in both directions, references to
    /// objects with and without generated records, constants of each type, null-only fields),
    /// one object generating the maximum count, and literal records of every type.
    const SEED: &str = r#"
org: {id: 00D000000000001EAA, kind: production}
objects:
  Widget__c:
    key_prefix: a07
    generator: {count: 7}
  Lone__c:
    key_prefix: a08
    records: [{Name: alone}]
  Gadget__c:
    key_prefix: a0Z
    fields: {Notes: string, Score: double, Seen: date, Touched: datetime, Flag: boolean, Qty: int, Ref: reference}
    records:
      - {Id: a0Z000000000001EAA, Name: "Quote \" and, comma", Notes: "line\nbreak\r\nCRLF", Score: -0.5, Seen: "1969-12-31", Touched: "1960-06-15T12:34:56.789+02:00", Flag: true, Qty: -42}
      - {Name: "Zürich ✓ 東京 🎉", Notes: "tab\there | ^ ` ;", Score: 1e20, Seen: "-001-03-01", Touched: "0000-01-01T00:00:00Z", Flag: false, Qty: 9223372036854775807}
      - {Name: "\"\"", Notes: "", Score: .nan, Seen: "0000-02-29", Touched: "9999-12-31T23:59:59.999Z", Ref: a0Z000000000001}
      - {IsDeleted: true, Name: deleted, Score: -0.0, Seen: "9999-12-31", Touched: "-999-01-01T00:00:00Z"}
    generator:
      count: 1000000000
      deleted_every: 7
      fields:
        Name: {kind: text, template: "Gadget {n:07} \"q\", ok"}
        Plain: {kind: text, template: "{n}"}
        Colon: {kind: text, template: "x{n:3}y{n}z\"\""}
        Wide: {kind: text, template: "{n:030}"}
        Capped: {kind: text, template: "{n:099}"}
        Lit: {kind: text, template: "no placeholder, \"quoted\"\n"}
        Pick: {kind: picklist, values: ["a\"b", "c,d", "line\nbreak", "Zürich ✓", "", "x"]}
        NoPick: {kind: picklist, values: []}
        Small: {kind: integer, min: -1000, max: 1000}
        Huge: {kind: integer, min: -9223372036854775808, max: 9223372036854775807}
        Pos: {kind: integer, min: 0, max: 9223372036854775807}
        Fixed: {kind: integer, min: 5, max: 5}
        Money: {kind: number, min: 1000, max: 10000000, decimals: 2}
        Signed: {kind: number, min: -0.004, max: 0.004, decimals: 2}
        Whole: {kind: number, min: -100, max: 100, decimals: 0}
        Fine: {kind: number, min: -1, max: 1, decimals: 12}
        Tiny: {kind: number, min: -0.00000001, max: 0.00000001, decimals: 8}
        Edge: {kind: number, min: 9999999, max: 10000000, decimals: 8}
        Big: {kind: number, min: 100000000000000, max: 100000000000000000, decimals: 3}
        Vast: {kind: number, min: -1e300, max: 1e300, decimals: 2}
        Every3: {kind: boolean, every: 3}
        Never: {kind: boolean, every: 0}
        Coin: {kind: boolean}
        Day: {kind: date, start: "1960-02-29", step_days: 1}
        Back: {kind: date, start: "1970-01-05", step_days: -1}
        Leap: {kind: date, start: "1899-12-31", step_days: 97}
        Far: {kind: date, start: "2000-01-01", step_days: 1000000}
        Past: {kind: date, start: "0100-01-01", step_days: -1000000}
        At: {kind: datetime, start: "1969-12-31T23:59:00.001Z", step_seconds: 7}
        Before: {kind: datetime, start: "1970-01-01T00:00:00Z", step_seconds: -86399}
        Years: {kind: datetime, start: "0003-07-01T12:00:00Z", step_seconds: -31556952}
        Ahead: {kind: datetime, start: "9990-07-01T12:00:00Z", step_seconds: 31556952}
        Beyond: {kind: datetime, start: "2020-01-01T00:00:00Z", step_seconds: 1000000000}
        Max: {kind: datetime, start: "2020-01-01T00:00:00Z", step_seconds: 9223372036854775807}
        Min: {kind: datetime, start: "2020-01-01T00:00:00Z", step_seconds: -9223372036854775808}
        Widget: {kind: reference, object: Widget__c}
        Self: {kind: reference, object: Gadget__c}
        Void: {kind: reference, object: Lone__c}
        CStr: {kind: constant, value: "say \"hi\", then\nleave"}
        CInt: {kind: constant, value: -7}
        CDbl: {kind: constant, value: 2.5}
        CBool: {kind: constant, value: false}
        CDate: {kind: constant, value: "1999-12-31"}
        COld: {kind: constant, value: "-050-06-30"}
        CDt: {kind: constant, value: "2000-02-29T12:00:00.5-05:30"}
        CId: {kind: constant, value: "001000000000001", type: id}
        CNull: {kind: constant, value: null, type: string}
"#;

    /// The first and last few thousand records and a spread across the rest.
    fn indices(len: usize) -> Vec<usize> {
        if len == 0 {
            return Vec::new();
        }
        let mut v: Vec<usize> = (0..len.min(3000)).collect();
        v.extend(len.saturating_sub(3000)..len);
        v.extend((0..20_000u64).map(|k| (mix(k) % len as u64) as usize));
        v
    }

    #[test]
    fn csv_cells_match_the_value_path() {
        let seed = crate::seed::parse(SEED).expect("seed");
        let ds = Dataset::build(&seed, "00D000000000001EAA", &[]).expect("dataset");
        for name in ds.names() {
            let obj = ds.get(&name).expect("object");
            for idx in indices(obj.len()) {
                let mut out = Vec::new();
                for f in 0..obj.fields.len() {
                    out.clear();
                    obj.write_csv_cell(idx, f, &mut out);
                    let want = obj.value(idx, f).csv_cell_reference();
                    assert_eq!(
                        String::from_utf8_lossy(&out),
                        want,
                        "{name} record {idx} field {}",
                        obj.fields[f].name
                    );
                }
                // A field past the schema is null, as in `value`.
                out.clear();
                obj.write_csv_cell(idx, obj.fields.len(), &mut out);
                assert_eq!(out, b"\"\"");
            }
        }
    }
}
