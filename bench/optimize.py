"""Parameter optimization throughput: our kernel against backtesting.py and vectorbt, in one run.

Same data (backtesting.py's bundled GOOG daily and EURUSD hourly bars), same SmaCross grid,
same rules (signal on close, fill at next open, all equity in whole units, reverse on the
opposite cross). Printed per engine: backtests per second (wall clock, and per CPU second of
this process where it runs in one process) and agreement with backtesting.py.

- kernel: ``domain.backtest.run_many`` over the whole grid in this one process;
- backtesting.py: ``Backtest.optimize`` (its own process pool) over a measured subset;
- vectorbt: ``MA.run`` + ``Portfolio.from_signals`` over the whole grid in column chunks, with
  final value, return, trade count, Sharpe and max drawdown (the figures ``optimize`` ranks by).

Agreement: the kernel and vectorbt are compared with backtesting.py's final equity on the
subset it ran (relative 1e-9), and vectorbt with the kernel on the whole grid.
Bar-steps per second per core = backtests x bars / CPU seconds of the kernel.

Targets (issue 9): kernel >= 10x vectorbt and >= 300x backtesting.py; the Ray job >= 70% of
the kernel's rate x cores; a 10x larger grid costs <= 10.5x the time (``--ray`` section).

Run: .venv/bin/python bench/optimize.py [--quick] [--ray]
(vectorbt is the optional ``bench`` extra: pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402
from backtesting.test import EURUSD, GOOG, SMA  # noqa: E402

from domain.backtest import Bars, get_strategy, run_many  # noqa: E402

DATASETS = {"GOOG": GOOG, "EURUSD": EURUSD}


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self) -> None:
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


@dataclass
class Rate:
    runs: int
    wall: float
    cpu: float | None = None

    @property
    def per_s(self) -> float:
        return self.runs / self.wall

    @property
    def per_cpu_s(self) -> float:
        return self.runs / self.cpu if self.cpu else float("nan")


def grid(quick: bool) -> list[dict[str, float | int]]:
    """10,622 pairs (21,244 backtests over the two data sets: issue 9 asks for at least
    10,000 parameter sets over at least 2 data sets); ``--quick`` 5,298."""
    step = 2 if quick else 1
    return get_strategy("sma_cross").grid({"n1": range(2, 62), "n2": range(10, 210, step)})


def run_kernel(
    frames: dict[str, pd.DataFrame], params: list[dict[str, float | int]]
) -> tuple[Rate, int, dict[str, np.ndarray]]:
    bars = {name: Bars.from_frame(df) for name, df in frames.items()}
    for b in bars.values():  # compile (or load the numba cache) outside the measurement
        run_many(b, "sma_cross", params[:2])
    finals: dict[str, np.ndarray] = {}
    steps = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for name, b in bars.items():
        stats = run_many(b, "sma_cross", params)  # indicators: each window once per data set
        finals[name] = np.array([s.equity_final for s in stats])
        steps += len(params) * len(b)
    rate = Rate(len(params) * len(bars), time.perf_counter() - wall, time.process_time() - cpu)
    return rate, steps, finals


def run_backtesting_py(
    frames: dict[str, pd.DataFrame], n1: list[int], n2: list[int]
) -> tuple[Rate, dict[str, pd.Series]]:
    heatmaps: dict[str, pd.Series] = {}
    runs = 0
    wall = time.perf_counter()
    for name, df in frames.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = Backtest(df, SmaCross, cash=10_000, commission=0.0)
            _, heat = bt.optimize(
                n1=n1, n2=n2, constraint=lambda p: p.n1 < p.n2, maximize="Equity Final [$]",
                return_heatmap=True,
            )  # fmt: skip
        heatmaps[name] = heat
        runs += len(heat) + 1  # optimize re-runs the best set once more
    return Rate(runs, time.perf_counter() - wall), heatmaps


def run_backtesting_py_single(
    frames: dict[str, pd.DataFrame], pairs: list[tuple[int, int]]
) -> Rate:
    """``Backtest.run`` in this process: a per-CPU-second figure that machine load does not skew."""
    runs = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for df in frames.values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = Backtest(df, SmaCross, cash=10_000, commission=0.0)
            for a, b in pairs:
                bt.run(n1=a, n2=b)
                runs += 1
    return Rate(runs, time.perf_counter() - wall, time.process_time() - cpu)


def _vbt_chunk(vbt: object, df: pd.DataFrame, pairs: list[dict[str, float | int]]) -> np.ndarray:
    close, open_ = df["Close"].to_numpy(), df["Open"].to_numpy()
    windows = sorted({int(p["n1"]) for p in pairs} | {int(p["n2"]) for p in pairs})
    ma = vbt.MA.run(close, window=windows).ma.to_numpy()  # type: ignore[attr-defined]
    col = {w: i for i, w in enumerate(windows)}
    fast = ma[:, [col[int(p["n1"])] for p in pairs]]
    slow = ma[:, [col[int(p["n2"])] for p in pairs]]
    up = np.zeros(fast.shape, dtype=bool)
    down = np.zeros(fast.shape, dtype=bool)
    # signal on bar i-1's close, filled at bar i's open
    up[2:] = (fast[1:-1] > slow[1:-1]) & (fast[:-2] < slow[:-2])
    down[2:] = (fast[1:-1] < slow[1:-1]) & (fast[:-2] > slow[:-2])
    pf = vbt.Portfolio.from_signals(  # type: ignore[attr-defined]
        close[:, None], entries=up, short_entries=down, price=open_[:, None], init_cash=10_000,
        size=np.inf, size_granularity=1, upon_opposite_entry="reverse", freq="1D",
    )  # fmt: skip
    pf.total_return(), pf.trades.closed.count(), pf.sharpe_ratio(), pf.max_drawdown()
    return np.asarray(pf.final_value())


def run_vectorbt(
    frames: dict[str, pd.DataFrame], params: list[dict[str, float | int]]
) -> tuple[Rate, dict[str, np.ndarray]] | None:
    try:
        import vectorbt as vbt
    except ImportError:
        return None
    _vbt_chunk(vbt, GOOG, params[:3])  # numba compilation outside the measurement
    finals: dict[str, np.ndarray] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, df in frames.items():
            chunks = [params[i : i + 1000] for i in range(0, len(params), 1000)]
            finals[name] = np.concatenate([_vbt_chunk(vbt, df, c) for c in chunks])
    rate = Rate(len(params) * len(frames), time.perf_counter() - wall, time.process_time() - cpu)
    return rate, finals


def agreement(ours: np.ndarray, theirs: np.ndarray) -> str:
    ok = np.isclose(ours, theirs, rtol=1e-9, atol=0)
    return f"{int(ok.sum())}/{len(ok)} equal final equity (rel 1e-9)"


def ray_figures(
    frames: dict[str, pd.DataFrame], params: list[dict[str, float | int]], kernel: Rate
) -> None:
    """=== Ray job section: the jobs layer fills this in (``--ray``). ===

    To print: backtests/s of the whole optimization job through Ray on all cores for ``params``
    over every data set in ``frames`` (>= 10,000 parameter sets in all), the ratio to
    ``kernel.per_cpu_s * cores`` (target >= 70%), agreement with the kernel's results, and the
    time of a 10x larger grid relative to this one (target <= 10.5x).
    """
    from bench.optimize_ray import print_section, ray_section

    print_section(ray_section(frames, params, kernel.per_cpu_s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid, fewer reference runs")
    parser.add_argument("--ray", action="store_true", help="also measure the Ray job")
    args = parser.parse_args()
    params = grid(args.quick)
    total = len(params) * len(DATASETS)
    print(f"data: GOOG {len(GOOG)} daily bars, EURUSD {len(EURUSD)} hourly bars")
    print(f"grid: SmaCross {len(params)} pairs -> {total} backtests; {os.cpu_count()} cores")

    kernel, steps, kfinals = run_kernel(DATASETS, params)
    per_core = steps / (kernel.cpu or kernel.wall) / 1e6
    print(
        f"kernel (1 process): {kernel.per_s:,.0f} backtests/s wall, "
        f"{kernel.per_cpu_s:,.0f} per CPU-s ({kernel.runs} runs, {kernel.wall:.2f} s)"
    )
    print(f"kernel bar-steps: {per_core:,.1f} M per second per core")

    n1, n2 = [5, 10, 20], [30, 60, 120]
    if not args.quick:
        n1, n2 = [5, 10, 15, 20, 25], [30, 50, 80, 120, 160, 200]
    bpy, heatmaps = run_backtesting_py(DATASETS, n1, n2)
    print(
        f"backtesting.py Backtest.optimize: {bpy.per_s:,.1f} backtests/s wall "
        f"({bpy.runs} runs, {bpy.wall:.1f} s)"
    )
    single = run_backtesting_py_single(DATASETS, [(10, 30), (20, 80), (5, 160)])
    print(
        f"backtesting.py Backtest.run (1 process): {single.per_s:,.1f} backtests/s wall, "
        f"{single.per_cpu_s:,.1f} per CPU-s ({single.runs} runs)"
    )
    index = {(int(p["n1"]), int(p["n2"])): i for i, p in enumerate(params)}
    refs = {name: heat.dropna() for name, heat in heatmaps.items()}  # no figure without trades
    for name, heat in refs.items():
        ours = np.array([kfinals[name][index[(int(a), int(b))]] for a, b in heat.index])
        print(f"  {name}: kernel vs backtesting.py {agreement(ours, heat.to_numpy())}")

    vb = run_vectorbt(DATASETS, params)
    if vb is None:
        print("vectorbt: not installed (pip install -e '.[bench]'); no figure")
    else:
        vrate, vfinals = vb
        print(
            f"vectorbt (1 process): {vrate.per_s:,.0f} backtests/s wall, "
            f"{vrate.per_cpu_s:,.0f} per CPU-s ({vrate.wall:.1f} s)"
        )
        for name, heat in refs.items():
            theirs = np.array([vfinals[name][index[(int(a), int(b))]] for a, b in heat.index])
            print(f"  {name}: vectorbt vs backtesting.py {agreement(theirs, heat.to_numpy())}")
            whole = agreement(vfinals[name], kfinals[name])
            print(f"  {name}: vectorbt vs kernel, whole grid {whole}")
        print(
            f"ratio kernel / vectorbt: {kernel.per_s / vrate.per_s:,.1f}x wall, "
            f"{kernel.per_cpu_s / vrate.per_cpu_s:,.1f}x per CPU-s (target >= 10x)"
        )
    print(
        f"ratio kernel (1 process) / backtesting.py optimize (its pool): "
        f"{kernel.per_s / bpy.per_s:,.0f}x (target >= 300x)"
    )
    ratio = kernel.per_cpu_s / single.per_cpu_s
    print(f"ratio kernel / backtesting.py, both 1 process: {ratio:,.0f}x per CPU-s")
    if args.ray:
        ray_figures(DATASETS, params, kernel)


if __name__ == "__main__":
    main()
