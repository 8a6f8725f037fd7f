"""Every bad input of issue 12, as a user (or an upload, a link, a command line) would send it.

Each test asserts the one-line error that names what was wrong, and that nothing was written or
deleted. The zip bombs also measure how many bytes were actually inflated.
"""

import io
import json
import stat
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from rl_core.artifacts import folders, storage, zips
from rl_core.artifacts.folders import STORE_FOLDERS, AgentFolderError, rename_agent
from rl_core.artifacts.storage import MAX_MODEL_BYTES, load_agent, read_history, save_agent
from rl_core.artifacts.zips import import_agent_zip
from rl_core.cli import main
from rl_core.compute.studies import TuningSetup, parse_seed_list
from rl_core.config import BOUNDS, MAX_HIDDEN_LAYERS, MAX_HIDDEN_WIDTH, AgentConfig
from rl_core.learning.agent import QAgent
from rl_core.presets import config_from_query

TINY = dict(nn_hidden_layers=[8], batch_size=16, memory_size=500, n_steps_warm_up_memory=16)
GiB = 1024**3


def one_line(message: str) -> bool:
    return "\n" not in message.strip() and "Traceback" not in message


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (with its bytes): compared before and after to show nothing changed."""
    return (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if root.exists()
        else {}
    )


@pytest.fixture(scope="module")
def agent_files(tmp_path_factory) -> dict[str, bytes]:
    """A valid agent folder's files (untrained: only the formats matter here)."""
    folder = save_agent(
        QAgent(AgentConfig(**TINY)),
        tmp_path_factory.mktemp("a") / "agent",
        metrics={"seed": 0},
        history=[{"episode": 1, "reward": 9.0, "steps": 9, "epsilon": 0.9, "loss": "nan", "seconds": 0.1}],
    )
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def zip_of(files: dict[str, bytes], folder: str = "agent") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{folder}/{name}" if folder else name, data)
    return buffer.getvalue()


def refused(data: bytes, dest: Path, needle: str) -> str:
    """Import must fail with one line containing needle, and leave dest exactly as it was."""
    before = tree(dest)
    with pytest.raises(AgentFolderError) as info:
        import_agent_zip(data, dest, "up")
    message = str(info.value)
    assert needle in message, message
    assert one_line(message) and "weights_only" not in message
    assert tree(dest) == before and not any(p.name.startswith(".") for p in dest.glob("*"))
    return message


# --- zip bombs: counted on the decompressor's output, not on time ------------------------------


class CountingDecompressor:
    """Wraps zipfile's zlib decompressor and counts every byte it inflates."""

    inflated = 0

    def __init__(self, inner):
        self._inner = inner

    def decompress(self, data, max_length=0):
        out = self._inner.decompress(data, max_length)
        CountingDecompressor.inflated += len(out)
        return out

    def flush(self, *args):
        out = self._inner.flush(*args)
        CountingDecompressor.inflated += len(out)
        return out

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def inflated(monkeypatch):
    real = zipfile._get_decompressor
    CountingDecompressor.inflated = 0
    monkeypatch.setattr(zipfile, "_get_decompressor", lambda kind: CountingDecompressor(real(kind)))
    return CountingDecompressor


