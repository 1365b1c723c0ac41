"""The GitHub Actions workflow cannot run here: validate it against GitHub's workflow schema (vendored in
check-jsonschema, so it works offline; actionlint's PyPI package downloads its binary at install time, which
fails here), and keep its commands the README's."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def validate(path: Path) -> subprocess.CompletedProcess:
    # the venv's scripts sit beside its python, which is not necessarily on PATH (make test)
    checker = Path(sys.executable).with_name("check-jsonschema")
    assert checker.is_file(), "check-jsonschema is missing: pip install -r requirements.txt"
    return subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, check=False)


def test_workflow_matches_the_github_schema(tmp_path):
    done = validate(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    assert validate(broken).returncode != 0, "the schema check accepts a broken workflow"


def test_workflow_runs_the_readme_commands():
    readme_commands = re.findall(r"^(make \w+)\s+#", (ROOT / "README.md").read_text(), re.M)
    assert readme_commands == ["make book", "make test"]
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    runs = {step["run"] for name in ("test", "book") for step in jobs[name]["steps"] if "run" in step}
    assert runs == set(readme_commands)
    # YAML reads the key `on` as True
    assert yaml.safe_load(WORKFLOW.read_text())[True]["schedule"], "the weekly run is missing"


def test_weekly_upstream_job_floats_requirements_within_their_major_version(tmp_path):
    """The upstream job runs `make upstream-test`, whose requirements float each pin within its major version."""
    upstream = yaml.safe_load(WORKFLOW.read_text())["jobs"]["upstream"]
    assert "schedule" in upstream["if"]
    assert any(step.get("run", "").startswith("make upstream-test") for step in upstream["steps"])
    rule = re.search(r"^requirements-upstream.txt: requirements.txt\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M)
    target = tmp_path / "requirements-upstream.txt"
    recipe = rule.group(1).replace("$@", str(target)).replace("$$", "$")  # as make runs it
    subprocess.run(["bash", "-c", recipe], cwd=ROOT, check=True)
    packages = [line.split("#")[0].strip() for line in target.read_text().splitlines()]
    packages = [p for p in packages if p]
    pinned = [line.split("#")[0].strip().split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
              if "==" in line]
    expected = [f"{name}>={version},<{int(version.split('.')[0]) + 1}" for name, version in pinned]
    assert packages == expected, "every pinned requirement, floating within its major version, in the same order"
    assert "jupyter-book>=1.0.4.post1,<2" in packages  # Jupyter Book 2 is another tool
