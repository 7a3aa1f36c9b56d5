"""Desktop side of SenseGen Privacy: data, training, export and evaluation (TensorFlow/Keras).

Importing this package does not import TensorFlow; the modules that need it do.
"""
