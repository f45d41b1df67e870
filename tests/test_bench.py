"""The benchmarks run end to end (their figures are committed by real runs, not checked here)."""

import json

from ganlib import bench


def test_speed_bench_reports_both_sides(tmp_path):
    out = tmp_path / "speed.json"
    res = bench.main(["--models", "mlp", "--steps", "3", "--warmup", "1", "--rounds", "1",
                      "--device", "cpu", "--json", str(out)])
    mlp = json.loads(out.read_text())["models"]["mlp"]
    assert mlp["ganlib"] > 0 and mlp["classic"] > 0 and res["models"]["mlp"]["steps"] == 3


def test_quality_bench_trains_and_scores_every_contender(tmp_path, capsys):
    out = tmp_path / "quality.json"
    bench.main(["--quality", "--seconds", "1", "--classifier-epochs", "1", "--device", "cpu",
                "--json", str(out)])
    res = json.loads(out.read_text())
    assert set(res["contenders"]) == {"classic-64", "classic-128", "dropout", "book"}
    for name, c in res["contenders"].items():
        assert c["steps"] >= 1 and c["distance"] > 0 and 0 <= c["classes"] <= 10
        assert c["wall_seconds"] < 30  # the budget held (1 s, plus setup)
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("book: steps ") and "classes " in line for line in lines)

    # one row rerun: the file keeps the other rows and gets that one replaced, dated
    before = json.loads(out.read_text())
    bench.main(["--quality", "--seconds", "1", "--classifier-epochs", "1", "--device", "cpu",
                "--contenders", "book", "--json", str(out)])
    after = json.loads(out.read_text())
    assert list(after["contenders"]) == list(before["contenders"])
    assert after["contenders"]["dropout"] == before["contenders"]["dropout"]
    assert after["contenders"]["book"]["date"] and after["contenders"]["book"] != before[
        "contenders"]["book"]
