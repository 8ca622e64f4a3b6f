"""The recurrent layers against PyTorch and tf.keras 2: the zoo's protocol on its recurrent nets.

    python benchmarks/recurrent.py [zoo.py's options]

LSTM(128) and GRU(128) (Keras's defaults: tanh, sigmoid gates, GRU with
reset_after) on 50 steps of 32 features, batch 64, then Dense(10, softmax),
Adam; random sequences (``zoo_data``).  Everything else is ``zoo.py``'s:
each framework in a fresh process per round, rounds alternating, medians,
the same initial weights in all three (PyTorch's nn.LSTM / nn.GRU get
Keras's gates in their order, ``zoo_torch.recurrent``) and the check that
all three start from the same loss.  The table's "img/s" are sequences per
second.  Defaults: ``--nets lstm_128,gru_128`` and the results written to
benchmarks/recurrent_results.json and .md; docs/performance.md quotes them.
"""
import os
import sys

import zoo
import zoo_nets

DEFAULTS = {"--nets": ",".join(net.name for net in zoo_nets.RECURRENT),
            "--json": os.path.join(zoo.HERE, "recurrent_results.json"),
            "--markdown": os.path.join(zoo.HERE, "recurrent_results.md")}


if __name__ == "__main__":
    given = set(sys.argv[1:])
    sys.argv += [item for option, value in DEFAULTS.items() if option not in given
                 for item in (option, value)]
    zoo.main()
