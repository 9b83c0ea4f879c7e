"""Files on notices: which are attached, how they are written, and what hostile names and counts become."""

from __future__ import annotations

import hashlib
from email import message_from_string, policy
from pathlib import Path

import pytest

from maildesk.models import AttachmentPart
from maildesk.notify.files import MAX_FILES, MAX_LISTED, display_name, select
from maildesk.notify.mime import OutFile, mime_body
from maildesk.store.files import save_attachment

NEVER = (".exe", ".js")


def stored(tmp_path: Path, name: str, data: bytes, ctype: str = "application/pdf"):
    return save_attachment(tmp_path, AttachmentPart(filename=name, content_type=ctype, data=data))


def statuses(selection) -> list[tuple[str, str]]:
    return [(f.name, f.status) for f in selection.listed]


def test_files_are_attached_in_order_within_the_limit_and_listed_otherwise(tmp_path):
    a, b, c = (stored(tmp_path, n, bytes([i]) * size) for i, (n, size) in
               enumerate([("a.pdf", 600), ("b.pdf", 600), ("c.pdf", 300)]))
    tool = stored(tmp_path, "Setup.EXE", b"MZ" * 10)
    old = stored(tmp_path, "old.log", b"seen")
    chosen = select([a, tool, b, old, c], data_dir=tmp_path, sent={old.sha256}, limit=1000, never=NEVER)
    assert statuses(chosen) == [("a.pdf", "attached"), ("Setup.EXE", "not attached: a program or script"),
                                ("b.pdf", "over the limit"), ("old.log", "sent before"), ("c.pdf", "attached")]
    assert [f.data for f in chosen.attached] == [bytes([0]) * 600, bytes([2]) * 300]
    assert chosen.digests == (a.sha256, c.sha256)


def test_a_file_gone_from_disk_or_changed_is_listed_as_missing(tmp_path):
    gone, changed = stored(tmp_path, "gone.pdf", b"1" * 10), stored(tmp_path, "changed.pdf", b"2" * 10)
    (tmp_path / gone.path).unlink()
    (tmp_path / changed.path).write_bytes(b"short")
    chosen = select([gone, changed], data_dir=tmp_path, sent=(), limit=10**6, never=NEVER)
    assert statuses(chosen) == [("gone.pdf", "missing"), ("changed.pdf", "missing")] and chosen.attached == ()


def test_a_stored_path_outside_the_data_dir_is_never_read(tmp_path):
    secret = tmp_path.parent / f"{tmp_path.name}-secret"
    secret.write_bytes(b"x" * 4)
    evil = stored(tmp_path, "a.txt", b"x" * 4)
    evil = type(evil)(**{**evil.__dict__, "path": f"../{secret.name}"})
    assert statuses(select([evil], data_dir=tmp_path, sent=(), limit=100, never=NEVER)) == [("a.txt", "missing")]


def test_a_thousand_files_make_a_bounded_notice(tmp_path):
    files = [stored(tmp_path, f"part{i}.txt", f"{i}".encode()) for i in range(1000)]
    chosen = select(files, data_dir=tmp_path, sent=(), limit=10**7, never=NEVER)
    assert len(chosen.attached) == MAX_FILES and len(chosen.listed) == MAX_LISTED
    assert chosen.unlisted == 1000 - MAX_LISTED
    body = mime_body("text", None, chosen.attached)
    assert body.count("Content-Disposition:") == MAX_FILES


@pytest.mark.parametrize("name, shown", [
    ("../../etc/passwd", "_.._etc_passwd"),
    ("C:\\Windows\\evil.bat", "C:_Windows_evil.bat"),
    ("nul\x00byte.txt", "nulbyte.txt"),
    ("right\u202eexe.pdf", "rightexe.pdf"),
    ("   ", "attachment"),
    ("..hidden", "hidden"),
])
def test_display_names_never_hold_a_directory_or_controls(name, shown):
    assert display_name(name) == shown


@pytest.mark.parametrize("name", ["a" * 10_000, "名前" * 3000, "x\x00y\r\nSubject: injected", "%41%00.pdf"])
def test_any_name_is_written_as_rfc2231_lines_that_parse_back(name):
    data = bytes(range(256)) * 3
    file = OutFile(display_name(name), "application/pdf", data)
    body = mime_body("hi", None, [file])
    assert max(len(line) for line in body.split("\r\n")) <= 78
    msg = message_from_string("MIME-Version: 1.0\r\n" + body, policy=policy.default)
    (part,) = msg.iter_attachments()
    assert part.get_content() == data and part.get_filename() == file.filename
    assert "\r" not in part.get_filename() and "\n" not in part.get_filename()
    assert msg["Subject"] is None


def test_an_inline_image_sits_beside_the_html_that_shows_it():
    png = OutFile("shot.png", "image/png", b"\x89PNG" * 10, content_id="shot.1@customer.example", inline=True)
    pdf = OutFile("report.pdf", "application/pdf", b"%PDF" * 10)
    msg = message_from_string("MIME-Version: 1.0\r\n" + mime_body("t", "<img src='cid:shot.1@customer.example'>",
                                                                   [png, pdf]), policy=policy.default)
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed", "multipart/related", "multipart/alternative", "text/plain", "text/html", "image/png",
        "application/pdf"]
    (image,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<shot.1@customer.example>" and image.get_content() == png.data


def test_a_hostile_content_type_is_sent_as_octet_stream():
    body = mime_body("t", None, [OutFile("a", "text/html\r\nX-Evil: 1", b"x")])
    assert "X-Evil" not in body and "Content-Type: application/octet-stream" in body


def test_the_sha256_names_the_stored_bytes(tmp_path):
    s = stored(tmp_path, "a.pdf", b"abc")
    assert s.sha256 == hashlib.sha256(b"abc").hexdigest()


HOSTILE = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee files.\r\n"
           + b"".join(b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                      + header + b"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
                      for header in (b'filename="../../../etc/cron.d/x"',
                                     b"filename*=bogus-charset''%E9t%E9%00.pdf",
                                     b'filename="' + b"A" * 10_000 + b'.pdf"',
                                     b'filename="a\\\\b/c\x00d.txt"'))
           + b"--b--\r\n")


def test_hostile_file_names_reach_the_agent_as_safe_names(tmp_path):
    from email import message_from_bytes

    from desktools import harness

    h = harness(tmp_path, tiers=[{"name": "L1", "agents": ["alice@example.test"]}])
    raw = (b"From: Dana <dana@customer.example>\r\nTo: support@example.test\r\nSubject: files\r\n"
           b"Message-ID: <hostile.1@customer.example>\r\nMIME-Version: 1.0\r\n" + HOSTILE)
    assert h.take(raw).status == "stored"
    (data,) = h.store.db.execute("SELECT data FROM outbox WHERE kind = 'alert'").fetchone()
    alert = message_from_bytes(bytes(data), policy=policy.default)
    names = [p.get_filename() for p in alert.iter_attachments()]
    assert len(names) == 4 and all(p.get_content() == b"hello" for p in alert.iter_attachments())
    assert all("/" not in n and "\\" not in n and "\x00" not in n and len(n) <= 200 for n in names)
    assert max(len(line) for line in bytes(data).split(b"\r\n")) <= 998
