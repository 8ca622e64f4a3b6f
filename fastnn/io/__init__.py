"""Files that carry a model out of fastnn, and Keras's files into it.

``model.save`` and ``load_model`` pick the format by the file's name when
writing and by its content when reading (``fastnn.models.saving``):

- ``keras_h5``: tf.keras 2's HDF5 file (``model.save("m.h5")``), the format
  of the course's era, which Keras 3 still reads;
- ``keras_v3``: Keras 3's ``.keras`` zip (``model.save("m.keras")``), which
  Keras 3 loads on JAX, TensorFlow or PyTorch;
- ``onnx_export``: an ONNX graph for inference engines such as onnxruntime
  (``model.export("m.onnx", format="onnx")``).

Both Keras formats keep their arrays in HDF5, so they need the optional
``h5py`` (``pip install fastnn[keras]``, see ``hdf5``); the ONNX export needs
``onnx`` (``pip install fastnn[onnx]``).  ``keras_layers`` and
``keras_training`` translate the architecture and the compile settings
between fastnn and the two Keras versions.
"""