@pytest.fixture(scope="module")
def gib_of_zeros_deflated() -> bytes:
    """1 GiB of zeros as a raw deflate stream (about 1 MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1024 * 1024)
    parts = [packer.compress(chunk) for _ in range(1024)]
    return b"".join(parts) + packer.flush()


def bomb_zip(others: dict[str, bytes], deflated: bytes, declared: int) -> bytes:
    """An agent zip whose model.pt inflates to 1 GiB but declares ``declared`` bytes in its headers."""
    buffer = io.BytesIO(zip_of(others))
    with zipfile.ZipFile(buffer, "a") as zf:
        info = zipfile.ZipInfo("agent/model.pt")
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, b"x")  # a placeholder member, rewritten by hand below
    data = buffer.getvalue()
    local = data.rindex(b"PK\x03\x04")
    central = data.rindex(b"PK\x01\x02")
    name_len, extra_len = struct.unpack("<HH", data[local + 26 : local + 30])
    start = local + 30 + name_len + extra_len
    old_size = struct.unpack("<I", data[local + 18 : local + 22])[0]
    sizes = struct.pack("<III", 0, len(deflated), declared)  # crc, compressed size, declared size
    head = data[: local + 14] + sizes + data[local + 26 : start]
    tail = bytearray(data[start + old_size :])
    c = central - (start + old_size)  # the central entry's offset within tail
    tail[c + 16 : c + 28] = sizes
    shift = len(deflated) - old_size
    eocd = tail.rindex(b"PK\x05\x06")
    directory_offset = struct.unpack("<I", tail[eocd + 16 : eocd + 20])[0]
    tail[eocd + 16 : eocd + 20] = struct.pack("<I", directory_offset + shift)
    return head + deflated + bytes(tail)


@pytest.mark.parametrize("declared", [1000, 20 * 1024 * 1024, GiB])
def test_a_zip_bomb_is_refused_after_inflating_far_less_than_it_holds(
    tmp_path, agent_files, gib_of_zeros_deflated, inflated, declared
):
    others = {k: v for k, v in agent_files.items() if k != "model.pt"}
    data = bomb_zip(others, gib_of_zeros_deflated, declared)
    assert len(data) < 2 * 1024 * 1024
    message = refused(data, tmp_path / "runs", "model.pt")
    assert "upload: model.pt" in message
    # The honest header is refused before inflating; a lying one is read in chunks and stops at the
    # smaller of what it declared and the model's limit, never near the gigabyte it holds.
    assert inflated.inflated <= min(declared, MAX_MODEL_BYTES) + 2 * 1024 * 1024, inflated.inflated


def patched(data: bytes, local_offset: int, central_offset: int, value: int, size: str = "<H") -> bytes:
    """Set one field in every local header and central directory entry of a zip."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        i = out.find(signature)
        while i != -1:
            out[i + offset : i + offset + struct.calcsize(size)] = struct.pack(size, value)
            i = out.find(signature, i + 4)
    return bytes(out)


def test_an_encrypted_zip_is_refused_by_name(tmp_path, agent_files):
    data = patched(zip_of(agent_files), 6, 8, 0x1)  # general purpose flag bit 0: encrypted
    refused(data, tmp_path / "runs", "is encrypted")


def test_an_unknown_compression_is_refused_by_name(tmp_path, agent_files):
    data = patched(zip_of(agent_files), 8, 10, 99)  # 99: AES, which Python cannot read
    refused(data, tmp_path / "runs", "uses compression method 99")


