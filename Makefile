# Two commands from a fresh clone: `make demo` and `make test`.
# The distribution's Python where it is recent enough and can make a venv (Debian builds it with PGO and LTO: about
# 8 % faster than an unoptimised build such as pyenv's default, which may come first on PATH), else python3.
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# setuptools warns on every editable install that a folder named like the package may shadow it: that folder is
	# the package itself here.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install -q -e '.[test]'
	# Compiled now, as pip compiles an installed package: an editable install is otherwise compiled at every start
	# where PYTHONDONTWRITEBYTECODE is set (0.07 s of CPU a start).
	$(BIN)/python -m compileall -q scanner
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/baomi scan samples/documents; test $$? -le 1
	@echo; echo "baomi is $(abspath $(BIN))/baomi. To run it as 'baomi': ln -s $(abspath $(BIN))/baomi ~/.local/bin/"; \
	    echo "(~/.local/bin must be on PATH), or install it for good: 'pipx install .' (README.md, Installing)."

lint: $(STAMP)
	$(BIN)/ruff check scanner tests bench samples docs
	$(BIN)/ruff format --check scanner tests bench samples docs
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint unit

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info

# Message catalogs (README, "Languages and times"): the messages marked in scanner/ (babel.cfg) → scanner/locale/baomi.pot →
# each language's baomi.po, translated there → the compiled baomi.mo baomi loads. The .mo files are committed, so
# a clone installs without Babel; tests/test_catalogs.py fails while a message lacks its zh_CN translation or a .mo
# is older than its .po. `make catalogs` runs the three steps.
.PHONY: catalogs extract-messages update-catalogs compile-catalogs
LOCALES := scanner/locale
POT := $(LOCALES)/baomi.pot
PYBABEL ?= $(BIN)/pybabel

catalogs: compile-catalogs

# The template keeps its old date when no message changed, so a run that changes nothing changes no file.
extract-messages: $(STAMP)
	$(PYBABEL) -q extract -F babel.cfg --add-location=file --sort-by-file \
	    --project=baomi --version=$$(sed -n 's/^version = //p' setup.cfg) --copyright-holder="the baomi authors" \
	    -o $(POT).new scanner
	if test -f $(POT) && diff -q -I '^"POT-Creation-Date' $(POT) $(POT).new >/dev/null; then rm $(POT).new; \
	    else mv $(POT).new $(POT); fi

update-catalogs: extract-messages
	$(PYBABEL) -q update -i $(POT) -d $(LOCALES) -D baomi --ignore-obsolete

compile-catalogs: update-catalogs
	$(PYBABEL) compile -d $(LOCALES) -D baomi --statistics
