"""The licences and the citation file: present, consistent with pyproject.toml, and CITATION.cff valid
against the Citation File Format schema (vendored in check-jsonschema, so this works offline)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_code_and_content_licences_are_stated():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    content = (ROOT / "LICENSE-CONTENT").read_text()
    assert "Creative Commons Attribution 4.0 International" in content and "LICENSE" in content


def test_citation_file_is_valid_and_names_both_licences(tmp_path):
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run([checker, "--builtin-schema", "vendor.citation-file-format", str(ROOT / "CITATION.cff")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["license"] == ["MIT", "CC-BY-4.0"]
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert citation["repository-code"] == config["repository"]["url"]
    broken = tmp_path / "CITATION.cff"
    broken.write_text((ROOT / "CITATION.cff").read_text().replace("cff-version", "cff_version"))
    again = subprocess.run([checker, "--builtin-schema", "vendor.citation-file-format", str(broken)],
                           capture_output=True, text=True, check=False)
    assert again.returncode != 0, "the schema check accepts a broken citation file"
