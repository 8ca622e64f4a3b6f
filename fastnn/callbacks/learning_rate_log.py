"""The learning rate in the epoch logs, under tf.keras 2's key and Keras 3's."""


def log_learning_rate(logs, optimizer):
    """Add the optimizer's current rate to ``logs`` as "lr" (tf.keras 2, the
    course's version: ``history.history["lr"]``) and as "learning_rate"
    (Keras 3), so History records it under both names."""
    if logs is not None:
        logs["lr"] = logs["learning_rate"] = float(optimizer.learning_rate)
