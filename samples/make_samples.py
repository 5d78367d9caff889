"""Make the sample documents `make demo` scans: clean ones, marked ones, ones with terms and with personal data.

Run from the repository root: `.venv/bin/python samples/make_samples.py`. It writes samples/documents/, which is
committed.
"""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

from docx import Document
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

HERE = Path(__file__).resolve().parent / "documents"

NOTICE = [
    "关于做好2025年度安全生产检查工作的通知",
    "各处室、各直属单位：",
    "为切实做好本年度安全生产检查工作，现将有关事项通知如下。",
    "一、检查范围：本单位所属各办公场所、仓库和车辆。",
    "二、检查时间：2025年3月1日至3月31日。",
    "三、工作要求：各单位要高度重视，认真组织自查，发现问题及时整改。",
]


def resident_id(birth: str, sequence: int) -> str:
    """A resident ID number with a correct GB 11643 check digit (the numbers are made up)."""
    body = f"110105{birth}{sequence:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


IDS = [resident_id(f"19{70 + i}0{1 + i % 9}1{i % 10}", 100 + i) for i in range(12)]


def docx_bytes(body: list[str], header: str | None = None) -> bytes:
    document = Document()
    if header:
        document.sections[0].header.paragraphs[0].text = header
    for line in body:
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bytes(lines: list[str]) -> bytes:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.setTitle("年度工作要点")
    y = 800
    for line in lines:
        page.setFont("STSong-Light", 12)
        page.drawString(72, y, line)
        y -= 20
    page.showPage()
    page.save()
    return out.getvalue()


def main() -> None:
    samples: dict[str, bytes] = {
        "01-clean-notice.txt": "\n".join(NOTICE).encode(),
        "02-marked-notice.docx": docx_bytes(["机密★5年", *NOTICE]),
        "03-mark-in-header.docx": docx_bytes(NOTICE, header="秘密★1年"),
        "04-handling-phrase.txt": ("\n".join(NOTICE) + "\n本材料仅限内部传阅，严禁外传。\n").encode(),
        "05-contact-sheet.txt": f"联系人：张三\n身份证号：{IDS[0]}\n手机：13912345678\n".encode(),
        "06-roster.csv": ("姓名,身份证号\n" + "\n".join(f"员工{i},{v}" for i, v in enumerate(IDS))).encode(),
        "07-traditional-big5.txt": "機密★10年\n關於年度預算的請示\n".encode("big5"),
        "08-regulation-mentions.txt": (
            "保密工作制度\n国家秘密的密级分为绝密、机密、秘密三级。\n"
            "文件应标注密级和保密期限，例如“机密★5年”。\n有机密封圈的更换不属于涉密事项。\n"
        ).encode(),
        "09-dodging-spaces.txt": "机 密 ★ 5 年\n关于某型号试验的安排\n".encode(),
        "10-marked.pdf": pdf_bytes(["秘密★启用前", "2025年度工作要点", "一、加强组织领导。"]),
        "11-clean.pdf": pdf_bytes(["2025年度工作要点", "一、加强组织领导。", "二、做好宣传教育。"]),
    }
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("说明.txt", "附件为年度预算材料。")
        zf.writestr("预算/2025年预算.docx", docx_bytes(["绝密★长期", "2025年预算草案"]))
    samples["12-archive-with-marked-docx.zip"] = archive.getvalue()
    mail = EmailMessage()
    mail["From"] = "zhang@example.gov.cn"
    mail["To"] = "li@example.com"
    mail["Subject"] = "年度预算材料"
    mail.set_content("李主任：\n附件为年度预算材料，请查收。\n", charset="gb2312")
    mail.add_attachment(
        docx_bytes(["机密★5年", "预算草案"]),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="预算草案.docx",
    )
    samples["13-mail-with-marked-attachment.eml"] = bytes(mail)
    HERE.mkdir(exist_ok=True)
    for name, data in samples.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(samples)} samples to {HERE}")


if __name__ == "__main__":
    main()
