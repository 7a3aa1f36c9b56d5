"""Kivy demo app of SenseGen Privacy: the filter running live on a phone's accelerometer
(or a replayed recording on a desktop). Run ``python -m android_demo --help``."""
