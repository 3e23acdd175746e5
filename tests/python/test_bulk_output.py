"""glue_scripts/sfglue_extract.py: Bulk API 2.0 CSV to JSON Lines, the csv formats written through,
Parquet parts read back with pyarrow, and the part writer's thread (no servers)."""

import csv
import gzip
import io
import json
import random
import re
import zlib

import botocore.exceptions
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from test_glue_script import FakeHttp, FakeS3, page, rec, sf_session, sx, token_ok

# Values that could fool a text-level JSON or CSV shortcut.
NASTY = ['":""', '"', '""', "\\", '\\"', '\\\\"', '},{"Id":', '},{', '","', '":', ':""', "a,b", "line\nbreak",
         "cr\r\nlf", "\r", "tab\t", "\x01\x1f", "é", "😀", "\u2028\u2029", "null", "{}", "[", "]", " ", "x" * 300]


def reference_line(header, row):
    """The JSON Lines record the conversion must give: text values, an empty value as null."""
    return {k: (v if v != "" else None) for k, v in zip(header, row)}


def bulk_csv(header, rows, line_ending="\n"):
    """CSV as Bulk API 2.0 writes it: every value quoted, LF line endings."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator=line_ending)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def random_rows(rng, width, count):
    pieces = NASTY + ["", "", "plain", "001000000000001AAA"]
    return [["".join(rng.choice(pieces) for _ in range(rng.randint(0, 3))) for _ in range(width)]
            for _ in range(count)]


def test_jsonl_of_rows_equals_a_per_value_encoding_for_nasty_values():
    rng = random.Random(6)
    header = ["Id", "Name", "Description", "Owner.Name"]
    rows = [[v, v, "", v] for v in NASTY] + [["", "", "", ""], ["", '":""', '":""', ""]] + random_rows(rng, 4, 3000)
    text = sx.jsonl_of_rows(header, rows)
    assert text.endswith("\n") and text.count("\n") == len(rows)
    lines = text.split("\n")[:-1]
    assert [json.loads(line) for line in lines] == [reference_line(header, row) for row in rows]
    # The same bytes as encoding each record alone (compact separators, non-ASCII kept).
    assert lines == [json.dumps(reference_line(header, row), ensure_ascii=False, separators=(",", ":"))
                     for row in rows]
    assert '"Id":null' in lines[-3001] and '"Name":"\\":\\"\\""' in lines[-3001]


def test_jsonl_of_rows_with_odd_names_and_ragged_rows():
    for first in ["", ",x", ":x", "}x", "]x", "%s", "100%", '"q"']:
        header = [first, "B"]
        rows = [['"}', ""], ["", '},{"' + first + '":'], ["v", "%s%%"]]
        lines = sx.jsonl_of_rows(header, rows).split("\n")[:-1]
        assert [json.loads(line) for line in lines] == [reference_line(header, row) for row in rows], first
    # Rows narrower or wider than the header (not Bulk API 2.0's output) go through dicts, as zip pairs them.
    ragged = sx.jsonl_of_rows(["Id", "B"], [["1"], ["2", "", "extra"], ["3", "x"]])
    assert ragged == '{"Id":"1"}\n{"Id":"2","B":null}\n{"Id":"3","B":"x"}\n'
    assert sx.jsonl_of_rows(["Id"], [[], ["1"], []]) == '{"Id":"1"}\n'
    assert sx.jsonl_of_rows(["Id"], []) == ""


def test_csv_chunks_turn_quoted_csv_with_line_breaks_into_json_lines():
    rng = random.Random(9)
    header = ["Id", "Name", "SystemModstamp"]
    rows = [[f"001{n:05d}", rng.choice(NASTY) + rng.choice(NASTY), f"2025-01-01T00:00:{n % 60:02d}.000+0000"]
            for n in range(1200)]
    rows[5][2] = ""
    spool = io.BytesIO(bulk_csv(header, rows))
    chunks = list(sx.csv_chunks(spool, "systemmodstamp", False, 20_000))
    assert len(chunks) > 3 and sum(c[2] for c in chunks) == 1200
    records = [json.loads(line) for c in chunks for line in c[1].split("\n")[:-1]]
    assert records == [reference_line(header, row) for row in rows]
    values = [v for c in chunks for v in c[3]]
    assert values == [row[2] or None for row in rows] and values[5] is None
    as_records = list(sx.csv_chunks(io.BytesIO(bulk_csv(header, rows)), None, True, 30_000))
    assert [r for c in as_records for r in c[0]] == records and as_records[0][3] is None


def test_quoted_rows_split_plain_bulk_csv_and_leave_the_rest_to_the_csv_module():
    rng = random.Random(3)
    plain = [[f"001{n:05d}", rng.choice(["", "Acme, Inc.", "é😀", "a\rb", "\\", "x" * 50]), ""] for n in range(300)]
    text = bulk_csv(["Id", "Name", "Other"], plain).decode().split("\n", 1)[1]
    assert list(sx.quoted_rows(text, 3)) == plain == list(csv.reader(io.StringIO(text, newline="")))
    assert list(sx.quoted_rows("", 3)) == []
    # A record the fast split refuses still converts (csv.reader, then dicts for a ragged row).
    ragged = list(sx.csv_chunks(io.BytesIO(b'"A","B"\n","\n"x","y"\n'), None, False))
    assert "".join(c[1] for c in ragged) == '{"A":","}\n{"A":"x","B":"y"}\n'
    # Values that need no JSON escaping go into the template as they are; the result is the same.
    header = ["Id", "Name", "Other"]
    simple = [[f"001{n:05d}", rng.choice(["", "Acme, Inc.", "é😀 \u2028", "100%", "%s", "x" * 50]), ""]
              for n in range(300)]
    assert sx.jsonl_of_rows(header, simple, plain=True) == sx.jsonl_of_rows(header, simple)
    for rows in (simple, plain):  # plain holds a backslash and a CR: escaped
        chunks = list(sx.csv_chunks(io.BytesIO(bulk_csv(header, rows)), None, False))
        lines = "".join(c[1] for c in chunks).split("\n")[:-1]
        assert [json.loads(line) for line in lines] == [reference_line(header, row) for row in rows]
    not_plain = {
        "escaped quote": '"a","say ""hi""","c"\n',
        "quoted line break": '"a","two\nlines","c"\n',
        "unquoted value": '"a",b,"c"\n',
        "blank line": '"a","b","c"\n\n"d","e","f"\n',
        "too few values": '"a","b"\n',
        "too many values": '"a","b","c","d"\n',
        "separator inside a value": '"a",""",""","c"\n',
        "only quotes and line breaks": '"\n""""\n"\n',
        "a lone quote": '"\n',
        "a separator that is the line": '","\n',
        "quote next to a separator": '"a"",","c"\n',
    }
    for name, text in not_plain.items():
        width = {"only quotes and line breaks": 1, "a lone quote": 1, "a separator that is the line": 2}.get(name, 3)
        assert sx.quoted_rows(text, width) is None, name


