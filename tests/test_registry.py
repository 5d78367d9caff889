"""Registered secrets: an excerpt of a registered document is found in any format, edited, in Traditional script,
but not under the threshold nor where it is public text; a row of a registered table is found, a name alone not;
and the store holds nothing a reader could use without the key."""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import docx
import opencc
import openpyxl
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from scanner.cli import main
from scanner.engine import Scanner
from scanner.model import FileReport
from scanner.policy import load_config
from scanner.registry.store import open_store
from scanner.ruleset import rule_set
from tests.common import docx_of
from tests.conftest import SHARED, require
from tests.extract_fixtures import zip_of

pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
LAW = SHARED / "corpora" / "laws" / "行政法" / "档案法(2020-06-20).md"
SECRET = [
    "关于天河七号工程第二阶段试验情况的报告",
    "一、试验总体情况。今年三月至五月，项目组在西北试验基地先后组织了四轮联合试验，重点检验了新型控制系统在高温、"
    "强风沙和长时间连续运行条件下的稳定性。第一轮试验因供电线路故障中断两次，经排查系临时变电站负荷设计偏小所致，"
    "随后由基地保障处完成扩容改造。第二轮和第三轮试验各项指标均达到设计要求，其中姿态保持精度优于预定值百分之十二。",
    "二、存在的主要问题。一是关键传感器仍依赖单一供应渠道，备件周期长达九个月，一旦出现批量质量问题将直接影响后续进度；"
    "二是试验数据传输链路带宽不足，第四轮试验期间曾出现约四十分钟的数据积压；三是部分岗位人员流动较大，"
    "新进技术骨干对操作规程掌握不够熟练，第四轮试验中发生一起误操作，所幸未造成设备损坏。",
    "三、下一步工作安排。拟于八月底前完成传感器国产化替代方案论证，九月起在东部协作单位开展小批量试制；"
    "同步申请增加一条专用数据链路，预算约一千三百万元，已列入明年年度计划建议；"
    "加强岗位培训和考核，建立关键岗位双人复核制度，确保第三阶段试验按期于明年四月启动。",
]
# Phrases of the body (the title and the file name are stored as given: pick a title that is no secret).
KEY_PHRASES = ("第二阶段试验", "传感器国产化替代方案", "姿态保持精度", "一千三百万元")
ROSTER_COLUMNS = ["姓名", "身份证号", "手机"]
ROSTER = [
    ["张伟", "110105198001011234", "13812345678"],
    ["王秀英", "310104198502023456", "13987654321"],
    ["李娜", "440106199003034567", "15011112222"],
    ["刘洋", "510107197704045678", "18633334444"],
]


def excerpt(length: int, start: int = 20) -> str:
    """`length` characters of the registered document's body, across its paragraphs."""
    body = "\n".join(SECRET[1:])
    assert start + length <= len(body)
    return body[start : start + length]


def with_changes(text: str, share: float, seed: int = 15) -> str:
    """`share` of the characters replaced by others, spread over the text."""
    chars = list(text)
    rng = random.Random(seed)
    for i in rng.sample(range(len(chars)), round(len(chars) * share)):
        chars[i] = "鑫" if chars[i] != "鑫" else "淼"
    return "".join(chars)


