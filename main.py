"""Entry point of the Android demo APK: python-for-android starts ``main.py`` at the root of
the packaged sources (``android_demo/buildozer.spec`` packages this folder). On a desktop use
``python -m android_demo --replay FILE`` instead."""
import sys

from android_demo.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
