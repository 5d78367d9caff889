"""The names a person reads for baomi's words, in the reader's language: verdicts, categories of finding, why a file
could not be checked (and what to do about it), and where in a file a finding is.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping

from scanner.i18n import N_, Message, _, current, msg, pgettext, render, said
from scanner.model import Location, Role, Verdict

VERDICTS = {Verdict.PASS: N_("Passed"), Verdict.FLAG: N_("Needs review"), Verdict.BLOCK: N_("Blocked")}

CATEGORIES = {
    "state-secret": N_("State-secret mark"),
    "work-secret": N_("Work-secret mark"),
    "commercial-secret": N_("Commercial-secret mark"),
    "internal": N_("Internal material"),
    "declassified": N_("Declassified mark (not public)"),
    "disguised-mark": N_("Mark written with look-alike characters"),
    "personal-data": N_("Personal information"),
    "roster": N_("Roster of personal information"),
    "unscannable": N_("Could not be checked"),
    "image": N_("Image not examined"),
    "damaged": N_("Damaged file, read after repair"),
    "registered": N_("Excerpt of a registered secret document"),
    "registered-table": N_("Rows of a registered secret table"),
}

# Why a file's text did not (all) come out (the reasons of scanner/extract's Problems), and what a person does next.
PROBLEMS = {
    "encrypted": (
        N_("The file is encrypted (protected by a password): its content cannot be checked."),
        N_("Ask the sender for a copy without the password, or have a person check it."),
    ),
    "corrupt": (
        N_("The file is damaged and could not be read completely."),
        N_("Open it in the program that made it, save it again and check the new copy."),
    ),
    "unsupported": (
        N_("baomi does not read this kind of file."),
        N_("Save it as a format baomi reads (docx, xlsx, pdf, txt), or have a person check it."),
    ),
    "garbled": (
        N_("The text came out garbled: what it says cannot be judged."),
        N_("Check a scanned or image PDF with --ocr; otherwise have a person check it."),
    ),
    "no-text": (
        N_("The file holds no text that can be read, such as a scan without a text layer."),
        N_("Check it with --ocr (Tesseract with chi_sim), or have a person check it."),
    ),
    "image": (
        N_("An image: its content was not examined."),
        N_("Check it with --ocr (Tesseract with chi_sim), or have a person look at it."),
    ),
    "ocr": (
        N_("An image whose text was read by OCR, which cannot see seals, handwriting or marks drawn as pictures."),
        N_("Have a person look at the image before it leaves; a mark OCR read in it blocks the file anyway."),
    ),
    "repaired": (
        N_("The file is damaged and was read only after a repair."),
        N_("Have a person check that nothing is missing, or save the file again and check the new copy."),
    ),
    "crash": (
        N_("The program that reads this format failed on the file."),
        N_("Have a person check it, and report the file to the administrator."),
    ),
    "seconds": (
        N_("Reading the file took longer than the time limit."),
        N_("Scan it again when the machine is less busy, or raise [limits] seconds."),
    ),
    "timeout": (
        N_("Checking the text took longer than the time limit: only what was found until then is reported."),
        N_("Scan it again when the machine is less busy, or raise [limits] seconds; until then a person checks it."),
    ),
    "memory_mb": (
        N_("Reading the file needed more memory than the limit."),
        N_("Raise [limits] memory_mb if the file is expected to be this large, or have a person check it."),
    ),
    "max_bytes": (
        N_("The file is larger than the size limit."),
        N_("Raise [limits] max_bytes, or split the file."),
    ),
    "max_total_bytes": (
        N_("Unpacked, the archive holds more than the size limit."),
        N_("Unpack it and check the files inside, or raise [limits] max_total_bytes."),
    ),
    "max_depth": (
        N_("Archives are nested inside each other deeper than the limit."),
        N_("Unpack it and check the files inside, or raise [limits] max_depth."),
    ),
    "max_ratio": (
        N_("A member unpacks to far more than its packed size: possibly a zip bomb."),
        N_("Do not unpack it. If it is expected, raise [limits] max_ratio."),
    ),
    "max_members": (
        N_("The archive holds more files than the limit."),
        N_("Unpack it and check the files inside, or raise [limits] max_members."),
    ),
    "too-large": (
        N_("The message or upload is larger than the door accepts, so it was not read."),
        N_("Send it in smaller parts, or raise the door's limit ([mail] max_message_bytes, [icap] max_body)."),
    ),
    "unreadable-body": (
        N_("The upload's form could not be taken apart the way a web server would, so it was not read."),
        N_("Upload the file again from an ordinary browser form; a form built by hand may be refused on purpose."),
    ),
    "xml_entities": (
        N_("The file declares XML entities or refers to outside files, which baomi refuses to expand."),
        N_("Have a person check it: office programs do not write such files."),
    ),
    "unreadable": (
        N_("The file could not be read: its permissions, or it is not a regular file."),
        N_("Give baomi read access to it and scan it again."),
    ),
    "internal-error": (
        N_("baomi failed while checking the file."),
        N_("Have a person check it, and report the file to baomi's maintainers."),
    ),
}
_UNKNOWN_PROBLEM = (
    N_("The file could not be read completely."),
    N_("Have a person check it."),
)

# The parts of a file a location names (scanner/extract): whole names, then name prefixes (header1, sheet:预算!B2).
PARTS = {
    "body": N_("body"),
    "file": N_("the whole file"),
    "filename": N_("file name"),
    "title": N_("title"),
    "metadata": N_("document properties"),
}
PART_PREFIXES = {
    "header": N_("header"),
    "footer": N_("footer"),
    "footnote": N_("footnote"),
    "endnote": N_("endnote"),
    "comment": N_("comment"),
    "slide": N_("slide"),
    "sheet": N_("worksheet"),
    "notes": N_("speaker notes"),
    "page": N_("page"),
    "property": N_("document property"),
}


# What an operating system error means, for the messages that say why a file or folder could not be used. The C
# library's own text (strerror) follows its locale, not ours, and is English where no locale is installed.
OS_ERRORS = {
    errno.ENOENT: N_("there is no such file or folder"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("the operation is not permitted"),
    errno.EISDIR: N_("it is a folder"),
    errno.ENOTDIR: N_("a part of the path is not a folder"),
    errno.ELOOP: N_("the symbolic links loop or go too deep"),
    errno.ENAMETOOLONG: N_("the name is too long"),
    errno.ENOSPC: N_("there is no space left on the device"),
    errno.EROFS: N_("the file system is read-only"),
    errno.EIO: N_("the device could not be read or written (input/output error)"),
    errno.EMFILE: N_("too many files are open"),
    errno.ENXIO: N_("there is no device behind it"),
    errno.EADDRINUSE: N_("the address is already in use"),
    errno.EADDRNOTAVAIL: N_("the address is not one of this machine's"),
    errno.ECONNREFUSED: N_("the connection was refused"),
    errno.EEXIST: N_("it exists already"),
}


def os_error(exc: OSError) -> Message | str:
    """Why an operation on a file, folder or socket failed: in the reader's language where the error is one of
    OS_ERRORS, else as the C library says it."""
    known = OS_ERRORS.get(exc.errno or 0)
    return msg(known) if known else str(exc.strerror or exc)


# What a segment's role is called where its text is shown (--explain).
ROLES = {
    Role.BODY: N_("body text"),
    Role.TITLE: N_("title"),
    Role.HEADER: N_("header"),
    Role.FOOTER: N_("footer"),
    Role.CELL: N_("table cell"),
    Role.WATERMARK: N_("watermark"),
    Role.FILENAME: N_("file name"),
    Role.METADATA: N_("document properties"),
    Role.NOTE: N_("notes or comments"),
    Role.DELETED: N_("text deleted with changes tracked"),
    Role.TEXTBOX: N_("text box"),
}
# What a door did with a file (scanner.audit.Action), in a listing of decisions.
ACTIONS = {
    "released": N_("released"),
    "allowed": N_("allowed"),
    "held": N_("held"),
    "quarantined": N_("quarantined"),
    "refused": N_("refused"),
    "tempfailed": N_("deferred"),
    "reloaded": N_("reloaded"),  # not a file: the door's rules (the record's name says what came of it)
    "reload-failed": N_("reload failed"),
}
# The formats whose names are words rather than the abbreviations people know (docx, pdf, zip).
FORMATS = {"text": N_("plain text"), "unknown": N_("unknown format")}


def verdict_title(verdict: Verdict) -> str:
    return _(VERDICTS[verdict])


def verdict_word(verdict: Verdict) -> str:
    """The verdict in one short word, for a column of a listing: pass, flag, block (only that one translated: a
    report asks at every line)."""
    if verdict == Verdict.BLOCK:
        return pgettext("verdict", "block")
    if verdict == Verdict.FLAG:
        return pgettext("verdict", "flag")
    return pgettext("verdict", "pass")


def action_title(action: str) -> str:
    """A door's action as a reader says it; a word of an older log as it is."""
    return _(ACTIONS[action]) if action in ACTIONS else action


