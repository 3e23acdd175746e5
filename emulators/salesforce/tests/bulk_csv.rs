//! Pins the exact bytes of Bulk API 2.0 CSV results for an object that uses every generator kind
//! and literal records with quotes, delimiters, line breaks and non-ASCII text, so that faster
//! ways of writing the CSV cannot change what clients receive. The digests were taken from the
//! original per-cell `Value::csv_text` implementation.

mod common;
use common::*;
use serde_json::{Value, json};
use sha2::Digest as _;

/// Every generator kind, edge cases included: widths up to the 30-digit cap, quotes and commas in
/// templates and picklists, ranges straddling zero, more decimals than the cap, pre-1970 and
/// negative-year dates, datetimes that leave the representable range, references to an object
/// without generated records, constants of each type, and fields that are only ever null.
const OBJECTS: &str = r#"
  Widget__c:
    key_prefix: a07
    generator:
      count: 7
  Nothing__c:
    key_prefix: a08
    records:
      - {Name: only literal}
  Gadget__c:
    key_prefix: a09
    fields: {Notes: string, Score: double, Seen: date, Touched: datetime, Flag: boolean, Qty: int}
    records:
      - {Id: a09000000000001AAA, Name: "Quote \" and, comma", Notes: "line\nbreak\r\nand CRLF", Score: -0.5, Seen: "1969-12-31", Touched: "1960-06-15T12:34:56.789+02:00", Flag: true, Qty: -42}
      - {Name: "Zürich ✓ 東京 🎉", Notes: "tab\there; semi; pipe | caret ^ back ` end", Score: 1e20, Seen: "-001-03-01", Touched: "0001-01-01T00:00:00Z", Flag: false, Qty: 0}
      - {Name: "\"\"", Notes: "", Score: 3.0, Seen: "9999-12-31", Touched: "9999-12-31T23:59:59.999Z"}
      - {IsDeleted: true, Name: deleted literal, Score: 0.1}
    generator:
      count: 3000
      deleted_every: 7
      fields:
        Name: {kind: text, template: "Gadget {n:07} \"q\", ok"}
        Plain: {kind: text, template: "{n}"}
        Colon: {kind: text, template: "x{n:3}y{n}z"}
        Wide: {kind: text, template: "{n:030}"}
        Lit: {kind: text, template: "no placeholder"}
        Pick: {kind: picklist, values: ["a\"b", "c,d", "line\nbreak", "Zürich ✓", "", "x"]}
        NoPick: {kind: picklist, values: []}
        Small: {kind: integer, min: -1000, max: 1000}
        Huge: {kind: integer, min: -9223372036854775808, max: 9223372036854775807}
        Fixed: {kind: integer, min: 5, max: 5}
        Money: {kind: number, min: 1000, max: 10000000, decimals: 2}
        Signed: {kind: number, min: -0.004, max: 0.004, decimals: 2}
        Whole: {kind: number, min: -100, max: 100, decimals: 0}
        Fine: {kind: number, min: -1, max: 1, decimals: 12}
        Big: {kind: number, min: 100000000000000, max: 100000000000000000, decimals: 3}
        Every3: {kind: boolean, every: 3}
        Never: {kind: boolean, every: 0}
        Coin: {kind: boolean}
        Day: {kind: date, start: "1960-02-29", step_days: 1}
        Back: {kind: date, start: "1970-01-05", step_days: -1}
        Leap: {kind: date, start: "1899-12-31", step_days: 97}
        Far: {kind: date, start: "2000-01-01", step_days: 1000000}
        Past: {kind: date, start: "0100-01-01", step_days: -1000000}
        NegYear: {kind: date, start: "-001-01-01", step_days: 0}
        At: {kind: datetime, start: "1969-12-31T23:59:00.001Z", step_seconds: 7}
        Before: {kind: datetime, start: "1970-01-01T00:00:00Z", step_seconds: -86399}
        Beyond: {kind: datetime, start: "2020-01-01T00:00:00Z", step_seconds: 1000000000}
        Max: {kind: datetime, start: "2020-01-01T00:00:00Z", step_seconds: 9223372036854775807}
        Widget: {kind: reference, object: Widget__c}
        Self: {kind: reference, object: Gadget__c}
        Void: {kind: reference, object: Nothing__c}
        CStr: {kind: constant, value: "say \"hi\", then\nleave"}
        CInt: {kind: constant, value: -7}
        CDbl: {kind: constant, value: 2.5}
        CBool: {kind: constant, value: false}
        CDate: {kind: constant, value: "1999-12-31"}
        CDt: {kind: constant, value: "2000-02-29T12:00:00.5-05:30"}
        CId: {kind: constant, value: "001000000000001", type: id}
        CNull: {kind: constant, value: null, type: string}
"#;

