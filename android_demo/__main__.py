"""Run the demo: ``python -m android_demo [--replay FILE] [--screenshot PNG --duration S]``.

On a phone (python-for-android runs ``main.py``, which calls ``main()``) the accelerometer is
used; on a desktop pass ``--replay`` with a HAPT raw file or a ``t,ax,ay,az`` CSV. With
``--screenshot`` the app runs until ``--duration`` seconds of the stream have been shown,
saves a PNG of the window and exits: 0 if the stream ran through the filter, 3 if the PNG
was saved but nothing streamed (no sensor, unreadable file, no model: the screen says why),
1 if no PNG was written, 2 if it hung. Without a display it uses SDL's offscreen driver.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from dataclasses import replace
from pathlib import Path

from .theme import DEFAULT_SIZE

log = logging.getLogger("android_demo")


def _span(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END in seconds, got {text!r}") from None
    if not b >= a >= 0:
        raise argparse.ArgumentTypeError(f"need 0 <= START <= END, got {text!r}")
    return a, b


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if not (200 <= w <= 8192 and 200 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"window size out of range: {text!r}")
    return w, h


def _activity(text: str) -> str:
    from sdk.activities import ACTIVITIES

    name = text.strip().upper()
    if name not in ACTIVITIES or name == "OTHER":
        known = ", ".join(a for a in ACTIVITIES if a != "OTHER")
        raise argparse.ArgumentTypeError(f"unknown activity {text!r}; known: {known}")
    return name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m android_demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--replay", metavar="FILE", help="replay a HAPT acc_expXX_userYY.txt or t,ax,ay,az CSV in real time")
    p.add_argument("--start", metavar="S", type=float, default=0.0, help="start the replay S seconds into the file")
    p.add_argument("--model", metavar="FILE", help="generator .tflite (default: the SDK's bundled model)")
    p.add_argument("--cover", default="WALKING", type=_activity, help="cover activity (default WALKING)")
    p.add_argument("--sensitive", nargs="+", action="extend", type=_activity, default=None, metavar="ACT",
                   help="activities the detector hides, like sensegen filter: --sensitive A B or repeated "
                        "(default: WALKING_UPSTAIRS WALKING_DOWNSTAIRS)")
    p.add_argument("--delay", metavar="S", type=float, default=3.0, help="release delay in seconds (default 3)")
    p.add_argument("--private-span", metavar="START:END", type=_span, action="append", default=[],
                   help="always replace this span (seconds since start); repeatable")
    p.add_argument("--decoy-rate", metavar="R", type=float, default=None,
                   help="share of cover-activity time also replaced by decoys, 0 = off (default: the SDK's)")
    p.add_argument("--bank-dir", metavar="DIR", help="keep the cover bank (your own released walking or stillness) "
                   "in DIR between runs (default: the app's data folder)")
    p.add_argument("--no-bank-file", action="store_true", help="keep the cover bank for this run only")
    p.add_argument("--private", action="store_true", help="start with the 'private now' switch on")
    p.add_argument("--screenshot", metavar="PNG", help="run --duration seconds, save a window screenshot, exit")
    p.add_argument("--duration", metavar="S", type=float, default=12.0, help="seconds of streaming before --screenshot")
    p.add_argument("--size", metavar="WxH", type=_size, default=DEFAULT_SIZE,
                   help=f"window size on a desktop (default {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]})")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


class _MissingInputProbe(logging.Filter):
    """Drops Kivy's tracebacks about optional desktop helpers the demo never uses: "Input:
    MTDev is not supported" (no libmtdev: multitouch devices) and "Unable to find any
    valuable Cutbuffer provider" (no xclip/xsel: the clipboard)."""

    NOISE = ("MTDev is not supported", "Unable to find any valuable Cutbuffer provider")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in str(record.msg) for n in self.NOISE)


def _configure_kivy(size: tuple[int, int], headless: bool, verbose: bool, on_phone: bool) -> None:
    """Everything that must happen before Kivy creates its window."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our arguments are not Kivy's
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # Kivy logs through logging, like us
    if headless and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    if not verbose:  # Kivy's tracebacks about missing libmtdev / xclip: harmless
        logging.getLogger("kivy").addFilter(_MissingInputProbe())
    os.environ.setdefault("KCFG_KIVY_LOG_LEVEL", "info" if verbose else "warning")  # Kivy's import-time banner
    from kivy.config import Config

    Config.set("kivy", "log_level", "info" if verbose else "warning")
    logging.getLogger("kivy").setLevel(logging.INFO if verbose else logging.WARNING)
    Config.set("kivy", "exit_on_escape", "1")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    if not on_phone:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
        Config.set("graphics", "resizable", "0" if headless else "1")
    Config.set("graphics", "maxfps", "30")


def default_replay_file() -> Path | None:
    """The recording to offer for replay on a desktop: the SDK's sample recording (the app
    never imports the desktop side, ``converter``, so it does not look for HAPT)."""
    from sdk.errors import DataError
    from sdk.recording import sample_recording_path

    try:
        return sample_recording_path()
    except DataError:
        return None


def main(argv=None) -> int:
    from .sources.android import on_android

    on_phone = on_android()
    args = build_parser().parse_args(sys.argv[1:] if argv is None and not on_phone else (argv or []))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    headless = args.screenshot is not None
    _configure_kivy(args.size, headless, args.verbose, on_phone)

    from .app import DemoApp  # imports Kivy: after the configuration above
    from .pipeline import DemoSettings, Pipeline
    from .sources.replay import ReplaySource

    settings = DemoSettings(
        sensitive=tuple(args.sensitive or ("WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS")), cover=args.cover, delay_s=args.delay, model=args.model,
        private_spans=tuple(args.private_span), bank_dir=args.bank_dir,
    )
    if args.decoy_rate is not None:
        settings = replace(settings, decoy_rate=args.decoy_rate)
    pipeline = Pipeline(settings)
    if args.private:
        pipeline.set_private(True)
    source = ReplaySource(args.replay, rate_hz=50.0, start_s=args.start) if args.replay else None
    replay_path = args.replay or default_replay_file()
    app = DemoApp(pipeline, source=source, replay_path=replay_path, screenshot=args.screenshot,
                  duration_s=args.duration, start_s=args.start, keep_bank=not args.no_bank_file)

    watchdog = None
    if headless:  # never hang a CI job: the whole run gets a generous deadline
        def _hung():
            sys.stderr.write("android_demo: no screenshot within the deadline, giving up\n")
            sys.stderr.flush()
            os._exit(2)  # EXIT_HUNG

        watchdog = threading.Timer(args.duration + 60.0, _hung)
        watchdog.daemon = True
        watchdog.start()
    try:
        app.run()
    finally:
        pipeline.stop()
        if watchdog is not None:
            watchdog.cancel()
    if headless and not Path(args.screenshot).is_file():
        return app.exit_code or 1  # EXIT_FAILED
    return app.exit_code


if __name__ == "__main__":
    sys.exit(main())
