"""Documentation stays true: the README, docs/, the generated config reference and the report front page.

* ``docs/config.md`` is the current rendering of the schema, and every schema key has a description;
* the README stays short (<= 150 lines) and its two quick-start commands are the ones ``.ci/run``
  relies on; its library example runs;
* every relative link (and ``#anchor``) in README.md and docs/ resolves;
* the source of the study design is named plainly, never as a bare "the textbook";
* the report's front page (``workflow/report/workflow.rst``) and the overview caption render through
  Jinja2 and reStructuredText without a warning for the default, the tiny and edge-case configs.
"""
from __future__ import annotations

import copy
import re
import runpy
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from mira.config import load_schema, read_config_file, validate_config
from mira.study import config_reference

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
REPORT = ROOT / "workflow" / "report"
MAX_README_LINES = 150

#: The README's two commands on a fresh machine, exactly (CI runs the second one's steps).
RUN_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && snakemake --cores 2"
TEST_COMMAND = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest'

#: How the source of the study design is named.
SOURCE = "the textbook chapter on medical image augmentation and restoration"


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def strip_fences(text: str) -> str:
    """The text without fenced code blocks (their '#' lines are no headings, their brackets no links)."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.DOTALL | re.MULTILINE)


def strip_code(text: str) -> str:
    """The text without code blocks and inline code spans (``E[M](A)`` is a formula, not a link)."""
    return re.sub(r"`[^`\n]*`", "", strip_fences(text))


def code_blocks(text: str, lang: str) -> list[str]:
    return [b.strip("\n") for b in re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)]


def slugs(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    text = strip_fences(path.read_text(encoding="utf-8"))
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


# ---- configuration reference ------------------------------------------------------------------


def test_config_reference_is_current():
    expected = config_reference.render(load_schema())
    current = (DOCS / "config.md").read_text(encoding="utf-8")
    assert current == expected, f"docs/config.md is out of date: run {config_reference.GENERATOR}"


def test_every_schema_key_has_a_description():
    missing = config_reference.missing_descriptions(load_schema())
    assert not missing, f"schema keys without a description (add one in workflow/schemas/): {missing}"


def test_config_reference_lists_every_key_with_its_default():
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    for key, default in [("seed", "`42`"), ("synthesis.cases.train", "(required)"),
                         ("inputs.<name>.on_unreadable", ""), ("restore.models.dncnn.depth", "`8`"),
                         ("restore.train_noise.<modality>[].range", ""),
                         ("evaluate.strategies.sizes", "`[4, 8, 16, 32, 64]`")]:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{key}` |")), None)
        assert row is not None, key
        assert row.split(" | ")[2] == default, row


def test_config_reference_check_mode(tmp_path, capsys):
    out = tmp_path / "config.md"
    assert config_reference.main(["--check", str(out)]) == 1          # missing
    assert config_reference.main([str(out)]) == 0
    assert config_reference.main(["--check", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    assert config_reference.main(["--check", str(out)]) == 1
    assert "out of date" in capsys.readouterr().err


# ---- README -------------------------------------------------------------------------------------


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; reference material belongs in docs/"


def test_readme_commands_are_the_ones_ci_runs():
    blocks = code_blocks(README.read_text(encoding="utf-8"), "bash")
    assert blocks[:2] == [RUN_COMMAND, TEST_COMMAND]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [re.sub(r"^python -m |(?<= install) -q", "", line.strip()) for line in ci.splitlines()]
    # the test command's steps: a venv, the test extra installed editable, pytest
    assert "python3 -m venv .venv" in ci_lines
    install = TEST_COMMAND.split(" && ")[2]
    assert install in ci_lines, f".ci/run does not run the README's install step {install!r}"
    assert any(line == "pytest" or line.startswith("pytest ") for line in ci_lines), ".ci/run does not run pytest"


def test_readme_library_example_runs(tmp_path, monkeypatch):
    blocks = code_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks, "README has no library example"
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "readme_example.py"
    script.write_text(blocks[0] + "\n", encoding="utf-8")
    runpy.run_path(str(script), run_name="readme_example")


# ---- links and wording ----------------------------------------------------------------------------


def test_relative_links_resolve():
    broken = []
    for md in markdown_files():
        for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", strip_code(md.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            dest = (md.parent / path).resolve() if path else md
            if not dest.is_file():
                broken.append(f"{md.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in slugs(dest):
                broken.append(f"{md.relative_to(ROOT)}: {target} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


def test_docs_pages_exist():
    for page in ["data-contract.md", "operations.md", "benchmarks.md", "architecture.md", "config.md",
                 *(f"stages/{s}.md" for s in ("data", "augment", "degrade", "restore", "evaluate"))]:
        assert (DOCS / page).is_file(), page


def test_study_source_is_named_plainly():
    files = [*markdown_files(), REPORT / "workflow.rst", REPORT / "overview.rst"]
    for path in files:
        text = " ".join(path.read_text(encoding="utf-8").split())
        bare = re.findall(r"the textbook(?! chapter on medical image augmentation and restoration)", text,
                          flags=re.IGNORECASE)
        assert not bare, f"{path.relative_to(ROOT)}: say '{SOURCE}', not a bare 'the textbook'"
    assert SOURCE in " ".join(README.read_text(encoding="utf-8").split())


# ---- report front page ---------------------------------------------------------------------------

#: Snakemake's own link targets appended to every caption and to the front page (snakemake.report).
RST_LINKS = textwrap.dedent("""

    .. _Workflow: javascript:show_panel('workflow')
    .. _Statistics: javascript:show_panel('statistics')
    {% for cat, catresults in categories|dictsort %}
    .. _{{ cat.name }}: javascript:app.showCategory('{{ cat.name|urlencode }}')
    {% endfor %}
    {% for res in files %}
    .. _{{ res.target }}: javascript:app.showResultInfo('{{ res.path|urlencode }}')
    {% endfor %}
    """)

CATEGORIES = ("Data", "Augmentation", "Degradation", "Restoration", "Super-resolution", "Findings",
              "Task-oriented evaluation", "Augmentation strategies", "Training")


class _Category:
    def __init__(self, name: str) -> None:
        self.name = name

    def __lt__(self, other: _Category) -> bool:
        return self.name < other.name


def render_rst(path: Path, snakemake, with_findings: bool = True) -> str:
    """Render a report .rst as Snakemake does (Jinja2, then docutils), failing on any rst warning."""
    jinja2 = pytest.importorskip("jinja2")
    docutils_core = pytest.importorskip("docutils.core")
    categories = {_Category(n): {} for n in CATEGORIES} if with_findings else {_Category("Data"): {}}
    findings = SimpleNamespace(target="findings.md", path="results/tables/evaluation/findings.md")
    files = [findings] if with_findings else []
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    rst = env.from_string(path.read_text(encoding="utf-8") + RST_LINKS).render(
        snakemake=snakemake, categories=categories, files=files)
    docutils_core.publish_parts(rst, writer="html", settings_overrides={"halt_level": 2, "report_level": 4})
    return rst


def _config(name: str) -> dict:
    return validate_config(read_config_file(ROOT / name))


def _front_page_configs() -> dict[str, dict]:
    default, tiny = _config("config.yaml"), _config("tests/config/tiny.yaml")
    no_inputs = copy.deepcopy(tiny)
    no_inputs["inputs"] = {}
    real_studied = copy.deepcopy(tiny)  # by default every real source is degraded and restored
    phantom_only = copy.deepcopy(tiny)
    phantom_only["degrade"]["sources"] = phantom_only["restore"]["sources"] = ["phantom"]
    no_sr = copy.deepcopy(tiny)
    no_sr["degrade"]["sr_scales"] = []
    return {"default": default, "tiny": tiny, "no_inputs": no_inputs, "real_studied": real_studied,
            "phantom_only": phantom_only, "no_sr": no_sr}


@pytest.mark.parametrize("name", ["default", "tiny", "no_inputs", "real_studied", "phantom_only", "no_sr"])
@pytest.mark.parametrize("with_findings", [True, False])
def test_front_page_renders_from_the_config(name, with_findings):
    cfg = _front_page_configs()[name]
    rst = render_rst(REPORT / "workflow.rst", SimpleNamespace(config=cfg), with_findings)
    assert SOURCE in " ".join(rst.split())
    assert ("findings.md_" in rst) == with_findings
    for source in cfg["inputs"]:
        assert f"``{source}``" in rst
    if not cfg["inputs"]:
        assert "No real images" in rst
    text = " ".join(rst.split())
    if name == "real_studied":
        assert "``pydicom_ct``, ``pydicom_us`` are degraded and restored" in text
        assert "**harmful on**" in text
    if name == "phantom_only":
        assert "degradation, restoration and the evaluation run on the phantoms" in text


def test_front_page_copies_no_number_from_a_run():
    """Numbers on the front page come from the config (Jinja2), never typed in from a run's tables."""
    text = re.sub(r"\{[{%#].*?[}%#]\}", "", (REPORT / "workflow.rst").read_text(encoding="utf-8"), flags=re.DOTALL)
    assert not re.findall(r"\d+(?:\.\d+)?\s*(?:dB|%|HU)|\b0\.\d+", text)


@pytest.mark.parametrize("source, real", [("phantom", False), ("phantom3d", False), ("pydicom_ct", True)])
def test_overview_caption_says_phantom_or_real(source, real):
    snakemake = SimpleNamespace(config=_config("config.yaml"), wildcards=SimpleNamespace(source=source, modality="ct"))
    rst = render_rst(REPORT / "overview.rst", snakemake)
    assert ("real images" in rst) == real
    assert ("synthetic phantoms" in rst) == (not real)