const FIELDS: &str = "Id, IsDeleted, Name, Plain, Colon, Wide, Lit, Pick, NoPick, Small, Huge, \
    Fixed, Money, Signed, Whole, Fine, Big, Every3, Never, Coin, Day, Back, Leap, Far, Past, \
    NegYear, At, Before, Beyond, Max, Widget, Self, Void, CStr, CInt, CDbl, CBool, CDate, CDt, \
    CId, CNull, Notes, Score, Seen, Touched, Flag, Qty";

/// Runs a Bulk query job and returns the concatenated bodies of all result pages.
async fn all_pages(emu: &Emu, t: &str, job: Value, page: usize) -> (String, usize) {
    let r = emu
        .http
        .post(emu.url("/services/data/v66.0/jobs/query"))
        .bearer_auth(t)
        .json(&job)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status().as_u16(), 200);
    let job: Value = r.json().await.expect("json");
    let id = job["id"].as_str().expect("id").to_string();
    let mut done = false;
    for _ in 0..200 {
        let (_, v) = emu
            .get_json(&format!("/services/data/v66.0/jobs/query/{id}"), t)
            .await;
        if v["state"] == "JobComplete" {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(done, "job {id} did not complete");
    let (mut body, mut rows, mut locator) = (String::new(), 0, String::new());
    loop {
        let mut url = format!("/services/data/v66.0/jobs/query/{id}/results?maxRecords={page}");
        if !locator.is_empty() {
            url.push_str(&format!("&locator={locator}"));
        }
        let r = emu.get(&url, t).await;
        assert_eq!(r.status().as_u16(), 200);
        rows += r.headers()["sforce-numberofrecords"]
            .to_str()
            .unwrap_or("")
            .parse::<usize>()
            .unwrap_or(0);
        let next = r.headers()["sforce-locator"]
            .to_str()
            .unwrap_or("")
            .to_string();
        body.push_str(&r.text().await.expect("csv"));
        if next == "null" {
            break;
        }
        locator = next;
    }
    (body, rows)
}

fn sha256(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn bulk_csv_bytes_are_pinned_for_every_generator_kind() {
    let emu = spawn(&(seed("production", "", "  bulk_job_delay_ms: 0") + OBJECTS));
    let t = emu.login().await;
    let soql = format!("SELECT {FIELDS} FROM Gadget__c");

    let (csv, rows) = all_pages(
        &emu,
        &t,
        json!({"operation": "queryAll", "query": soql}),
        700,
    )
    .await;
    assert_eq!(rows, 3004);
    let mut lines = csv.split('\n');
    assert_eq!(
        lines.next(),
        Some(
            "\"Id\",\"IsDeleted\",\"Name\",\"Plain\",\"Colon\",\"Wide\",\"Lit\",\"Pick\",\
             \"NoPick\",\"Small\",\"Huge\",\"Fixed\",\"Money\",\"Signed\",\"Whole\",\"Fine\",\
             \"Big\",\"Every3\",\"Never\",\"Coin\",\"Day\",\"Back\",\"Leap\",\"Far\",\"Past\",\
             \"NegYear\",\"At\",\"Before\",\"Beyond\",\"Max\",\"Widget\",\"Self\",\"Void\",\
             \"CStr\",\"CInt\",\"CDbl\",\"CBool\",\"CDate\",\"CDt\",\"CId\",\"CNull\",\"Notes\",\
             \"Score\",\"Seen\",\"Touched\",\"Flag\",\"Qty\""
        )
    );
    assert!(
        csv.contains(
            "\"a09000000000001AAA\",\"false\",\"Quote \"\" and, comma\",\"\",\"\",\"\",\"\",\"\""
        ),
        "{}",
        &csv[..2000.min(csv.len())]
    );
    assert!(csv.contains("\"line\nbreak\r\nand CRLF\",\"-0.5\",\"1969-12-31\","));
    assert!(csv.contains("\"Gadget 0000001 \"\"q\"\", ok\",\"1\",\"x001y1z\""));
    assert_eq!(
        sha256(&csv),
        "876571545da5deaecb83bf0ff778ad12737f924cfb9d2c200e2290a3774ce7e2",
        "queryAll, COMMA, LF: the CSV bytes changed"
    );

    let (csv, rows) = all_pages(
        &emu,
        &t,
        json!({"operation": "query", "query": format!("{soql} ORDER BY Id DESC"),
               "columnDelimiter": "PIPE", "lineEnding": "CRLF"}),
        1000,
    )
    .await;
    assert_eq!(rows, 3004 - 1 - 3000 / 7);
    assert!(csv.starts_with("\"Id\"|\"IsDeleted\"|\"Name\"|"));
    assert_eq!(
        sha256(&csv),
        "a44df179a3ba45c11054973a71cb5123ec17f3993bfc8cba6710f86f0299fc22",
        "query, ORDER BY Id DESC, PIPE, CRLF: the CSV bytes changed"
    );
}
