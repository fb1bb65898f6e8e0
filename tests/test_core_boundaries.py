"""House rules that code review would otherwise have to remember."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_core_source_never_imports_streamlit():
    offenders = []
    for path in (REPO / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}" for n in names if n.split(".")[0] in {"streamlit", "streamlit_webrtc"}]
    assert offenders == [], f"core/ must not import streamlit: {offenders}"


def test_importing_every_core_module_loads_no_streamlit():
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in (REPO / "core").rglob("*.py")
        if p.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'streamlit_webrtc'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_importing_core_is_lazy():
    """Heavy libraries load only when a backend is created, so `python -m core --help` stays fast."""
    code = (
        "import sys, core.config, core.types, core.registry, core.detectors, core.embedders, core.emotions, core.gallery\n"
        "heavy = [m for m in ('tensorflow', 'deepface', 'dlib', 'fer') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


FRONT_ENDS = [*(REPO / "core" / "cli").glob("*.py"), REPO / "core" / "api.py", *(REPO / "dashboard").rglob("*.py"),
              *(REPO / "pages").glob("*.py"), REPO / "streamlit_app.py"]
#: What front-ends must reach through core/services: the stores of biometric and emotion data, and the audit writer.
WRITE_PATHS = {"core.gallery", "core.timeline.store", "core.timeline.maintenance", "core.timeline.fs", "core.fileio"}
AUDIT_WRITERS = {"audit", "append_audit", "audit_record"}


def test_front_ends_reach_stored_data_only_through_the_services():
    offenders = []
    for path in FRONT_ENDS:
        for line, module, names in _imports(path):
            where = f"{path.relative_to(REPO)}:{line}"
            if module in WRITE_PATHS or module == "core.privacy":
                offenders.append(f"{where} imports {module}")
            if module == "core.timeline" and set(names) - {"queries"}:
                offenders.append(f"{where} imports {sorted(set(names) - {'queries'})} from core.timeline")
            if module == "core.audit" and AUDIT_WRITERS & set(names):
                offenders.append(f"{where} writes the audit log itself ({sorted(AUDIT_WRITERS & set(names))})")
    assert offenders == [], "front-ends must call core/services: " + "; ".join(offenders)


def test_timeline_package_does_not_know_the_gallery():
    offenders = [f"{p.relative_to(REPO)}:{line}" for p in (REPO / "core" / "timeline").glob("*.py")
                 for line, module, _ in _imports(p) if module.startswith(("core.gallery", "core.services"))]
    assert offenders == [], f"core/timeline must not import the gallery or the services: {offenders}"
    code = "import sys, core.timeline; assert 'core.gallery' not in sys.modules, 'core.gallery loaded'"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_services_never_import_a_front_end():
    offenders = [f"{p.relative_to(REPO)}:{line} imports {module}" for p in (REPO / "core" / "services").glob("*.py")
                 for line, module, _ in _imports(p)
                 if module.startswith(("core.cli", "core.api", "dashboard", "pages", "fastapi", "streamlit"))]
    assert offenders == [], offenders


def test_modules_stay_small():
    """One responsibility per module: no module of the app over 520 lines (the ~500 of the house style)."""
    big = {str(p.relative_to(REPO)): n for p in [*(REPO / "core").rglob("*.py"), *(REPO / "dashboard").rglob("*.py"),
                                               *(REPO / "pages").glob("*.py")]
           if (n := len(p.read_text().splitlines())) > 520}
    assert big == {}, big
    thick_pages = {p.name: n for p in (REPO / "pages").glob("*.py") if (n := len(p.read_text().splitlines())) > 70}
    assert thick_pages == {}, f"pages are layout only (about 60 lines): {thick_pages}"