def pdf_of(text: str) -> bytes:
    """A PDF of `text` in lines of 30 characters: reformatted, as a PDF of the document would be."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    canvas.setFont("STSong-Light", 12)
    for row, start in enumerate(range(0, len(text), 30)):
        canvas.drawString(40, 780 - 20 * row, text[start : start + 30])
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def mail_of(body: str) -> bytes:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message["Subject"] = "周报"
    message.set_content(f"各位好：\n\n{body}\n\n谢谢。")
    return bytes(message)


class Office:
    """A policy folder with its registry beside it, driven through the command line as an officer would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.policy = folder / "policy.toml"
        self.policy.write_text("[registry]\nmin_chars = 80\n", encoding="utf-8")

    def register(self, *args: str) -> int:
        return main(["register", *args, "--config", str(self.policy)])

    def file(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def scanner(self) -> Scanner:
        return Scanner(load_config(self.policy))


def registered(report: FileReport, category: str = "registered") -> list[str]:
    return [f.explanation for f in report.findings if f.category == category]


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Office:
    office = Office(tmp_path_factory.mktemp("office"))
    # Which 6-grams are fingerprints depends on the key: under a random one an edited excerpt is missed now and then
    # (2 keys of 150 missed the tenth-changed excerpt below), so the specification is held to one fixed key.
    key = os.open(office.folder / "registry.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(key, b"2b" * 32 + b"\n")
    os.close(key)
    secret = office.file("天河七号报告.docx", docx_of(*SECRET))
    assert office.register("add", str(secret), "--level", "机密") == 0
    roster = office.file("人员名单.csv", "\n".join(",".join(r) for r in [ROSTER_COLUMNS, *ROSTER]).encode("utf-8"))
    assert office.register("table", str(roster), "--columns", "姓名,身份证号,手机", "--level", "秘密") == 0
    return office


@pytest.fixture(scope="module")
def scanner(office: Office) -> Scanner:
    return office.scanner()


def test_excerpt_of_a_registered_docx_is_found_in_a_pdf(scanner: Scanner) -> None:
    report = scanner.scan_bytes(pdf_of(excerpt(200)), "摘录.pdf")
    [why] = registered(report)
    assert "天河七号报告" in why and "机密" in why
    assert str(report.verdict) == "block"


def test_excerpt_in_the_body_of_an_email_is_found(scanner: Scanner) -> None:
    assert registered(scanner.scan_bytes(mail_of(excerpt(200)), "周报.eml"))


def test_excerpt_in_a_zip_member_is_found_where_it_stands(scanner: Scanner) -> None:
    data = zip_of({"资料/说明.txt": "无关内容。".encode(), "资料/摘录.txt": excerpt(200).encode("gb18030")})
    report = scanner.scan_bytes(data, "资料.zip")
    [finding] = [f for f in report.findings if f.category == "registered"]
    assert "摘录.txt" in finding.location.part


def test_excerpt_with_a_tenth_of_its_characters_changed_is_found(scanner: Scanner) -> None:
    assert registered(scanner.scan_bytes(with_changes(excerpt(200), 0.10).encode(), "改写.txt"))


def test_excerpt_in_traditional_script_with_other_punctuation_and_spacing_is_found(scanner: Scanner) -> None:
    traditional = opencc.OpenCC("s2t").convert(excerpt(200))
    respaced = " ".join(traditional.replace("，", ", ").replace("。", ". "))
    assert respaced != excerpt(200)
    assert registered(scanner.scan_bytes(respaced.encode(), "繁體.txt"))


def test_excerpt_under_the_threshold_is_not_a_finding(scanner: Scanner) -> None:
    report = scanner.scan_bytes(excerpt(50).encode(), "短.txt")
    assert not registered(report)


def test_finding_says_how_much_matched_and_where(scanner: Scanner) -> None:
    text = "会议记录\n" + "今天讨论了其他事项。" * 3 + "\n" + excerpt(200)
    [finding] = [f for f in scanner.scan_bytes(text.encode(), "记录.txt").findings if f.category == "registered"]
    assert finding.location.line == 3
    assert "characters from here match" in finding.explanation and "fingerprints" in finding.explanation
    assert len(finding.text) < 20 and len(finding.context) < 80  # a pointer into the text, never the passage


def test_roster_row_in_a_csv_is_a_registered_table_finding(scanner: Scanner) -> None:
    csv = "序号,姓名,证件号码,备注\n1,王秀英,310104198502023456,参会\n"
    [why] = registered(scanner.scan_bytes(csv.encode(), "名单.csv"), "registered-table")
    assert "1 row" in why and "人员名单" in why


def test_roster_rows_in_prose_count_each_row_once(scanner: Scanner) -> None:
    text = "联系人张伟，电话138-1234-5678；另请李娜（身份证号440106199003034567）协助。"
    [why] = registered(scanner.scan_bytes(text.encode(), "通知.txt"), "registered-table")
    assert "2 rows" in why


def test_a_registered_name_alone_is_not_a_finding(scanner: Scanner) -> None:
    assert not registered(scanner.scan_bytes("请王秀英同志于周五前提交材料。".encode(), "通知.txt"), "registered-table")


def test_values_of_two_different_rows_are_not_a_row(scanner: Scanner) -> None:
    text = "张伟 310104198502023456"  # one row's name, another row's number
    assert not registered(scanner.scan_bytes(text.encode(), "混.txt"), "registered-table")


def test_store_holds_no_text_and_no_cell_value(office: Office) -> None:
    stored = b"".join(p.read_bytes() for p in office.folder.glob("registry.db*"))
    for phrase in [*KEY_PHRASES, *(value for row in ROSTER for value in row)]:
        for encoding in ("utf-8", "utf-16-le", "gb18030"):
            assert phrase.encode(encoding) not in stored, phrase
    with sqlite3.connect(office.folder / "registry.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"meta", "documents", "public_texts", "registered_tables"}


def test_key_is_a_file_of_its_own_readable_by_its_owner_only(office: Office) -> None:
    key = office.folder / "registry.key"
    assert key.stat().st_mode & 0o077 == 0
    assert key.read_text().strip() not in (office.folder / "registry.db").read_bytes().decode("latin-1")


def test_law_quoted_by_a_registered_document_does_not_make_the_law_flag(tmp_path: Path) -> None:
    require(LAW.is_file(), f"the laws corpus at {LAW.parent.parent}")
    law = LAW.read_text(encoding="utf-8")
    quoted = law[law.index("第二条") :][:400]
    office = Office(tmp_path)
    secret = office.file("内部通报.docx", docx_of(SECRET[0], quoted, *SECRET[1:]))
    office.register("add", str(secret), "--level", "秘密")
    assert registered(office.scanner().scan_path(LAW)), "without the public list the quotation matches"
    public = tmp_path / "public"
    public.mkdir()
    (public / LAW.name).write_bytes(LAW.read_bytes())
    assert office.register("public", str(public)) == 0
    scanner = office.scanner()
    assert not registered(scanner.scan_path(LAW))
    assert registered(scanner.scan_bytes(excerpt(200).encode(), "摘录.txt")), "the document's own text still counts"


def test_remove_export_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    office = Office(tmp_path / "a")
    office.register("add", str(office.file("报告.docx", docx_of(*SECRET))), "--level", "绝密", "--title", "报告甲")
    capsys.readouterr()
    office.register("list", "--format", "json")
    [document] = json.loads(capsys.readouterr().out)["documents"]
    assert (document["title"], document["level"]) == ("报告甲", "绝密")
    exported = tmp_path / "registry.json"
    assert office.register("export", str(exported)) == 0
    assert not any(phrase in exported.read_text(encoding="utf-8") for phrase in KEY_PHRASES)

    other = Office(tmp_path / "b")
    (other.folder / "registry.key").write_bytes((office.folder / "registry.key").read_bytes())
    assert other.register("import", str(exported)) == 0
    assert registered(other.scanner().scan_bytes(excerpt(200).encode(), "x.txt"))

    stranger = Office(tmp_path / "c")
    assert stranger.register("import", str(exported)) == 2  # another key: refused
    assert "another key" in capsys.readouterr().err

    assert office.register("remove", document["id"]) == 0
    assert not registered(office.scanner().scan_bytes(excerpt(200).encode(), "x.txt"))


def test_a_change_that_fails_half_way_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """A registration writes its rows and the store's new generation together, or nothing at all."""
    office = Office(tmp_path)
    office.register("add", str(office.file("报告.docx", docx_of(*SECRET))), "--level", "机密")
    store = open_store(str(tmp_path / "registry.db"))
    try:
        [document] = store.documents()
        generation = store.generation()
        with pytest.raises(RuntimeError), store.change():
            assert store.remove(document.id)
            raise RuntimeError("the disk is full")
        assert store.documents() == [document] and store.generation() == generation
    finally:
        store.close()
    assert registered(office.scanner().scan_bytes(excerpt(200).encode(), "x.txt"))


def test_scanner_builds_the_registry_once_and_needs_the_store_no_more(tmp_path: Path) -> None:
    office = Office(tmp_path)
    office.register("add", str(office.file("报告.docx", docx_of(*SECRET))), "--level", "机密")
    scanner = office.scanner()
    (tmp_path / "registry.db").rename(tmp_path / "moved.db")
    assert registered(scanner.scan_bytes(excerpt(200).encode(), "x.txt"))


def test_scan_without_the_key_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    office = Office(tmp_path)
    office.register("add", str(office.file("报告.docx", docx_of(*SECRET))), "--level", "机密")
    (tmp_path / "registry.key").unlink()
    note = office.file("note.txt", "你好".encode())
    assert main(["scan", "--config", str(office.policy), str(note)]) == 2
    assert "key file" in capsys.readouterr().err


def test_roster_registered_from_a_workbook_is_found_in_a_word_table(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["说明：内部名单"])  # a title row above the header
    sheet.append(["序号", *ROSTER_COLUMNS])
    for number, row in enumerate(ROSTER, 1):
        sheet.append([number, *row])
    out = io.BytesIO()
    workbook.save(out)
    office = Office(tmp_path)
    table = office.file("名单.xlsx", out.getvalue())
    assert office.register("table", str(table), "--columns", "姓名,手机", "--min-columns", "2", "--level", "秘密") == 0
    document = docx.Document()
    grid = document.add_table(rows=1, cols=2)
    grid.rows[0].cells[0].text, grid.rows[0].cells[1].text = "刘洋", "186 3333 4444"
    data = io.BytesIO()
    document.save(data)
    [why] = registered(office.scanner().scan_bytes(data.getvalue(), "联系表.docx"), "registered-table")
    assert "1 row" in why


def test_a_registration_changes_the_rule_set_a_report_names(tmp_path: Path) -> None:
    """A scan index reuses a report only under the rule set it was made under: a document registered since makes it
    stale, as a changed dictionary does."""
    office = Office(tmp_path)
    first = office.file("第一份.docx", docx_of(*SECRET))
    assert office.register("add", str(first), "--level", "秘密") == 0
    before = rule_set(load_config(office.policy))
    second = office.file("第二份.docx", docx_of("关于某项目的另一份报告，正文与第一份不同。" * 6))
    assert office.register("add", str(second), "--level", "秘密") == 0
    after = rule_set(load_config(office.policy))
    assert before.registry and after.registry and before.registry != after.registry
    assert before.fingerprint != after.fingerprint
    assert office.scanner().fingerprint == after.fingerprint
    assert Path(office.folder / "registry.db") in after.registry_files
