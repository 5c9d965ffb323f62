"""Command-line arguments of an optimization, shared by ``elson optimize`` and
``python -m jobs.optimize``, turned into the one ``OptimizationRequest``.

``--data`` takes ``PATH`` (a .csv or .parquet of bars), ``replay:PATH:SYMBOL`` (the bar
rows of one symbol of a replay file) or ``simulated:SYMBOL:BARS[:SEED]``; ``upload:ID``
names a file uploaded through the API. ``--param fast=5,10,20`` or ``--param
fast=5:50:5`` (inclusive) narrows the grid.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from domain.errors import ValidationFailed
from domain.optimization import DataSource, OptimizationRequest


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--job-id", help="run or resume this stored job (other options ignored)")
    p.add_argument("--request", help="the request as a JSON file (the API's body)")
    p.add_argument("--strategy", help="sma_cross, rsi_reversion, bollinger_breakout, momentum")
    p.add_argument("--data", help="PATH | replay:PATH:SYMBOL | simulated:SYMBOL:BARS[:SEED]")
    p.add_argument("--search", choices=("grid", "random", "bayesian"), default="grid")
    p.add_argument("--trials", type=int, help="number of trials (random, bayesian)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--objective", default="sharpe_ratio")
    p.add_argument("--min-trades", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2|LO:HI:STEP")
    p.add_argument("--walk-forward", metavar="TRAIN:TEST[:rolling|expanding]")
    p.add_argument("--cash", default="10000")
    p.add_argument("--commission", default="0")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--owner", help="user id owning the job (progress on their jobs stream)")
    p.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)


def parse_data(raw: str) -> DataSource:
    parts = raw.split(":")
    if parts[0] == "simulated":
        if len(parts) not in (3, 4):
            raise ValidationFailed("data", "format", "simulated:SYMBOL:BARS[:SEED]")
        seed = int(parts[3]) if len(parts) == 4 else 0
        return DataSource(kind="simulated", symbol=parts[1], bars=_int("data", parts[2]), seed=seed)
    if parts[0] == "replay":
        if len(parts) != 3:
            raise ValidationFailed("data", "format", "replay:PATH:SYMBOL")
        return DataSource(kind="replay", path=parts[1], symbol=parts[2])
    if parts[0] == "upload" and len(parts) == 2:
        return DataSource(kind="upload", upload_id=parts[1])
    return DataSource(kind="file", path=str(Path(raw).resolve()))


def _int(field: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationFailed(field, "integer", f"{field}: {raw!r} is not an integer") from exc


def _float(field: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise ValidationFailed(field, "number", f"{field}: {raw!r} is not a number") from exc


def parse_param(raw: str) -> tuple[str, tuple[float, ...]]:
    name, sep, values = raw.partition("=")
    name = name.strip()
    if not sep or not name or not values:
        raise ValidationFailed("params", "format", "--param NAME=V1,V2 or NAME=LO:HI:STEP")
    field = f"params.{name}"
    if ":" in values:
        bits = values.split(":")
        if len(bits) != 3:
            raise ValidationFailed(field, "format", "LO:HI:STEP")
        lo, hi, step = (_float(field, b) for b in bits)
        if step <= 0 or hi < lo:
            raise ValidationFailed(field, "range", "need STEP > 0 and LO <= HI")
        count = round((hi - lo) / step) + 1
        return name, tuple(round(lo + i * step, 10) for i in range(count))
    return name, tuple(_float(field, v) for v in values.split(",") if v.strip())


def request_from_args(args: argparse.Namespace) -> OptimizationRequest:
    if args.request:
        try:
            raw: dict[str, Any] = json.loads(Path(args.request).read_text())
        except (OSError, ValueError) as exc:
            raise ValidationFailed("request", "unreadable", f"--request: {exc}") from exc
        return OptimizationRequest.from_dict(raw)
    if not args.strategy:
        raise ValidationFailed("strategy", "required", "give --strategy (or --job-id)")
    if not args.data:
        raise ValidationFailed("data", "required", "give --data")
    wf = None
    if args.walk_forward:
        bits = args.walk_forward.split(":")
        wf = {
            "train": _int("walk_forward.train", bits[0]),
            "test": _int("walk_forward.test", bits[1] if len(bits) > 1 else ""),
        }
        if len(bits) > 2:
            wf["mode"] = bits[2]
    return OptimizationRequest.from_dict(
        {
            "strategy": args.strategy,
            "data": parse_data(args.data).as_dict(),
            "search": args.search,
            "params": dict(parse_param(p) for p in args.param),
            "n_trials": args.trials,
            "seed": args.seed,
            "objective": args.objective,
            "min_trades": args.min_trades,
            "walk_forward": wf,
            "cash": args.cash,
            "commission": args.commission,
            "chunk_size": args.chunk_size,
        }
    )
