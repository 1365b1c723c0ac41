"""The licences and the citation file: present, consistent with pyproject.toml, and CITATION.cff valid
against the Citation File Format schema (vendored in check-jsonschema, so this works offline). Binder's
environment files name the Python that CI tests on."""

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


def test_binder_builds_the_environment_ci_tests():
    """repo2docker reads runtime.txt and requirements.txt, then runs postBuild: the same Python as the workflow's
    test job (one of the versions make accepts), the pinned requirements, and the helpers package."""
    import re

    version = (ROOT / "runtime.txt").read_text().strip()
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    tested = {str(step["with"]["python-version"]) for step in workflow["jobs"]["test"]["steps"]
              if "setup-python" in step.get("uses", "")}
    assert tested == {version.removeprefix("python-")}, (version, tested)
    accepted = re.search(r"^PYTHON_VERSIONS := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    assert version.removeprefix("python-") in accepted
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={version.removeprefix('python-')}"
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()
