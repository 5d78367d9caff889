"""argparse's own words, marked here so that the catalogs translate them (scanner.i18n.translate_argparse): the
message ids of argparse in Python 3.11 to 3.14 that a user of baomi can see. They are %-format strings: a
translation keeps each %s and %(name)s of its message id (tests/test_catalogs.py checks)."""

from scanner.i18n import N_, msg_n

WORDS = (
    N_("usage: "),
    N_("%(heading)s:"),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_(" (default: %(default)s)"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("%(prog)s: warning: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("unrecognized arguments: %s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid choice: %(value)r, maybe you meant %(closest)r? (choose from %(choices)s)"),
    N_("unexpected option string: %s"),
    N_("option '%(option)s' is deprecated"),
    N_("command '%(parser_name)s' is deprecated"),
    N_("argument '%(argument_name)s' is deprecated"),
)
# Plurals are looked up by argparse with ngettext: marked as plural messages so the catalogs hold both forms.
PLURALS = (
    msg_n("expected %s argument", "expected %s arguments", 0),
    msg_n("conflicting option string: %s", "conflicting option strings: %s", 0),
)
