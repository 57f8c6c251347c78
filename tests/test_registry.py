import pytest

from bench.cli import main
from bench.registry import ALGORITHMS, BenchError, Registry, UnknownNameError


def test_register_get_and_list():
    reg = Registry("widget")

    @reg.register("b", "the b widget")
    def make_b(size: int = 1):
        return ("b", size)

    @reg.register("a")
    def make_a():
        """The a widget.

        More text that is not the description."""
        return "a"

    assert reg.names() == ["a", "b"]
    assert [e.description for e in reg] == ["The a widget.", "the b widget"]
    assert reg.build("b", size=3) == ("b", 3)
    assert "a" in reg and "c" not in reg


def test_duplicate_name_is_an_error():
    reg = Registry("widget")
    reg.register("x")(lambda: 1)
    with pytest.raises(ValueError, match="widget 'x' is already registered"):
        reg.register("x")(lambda: 2)


def test_unknown_name_lists_valid_names():
    reg = Registry("widget")
    reg.register("x")(lambda: 1)
    reg.register("y")(lambda: 1)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'z'; valid widgets: x, y") as info:
        reg.get("z")
    assert info.value.exit_code == 2


def test_unknown_option_is_refused_with_valid_options():
    with pytest.raises(BenchError, match=r"algorithm 'iqlearn' has no option 'lamda'; its options: lam, gamma"):
        ALGORITHMS.build("iqlearn", lamda=0.1, gamma=0.9)


def test_clear_and_restore():
    reg = Registry("widget")
    reg.register("x")(lambda: 1)
    saved = reg.clear()
    assert reg.names() == []
    reg.register("x")(lambda: 2)  # no longer a duplicate
    reg.restore(saved)
    assert reg.build("x") == 1


def test_bench_list_prints_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for line in ("tasks:", "toy_mdp", "algorithms:", "iqlearn_online", "mle", "model presets:", "tabular", "suites:", "smoke", "mini", "paper"):
        assert line in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--suite", "nope"], "unknown suite 'nope'; valid suites: mini, paper, smoke"),
        (["check", "--suite", "nope"], "unknown suite 'nope'"),
        (["report", "--suite", "nope"], "unknown suite 'nope'"),
    ],
)
def test_unknown_suite_exits_2_with_one_line(argv, needle, capsys, store_uri):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
