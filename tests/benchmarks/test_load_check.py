"""benchmarks/load_check.py: a checked model load against a plain one."""


def test_load_check_compares_a_checked_load_with_a_plain_one(capsys):
    from benchmarks.load_check import main

    result = main(["--scale", "0.002", "--repeats", "1"])
    assert result["mib"] > 0 and result["checked_s"] > 0 and result["plain_s"] > 0
    assert abs(result["ratio"] - result["checked_s"] / result["plain_s"]) < 1e-9
    assert "ratio checked / plain" in capsys.readouterr().out
