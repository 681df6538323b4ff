"""The lanes (tests/lanes.py): each test in exactly one, the closest marker wins, `slow(**params)` takes only the
cases it names, `-m LANE` selects exactly that lane, and a test in no lane or in two stops the run. Checked on a
small suite written here, collected by a separate pytest with the same hook and the markers of pyproject.toml.
(The real suite is checked by the same hook on every run: tests/conftest.py takes it in.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from tests.lanes import LANES

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]

SUITE = {
    "test_mixed.py": """
        import pytest

        pytestmark = pytest.mark.app

        LONG = "a long text " * 50


        def test_page():
            pass


        @pytest.mark.fast
        def test_pure():
            pass


        @pytest.mark.models
        @pytest.mark.slow(text=LONG)
        @pytest.mark.parametrize("text", ["short", LONG])
        def test_parity(text):
            pass


        @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.browser)])
        def test_cases(n):
            pass


        @pytest.mark.models
        class TestLoaded:
            def test_in_the_class_lane(self):
                pass

            @pytest.mark.fast
            def test_its_own(self):
                pass
    """,
    "test_plain.py": """
        import pytest

        pytestmark = [pytest.mark.fast, pytest.mark.skipif(False, reason="other markers stay")]


        def test_one():
            pass
    """,
    "test_overridden.py": """
        import pytest

        pytestmark = pytest.mark.browser


        @pytest.mark.app
        def test_every_test_names_its_own():
            pass
    """,
}

EXPECTED = {
    "app": [
        "test_mixed.py::test_page",
        "test_mixed.py::test_cases[1]",
        "test_overridden.py::test_every_test_names_its_own",
    ],
    "fast": ["test_mixed.py::test_pure", "test_mixed.py::TestLoaded::test_its_own", "test_plain.py::test_one"],
    "models": ["test_mixed.py::test_parity[short]", "test_mixed.py::TestLoaded::test_in_the_class_lane"],
    "browser": ["test_mixed.py::test_cases[2]"],
    "slow": ["test_mixed.py::test_parity[text1]"],
}


def registered_markers() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return {line.split(":", 1)[0].split("(", 1)[0]: line for line in config["markers"]}


def write_suite(folder: Path, files: dict[str, str]) -> None:
    markers = "\n".join(f"    {line}" for line in registered_markers().values())
    (folder / "pytest.ini").write_text(
        f"[pytest]\naddopts = --strict-markers -p no:cacheprovider\nmarkers =\n{markers}\n"
    )
    (folder / "conftest.py").write_text("from tests.lanes import pytest_collection_modifyitems  # noqa: F401\n")
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source))


def collect(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # 0.2 s a run, not 1 s
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def collected(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_lanes_are_the_registered_markers_and_design_s():
    assert set(registered_markers()) >= set(LANES)
    assert all("lane" in registered_markers()[lane] for lane in LANES)


def test_each_test_is_in_the_one_lane_closest_to_it_and_m_selects_it(tmp_path):
    write_suite(tmp_path, SUITE)
    everything = collect(tmp_path)
    assert everything.returncode == 0, everything.stdout + everything.stderr
    lanes = {lane: sorted(collected(collect(tmp_path, "-m", lane))) for lane in LANES}
    assert lanes == {lane: sorted(tests) for lane, tests in EXPECTED.items()}
    assert sorted(collected(everything)) == sorted(t for tests in lanes.values() for t in tests)
    not_slow = collected(collect(tmp_path, "-m", "models and not slow"))
    assert sorted(not_slow) == sorted(EXPECTED["models"])


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("def test_forgotten():\n    pass\n", "test_bad.py::test_forgotten: in no lane"),
        (
            "import pytest\n\n@pytest.mark.fast\n@pytest.mark.app\ndef test_twice():\n    pass\n",
            "test_bad.py::test_twice: in 2 lanes at once (app, fast)",
        ),
        (
            "import pytest\npytestmark = pytest.mark.models\n\n@pytest.mark.slow(text='gone')\n"
            "@pytest.mark.parametrize('text', ['a', 'b'])\ndef test_renamed(text):\n    pass\n",
            "test_bad.py::test_renamed: slow(text='gone') matches none of its cases",
        ),
        (
            "import pytest\npytestmark = pytest.mark.models\n\n@pytest.mark.slow(txt='a')\n"
            "@pytest.mark.parametrize('text', ['a'])\ndef test_misspelt(text):\n    pass\n",
            "slow names parameters the test does not have: ['txt']",
        ),
    ],
    ids=["none", "two", "no-case", "no-parameter"],
)
def test_a_test_in_no_lane_or_in_two_stops_the_run(tmp_path, source, complaint):
    write_suite(tmp_path, {"test_bad.py": source, "test_good.py": "import pytest\n\npytestmark = pytest.mark.fast\n"})
    done = collect(tmp_path)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert complaint in done.stderr, done.stderr
