"""model.summary(): the table the course shows (tf.keras 2.0's plain-text format).

Three columns end at characters 29, 55 and 65.  Each field is written after
the previous one, the line is cut at the field's stop and padded to it, so
long names are cut (``batch_normalization (BatchNo``) and rows carry
trailing spaces.  Param # has no thousands separators; the totals do.
"""

LINE_LENGTH = 65
STOPS = (29, 55, 65)


def _row(fields):
    line = ""
    for i, (field, stop) in enumerate(zip(fields, STOPS)):
        if i > 0:
            line = line[:-1] + " "
        line = (line + str(field))[:stop]
        line += " " * (stop - len(line))
    return line


def summary_lines(model):
    """The summary of a built model, line by line."""
    lines = [f'Model: "{model.name}"', "_" * LINE_LENGTH,
             _row(["Layer (type)", "Output Shape", "Param #"]), "=" * LINE_LENGTH]
    for i, layer in enumerate(model.layers):
        lines.append(_row([f"{layer.name} ({type(layer).__name__})",
                           str(layer.output_shape), layer.count_params()]))
        lines.append(("=" if i == len(model.layers) - 1 else "_") * LINE_LENGTH)
    if not model.layers:
        lines.append("=" * LINE_LENGTH)
    trainable = sum(v.value.size for layer in model.layers for v in layer.trainable_variables)
    total = sum(layer.count_params() for layer in model.layers)
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * LINE_LENGTH]
    return lines
