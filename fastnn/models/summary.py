"""model.summary(): the table the course shows (tf.keras 2.0's plain-text format).

Three columns end at characters 29, 55 and 65: the fractions .45, .85 and 1
of the line's 65 characters (``summary(line_length=, positions=)`` changes
both, as in tf.keras 2).  Each field is written after the previous one, the
line is cut at the field's stop and padded to it, so long names are cut
(``batch_normalization (BatchNo``) and rows carry trailing spaces.  Param #
has no thousands separators; the totals do.
"""

LINE_LENGTH = 65
POSITIONS = (.45, .85, 1.)


def _stops(line_length, positions):
    """Where the columns end, in characters: ``positions`` as given if the
    last is beyond 1, else as fractions of ``line_length``."""
    if len(positions) != 3:
        raise ValueError(f"summary: positions must give the ends of the 3 columns, "
                         f"got {positions!r}")
    if positions[-1] <= 1:
        return [int(line_length * p) for p in positions]
    return [int(p) for p in positions]


def _row(fields, stops):
    line = ""
    for i, (field, stop) in enumerate(zip(fields, stops)):
        if i > 0:
            line = line[:-1] + " "
        line = (line + str(field))[:stop]
        line += " " * (stop - len(line))
    return line


def summary_lines(model, line_length=None, positions=None):
    """The summary of a built model, line by line."""
    width = line_length or LINE_LENGTH
    stops = _stops(width, positions or POSITIONS)
    lines = [f'Model: "{model.name}"', "_" * width,
             _row(["Layer (type)", "Output Shape", "Param #"], stops), "=" * width]
    for i, layer in enumerate(model.layers):
        lines.append(_row([f"{layer.name} ({type(layer).__name__})",
                           str(layer.output_shape), layer.count_params()], stops))
        lines.append(("=" if i == len(model.layers) - 1 else "_") * width)
    if not model.layers:
        lines.append("=" * width)
    trainable = sum(v.value.size for layer in model.layers for v in layer.trainable_variables)
    total = sum(layer.count_params() for layer in model.layers)
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * width]
    return lines