def plain_reference(header, text, index):
    """What PlainJsonLines.convert must give, by csv.reader and json.dumps one record at a time."""
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    lines = "".join(json.dumps(reference_line(header, r), ensure_ascii=False, separators=(",", ":")) + "\n"
                    for r in rows)
    return lines, ([r[index] or None for r in rows] if index is not None else None)


def test_plain_json_lines_equal_csv_reader_and_json_dumps():
    rng = random.Random(11)
    # (A value that starts or ends with a comma can look like a separator; such text may be refused
    # and parsed the slow way, see the next test.)
    safe = ["", "", "Acme, Inc.", "é😀 \u2028", "100%", "%s", "x" * 40, "a,b", ":", "}{", "null", "\x7f"]
    for width in (1, 2, 3, 7):
        header = [f"F{k}" for k in range(width)]
        header[0] = 'Id "odd", name'
        for count in (1, 2, 5, 300):
            rows = [[rng.choice(safe) for _ in range(width)] for _ in range(count)]
            text = bulk_csv(header, rows).decode().split("\n", 1)[1]
            for index in [None, *range(width)]:
                got = sx.PlainJsonLines(header).convert(text, count, index)
                assert got == plain_reference(header, text, index), (width, count, index)


def test_plain_json_lines_refuse_every_other_shape():
    rng = random.Random(12)
    for width in (1, 2, 3):
        header = [f"F{k}" for k in range(width)]
        for _ in range(20_000):
            # Short texts built from the characters that matter to the shape.
            text = "".join(rng.choice(['"', '","', '"\n"', "\n", ",", "a", '""', ",a", "a,"])
                           for _ in range(rng.randint(1, 9)))
            if not text.endswith("\n"):
                text += rng.choice(["\n", '"\n'])
            count = text.count("\n")
            rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
            got = sx.PlainJsonLines(header).convert(text, count, 0)
            if got is not None:
                # Accepted: then it is exactly what csv.reader gives, every record w wide.
                assert len(rows) == count and all(len(r) == width for r in rows), repr(text)
                assert got == plain_reference(header, text, 0), repr(text)
    for name, text in {
        "escaped quote": '"a","say ""hi""","c"\n',
        "quoted line break": '"a","two\nlines","c"\n',
        "unquoted value": '"a",b,"c"\n',
        "blank line": '"a","b","c"\n\n"d","e","f"\n',
        "too few values": '"a","b"\n"c","d","e"\n',
        "too many, then too few": '"a","b","c","d"\n"e","f"\n',
        "separator inside a value": '"a",""",""","c"\n',
        "quote next to a separator": '"a"",","c"\n',
    }.items():
        assert sx.PlainJsonLines(["A", "B", "C"]).convert(text, text.count("\n"), None) is None, name


def test_result_pages_whose_lines_are_records_are_cut_at_line_breaks():
    rows = [[f"001{n:05d}", f"Account {n}", ""] for n in range(500)]
    body = bulk_csv(["Id", "Name", "Other"], rows)
    page = result_page(body)
    assert page.lines_are_records and page.announced == 500 and not page.cuts
    fast = list(sx.csv_blocks(page, "Name", 1000))  # no cuts (a small page): one block
    exact = list(sx.csv_blocks(io.BytesIO(body), "Name", 1000))
    assert len(fast) == 1 and len(exact) > 5
    assert fast[0][1] == b"".join(b[1] for b in exact) and fast[0][2] == 500
    assert fast[0][3] == [v for b in exact for v in b[3]]
    # A value's line break, a blank line, or no count from Salesforce: the quotes are followed.
    broken = bulk_csv(["Id", "Name"], [["1", "two\nlines"], ["2", "x"]])
    assert not result_page(broken).lines_are_records
    assert not result_page(b'"Id"\n"1"\n\n"2"\n').lines_are_records
    assert not result_page(body, announced=None).lines_are_records
    assert not result_page(b'"Id"\n"1"\n"2"').lines_are_records, "no last line break: cut off, follow the quotes"
    blocks = list(sx.csv_blocks(result_page(b'"Id"\n"1"\n"2"'), None))
    assert b"".join(b[1] for b in blocks) == b'"1"\n"2"\n' and sum(b[2] for b in blocks) == 2
    assert result_page(b'"Id"\n').lines_are_records


class SpoolResponse:
    """An opened result page for Salesforce._bulk_spool: the body in chunks of random sizes."""

    def __init__(self, body, announced, rng):
        self.body, self.rng = body, rng
        self.headers = {} if announced is None else {"Sforce-NumberOfRecords": str(announced)}

    def iter_content(self, chunk_size):
        position = 0
        while position < len(self.body):
            step = self.rng.randint(1, 700)
            yield self.body[position:position + step]
            position += step

    def close(self):
        pass