def role_title(role: Role) -> str:
    return _(ROLES[role])


def format_title(fmt: str) -> str:
    """A detected format for a reader: its abbreviation (docx, pdf), or a word in the reader's language."""
    return _(FORMATS[fmt]) if fmt in FORMATS else fmt


def category_title(category: str, dictionaries: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """A category's name: baomi's own from the catalogs, a dictionary's from its `# title:` header, in the current
    language where the header names one; the category itself otherwise."""
    if category in CATEGORIES:
        return _(CATEGORIES[category])
    titles = (dictionaries or {}).get(category, {})
    language = current()
    return titles.get(language) or titles.get(language.split("_")[0]) or titles.get("") or category


def problem_reason(rule: str) -> str:
    """The Problem reason behind an unscannable, image or damaged finding's rule (unscannable.encrypted → encrypted)."""
    category, _dot, reason = rule.partition(".")
    return category if reason == "not-examined" else reason


def problem_title(reason: str) -> str:
    """What a Problem's reason means, in a sentence."""
    return _(PROBLEMS.get(reason, _UNKNOWN_PROBLEM)[0])


def problem_advice(reason: str) -> str:
    """What a person does about a file with this Problem."""
    return _(PROBLEMS.get(reason, _UNKNOWN_PROBLEM)[1])


def part_title(part: str) -> str:
    """A location's part for a reader: each step through containers (资料.zip!通知.docx!header1) named."""
    return " › ".join(_piece_title(piece) for piece in part.split("!"))


def where(location: Location) -> str:
    """Where a finding is, for a reader: page, part, line and column, in the current language."""
    # Said at every finding of a report: the templates are formatted (i18n.said), not made into Messages and rendered.
    bits = [said("page {page}", page=location.page)] if location.page else []
    bits.append(part_title(location.part))
    if location.column > 0 and location.line > 0:
        bits.append(said("line {line}, column {column}", line=location.line, column=location.column))
    elif location.line > 0:
        bits.append(said("line {line}", line=location.line))
    return " · ".join(bits)


def _piece_title(piece: str) -> str:
    if piece in PARTS:
        return _(PARTS[piece])
    prefix = next((p for p in PART_PREFIXES if piece.startswith(p)), None)
    if prefix is None:
        return piece  # a member's or attachment's own name
    return render(msg("{part} ({name})", part=_(PART_PREFIXES[prefix]), name=piece))
