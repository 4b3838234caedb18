"""JSON reports: schema version, kind, non-finite numbers, atomic write; the environment record."""

from __future__ import annotations

import json
import math

import torch

from cae_denoise.io.reports import SCHEMA_VERSION, environment, write_report


def test_write_report(tmp_path):
    path = write_report(
        tmp_path / "deep" / "r.json",
        "evaluate",
        {"psnr": math.inf, "nan": math.nan, "rows": [(1, -math.inf)]},
        overwrite=False,
    )
    assert path == tmp_path / "deep" / "r.json"
    document = json.loads(path.read_text())  # strict JSON: no Infinity/NaN literals
    assert document == {
        "schema_version": SCHEMA_VERSION,
        "kind": "evaluate",
        "psnr": "inf",
        "nan": "nan",
        "rows": [[1, "-inf"]],
    }
    assert "Infinity" not in path.read_text() and "NaN" not in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_environment():
    env = environment("cpu")
    assert env["torch"] == str(torch.__version__)
    assert env["device"] == "cpu"
    assert env["torch_threads"] == torch.get_num_threads()
    assert {"numpy", "scikit_image", "python", "platform", "cae_denoise"} <= set(env)
    json.dumps(env)