def test_pages_spooled_with_cuts_give_the_same_blocks_as_following_the_quotes(key):
    rng = random.Random(8)
    sf = sf_session(key, FakeHttp([], []))
    for count, tail in ((400, b""), (400, b"no line break at the end"), (0, b""), (3, b"")):
        rows = [[f"001{n:05d}", f"Account {n}", "" if n % 3 else "x" * rng.randint(0, 90)] for n in range(count)]
        body = bulk_csv(["Id", "Name", "SystemModstamp"], rows)
        if tail:
            body += b'"' + tail + b'","y",""'
            count += 1
        page = sf._bulk_spool(SpoolResponse(body, count, rng), "u", {}, None)
        # A page without its last line break is read by following the quotes (it may be cut off).
        assert page.lines_are_records == (not tail) and (len(page.cuts) > 3 or count < 10), count
        fast = list(sx.csv_blocks(page, "Name"))
        page.close()
        exact = list(sx.csv_blocks(io.BytesIO(body), "Name", 0))
        assert [b[1] for b in fast] and b"".join(b[1] for b in fast) == b"".join(b[1] for b in exact)
        assert sum(b[2] for b in fast) == count
        assert [v for b in fast for v in (b[3] or [])] == [v for b in exact for v in (b[3] or [])]
        assert all(b[1].endswith(b"\n") for b in fast if b[1])


def test_spooled_pages_of_random_data_convert_exactly_whichever_path_they_take(key):
    """Random pages (plain, hostile, with and without Salesforce's count) through _bulk_spool and
    csv_chunks / csv_blocks, against csv.reader and json.dumps."""
    rng = random.Random(21)
    sf = sf_session(key, FakeHttp([], []))
    header = ["Id", "Name", "Description", "SystemModstamp"]
    paths = set()
    for round_ in range(60):
        count = rng.randint(0, 120)
        hostile = round_ % 3 == 0
        rows = [[f"001{n:05d}", (rng.choice(NASTY) if hostile and rng.random() < 0.2 else f"Account {n}"),
                 rng.choice(["", "x", "a,b", "é😀"]), f"2025-01-01T00:00:{n % 60:02d}.000Z"] for n in range(count)]
        body = bulk_csv(header, rows)
        announced = count if round_ % 4 else None
        page = sf._bulk_spool(SpoolResponse(body, announced, rng), "u", {}, None)
        paths.add(page.lines_are_records)
        field = rng.choice([None, "SystemModstamp", "Id", "Description"])
        chunks = list(sx.csv_chunks(page, field, False))
        page.close()
        lines = "".join(c[1] for c in chunks).split("\n")[:-1]
        assert [json.loads(line) for line in lines] == [reference_line(header, row) for row in rows], round_
        assert sum(c[2] for c in chunks) == len(rows)
        if field:
            column = header.index(field)
            assert [v for c in chunks for v in c[3]] == [row[column] or None for row in rows], round_
    assert paths == {True, False}, "both the cut and the quote-following path ran"


