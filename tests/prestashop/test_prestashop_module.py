"""The PrestaShop module's files: the zip a merchant uploads, its translations and licence
headers. What the module does is tested on a real PrestaShop (tests/prestashop/test_prestashop_real.py)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from processes import ROOT

MODULE = ROOT / "prestashop" / "kingavis"
sys.path.insert(0, str(ROOT / "prestashop" / "tools"))

import translations  # noqa: E402  (prestashop/tools/translations.py)


def test_the_module_zip_holds_the_module_only(tmp_path: Path) -> None:
    """`make prestashop-module`'s zip, as a merchant uploads it."""
    target = tmp_path / "kingavis.zip"
    done = subprocess.run(["python3", str(ROOT / "scripts" / "build-prestashop-zip.py"), str(target)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(target).namelist()
    assert all(n.startswith("kingavis/") for n in names)
    for required in ("kingavis/kingavis.php", "kingavis/config.xml", "kingavis/logo.png", "kingavis/index.php",
                     "kingavis/composer.json", "kingavis/upgrade/upgrade-1.1.0.php",
                     "kingavis/translations/fr-FR/ModulesKingavisAdmin.fr-FR.xlf",
                     "kingavis/views/templates/admin/status.tpl", "kingavis/controllers/front/cron.php"):
        assert required in names
    assert not [n for n in names if "test" in n or "stubs" in n or "tools" in n]
    folders = {n.rsplit("/", 1)[0] for n in names}
    assert all(f"{folder}/index.php" in names for folder in folders)  # no folder can be listed
    again = tmp_path / "again.zip"
    subprocess.run(["python3", str(ROOT / "scripts" / "build-prestashop-zip.py"), str(again)], check=True, timeout=60)
    assert again.read_bytes() == target.read_bytes()


def test_every_string_has_its_french_and_the_catalogs_are_up_to_date(tmp_path: Path) -> None:
    found = translations.strings()
    assert set(found) == {"Admin", "Shop"}
    assert sum(len(texts) for texts in found.values()) > 60
    missing = [text for texts in found.values() for text in texts if text not in translations.FRENCH]
    assert missing == []
    for part, texts in found.items():
        written = (MODULE / "translations" / "fr-FR" / f"ModulesKingavis{part}.fr-FR.xlf").read_text("utf-8")
        assert written == translations.xliff(part, texts, translations.FRENCH), "run prestashop/tools/translations.py"
    # Every trans() call names a Modules.Kingavis domain (a string without one is never translated).
    source = (MODULE / "kingavis.php").read_text("utf-8")
    assert source.count("->trans(") == len(translations.PHP_CALL.findall(source))
    assert "->l(" not in source


def test_every_source_file_has_the_afl_licence_header() -> None:
    for path in MODULE.rglob("*"):
        if path.suffix in (".php", ".tpl"):
            assert "Academic Free License 3.0 (AFL-3.0)" in path.read_text("utf-8")[:800], path
