"""TerminateOnNaN: stop as soon as the loss is no longer a number."""
import math

from .base import Callback


class TerminateOnNaN(Callback):
    """Stop ``fit`` when a batch's loss is NaN or infinite.

    Such a loss means the weights have exploded (too large a learning rate,
    chapter 9; exploding gradients, chapter 23); every later step would only
    spread the NaNs, so training ends after the current batch.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