def test_prefetch_closes_the_pages_nobody_took_when_the_consumer_stops():
    import threading
    import time

    class Page:
        def __init__(self, n):
            self.n, self.closed = n, False

        def close(self):
            self.closed = True

    made, source_closed = [], threading.Event()

    def pages():
        try:
            for n in range(10):
                made.append(Page(n))
                yield made[-1]
        finally:
            source_closed.set()

    taken = sx.prefetch(pages(), depth=2)
    first = next(taken)
    deadline = time.monotonic() + 5
    while len(made) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # the thread runs ahead: pages 1 and 2 wait in the queue
    taken.close()  # the consumer stops early
    assert source_closed.wait(5), "the page iterator was closed"
    deadline = time.monotonic() + 5
    while not all(p.closed for p in made[1:]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(made) in (3, 4) and all(p.closed for p in made[1:]), [(p.n, p.closed) for p in made]
    assert not first.closed, "the page the consumer holds is its own to close"


def test_needs_no_json_escape_finds_backslashes_and_control_characters():
    assert sx.needs_no_json_escape('"é😀 \u2028 100%","x"\n"y",""\n'.encode())
    for bad in ["a\\b", "a\rb", "a\tb", "\x00", "\x1f", "\x1b[0m"]:
        assert not sx.needs_no_json_escape(f'"{bad}"\n'.encode()), repr(bad)
    assert sx.needs_no_json_escape(b"\x7f"), "DEL is no JSON escape"


def test_csv_record_end_skips_line_breaks_inside_quotes():
    assert sx.csv_record_end(b'"a","b"\n"c","d"\n"e"') == (16, 2)
    assert sx.csv_record_end(b'"a","multi\nline"\n"c","half\n') == (17, 1)
    assert sx.csv_record_end(b'"a ""quoted""\nstill",""\n') == (24, 1)
    assert sx.csv_record_end(b'"no line break yet') == (0, 0)
    assert sx.csv_record_end(b"") == (0, 0)
    assert sx.csv_record_end(b'"a"\n\n"b"\n') == (9, 2), "a blank line is no record"
    assert sx.csv_record_end(b'"a\n\nb"\n\n"c\n"\n') == (13, 2)


@pytest.mark.parametrize("block_size", [1, 7, 64, 4096, 1 << 22])
def test_csv_blocks_pass_the_page_through_cut_at_whole_records(block_size):
    rng = random.Random(block_size)
    header = ["Id", "Description", "SystemModstamp"]
    rows = [[f"001{n:05d}", rng.choice(NASTY), f"2025-02-01T00:00:{n % 60:02d}.000+0000"] for n in range(400)]
    body = bulk_csv(header, rows)
    blocks = list(sx.csv_blocks(io.BytesIO(body), "SystemModstamp", block_size))
    assert all(b[0] == b'"Id","Description","SystemModstamp"\n' for b in blocks)
    assert b"".join(b[1] for b in blocks) == body[len(blocks[0][0]):], "the bytes pass through unchanged"
    assert sum(b[2] for b in blocks) == 400
    for _header, data, count, _values in blocks:
        assert len(list(csv.reader(io.StringIO(data.decode(), newline="")))) == count, "whole records only"
    assert [v for b in blocks for v in b[3]] == [row[2] for row in rows]
    without = list(sx.csv_blocks(io.BytesIO(body), None, block_size))
    assert all(b[3] is None for b in without) and sum(b[2] for b in without) == 400


def test_csv_blocks_edge_cases():
    assert list(sx.csv_blocks(io.BytesIO(b""), None)) == []
    assert list(sx.csv_blocks(io.BytesIO(b'"Id","Name"\n'), "Id")) == [(b'"Id","Name"\n', b"", 0, None)]
    # A last record without its line break gets one.
    assert list(sx.csv_blocks(io.BytesIO(b'"Id"\n"1"\n"2"'), None, 3)) == [
        (b'"Id"\n', b'"1"\n', 1, None), (b'"Id"\n', b'"2"\n', 1, None)]
    with pytest.raises(sx.JobError, match="ends inside a quoted value"):
        list(sx.csv_blocks(io.BytesIO(b'"Id"\n"1\n'), None))


# -- run_query over a scripted Bulk API 2.0 job ----------------------------------------


class FakeBulk:
    """The Salesforce object's Bulk 2.0 side: each page a spooled CSV file."""

    def __init__(self, pages):
        self.pages = pages
        self.logins = 1

    def bulk_pages(self, soql, counter=None, max_records=0, timeout=0, poll_max=0):
        for body in self.pages:
            yield result_page(body)


def result_page(body, announced=True):
    """A page as bulk_pages gives it; `announced`: Salesforce's own count (True), another, or None."""
    if announced is True:
        announced = max(0, len([r for r in csv.reader(io.StringIO(body.decode(), newline="")) if r]) - 1)
    return sx.ResultPage(io.BytesIO(body), announced, body.count(b"\n"), body.endswith(b"\n"))


def bulk_rows(start, count):
    return [[f"001{n:06d}AAA", f"Account {n}" + ("\nsecond line" if n % 7 == 0 else ""),
             "" if n % 5 == 0 else f'say "{n}"', f"2025-03-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000+0000"]
            for n in range(start, start + count)]


HEADER = ["Id", "Name", "Description", "SystemModstamp"]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of a few records, so that small test pages fill several parts."""
    monkeypatch.setattr(sx, "CSV_BLOCK_BYTES", 2048)


def run_bulk(pages, fmt, max_part_bytes=4_000, watermark="SystemModstamp", s3=None):
    s3 = s3 or FakeS3()
    query = {"name": "acc", "soql": "SELECT Id, Name, Description, SystemModstamp FROM Account", "api": "bulk",
             "format": fmt}
    if watermark:
        query["watermark"] = watermark
    result = sx.run_query(FakeBulk(pages), s3, "bkt", "out/", "jr_b", query, max_part_bytes)
    parts = sorted(k for _b, k in s3.objects if "/part-" in k)
    return result, s3, parts


@pytest.mark.parametrize("fmt", ["csv.gz", "csv"])
def test_bulk_csv_formats_write_the_csv_through_with_one_header_per_part(fmt):
    pages = [bulk_csv(HEADER, bulk_rows(0, 700)), bulk_csv(HEADER, bulk_rows(700, 500))]
    result, s3, parts = run_bulk(pages, fmt)
    assert result["status"] == "succeeded" and result["records"] == 1200 and result["pages"] == 2
    assert len(parts) == result["parts"] > 2 and all(k.endswith("." + fmt) for k in parts)
    rows = []
    for key in parts:
        body = s3.objects[("bkt", key)]
        text = (gzip.decompress(body) if fmt == "csv.gz" else body).decode()
        part = list(csv.reader(io.StringIO(text, newline="")))
        assert part[0] == HEADER, key
        rows += part[1:]
    assert rows == bulk_rows(0, 1200)
    assert result["bytes"] == sum(len(s3.objects[("bkt", k)]) for k in parts)
    assert result["watermark_after"] == "2025-03-01T00:19:59.000Z"
    manifest = json.loads(s3.objects[("bkt", "out/acc/run=jr_b/_manifest.json")])
    assert manifest["records"] == 1200 and manifest["parts"] == parts and manifest["format"] == fmt


@pytest.mark.parametrize("fmt", ["csv.gz", "jsonl.gz"])
def test_a_page_with_fewer_records_than_salesforce_announced_fails_the_query(fmt):
    class ShortPage(FakeBulk):
        def bulk_pages(self, soql, counter=None, max_records=0, timeout=0, poll_max=0):
            body = bulk_csv(HEADER, bulk_rows(0, 50))
            cut = body.rindex(b'\n"', 0, len(body) - 1) + 1  # the last record lost on the way
            yield sx.ResultPage(io.BytesIO(body[:cut]), 50, body[:cut].count(b"\n"), True)

    s3 = FakeS3()
    query = {"name": "acc", "soql": "SELECT Id FROM Account", "api": "bulk", "format": fmt,
             "watermark": "SystemModstamp"}
    with pytest.raises(sx.JobError, match="page 1 held 49 records where Salesforce announced 50") as failed:
        sx.run_query(ShortPage([]), s3, "bkt", "out/", "jr_s", query, 4_000)
    assert failed.value.result["status"] == "failed"
    assert not any(k.endswith("_watermark.json") for _b, k in s3.objects), "the mark did not move"


def test_bulk_csv_gz_of_an_empty_result_is_one_part_with_the_header():
    result, s3, parts = run_bulk([bulk_csv(HEADER, [])], "csv.gz", watermark=None)
    assert (result["records"], parts) == (0, ["out/acc/run=jr_b/part-00000.csv.gz"])
    assert gzip.decompress(s3.objects[("bkt", parts[0])]) == b'"Id","Name","Description","SystemModstamp"\n'


def test_bulk_pages_with_different_columns_fail_the_query():
    pages = [bulk_csv(HEADER, bulk_rows(0, 3)), bulk_csv(HEADER[:2], [r[:2] for r in bulk_rows(3, 3)])]
    with pytest.raises(sx.JobError, match="do not have the same columns"):
        run_bulk(pages, "csv.gz")


def test_bulk_jsonl_gz_parts_hold_the_records_with_nulls():
    pages = [bulk_csv(HEADER, bulk_rows(0, 900)), bulk_csv(HEADER, bulk_rows(900, 100))]
    result, s3, parts = run_bulk(pages, "jsonl.gz")
    assert result["records"] == 1000 and len(parts) > 1
    records = [json.loads(line) for k in parts for line in gzip.decompress(s3.objects[("bkt", k)]).splitlines()]
    assert records == [reference_line(HEADER, row) for row in bulk_rows(0, 1000)]
    assert records[0]["Description"] is None and records[1]["Description"] == 'say "1"'


def test_gzip_member_from_chunks_compressed_side_by_side_is_one_ordinary_gzip_file():
    import shutil
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(5)
    words = [b"Account", b"001000000000001AAA", b'"', b",", b"\n", bytes(range(256)), b"x" * 70_000]
    data = b"".join(rng.choice(words) for _ in range(4000))
    cuts = sorted(rng.sample(range(1, len(data)), 40))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for threads in (pool, None):
            member = sx.GzipMember(1, threads)
            body = b"".join(member.compress(c) for c in [b"", *chunks, b""]) + member.finish()
            inflate = zlib.decompressobj(31)
            assert inflate.decompress(body) == data and inflate.eof and inflate.unused_data == b"", threads
            assert gzip.decompress(body) == data
            if shutil.which("gzip"):
                assert subprocess.run(["gzip", "-dc"], input=body, capture_output=True, check=True).stdout == data
            # The window carried over: repeated data across a cut compresses as well as in one stream.
            assert len(body) < len(zlib.compress(data, 1)) * 1.05
        empty = sx.GzipMember(1, pool)
        assert gzip.decompress(empty.finish()) == b""


# -- Parquet, read back with pyarrow -----------------------------------------------------


def read_parquet(body):
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(body)).to_pylist()


def test_bulk_parquet_parts_read_back_with_pyarrow():
    pages = [bulk_csv(HEADER, bulk_rows(0, 300)), bulk_csv(HEADER, bulk_rows(300, 200))]
    result, s3, parts = run_bulk(pages, "parquet", max_part_bytes=20_000)
    assert result["records"] == 500 and len(parts) == result["parts"] > 1
    assert all(k.endswith(".parquet") and s3.objects[("bkt", k)][:4] == b"PAR1" for k in parts)
    records = [r for k in parts for r in read_parquet(s3.objects[("bkt", k)])]
    assert records == [reference_line(HEADER, row) for row in bulk_rows(0, 500)]
    assert result["watermark_after"] == "2025-03-01T00:08:19.000Z"


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rest_parquet_keeps_json_types_and_nested_records(key):
    def typed(n):
        record = rec(n)
        record.update(NumberOfEmployees=n * 10, IsPartner=n % 2 == 0, AnnualRevenue=n + 0.5)
        return record

    pages = [page([typed(i) for i in range(0, 5)], "/n/2"), page([typed(i) for i in range(5, 9)])]
    s3 = FakeS3()
    result = sx.run_query(sf_session(key, FakeHttp([token_ok()], pages)), s3, "bkt", "out/", "jr_p",
                          {"name": "a", "soql": "SELECT Id, Name, Owner.Name, NumberOfEmployees, IsPartner, "
                                                "AnnualRevenue FROM Account", "format": "parquet"}, 10_000)
    parts = sorted(k for _b, k in s3.objects if "/part-" in k)
    assert result["records"] == 9 and parts == ["out/a/run=jr_p/part-00000.parquet"]
    records = read_parquet(s3.objects[("bkt", parts[0])])
    assert records[3] == {"Id": "0013", "Name": "A3", "Owner": {"Name": "O"}, "NumberOfEmployees": 30,
                          "IsPartner": False, "AnnualRevenue": 3.5}
    assert [r["Id"] for r in records] == [f"001{i}" for i in range(9)]


# -- Parquet: one schema for every part of a query run ----------------------------------


def parquet_tables(s3, parts):
    """Every part read back, after checking that all parts have one schema."""
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(io.BytesIO(s3.objects[("bkt", k)])) for k in parts]
    assert all(s.equals(schemas[0], check_metadata=True) for s in schemas), [str(s) for s in schemas]
    return [pq.read_table(io.BytesIO(s3.objects[("bkt", k)])) for k in parts], schemas[0]


def sparse_bulk_rows(count, empty_before):
    """Description empty (null) in every row before `empty_before`: a sparse field."""
    return [[f"001{n:06d}AAA", f"Account {n}", "" if n < empty_before else f"about {n}",
             f"2025-03-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000+0000"] for n in range(count)]


def test_bulk_parquet_parts_share_one_all_text_schema_when_a_field_is_empty_in_the_first_part():
    import pyarrow as pa

    rows = sparse_bulk_rows(400, 150)
    pages = [bulk_csv(HEADER, rows[i:i + 50]) for i in range(0, 400, 50)]  # a part per page
    result, s3, parts = run_bulk(pages, "parquet", max_part_bytes=1_000)
    assert result["records"] == 400 and len(parts) == result["parts"] > 3
    tables, schema = parquet_tables(s3, parts)
    assert tables[0].column("Description").null_count == tables[0].num_rows, "the first part has no Description"
    assert [(f.name, f.type) for f in schema] == [(h, pa.string()) for h in HEADER]
    _result, jsonl_s3, jsonl_parts = run_bulk(pages, "jsonl.gz", max_part_bytes=1_000)
    as_jsonl = [json.loads(line) for k in jsonl_parts for line in gzip.decompress(jsonl_s3.objects[("bkt", k)])
                .splitlines()]
    assert pa.concat_tables(tables).to_pylist() == as_jsonl == [reference_line(HEADER, r) for r in rows]


def test_bulk_parquet_of_a_header_only_result_has_the_header_as_its_schema():
    import pyarrow as pa
    import pyarrow.parquet as pq

    result, s3, parts = run_bulk([bulk_csv(HEADER, [])], "parquet", watermark=None)
    assert (result["records"], parts) == (0, ["out/acc/run=jr_b/part-00000.parquet"])
    table = pq.read_table(io.BytesIO(s3.objects[("bkt", parts[0])]))
    assert table.num_rows == 0 and [(f.name, f.type) for f in table.schema] == [(h, pa.string()) for h in HEADER]


def test_bulk_parquet_pages_with_different_columns_fail_the_query():
    pages = [bulk_csv(HEADER, bulk_rows(0, 3)), bulk_csv(HEADER[:2], [r[:2] for r in bulk_rows(3, 3)])]
    with pytest.raises(sx.JobError, match="do not have the same columns"):
        run_bulk(pages, "parquet", watermark=None)


def sparse_record(n):
    """A REST record: Description, Amount and Parent null in the first four, then set; Amount and
    AnnualRevenue mix JSON integers and fractions."""
    record = rec(n)
    record.update(Description=None if n < 4 else f"about {n}",
                  Amount=None if n < 4 else (n * 100 if n % 2 else n + 0.25),
                  NumberOfEmployees=n * 10, AnnualRevenue=n * 1000 if n < 6 else n + 0.5, IsPartner=n % 3 == 0,
                  Parent=None if n < 4 else {"attributes": {"type": "Account"}, "Name": f"P{n}"})
    return record


SPARSE_SOQL = ("SELECT Id, Name, Owner.Name, Description, Amount, NumberOfEmployees, AnnualRevenue, IsPartner, "
               "Parent.Name FROM Account")


def run_rest(key, records, fmt, max_part_bytes, page_size=2, soql=SPARSE_SOQL):
    """run_query over REST pages of `page_size` records (fresh copies: the writer changes them)."""
    chunks = [records[i:i + page_size] for i in range(0, len(records), page_size)] or [[]]
    pages = [page(json.loads(json.dumps(chunk)), f"/n/{i + 1}" if i + 1 < len(chunks) else None)
             for i, chunk in enumerate(chunks)]
    s3 = FakeS3()
    result = sx.run_query(sf_session(key, FakeHttp([token_ok()], pages)), s3, "bkt", "out/", "jr_r",
                          {"name": "a", "soql": soql, "format": fmt}, max_part_bytes)
    return result, s3, sorted(k for _b, k in s3.objects if "/part-" in k)


def test_rest_parquet_parts_share_the_schema_the_first_part_fixed(key):
    import pyarrow as pa

    records = [sparse_record(n) for n in range(11)]
    records[9]["NumberOfEmployees"] = 10 ** 17 + 1  # beyond 2**53: rounded to the nearest double
    result, s3, parts = run_rest(key, records, "parquet", 300)
    assert result["records"] == 11 and result["pages"] == 6 and len(parts) == result["parts"] > 3
    tables, schema = parquet_tables(s3, parts)
    assert tables[0].num_rows < 4, "the first part holds only records without Description, Amount, Parent"
    assert {f.name: f.type for f in schema} == {
        "Id": pa.string(), "Name": pa.string(), "Owner": pa.struct([("Name", pa.string())]),
        "Description": pa.string(), "Amount": pa.string(), "NumberOfEmployees": pa.float64(),
        "AnnualRevenue": pa.float64(), "IsPartner": pa.bool_(), "Parent": pa.string()}
    assert schema.names == ["Id", "Name", "Owner", "Description", "Amount", "NumberOfEmployees", "AnnualRevenue",
                            "IsPartner", "Parent"]
    _result, jsonl_s3, jsonl_parts = run_rest(key, records, "jsonl", 300)
    as_jsonl = [json.loads(line) for k in jsonl_parts for line in jsonl_s3.objects[("bkt", k)].splitlines()]
    # Null in every row of the first part: a string column, later values that are no string as JSON text.
    # JSON numbers as doubles.
    expected = [{**r, "Amount": None if r["Amount"] is None else json.dumps(r["Amount"]),
                 "Parent": None if r["Parent"] is None else json.dumps(r["Parent"], separators=(",", ":")),
                 "NumberOfEmployees": float(r["NumberOfEmployees"]), "AnnualRevenue": float(r["AnnualRevenue"])}
                for r in as_jsonl]
    got = pa.concat_tables(tables).to_pylist()
    assert got == expected and got[9]["NumberOfEmployees"] == 1e17
    assert got[5]["Amount"] == "500" and got[4]["Amount"] == "4.25" and got[4]["Parent"] == '{"Name":"P4"}'
    assert got[3]["AnnualRevenue"] == 3000.0 and got[7]["AnnualRevenue"] == 7.5
    assert all(type(r["NumberOfEmployees"]) is float for r in got)


def test_rest_parquet_columns_missing_in_a_later_part_are_null(key):
    import pyarrow as pa

    records = [sparse_record(n) for n in range(6)]
    for record in records[3:]:
        del record["IsPartner"]
    _result, s3, parts = run_rest(key, records, "parquet", 300)
    tables, schema = parquet_tables(s3, parts)
    assert schema.field("IsPartner").type == pa.bool_()
    assert [r["IsPartner"] for r in pa.concat_tables(tables).to_pylist()] == [True, False, False, None, None, None]


@pytest.mark.parametrize("change, column", [
    ({"IsPartner": "yes"}, "IsPartner"),
    ({"NumberOfEmployees": True}, "NumberOfEmployees"),
    ({"NumberOfEmployees": "12"}, "NumberOfEmployees"),
    ({"Owner": "O"}, "Owner"),
    ({"Owner": {"Name": "O", "Email": "o@example.com"}}, "Owner.Email"),
    ({"Extra": 1}, "Extra"),
])
def test_a_later_rest_value_that_does_not_fit_the_parquet_schema_fails_the_query_naming_the_column(
        key, change, column):
    records = [sparse_record(n) for n in range(8)]
    records[6].update(change)
    with pytest.raises(sx.JobError) as failed:
        run_rest(key, records, "parquet", 300)
    message = str(failed.value)
    assert message.startswith(f"query a failed: parquet column {column} in part ") and "first part" in message
    assert "Traceback" not in message and "\n" not in message
    assert failed.value.result["status"] == "failed"


def test_a_parquet_schema_failure_is_one_sfglue_error_line(key, monkeypatch, capsys):
    records = [sparse_record(n) for n in range(8)]
    records[7]["IsPartner"] = 1

    def fake_run(argv):
        run_rest(key, records, "parquet", 300)

    monkeypatch.setattr(sx, "run", fake_run)
    assert sx.main(["script.py"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sfglue error: query a failed: parquet column IsPartner in part ")


# -- the part writer's thread ------------------------------------------------------------


class RefusingS3(FakeS3):
    def __init__(self, refuse_after):
        super().__init__()
        self.refuse_after = refuse_after

    def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803 - boto3's names
        if "/part-" in Key and self.refuse_after == 0:
            raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
        self.refuse_after -= "/part-" in Key
        super().put_object(Bucket, Key, Body, ContentType)


@pytest.mark.parametrize("fmt", ["jsonl.gz", "csv.gz"])
def test_an_upload_error_in_the_writer_thread_fails_the_query_and_moves_no_mark(fmt):
    pages = [bulk_csv(HEADER, bulk_rows(0, 2000))]
    s3 = RefusingS3(refuse_after=1)
    with pytest.raises(sx.JobError, match="query acc failed: AWS PutObject failed: AccessDenied: no") as err:
        run_bulk(pages, fmt, max_part_bytes=5_000, s3=s3)
    assert err.value.result["status"] == "failed"
    keys = [k for _b, k in s3.objects]
    assert len([k for k in keys if "/part-" in k]) == 1
    assert not any(k.endswith("_manifest.json") or k.endswith("_watermark.json") for k in keys)


def test_the_part_writer_stops_its_thread_after_a_failure_upstream():
    writer = sx.PartWriter(FakeS3(), "bkt", "out/x/", 1 << 20, "jsonl.gz")
    writer.add_lines('{"a":1}\n', 1)
    writer.abort()
    assert not writer._thread.is_alive()
    parquet = sx.PartWriter(FakeS3(), "bkt", "out/y/", 1 << 20, "parquet")
    assert parquet._thread is None
    parquet.abort()


# -- Bulk API 2.0 result pages: pipelined, a broken page asked for again ----------------------


class PageResponse:
    def __init__(self, status, body, headers=None, break_after=None):
        self.status_code = status
        self.headers = headers or {}
        self._body = body
        self.break_after = break_after
        self.closed = False

    def json(self):
        return self._body

    @property
    def content(self):
        return self._body if isinstance(self._body, bytes) else json.dumps(self._body).encode()

    def iter_content(self, chunk_size):
        import requests

        assert not self.closed, "read after close"
        data = self._body
        for start in range(0, len(data), 4):
            if self.break_after is not None and start >= self.break_after:
                raise requests.exceptions.ChunkedEncodingError("connection broken")
            yield data[start:start + 4]

    def close(self):
        self.closed = True


class BulkHttp:
    """Answers a Bulk API 2.0 query job by URL: three result pages, the second breaks off once."""

    PAGES = {None: (b'"Id"\n"1"\n"2"\n', "MjA"), "MjA": (b'"Id"\n"3"\n"4"\n', "NDA"), "NDA": (b'"Id"\n"5"\n', "null")}

    def __init__(self, breaks=1):
        import threading

        self.headers = {}
        self.calls = []
        self.breaks = breaks
        self.lock = threading.Lock()

    def post(self, url, data=None, headers=None, timeout=None):
        return token_ok()

    def request(self, method, url, params=None, json=None, headers=None, timeout=None, stream=False):
        with self.lock:
            self.calls.append((method, url.rsplit("/", 1)[-1], dict(params or {})))
            if method == "POST":
                return PageResponse(200, {"id": "750000000000001"})
            if method == "DELETE":
                return PageResponse(204, None)
            if not url.endswith("/results"):
                return PageResponse(200, {"state": "JobComplete"})
            body, locator = self.PAGES[(params or {}).get("locator")]
            broken = None
            if (params or {}).get("locator") == "MjA" and self.breaks:
                self.breaks -= 1
                broken = 6
            return PageResponse(200, body, {"Sforce-Locator": locator}, break_after=broken)


def test_bulk_result_pages_are_pipelined_and_a_broken_page_is_asked_for_again(key):
    http = BulkHttp(breaks=1)
    sf = sf_session(key, http)
    spools = list(sf.bulk_pages("SELECT Id FROM Account", max_records=2))
    assert [s.read() for s in spools] == [body for body, _locator in BulkHttp.PAGES.values()]
    results = [c for c in http.calls if c[1] == "results"]
    assert [c[2].get("locator") for c in results].count("MjA") == 2, "the broken page came again"
    assert sorted(c[2].get("locator", "-") for c in results) == ["-", "MjA", "MjA", "NDA"]
    assert all(c[2]["maxRecords"] == "2" for c in results)
    assert http.calls[-1][0] == "DELETE"

    http = BulkHttp(breaks=5)
    sf = sf_session(key, http)
    sf.max_attempts = 3
    with pytest.raises(sx.JobError, match="broke off after 3 attempts: ChunkedEncodingError"):
        list(sf.bulk_pages("SELECT Id FROM Account"))
    assert [c[2].get("locator") for c in http.calls if c[1] == "results"].count("MjA") == 3
    assert http.calls[-1][0] != "DELETE"


class FailingPartS3(FakeS3):
    """Refuses the `refuse`-th part (1-based), after `delay` seconds."""

    def __init__(self, refuse, delay=0.0):
        super().__init__()
        self.refuse, self.delay, self.seen = refuse, delay, 0

    def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803 - boto3's names
        import time

        if "/part-" in Key:
            self.seen += 1
            if self.seen == self.refuse:
                time.sleep(self.delay)
                raise botocore.exceptions.ClientError({"Error": {"Code": "SlowDown", "Message": "no"}}, "PutObject")
        super().put_object(Bucket, Key, Body, ContentType)


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "csv.gz", "parquet"])
def test_the_last_part_failing_fails_the_flush_when_it_filled_up_exactly(fmt):
    # Each add fills a part, so the final flush has nothing left of its own: it must still wait for
    # the last upload and re-raise its error (not leave it to abort(), which swallows it).
    s3 = FailingPartS3(refuse=2)
    writer = sx.PartWriter(s3, "bkt", "out/x/", 10, fmt)
    try:
        for n in range(2):
            if fmt == "csv.gz":
                writer.add_csv(b'"A"\n', b'"' + b"x" * 40 + b'"\n', 1)
            else:
                writer.add_many([{"A": str(n) * 40}])
        with pytest.raises(botocore.exceptions.ClientError, match="SlowDown"):
            writer.flush(final=True)
    finally:
        writer.abort()


def test_a_failure_found_after_the_final_flush_was_handed_over_does_not_hang_the_flush():
    import threading

    s3 = FailingPartS3(refuse=1, delay=0.3)
    writer = sx.PartWriter(s3, "bkt", "out/x/", 10, "jsonl")
    writer.add_lines('{"A":"' + "x" * 40 + '"}\n', 1)  # part 0 uploads (and fails, later)
    writer.add_lines('{"A":"' + "y" * 40 + '"}\n', 1)  # part 1 waits for part 0: the failure
    errors = []

    def flush():
        try:
            writer.flush(final=True)  # the end is handed over before the failure is known
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    flusher = threading.Thread(target=flush, daemon=True)
    flusher.start()
    flusher.join(10)
    try:
        assert not flusher.is_alive(), "flush(final=True) hangs"
        assert len(errors) == 1 and "SlowDown" in str(errors[0])
    finally:
        if not flusher.is_alive():
            writer.abort()


class BrokenPages(FakeBulk):
    """A Bulk source whose second page raises `error` (a full disk, bytes that are not UTF-8)."""

    def __init__(self, pages, error):
        super().__init__(pages)
        self.error = error

    def bulk_pages(self, *args, **kwargs):
        for n, result in enumerate(super().bulk_pages(*args, **kwargs)):
            if n == 1:
                raise self.error
            yield result


@pytest.mark.parametrize("error, words", [
    (OSError(28, "No space left on device"), "a local file operation failed: No space left on device"),
    (UnicodeDecodeError("utf-8", b"\xff\xfe", 0, 1, "invalid start byte"),
     "Salesforce sent text that is not UTF-8 (invalid start byte at byte 0"),
])
def test_a_local_or_decoding_error_fails_the_query_in_words_and_moves_no_mark(error, words):
    pages = [bulk_csv(HEADER, bulk_rows(0, 300)), bulk_csv(HEADER, bulk_rows(300, 300))]
    s3 = FakeS3()
    query = {"name": "acc", "soql": "SELECT Id, Name, Description, SystemModstamp FROM Account", "api": "bulk",
             "watermark": "SystemModstamp"}
    with pytest.raises(sx.JobError, match="query acc failed: " + re.escape(words)) as err:
        sx.run_query(BrokenPages(pages, error), s3, "bkt", "out/", "jr_b", query, 4_000)
    assert err.value.result["status"] == "failed" and words in err.value.result["error"]
    assert not any(k.endswith("_manifest.json") or k.endswith("_watermark.json") for _b, k in s3.objects)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_page_cut_off_inside_its_last_record_fails_even_when_the_lines_match_the_count(fmt):
    # Three records announced, three lines after the header, but the body broke off inside the
    # third value (no closing quote, no line break): the cut at line breaks must not be trusted.
    body = b'"Id","Name"\n"1","a"\n"2","b"\n"3","tru'
    page = sx.ResultPage(io.BytesIO(body), 3, body.count(b"\n"), body.endswith(b"\n"))
    assert not page.lines_are_records

    class OnePage(FakeBulk):
        def bulk_pages(self, *args, **kwargs):
            yield page

    s3 = FakeS3()
    query = {"name": "acc", "soql": "SELECT Id, Name FROM Account", "api": "bulk", "format": fmt}
    with pytest.raises(sx.JobError, match="ends inside a quoted value"):
        sx.run_query(OnePage([]), s3, "bkt", "out/", "jr_b", query, 4_000)
    assert not any(k.endswith("_manifest.json") for _b, k in s3.objects)


def test_an_empty_rest_result_in_parquet_writes_no_part_and_a_manifest(key):
    # No record, so no schema: a 0-byte .parquet object would break every reader of the folder.
    result, s3, parts = run_rest(key, [], "parquet", 10_000)
    assert result["status"] == "succeeded" and (result["records"], result["parts"]) == (0, 0)
    assert parts == []
    manifest = json.loads(s3.objects[("bkt", "out/a/run=jr_r/_manifest.json")])
    assert manifest["parts"] == [] and manifest["records"] == 0
