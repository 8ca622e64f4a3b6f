"""A zoo of small nets trained by fastnn, PyTorch (eager) and tf.keras 2, each peer in its best state.

    make bench-zoo                       # the venvs of the peers, then the whole run (~8 min)
    python benchmarks/zoo.py [--quick] [--rounds N] [--nets a,b] [--json F] [--markdown F]
    python benchmarks/zoo.py --states    # the measurements behind the peers' states

The nets (``zoo_nets.ZOO``) are described once, framework-neutrally, and
built three times with the same architecture, the same initial weights
(drawn by fastnn, copied into the others), the same optimizer settings and
the same data (``zoo_data``).

Protocol.  Each framework trains in a fresh process of its own
(``zoo_worker.py``) per round and data set: the process holds the whole
training and test sets, as a course script does, and runs the nets of that
data set one after the other.  Rounds alternate the frameworks (each round
starts with another one) and rotate the order of the nets.  In each process
and net: a sanity check (the loss on the first batch, one step, the loss
again -- the check compares them across frameworks), then an epoch of
``warmup`` batches, then one of 1 + N batches with the clock read after each
step, N = ``steps`` or as many as take ``min_seconds`` (1 s) at the warm-up's
pace; the result is the median over the rounds of the images/s of those N
steps.  (30 steps of the zoo's MLPs take 50-100 ms: one scheduler hiccup
moved such a net's number by half.)

The peers' states (``PEERS`` below; ``--states`` measures the candidates,
docs/performance.md has the numbers behind each choice):

- fastnn: its defaults -- as many threads as cores, ``OMP_WAIT_POLICY=PASSIVE``
  with ``GOMP_SPINCOUNT=10000`` (idle threads spin about 0.1 ms, then sleep;
  fastnn sets both unless the user named a policy).
- PyTorch: eager, ``torch.set_num_threads(cores)``, one interop thread, NCHW,
  the usual loop (shuffled index, slice, zero_grad, forward, loss, backward,
  step).  The process holds the training and the test set, as a course
  script does: with the training set alone PyTorch's step has been measured
  10-25 % slower (glibc hands freed activation memory back to the system and
  the next step faults it in again).  Both OpenMP wait policies, in every
  round: the default (idle threads spin a while before they sleep) was up to
  3.4x faster in a round that had the cores to itself, ``OMP_WAIT_POLICY=PASSIVE``
  many times faster as soon as another program wanted a core; the PyTorch
  column takes the faster of the two per net and marks it.  The peers' processes get the
  user's environment, not this process's (fastnn's import sets its wait
  policy here).  glibc's malloc as it comes: keeping
  freed memory (``KEEP_FREED_MEMORY``) gained nothing that stood out of the
  noise.
- tf.keras: TensorFlow with oneDNN (its default on x86), ``TF_USE_LEGACY_KERAS=1``
  with the tf-keras package (Keras 2 as ``tf.keras``, what the course uses),
  intra-op threads = cores, inter-op threads ``TF_INTER_OP_THREADS`` (2,
  TensorFlow's default on 2 cores; 1 measured the same), plain ``compile`` +
  ``fit`` on NumPy arrays as the course does: ``steps_per_execution=1`` and
  ``jit_compile=False`` (Keras 2's defaults, written out).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

# The environment as the user gave it: importing fastnn (zoo_fastnn, below) sets
# OMP_WAIT_POLICY and GOMP_SPINCOUNT in this process, which the peers' processes must
# not inherit.
USER_ENVIRON = dict(os.environ)

import numpy as np  # noqa: E402

import zoo_data  # noqa: E402
import zoo_fastnn  # noqa: E402
import zoo_nets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FASTNN_HOME = os.path.dirname(os.path.dirname(os.path.abspath(zoo_fastnn.fastnn.__file__)))
WORKER = os.path.join(HERE, "zoo_worker.py")
CORES = os.cpu_count()
WEIGHT_SEED = 0

# Tolerances of the sanity check, relative to fastnn's loss: the first loss is
# the same float32 computation in another order; after one step the
# frameworks' updates differ in rounding too (Adam's first step is about
# lr * sign(g), so a tiny gradient can move a weight either way).
SAME_START = 1e-5
SAME_FIRST_STEP = 1e-3


@dataclass(frozen=True)
class Peer:
    """A framework in one state: what its worker process gets."""
    framework: str   # the worker's backend is the module zoo_<framework>
    name: str        # column title
    state: str       # the state in words, for the output
    settings: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    hold_test_set: bool = True
    tag: str = ""    # marks a table cell this state won, when a framework has several


TORCH_SETTINGS = {"threads": CORES, "interop_threads": 1}
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
TF_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
TF_INTER_OP_THREADS = 2

PEERS = (
    Peer("fastnn", "fastnn", f"defaults: {CORES} threads (one per core), OMP_WAIT_POLICY=PASSIVE "
         f"with GOMP_SPINCOUNT=10000 (fastnn's default)"),
    Peer("torch", "PyTorch", f"eager; torch.set_num_threads({CORES}), 1 interop thread, NCHW, "
         f"the process holds train + test sets, OpenMP's default wait policy, glibc malloc "
         f"defaults", TORCH_SETTINGS),
    Peer("torch", "PyTorch, passive", "the same with OMP_WAIT_POLICY=PASSIVE; the PyTorch "
         "column takes the faster of the two per net", TORCH_SETTINGS, PASSIVE, tag="passive"),
    Peer("keras", "tf.keras", f"tf-keras 2 (TF_USE_LEGACY_KERAS=1), oneDNN on, intra-op "
         f"{CORES} / inter-op {TF_INTER_OP_THREADS} threads, plain fit (steps_per_execution=1, "
         f"jit_compile=False)", {"threads": CORES, "inter_op_threads": TF_INTER_OP_THREADS},
         TF_ENV),
)

# glibc keeps freed memory instead of returning it: no trimming of the heap,
# blocks up to 32 MiB (the largest threshold glibc takes) from the heap, not mmap.
KEEP_FREED_MEMORY = {"MALLOC_TRIM_THRESHOLD_": str(2 ** 40), "MALLOC_MMAP_THRESHOLD_": str(2 ** 25)}

# What --states compares: the choices behind PEERS.
STATES = (
    Peer("torch", "torch: train set only", "the process holds only the training set",
         TORCH_SETTINGS, hold_test_set=False),
    Peer("torch", "torch: train + test", "the process holds train and test sets",
         TORCH_SETTINGS),
    Peer("torch", "torch: train + test, passive", "... and OMP_WAIT_POLICY=PASSIVE",
         TORCH_SETTINGS, PASSIVE),
    Peer("torch", "torch: train + test, passive, malloc",
         "... and glibc keeps freed memory (" + " ".join(
             f"{k}={v}" for k, v in KEEP_FREED_MEMORY.items()) + ")",
         TORCH_SETTINGS, {**PASSIVE, **KEEP_FREED_MEMORY}),
    Peer("keras", "tf.keras: inter-op 1", "inter-op threads 1",
         {"threads": CORES, "inter_op_threads": 1}, TF_ENV),
    Peer("keras", "tf.keras: inter-op 2", "inter-op threads 2",
         {"threads": CORES, "inter_op_threads": 2}, TF_ENV),
)
STATES_NETS = ("demo_cnn", "lenet5", "mlp_512", "small_cnn_b32", "vgg_bn")


# ---- the machine ----------------------------------------------------------------------------

def cpu_name():
    """The CPU's model name and x86 family/model, from /proc/cpuinfo (Linux)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return "unknown CPU"
    return (f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')})")


def machine():
    from fastnn.runtime import get_simd_path

    return {"cpu": cpu_name(), "cores": CORES, "fastnn_simd_path": get_simd_path(),
            "load_at_start": os.getloadavg()[0]}


# ---- running the workers --------------------------------------------------------------------

def prepare(folder, nets):
    """The data cache and every net's initial weights, as the workers read them."""
    if any(net.data == zoo_nets.FASHION_MNIST for net in nets):
        zoo_data.save_fashion_mnist(folder)
    for net in nets:
        np.savez(os.path.join(folder, f"weights_{net.name}.npz"),
                 *zoo_fastnn.initial_weights(net, WEIGHT_SEED))


def run_worker(peer, python, folder, data, nets, protocol):
    """One worker process: {"conditions": ..., "nets": {name: numbers}}."""
    job = {"framework": peer.framework, "settings": peer.settings, "data": data,
           "folder": folder, "nets": [net.name for net in nets], **protocol,
           "hold_test_set": peer.hold_test_set}
    job_path = os.path.join(folder, f"job_{peer.framework}.json")
    with open(job_path, "w") as f:
        json.dump(job, f)
    env = {**USER_ENVIRON, **peer.env}
    if peer.framework == "fastnn":  # the fastnn this process imported, whatever the venv
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [FASTNN_HOME, env.get("PYTHONPATH")]))
    done = subprocess.run([python, WORKER, job_path], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {peer.name} worker ({python}) failed on {data} "
                           f"with exit status {done.returncode}:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rotated(items, by):
    items = list(items)
    by %= len(items)
    return items[by:] + items[:by]


def measure(peers, pythons, nets, protocol):
    """{net: {peer name: [images/s per round]}}, the first round's check losses, the
    peers' conditions and the 1-minute load average after each process (the
    machine's other work shows there: this run alone adds up to the cores)."""
    speeds = {net.name: {peer.name: [] for peer in peers} for net in nets}
    losses = {net.name: {} for net in nets}
    conditions = {}
    loads = []
    groups = {}
    for net in nets:
        groups.setdefault(net.data, []).append(net)
    with tempfile.TemporaryDirectory(prefix="fastnn-zoo-") as folder:
        prepare(folder, nets)
        rounds = protocol["rounds"]
        for round_ in range(rounds):
            for data, group in groups.items():
                for peer in rotated(peers, round_):
                    start = time.perf_counter()
                    out = run_worker(peer, pythons[peer.framework], folder, data,
                                     rotated(group, round_), protocol)
                    loads.append({"round": round_ + 1, "data": data, "peer": peer.name,
                                  "load": os.getloadavg()[0]})
                    print(f"round {round_ + 1}/{rounds}, {data}, {peer.name}: "
                          f"{time.perf_counter() - start:.0f} s, load {loads[-1]['load']:.1f}",
                          file=sys.stderr, flush=True)
                    conditions[peer.name] = out["conditions"]
                    for name, numbers in out["nets"].items():
                        speeds[name][peer.name].append(numbers["images_per_second"])
                        losses[name].setdefault(peer.name, numbers)
    return speeds, losses, conditions, loads


# ---- the report -----------------------------------------------------------------------------

def relative_gap(value, reference):
    return abs(value - reference) / abs(reference)


def sanity_check(net, losses):
    """(worst relative gap of the first loss, of the loss after one step or None, ok)."""
    reference = losses["fastnn"]
    start = max(relative_gap(v["loss_before"], reference["loss_before"]) for v in losses.values())
    if net.has_dropout:  # each framework drops other units: no common loss after a step
        step = None
    else:
        step = max(relative_gap(v["loss_after_one_step"], reference["loss_after_one_step"])
                   for v in losses.values())
    return start, step, start <= SAME_START and (step is None or step <= SAME_FIRST_STEP)


def geometric_mean(values):
    return math.exp(statistics.fmean(math.log(v) for v in values))


COLUMNS = (("fastnn", "fastnn"), ("torch", "PyTorch"), ("keras", "tf.keras"))


def best_state(framework, by_peer):
    """(images/s, peer) of the framework's fastest state on one net (PyTorch has two)."""
    return max(((by_peer[peer.name], peer) for peer in PEERS if peer.framework == framework),
               key=lambda pair: pair[0])


def zoo_table(nets, medians, losses):
    """The markdown table of the main run and the rows' numbers."""
    lines = ["| net | data | batch | optimizer | "
             + " | ".join(f"{title} img/s" for _, title in COLUMNS)
             + " | fastnn ÷ PyTorch | fastnn ÷ tf.keras | fastnn ÷ fastest peer "
             "| same start (first loss; after 1 step) |",
             "|---|---|---:|---|" + "---:|" * (len(COLUMNS) + 3) + "---|"]
    ratios = {"PyTorch": [], "tf.keras": [], "fastest": []}
    checks = {}
    for net in nets:
        best = {title: best_state(framework, medians[net.name]) for framework, title in COLUMNS}
        ours = best["fastnn"][0]
        ratios["PyTorch"].append(ours / best["PyTorch"][0])
        ratios["tf.keras"].append(ours / best["tf.keras"][0])
        ratios["fastest"].append(ours / max(best["PyTorch"][0], best["tf.keras"][0]))
        start, step, ok = sanity_check(net, losses[net.name])
        checks[net.name] = {"first_loss_gap": start, "after_one_step_gap": step, "ok": ok}
        check = (f"{'ok' if ok else '**MISMATCH**'} ({start:.0e}; "
                 f"{'dropout' if step is None else f'{step:.0e}'})")
        cells = [f"{value:,.0f}" + ("" if peer.name == title else f" ({peer.tag})")
                 for title, (value, peer) in best.items()]
        lines.append(f"| {net.name} | {'x'.join(map(str, net.input_shape))} | {net.batch_size} "
                     f"| {net.optimizer.label()} | " + " | ".join(cells)
                     + "".join(f" | {r[-1]:.2f}x" for r in ratios.values()) + f" | {check} |")
    means = {k: geometric_mean(v) for k, v in ratios.items()}
    lines.append("| **geometric mean** | | | | " + " | " * (len(COLUMNS) - 1)
                 + "".join(f" | **{v:.2f}x**" for v in means.values()) + " | |")
    return "\n".join(lines), checks, means


def states_table(nets, medians):
    """Images/s of each candidate state; the last row compares each state with
    the first one of its framework (geometric mean over the nets)."""
    names = [peer.name for peer in STATES]
    first = {}
    for peer in STATES:
        first.setdefault(peer.framework, peer.name)
    lines = ["| net | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for net in nets:
        lines.append(f"| {net.name} | " + " | ".join(f"{medians[net.name][n]:,.0f}"
                                                     for n in names) + " |")
    means = [geometric_mean([medians[net.name][p.name] / medians[net.name][first[p.framework]]
                             for net in nets]) for p in STATES]
    lines.append("| **vs the first state of its framework** | "
                 + " | ".join(f"**{m:.2f}x**" for m in means) + " |")
    return "\n".join(lines)


def conditions_text(info, conditions, protocol, peers):
    states = "\n".join(f"- {peer.name}: {peer.state}; {json.dumps(conditions.get(peer.name))}"
                       for peer in peers)
    rounds = protocol["rounds"]
    return (f"CPU: {info['cpu']}, {info['cores']} cores; fastnn's SIMD path: "
            f"{info['fastnn_simd_path']}; 1-minute load average {info['load_at_start']:.1f} at "
            f"the start, {info['load_max']:.1f} at most between processes, "
            f"{info['load_at_end']:.1f} at the end (this run alone adds up to {CORES}).\n"
            f"Medians of {rounds} round{'s' * (rounds > 1)}, each framework in a fresh process "
            f"per round and data set, the frameworks alternating; images/s over at least "
            f"{protocol['steps']} training steps and {protocol['min_seconds']:g} s (as many "
            f"steps as take that at the warm-up's pace) after an epoch of "
            f"{protocol['warmup']} warm-up steps.\n{states}")


# ---- the command ----------------------------------------------------------------------------

def python_of(path, what):
    if not os.path.exists(path):
        sys.exit(f"zoo: no Python for {what} at {path}: `make bench-zoo` creates the "
                 f"benchmark venvs (or pass the interpreter's path)")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of about 2 minutes: 1 round, few steps")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; --quick 1)")
    parser.add_argument("--steps", type=int, help="timed steps per net (default 30; --quick 5)")
    parser.add_argument("--warmup", type=int, help="warm-up steps (default 5; --quick 2)")
    parser.add_argument("--min-seconds", type=float,
                        help="time at least this long per net and round (default 1; --quick 0)")
    parser.add_argument("--nets", help="comma-separated net names (default: the whole zoo)")
    parser.add_argument("--states", action="store_true",
                        help="measure the peers' candidate states instead of the zoo")
    parser.add_argument("--torch-python", default=os.path.join(REPO, ".venv-bench-torch", "bin",
                                                               "python"))
    parser.add_argument("--tf-python", default=os.path.join(REPO, ".venv-bench-tf", "bin",
                                                            "python"))
    parser.add_argument("--json", help="write all numbers and conditions to this file")
    parser.add_argument("--markdown", help="write the table and conditions to this file")
    args = parser.parse_args()
    protocol = {"rounds": args.rounds or (1 if args.quick else 3 if args.states else 5),
                "steps": args.steps or (5 if args.quick else 30),
                "warmup": args.warmup or (2 if args.quick else 5),
                "min_seconds": (args.min_seconds if args.min_seconds is not None
                                else 0.0 if args.quick else 1.0)}
    names = args.nets.split(",") if args.nets else (STATES_NETS if args.states else None)
    nets = zoo_nets.nets_named(names)
    pythons = {"fastnn": sys.executable,
               "torch": python_of(args.torch_python, "PyTorch"),
               "keras": python_of(args.tf_python, "tf.keras")}
    peers = STATES if args.states else PEERS

    info = machine()
    speeds, losses, conditions, info["loads"] = measure(peers, pythons, nets, protocol)
    info["load_max"] = max(entry["load"] for entry in info["loads"])
    info["load_at_end"] = os.getloadavg()[0]
    medians = {net: {peer: statistics.median(v) for peer, v in by_peer.items()}
               for net, by_peer in speeds.items()}
    about = conditions_text(info, conditions, protocol, peers)
    checks = means = None
    if args.states:
        table = states_table(nets, medians)
    else:
        table, checks, means = zoo_table(nets, medians, losses)
    report = f"{table}\n\n{about}\n"
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "protocol": protocol,
                       "peers": {p.name: {"state": p.state, "settings": p.settings,
                                          "env": p.env, "hold_test_set": p.hold_test_set,
                                          "conditions": conditions.get(p.name)} for p in peers},
                       "images_per_second": speeds, "medians": medians, "losses": losses,
                       "checks": checks, "geometric_means": means}, f, indent=1)
    if checks and not all(c["ok"] for c in checks.values()):
        sys.exit("zoo: the frameworks do not start from the same loss for some net "
                 "(see the table): those nets are not the same in all three")


if __name__ == "__main__":
    main()
