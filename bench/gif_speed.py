"""Time and size of a full 500-step CartPole episode as a GIF at the default settings.

    python bench/gif_speed.py [--agent pretrained/cartpole-deep-q] [--repeats 3]

The app's path: ``record_gif`` plays the episode and streams each frame into the encoder
(shrink, label, map to the episode's one palette), and imageio's v3 API writes the file. The
write is timed separately, and the same frames are also written by Pillow directly (frames that
carry the palette already), the same bytes, to show what going through imageio costs.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _common import machine  # noqa: E402
from PIL import Image  # noqa: E402

from rl_core import load_agent  # noqa: E402
from rl_core.present.rendering import GifWriter, record_gif  # noqa: E402


def pillow_direct(writer: GifWriter) -> bytes:
    """The same GIF (byte for byte), written by Pillow without imageio (for comparison only)."""
    palette = writer._palette.getpalette()
    frames = []
    for indexed in writer._indexed:
        image = Image.frombytes("P", (indexed.shape[1], indexed.shape[0]), indexed.tobytes())
        image.putpalette(palette)
        frames.append(image)
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=writer.duration,
        loop=0,
        optimize=False,
        disposal=1,
        palette=bytes(palette),
    )
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="pretrained/cartpole-deep-q")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # so that CPU time measures one core's work
    agent = load_agent(args.agent).agent
    print(f"# {machine()}")
    start = time.perf_counter()
    record_gif(agent, agent.config.env_id, seed=0)
    first = time.perf_counter() - start  # includes setting up pygame and the rendering env
    totals, cpus, writes, directs = [], [], [], []
    finish = GifWriter.finish
    captured: list[GifWriter] = []

    def timed_finish(self: GifWriter) -> bytes:
        captured.append(self)
        t = time.perf_counter()
        out = finish(self)
        writes.append(time.perf_counter() - t)
        return out

    GifWriter.finish = timed_finish
    for _ in range(args.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        gif, episode = record_gif(agent, agent.config.env_id, seed=0)
        totals.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        t = time.perf_counter()
        direct = pillow_direct(captured[-1])
        directs.append(time.perf_counter() - t)
        assert direct == gif, "Pillow's direct write should give the very same file"
    image = Image.open(io.BytesIO(gif))
    print(
        json.dumps(
            {
                "steps": episode.steps,
                "frames": image.n_frames,
                "frame_ms": image.info["duration"],
                "loop": image.info["loop"],
                "bytes": len(gif),
                "width": image.size[0],
                "first_gif_seconds": round(first, 3),
                "median_total_seconds": round(statistics.median(totals), 3),
                # CPU time of this process: close to the wall time on an idle machine, and far less
                # disturbed than wall time when other processes share the cores
                "median_total_cpu_seconds": round(statistics.median(cpus), 3),
                "median_imageio_write_seconds": round(statistics.median(writes), 3),
                "median_pillow_direct_write_seconds": round(statistics.median(directs), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
