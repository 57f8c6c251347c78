"""`bench` with one more suite, `multihost`: a single arith MLE cell on t5-tiny, cut to what a two-host run must
exercise (training, one curve evaluation, the final sampled and calculator decodings) so that three processes
of simulated devices finish it in a test's time. Run as `python tests/multihost_child.py run --suite multihost ...`."""

import sys

from bench.cells import Cell, SuiteCell
from bench.cli import main
from bench.registry import SUITES
from bench.suites import ARITH_SMOKE_TASK, TEXT_SMOKE_DATA, TEXT_SMOKE_TRAIN

TRAIN = TEXT_SMOKE_TRAIN | {"steps": 6, "eval_every": 3, "samples_per_prompt": 2, "max_target": 24}
CELL = Cell.make("arith", "mle", model="t5-tiny", seed=0, task_options=ARITH_SMOKE_TASK, data=TEXT_SMOKE_DATA | {"eval_subset": 8}, train=TRAIN)

SUITES.register("multihost", "one small arith MLE cell for the two-host test")(lambda: [SuiteCell(CELL, "multihost")])

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