def test_a_symlink_in_the_zip_is_refused(tmp_path, agent_files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in agent_files.items():
            if name != "model.pt":
                zf.writestr(f"agent/{name}", content)
        link = zipfile.ZipInfo("agent/model.pt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    refused(buffer.getvalue(), tmp_path / "runs", "is a symbolic link")


def test_two_folders_in_one_zip_are_refused(tmp_path, agent_files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i, (name, content) in enumerate(agent_files.items()):
            zf.writestr(f"{'ab'[i % 2]}/{name}", content)
    refused(buffer.getvalue(), tmp_path / "runs", "more than one folder")


def test_a_damaged_member_is_one_line(tmp_path, agent_files):
    data = bytearray(zip_of(agent_files))
    i = data.find(b"PK\x03\x04")
    data[i + 14 : i + 18] = b"\0\0\0\0"  # a wrong CRC in the local header: zipfile checks the central one
    central = data.find(b"PK\x01\x02")
    data[central + 16 : central + 20] = b"\1\2\3\4"
    refused(bytes(data), tmp_path / "runs", "damaged")


# --- metrics.json, history.csv, JSON depth ------------------------------------------------------


@pytest.mark.parametrize(
    "metrics,needle",
    [
        ({"best_evaluation": "x"}, "metrics.json: best_evaluation must be an object"),
        ({"final_evaluation": {"mean": "500"}}, "final_evaluation episodes must be a number"),
        ({"evaluations": [{"episode": 1, "mean": 1.0, "std": None}]}, "evaluations entry 0: std must be a number"),
        ({"seconds": True}, "metrics.json: seconds must be a number"),
        ({"message": "x" * 5000}, "metrics.json: message must be text of at most 1000"),
        ([1, 2], "metrics.json: must be a JSON object"),
    ],
)
def test_a_bad_metrics_json_is_refused_on_import(tmp_path, agent_files, metrics, needle):
    refused(zip_of({**agent_files, "metrics.json": json.dumps(metrics).encode()}), tmp_path / "runs", needle)


@pytest.mark.parametrize(
    "history,needle",
    [
        (b"\x89PNG garbage\x00", "history.csv"),
        (b"episode,reward\n1,2\n", "the first line must be episode,reward,steps,epsilon,loss,seconds"),
        (b"episode,reward,steps,epsilon,loss,seconds\n1,2,3,x,5,6\n", "line 2 holds something that is not a number"),
        (b"episode,reward,steps,epsilon,loss,seconds\n1,inf,3,4,5,6\n", "line 2"),
        (b"episode,reward,steps,epsilon,loss,seconds\n" + b"1,1,1,1,1,1\n" * 100_001, "100,001 rows; at most 100,000"),
        (b"episode,reward,steps,epsilon,loss,seconds\n" + b"1,1,1,1,1,1\n" * 5_000_000, "history.csv unpacks to more"),
    ],
)
def test_a_bad_history_csv_is_refused_on_import(tmp_path, agent_files, history, needle):
    refused(zip_of({**agent_files, "history.csv": history}), tmp_path / "runs", needle)


def test_a_huge_history_already_on_disk_is_refused_without_reading_it_all(tmp_path, agent_files):
    folder = tmp_path / "agent"
    folder.mkdir()
    with open(folder / "history.csv", "wb") as f:
        f.write(b"episode,reward,steps,epsilon,loss,seconds\n" + b"1,1,1,1,1,1\n" * 5_000_000)
    tracemalloc.start()
    with pytest.raises(AgentFolderError, match="history.csv: too large") as info:
        read_history(folder)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert one_line(str(info.value))
    assert peak < 3 * storage.MAX_HISTORY_BYTES  # the 60 MB file is never read whole


def test_history_is_read_once_per_file_version(tmp_path, agent_files, monkeypatch):
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "history.csv").write_bytes(agent_files["history.csv"])
    calls = []
    real = storage.parse_history
    monkeypatch.setattr(storage, "parse_history", lambda *a: calls.append(1) or real(*a))
    storage._history_cached.cache_clear()
    assert read_history(folder) == read_history(folder) != []
    assert len(calls) == 1
    (folder / "history.csv").write_bytes(agent_files["history.csv"] + b"2,10.0,10,0.8,nan,0.2\n")
    assert len(read_history(folder)) == 2 and len(calls) == 2


def test_json_nested_100k_deep_is_one_error_not_a_recursion_error(tmp_path, agent_files):
    deep = b"[" * 100_000 + b"]" * 100_000
    message = refused(zip_of({**agent_files, "hparams.json": deep}), tmp_path / "runs", "hparams.json: nested 100000")
    assert message == "upload: hparams.json: nested 100000 levels deep (at most 32)"
    refused(zip_of({**agent_files, "metrics.json": deep}), tmp_path / "runs2", "upload: metrics.json: nested 100000")


def test_nan_in_json_is_refused(tmp_path, agent_files):
    refused(zip_of({**agent_files, "metrics.json": b'{"seconds": NaN}'}), tmp_path / "runs", "not valid JSON")


# --- model.pt ------------------------------------------------------------------------------------


def test_float64_weights_that_overflow_float32_are_refused(tmp_path, agent_files):
    state = torch.load(io.BytesIO(agent_files["model.pt"]), weights_only=True)
    state = {k: v.double() for k, v in state.items()}
    state["0.weight"][0, 0] = 1e300  # finite as float64, infinite as float32
    buffer = io.BytesIO()
    torch.save(state, buffer)
    refused(
        zip_of({**agent_files, "model.pt": buffer.getvalue()}),
        tmp_path / "runs",
        "tensor 0.weight holds NaN or infinite values (as float32)",
    )


def test_a_pickled_object_upload_gets_plain_words_not_torch_advice(tmp_path, agent_files):
    buffer = io.BytesIO()
    torch.save(QAgent(AgentConfig(**TINY)).q_net, buffer)  # a whole module, not a state_dict
    message = refused(
        zip_of({**agent_files, "model.pt": buffer.getvalue()}),
        tmp_path / "runs",
        "model.pt: not a plain PyTorch state_dict",
    )
    assert "torch.load" not in message


def test_expected_shapes_are_computed_without_building_a_network(tmp_path, agent_files, monkeypatch):
    import rl_core.learning.agent
    import rl_core.learning.networks

    def no_network(*args):
        raise AssertionError("a network was built before model.pt was checked")

    monkeypatch.setattr(rl_core.learning.networks, "build_q_network", no_network)
    monkeypatch.setattr(rl_core.learning.agent, "build_q_network", no_network)
    hparams = json.loads(agent_files["hparams.json"])
    hparams["nn_hidden_layers"] = [MAX_HIDDEN_WIDTH] * MAX_HIDDEN_LAYERS  # allowed, but model.pt is the tiny one
    message = refused(
        zip_of({**agent_files, "hparams.json": json.dumps(hparams).encode()}),
        tmp_path / "runs",
        "model.pt: tensors do not match nn_hidden_layers",
    )
    assert one_line(message)


def test_hparams_beyond_the_bounds_are_refused_before_anything_is_built(tmp_path, agent_files, monkeypatch):
    import rl_core.learning.agent

    monkeypatch.setattr(rl_core.learning.agent, "build_q_network", lambda *a: pytest.fail("built a network"))
    hparams = json.loads(agent_files["hparams.json"])
    hparams["nn_hidden_layers"] = [4096] * 8
    refused(
        zip_of({**agent_files, "hparams.json": json.dumps(hparams).encode()}),
        tmp_path / "runs",
        "hparams.json: nn_hidden_layers may have at most 4 layers, got 8",
    )


def test_the_largest_allowed_network_saves_loads_and_uploads(tmp_path):
    """Every config the app accepts can be saved and loaded back: the size limits admit the largest."""
    config = AgentConfig(env_id="Acrobot-v1", nn_hidden_layers=[MAX_HIDDEN_WIDTH] * MAX_HIDDEN_LAYERS)
    assert config.errors() == {}
    agent = QAgent(config)
    folder = save_agent(agent, tmp_path / "big")
    assert (folder / "model.pt").stat().st_size <= MAX_MODEL_BYTES
    states = np.zeros((3, 6), dtype=np.float32)
    np.testing.assert_array_equal(load_agent(folder).agent.q_values(states), agent.q_values(states))
    data = zips.agent_zip_bytes(folder)
    assert len(data) <= zips.MAX_UPLOAD_BYTES
    imported = import_agent_zip(data, tmp_path / "runs", "big")
    assert load_agent(imported).agent.config == config


# --- links ---------------------------------------------------------------------------------------


def test_a_link_beyond_every_widget_is_trimmed_to_the_bounds():
    link = {
        "preset": "deep-fast",
        "nn_hidden_layers": "4096,4096,4096,4096",
        "memory_size": "10000000",
        "batch_size": "65536",
        "n_gradient_steps": "1000",
        "freq_steps_train": "1",
        "seed": "3",
    }
    config, _, notices = config_from_query(link)
    assert config.errors() == {}
    assert config.seed == 3 and config.freq_steps_train == 1  # the valid settings are kept
    dropped = {n.split("=")[0].removeprefix("ignored ") for n in notices}
    assert dropped == {"nn_hidden_layers", "memory_size", "batch_size", "n_gradient_steps"}
    assert all(one_line(n) for n in notices)


def test_every_bound_fits_the_largest_values_a_job_would_allocate():
    # memory_size floats per state dimension and batch rows stay small enough for one machine
    assert BOUNDS["memory_size"].high * 6 * 4 * 2 < 100 * 1024**2
    assert BOUNDS["batch_size"].high <= BOUNDS["memory_size"].high
    assert BOUNDS["n_steps_warm_up_memory"].high < float("inf") and BOUNDS["freq_steps_train"].high < float("inf")


# --- names ---------------------------------------------------------------------------------------


@pytest.fixture
def a_run(runs_dir):
    return save_agent(QAgent(AgentConfig(**TINY)), runs_dir / "mine")


@pytest.mark.parametrize(
    "name,needle",
    [
        ("", "the name is empty"),
        ("   ", "the name is empty"),
        (".", "'.' cannot be a name"),
        ("..", "'..' cannot be a name"),
        ("x" * 10_000, "the name has 10,000 characters; at most 80"),
        ("///", "has no letters or digits"),
    ],
)
def test_bad_run_names_are_refused_in_one_line(runs_dir, a_run, name, needle):
    before = tree(runs_dir)
    with pytest.raises(AgentFolderError) as info:
        rename_agent(a_run, name)
    assert needle in str(info.value) and one_line(str(info.value))
    assert tree(runs_dir) == before


def test_already_exists_is_only_about_the_cleaned_name(runs_dir, a_run):
    save_agent(QAgent(AgentConfig(**TINY)), runs_dir / "other")
    with pytest.raises(AgentFolderError, match="a run named 'other' already exists"):
        rename_agent(a_run, "other")
    # /tmp exists on the server, but the name becomes "tmp" inside the runs folder: no leak
    renamed = rename_agent(a_run, "/tmp")
    assert renamed == runs_dir / "tmp" and (renamed / "model.pt").is_file()


def test_a_study_name_cannot_climb_out_of_the_runs_folder(runs_dir, tmp_path):
    from rl_core.compute.tuning import run_study

    setup = TuningSetup(
        study_name="../../escaped",
        storage_url=f"sqlite:///{tmp_path / 's.db'}",
        space={
            "learning_rate": __import__("rl_core.compute.studies").compute.studies.ParamSpec("loguniform", 1e-4, 1e-2)
        },
        episodes=2,
        eval_episodes=2,
        target=None,
        prune=False,
        fixed={**TINY, "eval_every_episodes": 0},
    )
    run_study(setup, n_trials=1)
    assert (runs_dir / "tuning" / "escaped" / "trial-0000" / "model.pt").is_file()
    assert not (runs_dir.parent / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    with pytest.raises(ValueError, match="the name is empty"):
        TuningSetup(study_name="  ").check()


def test_a_huge_seed_range_is_refused_before_any_list_is_built():
    tracemalloc.start()
    with pytest.raises(ValueError, match="at most 50 seeds") as info:
        parse_seed_list("0-2000000")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert one_line(str(info.value)) and peak < 1024 * 1024, peak
    with pytest.raises(ValueError, match="at most 50 seeds"):
        parse_seed_list("0-1000000000")


# --- the CLI -------------------------------------------------------------------------------------

TRAIN = [
    "train",
    "--episodes",
    "2",
    "--quiet",
    *[a for k, v in TINY.items() for a in ("--set", f"{k}={json.dumps(v)}")],
    "--set",
    "eval_every_episodes=0",
]


def test_train_out_refuses_a_folder_that_is_not_an_agent(tmp_path, capsys):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("months of work")
    before = tree(out)
    assert main([*TRAIN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not an agent folder" in err and one_line(err)
    assert tree(out) == before


def test_train_out_replaces_an_agent_only_with_overwrite(tmp_path, capsys):
    out = save_agent(QAgent(AgentConfig(**TINY)), tmp_path / "agent")
    before = tree(out)
    assert main([*TRAIN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "add --overwrite" in err and one_line(err)
    assert tree(out) == before
    assert main([*TRAIN, "--overwrite", "--out", str(out)]) == 0
    assert tree(out) != before and load_agent(out).agent.config.n_episodes == 2


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--set", "nn_hidden_layers=[4096,4096]"], "nn_hidden_layers widths must be integers in 1..1024"),
        (["--set", "memory_size=10000000"], "memory_size must be an integer in [1, 1,000,000]"),
        (["--set", "freq_steps_train=100000000"], "freq_steps_train must be an integer in [1, 1,000,000]"),
    ],
)
def test_cli_set_reads_the_same_bounds(tmp_path, capsys, argv, needle):
    assert main([*TRAIN, *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert needle in err and one_line(err)
    assert not (tmp_path / "x").exists()


# --- pages: every bad input is caught, and user text is shown as text ---------------------------


def open_app(query: dict[str, str] | None = None, page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_a_valid_link_outside_the_old_widget_ranges_opens_the_train_page(runs_dir):
    at = open_app(
        {
            "preset": "deep-fast",
            "discount_factor": "0.5",
            "nn_hidden_layers": "1024,1024,1024,1024",
            "learning_rate": "0.5",
        },
        "pages/train.py",
    )
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="hp_discount_factor").value == 0.5
    assert at.slider(key="hp_layers_n").value == MAX_HIDDEN_LAYERS
    assert not at.warning and not at.button(key="train_start").disabled


def test_link_notices_never_render_markdown(runs_dir):
    at = open_app(
        {"preset": "deep-fast", "learning_rate": "![x](http://e.vil/p.png)", "seed": "<b>1</b>"}, "pages/train.py"
    )
    assert not at.exception
    bodies = [w.value for w in at.warning]
    assert len(bodies) == 2
    for body in bodies:
        assert "![" not in body and "](" not in body and "<b>" not in body, body


def test_runs_loads_a_config_beyond_the_old_widgets_into_train(runs_dir):
    config = AgentConfig(**{**TINY, "discount_factor": 0.5, "nn_hidden_layers": [1024] * 4, "learning_rate": 0.5})
    save_agent(QAgent(config), runs_dir / "wide")
    at = open_app(page="pages/runs.py")
    at.button(key="runs_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["hp_discount_factor"] == 0.5 and at.session_state["hp_layers_n"] == 4


@pytest.mark.parametrize("broken", ["metrics.json", "history.csv"])
@pytest.mark.parametrize("page", ["pages/evaluate.py", "pages/compare.py", "pages/runs.py", "pages/imitation.py"])
def test_a_run_with_a_bad_metrics_or_history_breaks_no_page(runs_dir, page, broken):
    folder = save_agent(QAgent(AgentConfig(**TINY)), runs_dir / "broken")
    if broken == "metrics.json":
        (folder / "metrics.json").write_text('{"best_evaluation": "x", "final_evaluation": "y"}')
    else:
        (folder / "history.csv").write_text("not,a,history\n")
    at = open_app(page=page)
    if page == "pages/evaluate.py":
        at.selectbox(key="eval_agent").set_value(str(folder)).run()
    if page == "pages/compare.py":
        at.multiselect(key="compare_agents").select(str(folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    if page in ("pages/evaluate.py", "pages/compare.py"):
        assert any(broken in e.value.replace("\\", "") for e in at.error)


def test_a_blank_dotted_or_store_folder_run_name_blocks_start_with_one_message(runs_dir):
    at = open_app(page="pages/train.py")
    for name in ("   ", "..", "x" * 500, "uploads", "tensorboard"):
        at.text_input(key="train_run_name").set_value(name).run()
        assert not at.exception
        assert at.button(key="train_start").disabled
        assert sum("name" in e.value for e in at.error) == 1
    assert {p.name for p in runs_dir.iterdir()} <= STORE_FOLDERS  # no run folder was claimed


# --- issue 22: the normaliser, metrics' ranges, half-precision weights, --out and --overwrite -----


@pytest.fixture(scope="module")
def normalized_files(tmp_path_factory) -> dict[str, bytes]:
    """A valid agent folder with a normalizer.json."""
    config = AgentConfig(**TINY, normalize_state=True, normalizer_steps=50)
    folder = save_agent(QAgent(config), tmp_path_factory.mktemp("n") / "agent", metrics={"seed": 0})
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize(
    "mean,std,needle",
    [
        ([1e300, 0, 0, 0], [1, 1, 1, 1], "mean[0] must be a number in [-1,000,000, 1,000,000] (as float32), got inf"),
        ([0, 0, 0, 0], [1, 1e-300, 1, 1], "std[1] must be a number in [1e-08, 1,000,000] (as float32), got 0"),
        ([0, 0, 0, 0], [1, 1, 0, 1], "std[2] must be a number in [1e-08, 1,000,000]"),
        ([0, 0, 0, 0], [1, 1, 1, -2], "std[3] must be a number in [1e-08, 1,000,000] (as float32), got -2"),
        ([0, 0, 0, 0], [1e7, 1, 1, 1], "std[0] must be a number in [1e-08, 1,000,000] (as float32), got 1e+07"),
        ([0, -2e6, 0, 0], [1, 1, 1, 1], "mean[1] must be a number in"),
    ],
)
def test_an_absurd_normalizer_is_refused_at_load_and_upload(tmp_path, normalized_files, mean, std, needle):
    normalizer = json.dumps({"mean": mean, "std": std}).encode()
    message = refused(zip_of({**normalized_files, "normalizer.json": normalizer}), tmp_path / "runs", needle)
    assert message.startswith("upload: normalizer.json: ")
    folder = tmp_path / "on-disk"
    folder.mkdir()
    for name, data in {**normalized_files, "normalizer.json": normalizer}.items():
        (folder / name).write_bytes(data)
    with pytest.raises(AgentFolderError) as info:
        load_agent(folder)
    assert str(info.value).startswith(f"{folder / 'normalizer.json'}: ")
    assert needle in str(info.value) and one_line(str(info.value))


def test_a_normalizer_at_the_fit_floor_still_loads(tmp_path, normalized_files):
    # fit_random floors std at 1e-6, which float32 rounds to just under 1e-6: inside the range
    normalizer = json.dumps({"mean": [0, 0, 0, 0], "std": [1e-6, 1, 1, 1e6]}).encode()
    imported = import_agent_zip(zip_of({**normalized_files, "normalizer.json": normalizer}), tmp_path / "runs", "up")
    assert load_agent(imported).agent.normalizer is not None


@pytest.mark.parametrize(
    "metrics,needle",
    [
        ({"seconds": 1e308}, "metrics.json: seconds must be a number in [0, 100,000,000], got 1e+308"),
        ({"env_steps": -5}, "metrics.json: env_steps must be a number in [0, 50,000,000], got -5"),
        ({"n_parameters": 1e12}, "metrics.json: n_parameters must be a number in [0, "),
        ({"episodes": 1e30}, "metrics.json: episodes must be a number in [0, 100,000], got 1e+30"),
        (
            {"best_evaluation": {"episode": 1, "mean": 1e308, "std": 0}},
            "best_evaluation mean must be a number in [-1000, 1000], got 1e+308",
        ),
        ({"evaluations": [{"episode": 1, "mean": 1, "std": -1}]}, "evaluations entry 0: std must be a number in"),
        (
            {"final_evaluation": {"episodes": 0, "mean": 1, "std": 0}},
            "final_evaluation episodes must be a number in [1, 100,000], got 0",
        ),
        ({"last_evaluation": {"episode": 1, "mean": 1, "std": 0, "solved_share": 2}}, "solved_share must be"),
    ],
)
def test_metrics_out_of_their_ranges_are_refused(tmp_path, agent_files, metrics, needle):
    refused(zip_of({**agent_files, "metrics.json": json.dumps(metrics).encode()}), tmp_path / "runs", needle)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_load_as_exactly_the_same_float32_values(tmp_path, agent_files, dtype):
    """Every float16 and bfloat16 value is a float32 value: they are read as float32 on purpose, losing nothing."""
    state = torch.load(io.BytesIO(agent_files["model.pt"]), weights_only=True)
    half = {k: v.to(dtype) for k, v in state.items()}
    buffer = io.BytesIO()
    torch.save(half, buffer)
    imported = import_agent_zip(zip_of({**agent_files, "model.pt": buffer.getvalue()}), tmp_path / "runs", "up")
    loaded = load_agent(imported).agent.q_net.state_dict()
    for key, tensor in half.items():
        assert loaded[key].dtype == torch.float32
        assert torch.equal(loaded[key], tensor.to(torch.float32)), key
        assert torch.equal(loaded[key].to(dtype), tensor), key  # the round trip is exact


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A copy of a pretrained agent folder, in a pretrained/ folder the test owns (never the real one)."""
    import shutil

    root = tmp_path / "pretrained"
    shutil.copytree(Path(__file__).resolve().parent.parent / "pretrained" / "cartpole-linear-q", root / "agent")
    monkeypatch.setattr(folders, "PRETRAINED_DIR", root)
    return root / "agent"


@pytest.mark.parametrize("where", ["agent", "agent/inner", "new-one", "../pretrained/agent"])
def test_train_never_writes_under_pretrained(shipped, capsys, where):
    root = shipped.parent
    before = tree(root)
    out = root / where
    assert main([*TRAIN, "--overwrite", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "inside pretrained/, the shipped agents; choose a folder outside it" in err and one_line(err)
    assert tree(root) == before


def test_overwrite_replaces_the_agent_files_only(tmp_path, capsys):
    config = AgentConfig(**TINY, normalize_state=True, normalizer_steps=50)
    out = save_agent(QAgent(config), tmp_path / "agent", metrics={"seed": 0})
    others = {"README.md": b"# my notes\n", "replay.gif": b"GIF89a...", "owner.json": b'{"owner": "me"}'}
    for name, data in others.items():
        (out / name).write_bytes(data)
    (out / "logs").mkdir()
    (out / "logs" / "events").write_bytes(b"tensorboard")
    old_model = (out / "model.pt").read_bytes()
    assert main([*TRAIN, "--overwrite", "--out", str(out)]) == 0
    capsys.readouterr()
    for name, data in others.items():
        assert (out / name).read_bytes() == data, name
    assert (out / "logs" / "events").read_bytes() == b"tensorboard"
    assert (out / "model.pt").read_bytes() != old_model
    assert not (out / "normalizer.json").exists()  # an agent file of the old agent, which the new one has not
    assert load_agent(out).agent.config.n_episodes == 2
    assert json.loads((out / "metrics.json").read_text())["episodes"] == 2 and len(read_history(out)) == 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
