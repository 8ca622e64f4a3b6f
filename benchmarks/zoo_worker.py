"""One framework, one data set, one round of the zoo: the child process ``zoo.py`` starts.

    python benchmarks/zoo_worker.py JOB.json

The job (written by ``zoo.py``) names the framework (its backend is the
module ``zoo_<framework>``), its settings, the data, the nets and where
their initial weights are.  The process holds what a course script holds --
the whole training and test sets, in the framework's own layout -- then, net
after net:

1. the sanity check: the loss on the first batch in inference mode, one
   training step on that batch, the loss again (equal across frameworks
   when the nets, weights and optimizers are the same);
2. the speed: a shuffled epoch of ``warmup`` batches (it warms up, and its
   pace sizes the next), then a shuffled epoch of ``1 + timed`` batches with
   the clock read after every step: images/s over its last ``timed`` steps,
   ``timed`` = ``steps`` or as many as take ``min_seconds`` at the warm-up's
   pace (as the data allow): 30 steps of a small MLP take 50 ms, too short a
   window for one number on a machine whose speed wanders.

It prints one JSON line: the framework's conditions and each net's numbers.
"""
import importlib
import json
import math
import os
import sys
import time

import numpy as np

import zoo_data
import zoo_nets


def initial_weights(folder, net):
    with np.load(os.path.join(folder, f"weights_{net.name}.npz")) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def clocked_epoch(net, model, x, y, steps):
    """perf_counter() after each of the ``steps`` steps of one shuffled epoch of ``net``."""
    clock, batch = [], net.batch_size
    model.fit_epoch(x[:steps * batch], y[:steps * batch], batch,
                    on_batch_end=lambda: clock.append(time.perf_counter()))
    if len(clock) != steps:
        raise RuntimeError(f"{net.name}: expected {steps} training steps, "
                           f"the clock saw {len(clock)}")
    return clock


def measure(backend, net, weights, x, y, warmup, steps, min_seconds):
    """The sanity-check losses and the images/s of at least ``steps`` steps (and
    ``min_seconds``) after ``warmup``."""
    model = backend.build(net, weights)
    batch = net.batch_size
    x_check, y_check = x[:batch], y[:batch]
    loss_before = model.loss(x_check, y_check)
    model.fit_epoch(x_check, y_check, batch)
    loss_after = model.loss(x_check, y_check)

    warm = clocked_epoch(net, model, x, y, warmup)
    pace = (warm[-1] - warm[0]) / max(1, warmup - 1)
    timed = max(steps, math.ceil(min_seconds / pace)) if pace > 0 else steps
    timed = min(timed, len(x) // batch - 1)
    clock = clocked_epoch(net, model, x, y, timed + 1)
    return {"images_per_second": timed * batch / (clock[-1] - clock[0]), "timed_steps": timed,
            "loss_before": loss_before, "loss_after_one_step": loss_after}


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)
    backend = importlib.import_module(f"zoo_{job['framework']}")
    conditions = backend.configure(job["settings"])
    # the test set is held to the end, unused, as a course script holds it
    (x_train, y_train), *test_set = [backend.native_data(x, y) for x, y in zoo_data.load(
        job["data"], job["folder"], test_set=job["hold_test_set"])]
    nets = {}
    for name in job["nets"]:
        net = zoo_nets.BY_NAME[name]
        nets[name] = measure(backend, net, initial_weights(job["folder"], net), x_train, y_train,
                             job["warmup"], job["steps"], job["min_seconds"])
    print(json.dumps({"conditions": conditions, "nets": nets}))


if __name__ == "__main__":
    main(sys.argv[1])
