"""The app's start-up imports: pandas is whole before any session can draw a chart.

Plotly looks pandas up in sys.modules without importing it (_plotly_utils.optional_imports.get_module
with should_load=False) on every figure it validates or serialises. While one session's thread is
still importing pandas (a page's ``import pandas``), another session drawing a chart found the half
imported module: ``AttributeError: partially initialized module 'pandas' has no attribute 'Series'``
(8 times in one CI run's server log, at cold start). Reproduced here deterministically: an import
hook holds the other session's pandas import half-way while this thread draws a figure.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RACE = r"""
import sys, threading
sys.path.insert(0, {root!r})
held, release = threading.Event(), threading.Event()

class HoldPandasHalfway:
    # in the other session's thread, stop pandas' import at one of its submodules: pandas is then
    # in sys.modules, partially initialized, as it was while a page's `import pandas` was running
    def find_spec(self, name, path=None, target=None):
        if name == "pandas.core.frame" and threading.current_thread().name == "other-session":
            held.set()
            release.wait(60)
        return None

sys.meta_path.insert(0, HoldPandasHalfway())
{startup}
import plotly.graph_objects as go
import plotly.io

def other_session():
    import pandas  # noqa: F401  (what the board, runs or tune page does first)

thread = threading.Thread(target=other_session, name="other-session")
thread.start()
held.wait(5)  # pandas was whole already when this wait times out: nothing is held then
try:
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[4.0, 5.0, 6.0], name="reward"))
    plotly.io.to_json(figure, validate=False)
    print("drawn")
except AttributeError as exc:
    print("failed:", exc)
finally:
    release.set()
    thread.join()
"""


def draw_during_another_sessions_pandas_import(startup: str) -> str:
    script = RACE.format(root=str(ROOT), startup=startup)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_after_the_apps_start_up_imports_a_chart_never_meets_a_half_imported_pandas():
    # app.py imports pages._ui before anything else, in every session's first run
    assert draw_during_another_sessions_pandas_import("import pages._ui") == "drawn"
