"""quality.py's report from saved runs: runs of one engine made side by side (one per split) merge into one."""
from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))


def _result(case, split, method, ratio, psnr):
    return {"case": case, "split": split, "kind": "synthetic", "setting": case.split("/")[1], "method": method,
            "frames": 30, "width": 64, "height": 48, "ratio": ratio, "psnr": psnr, "e_warp": ratio * 0.05, "floor": 0.05,
            "target_met": ratio <= 1.15 and psnr >= 27}


def _run(tag, split, methods, results, seconds):
    return {"tag": tag, "argv": ["--split", split, "--tag", tag], "machine": "test machine", "date": f"2026-11-29 0{seconds}:00",
            "split": split, "quick": False, "methods": methods, "engine_params": {}, "elapsed_s": float(seconds),
            "timings": {"generation_s": 1.0, "flows_s": 2.0, "evaluation_s": 3.0,
                        "methods_s": {m: float(seconds) for m in methods}},
            "cases": [{"name": r["case"]} for r in results if r["method"] == methods[0]], "results": results,
            "summary": []}


def test_runs_of_each_split_merge_into_one_report_with_both_commands():
    import quality

    dev = _run("dev", "dev", ["raw", "ours"], [_result("d01/w1-local", "dev", "raw", 3.0, 21.0),
                                               _result("d01/w1-local", "dev", "ours", 1.1, 29.0)], 4)
    held = _run("heldout", "heldout", ["ours"], [_result("h01/w3-local", "heldout", "ours", 1.3, 26.0)], 5)
    merged = quality.merge_runs([dev, held])
    assert [r["case"] for r in merged["results"]] == ["d01/w1-local", "d01/w1-local", "h01/w3-local"]
    assert merged["methods"] == ["raw", "ours"] and merged["tag"] == "dev+heldout"
    assert merged["timings"]["methods_s"] == {"raw": 4.0, "ours": 9.0} and merged["timings"]["flows_s"] == 4.0
    ours = {(s["split"], s["method"]): s["all_met"] for s in merged["summary"]}
    assert ours == {("dev", "raw"): 0, ("dev", "ours"): 1, ("heldout", "ours"): 0}
    text = quality.report(merged, [])
    assert "--split dev --tag dev" in text and "--split heldout --tag heldout" in text
    assert "### Dev split" in text and "### Held-out split" in text
    assert quality.merge_runs([dev]) is dev


def test_a_later_run_replaces_the_results_it_has_again():
    import quality

    first = _run("dev", "dev", ["ours"], [_result("d01/w1-local", "dev", "ours", 1.3, 26.0),
                                          _result("d02/clean-bw", "dev", "ours", 1.0, 30.0)], 4)
    again = _run("dev", "bw", ["ours"], [_result("d02/clean-bw", "dev", "ours", 1.0, 60.0)], 2)
    merged = quality.merge_runs([first, again])
    assert sorted((r["case"], r["psnr"]) for r in merged["results"]) == [("d01/w1-local", 26.0),
                                                                        ("d02/clean-bw", 60.0)]


def test_the_report_names_the_software_each_merged_run_ran_on():
    import quality

    first = _run("dev", "dev", ["ours"], [_result("d01/w1-local", "dev", "ours", 1.3, 26.0)], 4)
    again = _run("heldout", "heldout", ["ours"], [_result("h01/w3-local", "heldout", "ours", 1.3, 26.0)], 5)
    first["software"] = {"opencv-python-headless": "5.0.0.93", "commit": "abc1234"}
    again["software"] = {"opencv-python-headless": "4.10.0.84", "commit": "abc1234"}
    text = quality.report(quality.merge_runs([first, again]), [])
    assert "opencv-python-headless 5.0.0.93; commit abc1234 | opencv-python-headless 4.10.0.84" in text
    same = quality.merge_runs([first, dict(again, software=first["software"])])
    assert same["software"] == first["software"] and quality.report(same, []).count("5.0.0.93") == 1
    assert "Software" not in quality.report(_run("dev", "dev", ["ours"], [], 1), [])


def test_a_processed_pair_shows_how_much_of_its_gap_its_contrast_leaves_closable():
    import quality

    pair = {"kind": "processed", "floor": 0.05, "e_input": 0.09, "contrast": 1.4}
    assert abs(quality.closable(pair) - 0.5) < 1e-9            # steady at 1.4x the floor: 0.07 of 0.09
    assert "contrast 1.40x: ~50% closable" in quality.reference_cell(pair)
    assert quality.closable(dict(pair, contrast=2.0)) == 0.0   # the processing's contrast alone costs more
    assert quality.closable(dict(pair, contrast=0.8)) == 1.0


def test_candidate_networks_that_cannot_load_stop_the_run_before_it_starts(tmp_path):
    import pytest
    import quality
    import torch

    from deflicker_engine.filtering.weights import REFINER_WEIGHTS

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    torch.save(torch.load(REFINER_WEIGHTS, weights_only=True), wrong / "filter.pt")   # a refiner named filter.pt
    torch.save(torch.load(REFINER_WEIGHTS, weights_only=True), wrong / "refiner.pt")
    for folder, says in ((tmp_path / "absent", "missing"), (wrong, "expected a NeuralFilter")):
        with pytest.raises(SystemExit) as stop:
            quality.main(["--quick", "--methods", "ours", "--weights", str(folder), "--no-docs",
                          "--out", str(tmp_path / "out")])
        assert str(stop.value).startswith("--weights:") and says in str(stop.value)
    assert not (tmp_path / "out").exists()
