"""Build dist/kingavis.zip, the PrestaShop module as a merchant uploads it: one `kingavis/` folder.

Entries are sorted and dated 1980-01-01 so the same sources give the same zip.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "prestashop" / "kingavis"


def build(target: Path) -> list[str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    names = []
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in SOURCE.rglob("*") if p.is_file()):
            name = "kingavis/" + path.relative_to(SOURCE).as_posix()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
            names.append(name)
    partial.replace(target)
    return names


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist" / "kingavis.zip"
    print(f"{out}: {len(build(out))} files")
