# King-Avis developer commands.
#   make run   create .venv, install requirements, migrate SQLite, serve http://$HOST:$PORT (127.0.0.1:5000)
#   make test  install dev requirements (+ Chromium), check PostgreSQL/Redis, ruff, whole pytest suite
#              in $(PYTEST_WORKERS) parallel processes (pytest-xdist), after the PrestaShop module's
#              checks (php -l and PHPUnit); the suite includes the module on a real PrestaShop
#              (MariaDB, PHP extensions and composer installed when missing)
#   make prestashop-module   build dist/kingavis.zip, the PrestaShop module
# Installs are stamped by the hash of the requirements files: re-running is quick.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTANCE := $(or $(KINGAVIS_INSTANCE_PATH),instance)
PYTEST_ARGS ?=
# Test processes of `make test` (pytest-xdist); PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= 2

RUN_HASH := $(shell cat requirements.txt | sha256sum | cut -c1-16)
DEV_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
RUN_STAMP := $(VENV)/.installed-run-$(RUN_HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(DEV_HASH)
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: help run test lint migrate chromium services install install-dev clean translations screenshots \
	prestashop-module prestashop-test prestashop-deps prestashop-real php

help:
	@echo "make run    serve King-Avis on http://$${HOST:-127.0.0.1}:$${PORT:-5000} (SQLite, inline sending, mail in $(INSTANCE)/outbox; the address is recorded in .env)"
	@echo "make test   ruff + the whole test suite on SQLite and PostgreSQL (needs PostgreSQL and Redis)"
	@echo "make translations   extract the French UI strings, update and compile the English catalog"
	@echo "make prestashop-module   build dist/kingavis.zip (the PrestaShop module)"
	@echo "make prestashop-test     php -l and PHPUnit for the PrestaShop module (installs PHP, MariaDB, composer)"
	@echo "make prestashop-real     the module's tests on a real PrestaShop 8.1.2 (part of make test)"

$(BIN)/python:
	scripts/make-venv.sh $(PYTHON) $(VENV)

$(RUN_STAMP): | $(BIN)/python
	$(PIP) install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-run-*
	touch $@

$(DEV_STAMP): | $(BIN)/python
	$(PIP) install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-dev-*
	touch $@

install: $(RUN_STAMP)
install-dev: $(DEV_STAMP)

# The key that signs sessions and CSRF tokens; generated once, readable by the owner only.
$(INSTANCE)/secret_key: | $(BIN)/python
	mkdir -p $(INSTANCE)
	umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(48))" > $@

migrate: $(RUN_STAMP) $(INSTANCE)/secret_key
	$(BIN)/flask --app wsgi db upgrade

run: migrate
	scripts/run.sh

chromium:
	scripts/ensure-chromium.sh

services: $(DEV_STAMP)
	$(BIN)/python scripts/check-services.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

# pytest's exit code 5 ("no tests collected") is non-zero, so it fails here and in CI too.
test: prestashop-test $(DEV_STAMP) chromium services lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The PrestaShop module (prestashop/kingavis): Debian's PHP and PHPUnit, installed when missing.
php:
	scripts/ensure-php.sh

# A real PrestaShop for tests/prestashop/test_prestashop_real.py (docs/prestashop.md): MariaDB, PHP's
# extensions and composer; the release tree comes from ../shared/prestashop/.
prestashop-deps: php
	scripts/ensure-prestashop-deps.sh

# php -l over every PHP file (module, tests), then the PHPUnit suite. `make test` runs the
# real-PrestaShop tests (pytest marker `prestashop`) with the rest of pytest.
prestashop-test: prestashop-deps
	find prestashop -name '*.php' -print0 | sort -z | xargs -0 -n1 php -l >/dev/null
	cd prestashop/tests && phpunit --do-not-cache-result

# The module on a real PrestaShop alone (about 5 minutes: the shop installs once).
prestashop-real: prestashop-test $(DEV_STAMP) services
	$(BIN)/python -m pytest -m prestashop $(PYTEST_ARGS)

prestashop-module: dist/kingavis.zip

dist/kingavis.zip: $(shell find prestashop/kingavis -type f) scripts/build-prestashop-zip.py
	python3 scripts/build-prestashop-zip.py $@

# Refresh the README's screenshots from the browser tests.
screenshots: $(DEV_STAMP) chromium services
	KINGAVIS_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -m browser -k "sqlite" $(PYTEST_ARGS)

# UI strings are French msgids; kingavis/translations/en holds the English. New strings arrive in the
# .po with an empty (or fuzzy, guessed) msgstr: translate them, then run this again to compile.
# tests/test_translations.py fails while any string is untranslated or fuzzy.
TRANSLATIONS := kingavis/translations
translations: $(RUN_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k lazy_ngettext:1,2 -k plural:1,2 \
		--ignore-dirs ".* ._ tests bench docs migrations instance" --width 100 \
		--project King-Avis --version 0.1.0 --copyright-holder King-Avis \
		-o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l en \
		--width 100 --ignore-obsolete
	$(BIN)/pybabel compile -d $(TRANSLATIONS) -l en --statistics

clean:
	rm -rf .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
