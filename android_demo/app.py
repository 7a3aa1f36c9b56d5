"""The Kivy app: live plots of the raw and the released stream, the filter's state, controls.

Thin on purpose: ``Pipeline`` (no Kivy) runs the source and the SDK's filter; this module
only draws ``Pipeline.snapshot()`` and turns touches into ``Pipeline`` calls. Plots are plain
canvas instructions (``Line`` per axis, ``Rectangle`` per replaced span), updated in place.

Import this module only after Kivy is configured (``android_demo.__main__`` does it).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.graphics import Color, InstructionGroup, Line, Mesh, Rectangle
from kivy.metrics import dp, sp
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.slider import Slider
from kivy.uix.spinner import Spinner
from kivy.uix.switch import Switch
from kivy.uix.textinput import TextInput
from kivy.uix.togglebutton import ToggleButton
from kivy.uix.widget import Widget

from . import theme
from .pipeline import CHOICES, DemoSettings, Pipeline, Snapshot
from .sources import SensorSource
from .sources.android import AndroidSource
from .sources.replay import ReplaySource

log = logging.getLogger(__name__)

AXIS_NAMES = ("x", "y", "z")

#: exit codes of a ``--screenshot`` run
EXIT_OK = 0  # screenshot saved, the stream ran through the filter
EXIT_FAILED = 1  # no screenshot (or an uncaught error)
EXIT_HUNG = 2  # no screenshot within the deadline
EXIT_NOT_STREAMING = 3  # screenshot saved, but no source/model (the screen says why)


def _rgba(rgb, a: float = 1.0):
    return (*rgb, a)


class StreamPlot(Widget):
    """Three axes of a stream over the last ``window_s`` seconds, replaced spans shaded."""

    title = StringProperty("")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.margin = (dp(46), dp(22), dp(8), dp(24))  # left, bottom, right, top
        with self.canvas:
            Color(*_rgba(theme.PLOT_BG))
            self._bg = Rectangle()
            Color(*_rgba(theme.SHADE))
            self._shades = InstructionGroup()
        self.canvas.add(self._shades)
        with self.canvas:
            Color(*_rgba(theme.GRID))
            self._grid = Mesh(mode="lines", vertices=[], indices=[])
            self._lines = []
            for rgb in theme.AXES:
                Color(*_rgba(rgb))
                self._lines.append(Line(points=[], width=dp(1.1)))
        self._title = Label(color=_rgba(theme.TEXT), font_size=sp(15), bold=True, halign="left", valign="middle")
        self._note = Label(color=_rgba(theme.TEXT_DIM), font_size=sp(13), halign="right", valign="middle")
        self._legend = [
            Label(text=f"[b]{n}[/b]", markup=True, color=_rgba(rgb), font_size=sp(14)) for n, rgb in zip(AXIS_NAMES, theme.AXES)
        ]
        self._yticks = [Label(color=_rgba(theme.TEXT_DIM), font_size=sp(12), halign="right", valign="middle") for _ in range(7)]
        self._xticks = [Label(color=_rgba(theme.TEXT_DIM), font_size=sp(12)) for _ in range(6)]
        for w in [self._title, self._note, *self._legend, *self._yticks, *self._xticks]:
            self.add_widget(w)
        self._title.text = self.title
        self.bind(pos=self._relayout, size=self._relayout, title=lambda *_: setattr(self._title, "text", self.title))
        self._last = None

    # plot area in window coordinates
    def _area(self):
        left, bottom, right, top = self.margin
        return self.x + left, self.y + bottom, max(self.width - left - right, 1), max(self.height - bottom - top, 1)

    def _relayout(self, *_):
        ax, ay, aw, ah = self._area()
        self._bg.pos, self._bg.size = (ax, ay), (aw, ah)
        top = self.top - self.margin[3]
        self._title.pos, self._title.size = (ax + dp(2), top), (aw * 0.6, self.margin[3])
        self._title.text_size = self._title.size
        self._note.pos, self._note.size = (ax + aw * 0.4, top), (aw * 0.6 - dp(90), self.margin[3])
        self._note.text_size = self._note.size
        for i, lab in enumerate(self._legend):
            lab.pos, lab.size = (ax + aw - dp(84) + i * dp(28), top), (dp(28), self.margin[3])
        if self._last is not None:
            self.update(*self._last)

    def update(self, t, xyz, spans, t_end: float, window_s: float, y_lo: float, y_hi: float, note: str = "") -> None:
        """Redraw: ``t`` (n,), ``xyz`` (n, 3), ``spans`` [(start, end)] in the same clock."""
        t_end, window_s, y_lo, y_hi = float(t_end), float(window_s), float(y_lo), float(y_hi)
        self._last = (t, xyz, spans, t_end, window_s, y_lo, y_hi, note)
        self._note.text = note
        ax, ay, aw, ah = self._area()
        t0 = t_end - window_s
        sx = aw / window_s
        sy = ah / (y_hi - y_lo)

        self._shades.clear()
        for a, b in spans:
            a, b = max(a, t0), min(b, t_end)
            if b > a:
                self._shades.add(Rectangle(pos=(ax + (a - t0) * sx, ay), size=(max((b - a) * sx, 1.0), ah)))

        # grid: a horizontal line every 0.5 or 1 g, a vertical one every 2 s of stream time
        grid: list[tuple[float, float, float, float]] = []
        step = 0.5 if y_hi - y_lo <= 3.0 else 1.0
        levels = np.arange(np.ceil(y_lo / step) * step, y_hi + 1e-9, step).tolist()[: len(self._yticks)]
        for i, lab in enumerate(self._yticks):
            if i >= len(levels):
                lab.text = ""
                continue
            v = levels[i]
            y = ay + (v - y_lo) * sy
            grid.append((ax, y, ax + aw, y))
            lab.text = f"{v:+.1f}" if v else "0"
            lab.size = (self.margin[0] - dp(6), dp(16))
            lab.text_size = lab.size
            lab.pos = (self.x, y - dp(8))
        first = np.ceil(t0 / 2.0) * 2.0
        ticks = np.arange(first, t_end + 1e-9, 2.0)[: len(self._xticks)].tolist()
        for i, lab in enumerate(self._xticks):
            if i < len(ticks):
                x = ax + (ticks[i] - t0) * sx
                grid.append((x, ay, x, ay + ah))
                lab.text = f"{ticks[i]:.0f} s"
                lab.size = (dp(50), self.margin[1])
                lab.pos = (x - dp(25), self.y)
            else:
                lab.text = ""
        verts = []
        for x0, y0, x1, y1 in grid:  # separate segments: a Mesh in "lines" mode
            verts += [x0, y0, 0, 0, x1, y1, 0, 0]
        self._grid.vertices = verts
        self._grid.indices = list(range(2 * len(grid)))

        if len(t) >= 2:
            xs = ax + (np.asarray(t) - t0) * sx
            for k, line in enumerate(self._lines):
                ys = ay + (np.clip(xyz[:, k], y_lo, y_hi) - y_lo) * sy
                line.points = np.column_stack([xs, ys]).ravel().tolist()
        else:
            for line in self._lines:
                line.points = []


class Banner(BoxLayout):
    """The filter's state in large type on a background coloured by state; the detected
    activity and the source on the right; the counters on a second line."""

    def __init__(self, **kwargs):
        super().__init__(orientation="vertical", size_hint_y=None, height=dp(86), padding=(dp(14), dp(4)), **kwargs)
        with self.canvas.before:
            self._color = Color(*_rgba(theme.BANNER["idle"]))
            self._rect = Rectangle()
        self.bind(pos=self._sync, size=self._sync)
        top = BoxLayout(orientation="horizontal", spacing=dp(12))
        self.state_label = Label(font_size=sp(24), bold=True, color=_rgba(theme.TEXT), halign="left", valign="middle", size_hint_x=0.55)
        self.detail_label = Label(font_size=sp(14), color=_rgba(theme.TEXT), halign="right", valign="middle", size_hint_x=0.45)
        self.counters_label = Label(font_size=sp(14), color=_rgba(theme.TEXT), halign="left", valign="middle", size_hint_y=None, height=dp(24))
        for lab in (self.state_label, self.detail_label, self.counters_label):
            lab.bind(size=lambda w, sz: setattr(w, "text_size", sz))
        top.add_widget(self.state_label)
        top.add_widget(self.detail_label)
        self.add_widget(top)
        self.add_widget(self.counters_label)

    def _sync(self, *_):
        self._rect.pos, self._rect.size = self.pos, self.size

    def show(self, state: str, text: str, detail: str, counters: str) -> None:
        self._color.rgba = _rgba(theme.BANNER.get(state, theme.BANNER["idle"]))
        self.state_label.text = text
        self.detail_label.text = detail
        self.counters_label.text = counters


def _heading(text: str) -> Label:
    lab = Label(text=text, bold=True, font_size=sp(15), color=_rgba(theme.TEXT), size_hint_y=None, height=dp(28), halign="left", valign="bottom")
    lab.bind(size=lambda w, s: setattr(w, "text_size", s))
    return lab


def _wrapping(text: str = "", color=theme.TEXT, font: float = 13) -> Label:
    """A label as tall as its wrapped text."""
    lab = Label(text=text, font_size=sp(font), color=_rgba(color), size_hint_y=None, height=dp(22), halign="left", valign="middle")
    lab.bind(width=lambda w, v: setattr(w, "text_size", (v, None)))
    lab.bind(texture_size=lambda w, ts: setattr(w, "height", max(dp(22), ts[1] + dp(4)) if w.text else 0))
    return lab


def _text(text: str = "", height: float = 22, color=theme.TEXT_DIM, font: float = 13) -> Label:
    lab = Label(text=text, font_size=sp(font), color=_rgba(color), size_hint_y=None, height=dp(height), halign="left", valign="middle")
    lab.bind(size=lambda w, s: setattr(w, "text_size", s))
    return lab


class Controls(ScrollView):
    """The control panel: source, start/stop, private-now switch, release delay, cover and
    sensitive activities, counters."""

    def __init__(self, demo: "DemoApp", **kwargs):
        super().__init__(do_scroll_x=False, bar_width=dp(4), **kwargs)
        self.demo = demo
        s = demo.pipeline.settings
        box = GridLayout(cols=1, size_hint_y=None, padding=(dp(12), dp(8)), spacing=dp(4))
        box.bind(minimum_height=box.setter("height"))
        with box.canvas.before:
            Color(*_rgba(theme.PANEL))
            self._bg = Rectangle()
        box.bind(pos=lambda w, p: setattr(self._bg, "pos", p), size=lambda w, sz: setattr(self._bg, "size", sz))

        box.add_widget(_heading("Source"))
        self.source_label = _text(height=36, color=theme.TEXT)
        box.add_widget(self.source_label)
        self.source_problem = _wrapping(color=(1.0, 0.55, 0.45))
        box.add_widget(self.source_problem)
        row = BoxLayout(size_hint_y=None, height=dp(38), spacing=dp(6))
        self.start_button = Button(text="Start", bold=True, font_size=sp(15))
        self.start_button.bind(on_release=lambda *_: demo.toggle_running())
        self.sensor_button = Button(text="Phone sensor", font_size=sp(14))
        self.sensor_button.bind(on_release=lambda *_: demo.use_sensor())
        row.add_widget(self.start_button)
        row.add_widget(self.sensor_button)
        box.add_widget(row)
        row = BoxLayout(size_hint_y=None, height=dp(36), spacing=dp(6))
        self.replay_path = TextInput(text=str(demo.replay_path or ""), hint_text="recording to replay (HAPT .txt or t,ax,ay,az .csv)", multiline=False, font_size=sp(12), size_hint_x=0.7)
        replay_button = Button(text="Replay", font_size=sp(14), size_hint_x=0.3)
        replay_button.bind(on_release=lambda *_: demo.use_replay(self.replay_path.text.strip()))
        row.add_widget(self.replay_path)
        row.add_widget(replay_button)
        box.add_widget(row)

        box.add_widget(_heading("Privacy"))
        row = BoxLayout(size_hint_y=None, height=dp(36))
        row.add_widget(_text("Private now", height=36, color=theme.TEXT, font=15))
        self.private_switch = Switch(active=demo.pipeline.switch.on, size_hint_x=None, width=dp(90))
        self.private_switch.bind(active=lambda w, v: demo.pipeline.set_private(v))
        row.add_widget(self.private_switch)
        box.add_widget(row)
        self.delay_label = _text(color=theme.TEXT, font=14)
        box.add_widget(self.delay_label)
        self.delay_slider = Slider(min=0, max=10, step=0.5, value=s.delay_s, size_hint_y=None, height=dp(30))
        self.delay_slider.bind(value=lambda w, v: self._show_delay(v))
        self.dragging_delay = False
        self.delay_slider.bind(on_touch_down=self._delay_pressed, on_touch_up=self._delay_released)
        box.add_widget(self.delay_slider)
        self._show_delay(s.delay_s)
        row = BoxLayout(size_hint_y=None, height=dp(36), spacing=dp(6))
        row.add_widget(_text("Cover", height=36, color=theme.TEXT, font=14))
        self.cover = Spinner(text=s.cover, values=CHOICES, font_size=sp(13), size_hint_x=2.2)
        self.cover.bind(text=lambda w, v: demo.change(cover=v))
        row.add_widget(self.cover)
        box.add_widget(row)
        box.add_widget(_text("Sensitive activities (detector)", color=theme.TEXT, font=14))
        grid = GridLayout(cols=2, size_hint_y=None, height=dp(3 * 34), spacing=dp(4))
        self.sensitive = {}
        for name in CHOICES:
            b = ToggleButton(text=name.replace("_", " ").lower(), font_size=sp(12), state="down" if name in s.sensitive else "normal")
            b.bind(state=lambda *_: demo.change(sensitive=self.chosen_sensitive()))
            self.sensitive[name] = b
            grid.add_widget(b)
        box.add_widget(grid)
        self.decoy_label = _text(color=theme.TEXT, font=14)
        box.add_widget(self.decoy_label)
        self.decoy_slider = Slider(min=0, max=0.5, step=0.05, value=s.decoy_rate, size_hint_y=None, height=dp(30))
        self.decoy_slider.bind(value=lambda w, v: self._show_decoys(v))
        self.decoy_slider.bind(on_touch_up=self._decoys_released)
        box.add_widget(self.decoy_slider)
        self._show_decoys(s.decoy_rate)

        box.add_widget(_heading("Filter"))
        self.counter_labels = {}
        for key in ("filter cost", "decoys", "cover bank", "model", "detector"):
            lab = _wrapping(color=theme.TEXT, font=13)
            self.counter_labels[key] = lab
            box.add_widget(lab)
        forget = Button(text="Forget my cover bank", font_size=sp(13), size_hint_y=None, height=dp(34))
        forget.bind(on_release=lambda *_: demo.forget_bank())
        box.add_widget(forget)
        self.messages = _wrapping(color=(1.0, 0.55, 0.45), font=12)
        box.add_widget(self.messages)
        self.add_widget(box)

    def chosen_sensitive(self) -> tuple[str, ...]:
        return tuple(n for n, b in self.sensitive.items() if b.state == "down")

    def _show_delay(self, v: float) -> None:
        self.delay_label.text = f"Release delay: {v:.1f} s"

    def _delay_pressed(self, slider, touch) -> None:
        if slider.collide_point(*touch.pos):
            self.dragging_delay = True

    def _delay_released(self, slider, touch) -> None:
        """The new delay applies when the slider is let go (it rebuilds the filter)."""
        if self.dragging_delay:
            self.dragging_delay = False
            if abs(slider.value - self.demo.pipeline.settings.delay_s) > 1e-9:
                self.demo.change(delay_s=float(slider.value))

    def _show_decoys(self, v: float) -> None:
        self.decoy_label.text = f"Decoys: {100 * v:.0f} % of cover time" if v > 0 else "Decoys: off"

    def _decoys_released(self, slider, touch) -> None:
        """A new decoy rate applies when the slider is let go (it rebuilds the filter)."""
        if abs(slider.value - self.demo.pipeline.settings.decoy_rate) > 1e-9:
            self.demo.change(decoy_rate=round(float(slider.value), 2))

    def show_problem(self, text: str) -> None:
        self.source_problem.text = text
        if not text:
            self.source_problem.height = 0


class DemoApp(App):
    """The demo. ``source`` is used at start; without one the phone sensor is tried, and if
    it is unavailable the screen says so and offers replay.

    Args:
        pipeline: the pipeline to drive.
        source: the initial source (``None``: the phone sensor).
        replay_path: pre-filled path of the "Replay" field.
        screenshot: if set, run ``duration_s`` seconds after the start, save a window
            screenshot there and quit (``exit_code`` says how it went).
        autostart: start streaming when the app opens.
        keep_bank: keep the cover bank between runs in the app's data folder
            (``App.user_data_dir``) unless the pipeline's settings name a ``bank_dir``.
    """

    title = "SenseGen Privacy — live filter"

    def __init__(self, pipeline: Pipeline, source: SensorSource | None = None, replay_path=None, screenshot=None,
                 duration_s: float = 12.0, autostart: bool = True, start_s: float = 0.0, keep_bank: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.keep_bank = keep_bank
        self.source = source
        self.replay_path = replay_path
        self.start_s = start_s
        self.screenshot_path = Path(screenshot) if screenshot else None
        self.duration_s = float(duration_s)
        self.autostart = autostart
        self.exit_code = EXIT_OK
        self._problem = ""
        self._shot_pending = False
        self._t_opened = time.monotonic()

    # -- building -----------------------------------------------------------------------------

    def build(self):
        if self.keep_bank and self.pipeline.settings.bank_dir is None:
            try:
                self.pipeline.reconfigure(bank_dir=Path(self.user_data_dir) / "cover_bank")
            except OSError as exc:  # no data folder: the bank lives for this run only
                log.warning("cover bank kept for this run only: no app data folder (%s)", exc)
        Window.clearcolor = _rgba(theme.BACKGROUND)
        root = BoxLayout(orientation="vertical")
        self.banner = Banner()
        root.add_widget(self.banner)
        self.body = BoxLayout(spacing=dp(6), padding=dp(6))
        self.plots = BoxLayout(orientation="vertical", spacing=dp(6))
        self.raw_plot = StreamPlot(title="Raw sensor stream (g) — stays on the phone")
        self.out_plot = StreamPlot(title="Released stream (g) — what apps receive")
        self.plots.add_widget(self.raw_plot)
        self.plots.add_widget(self.out_plot)
        self.controls = Controls(self)
        self.body.add_widget(self.plots)
        self.body.add_widget(self.controls)
        root.add_widget(self.body)
        Window.bind(size=lambda *_: self._arrange())
        self._arrange()
        return root

    def _arrange(self) -> None:
        """Landscape: controls on the right; portrait (phones): controls below the plots."""
        w, h = Window.size
        if w >= h:
            self.body.orientation = "horizontal"
            self.controls.size_hint = (None, 1)
            self.controls.width = min(dp(360), w * 0.36)
        else:
            self.body.orientation = "vertical"
            self.controls.size_hint = (1, 0.42)

    def on_start(self):
        if self.source is None:
            self.source = AndroidSource(rate_hz=50.0)
        self._show_source()
        if self.autostart:
            self.start()
        self._t_opened = time.monotonic()
        Clock.schedule_interval(self.refresh, 1 / 12)

    def on_stop(self):
        self.pipeline.stop()

    def on_pause(self):
        """Android may stop a paused app without ``on_stop``: keep the cover bank first."""
        self.pipeline.save_bank()
        return True

    # -- actions ------------------------------------------------------------------------------

    def _show_source(self) -> None:
        src = self.source
        reason = src.why_unavailable() if src is not None else "no source"
        self.controls.source_label.text = f"{src.name if src else '—'}"
        if reason is not None:
            self._problem = f"Unavailable: {reason}. Replay a recording instead."
        else:
            self._problem = ""
        self.controls.show_problem(self._problem)

    def start(self) -> None:
        if self.source is None or not self.source.available:
            self._show_source()
            return
        try:
            self.pipeline.start(self.source)
        except Exception as exc:  # never crash: show it
            log.exception("could not start %s", self.source.name)
            self._problem = f"Could not start: {exc}"
            self.controls.show_problem(self._problem)
        self.refresh()

    def stop(self, *largs):  # App.stop: also stop streaming
        self.pipeline.stop()
        return super().stop(*largs)

    def toggle_running(self) -> None:
        if self.pipeline.running:
            self.pipeline.stop()
        else:
            self.start()
        self.refresh()

    def use_sensor(self) -> None:
        self.pipeline.stop()
        self.source = AndroidSource(rate_hz=50.0)
        self._show_source()
        self.start()

    def use_replay(self, path: str) -> None:
        if not path:
            self.controls.show_problem("Type the path of a HAPT acc_expXX_userYY.txt or t,ax,ay,az CSV file.")
            return
        self.pipeline.stop()
        start_s = self.start_s if path == str(self.replay_path) else 0.0  # --start applies to --replay's file
        self.replay_path = path
        self.controls.replay_path.text = path
        self.source = ReplaySource(path, rate_hz=50.0, start_s=start_s)
        self._show_source()
        self.start()

    def forget_bank(self) -> None:
        """The "Forget my cover bank" button."""
        self.pipeline.clear_bank()
        self.refresh()

    def change(self, **settings) -> None:
        if "sensitive" in settings:
            settings["sensitive"] = tuple(settings["sensitive"])
        self.pipeline.reconfigure(**settings)
        self.refresh()

    # -- drawing ------------------------------------------------------------------------------

    def refresh(self, *_) -> None:
        snap = self.pipeline.snapshot()
        self._draw(snap)
        if self.screenshot_path is not None and not self._shot_pending:
            waited = time.monotonic() - self._t_opened
            # when the stream has run for duration_s (stream time, so the picture does not
            # depend on how busy the machine is); without a stream, after duration_s of waiting
            if snap.now >= self.duration_s - 1e-6 or (waited >= self.duration_s and not self.pipeline.running) \
                    or waited >= self.duration_s + 30:
                self._take_screenshot()

    def _draw(self, snap: Snapshot) -> None:
        source = self.source.name if self.source is not None else "no source"
        k = snap.counters
        counters = f"samples {k['samples']}      replaced {k['replaced']}      runtime {k['runtime']}"
        state, text = snap.state, snap.banner
        if self._problem and not self.pipeline.running:
            state = "error"
            text = "NO SENSOR — replay a file" if isinstance(self.source, AndroidSource) else "CANNOT START — see Source"
        self.banner.show(state, text, f"{snap.activity}\n{source}", counters)
        lo, hi = _y_range(snap)
        t_end = max(snap.now, snap.window_s)
        replaced_note = f"{len(snap.replaced_spans)} replaced span{'s' if len(snap.replaced_spans) != 1 else ''} shaded" if snap.replaced_spans else ""
        self.raw_plot.update(snap.raw_t, snap.raw_xyz, snap.replaced_spans, t_end, snap.window_s, lo, hi, note=replaced_note)
        delay = self.pipeline.settings.delay_s
        self.out_plot.update(snap.out_t, snap.out_xyz, snap.replaced_spans, t_end, snap.window_s, lo, hi,
                             note=f"release delay {delay:g} s")
        c = self.controls
        c.start_button.text = "Stop" if self.pipeline.running else "Start"
        for key, lab in c.counter_labels.items():
            if key == "model":
                gen = self.pipeline.generator
                lab.text = f"model: {gen.path.name}" if gen is not None else "model: not loaded"
            elif key == "detector":
                det = self.pipeline.detector
                lab.text = f"detector: {det.reason}"
            else:
                lab.text = f"{key}: {snap.counters.get(key, '–')}"
        c.messages.text = "\n".join(snap.messages)
        delay = self.pipeline.settings.delay_s
        if abs(c.delay_slider.value - delay) > 1e-9 and not c.dragging_delay:
            c.delay_slider.value = delay
        if c.private_switch.active != self.pipeline.switch.on:
            c.private_switch.active = self.pipeline.switch.on

    # -- headless screenshot --------------------------------------------------------------------

    def _take_screenshot(self, *_) -> None:
        self._shot_pending = True
        Window.bind(on_flip=self._grab)
        Window.canvas.ask_update()

    def _grab(self, *_) -> None:
        """Runs during ``on_flip``, before the buffers swap, so the frame just drawn is read."""
        Window.unbind(on_flip=self._grab)
        target = self.screenshot_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            stem = target.with_name(f".{target.stem}.shot.png")
            written = Window.screenshot(name=str(stem))  # Kivy appends a counter to the name
            os.replace(written, target)
            log.info("screenshot saved to %s (%dx%d)", target, *Window.size)
        except Exception as exc:
            log.error("screenshot failed: %s", exc)
            self.exit_code = EXIT_FAILED
        if self.exit_code == EXIT_OK and (self._problem or self.pipeline.model_error or not self.pipeline.running):
            log.error("the demo did not stream and filter: %s", self._problem or self.pipeline.model_error or "source stopped")
            self.exit_code = EXIT_NOT_STREAMING
        Clock.schedule_once(lambda *_: self.stop(), 0)


def _y_range(snap: Snapshot) -> tuple[float, float]:
    parts = [a for a in (snap.raw_xyz, snap.out_xyz) if len(a)]
    if not parts:
        return -1.5, 1.5
    v = np.concatenate(parts)
    lo, hi = float(np.min(v)), float(np.max(v))
    mid, half = (lo + hi) / 2, max((hi - lo) / 2 * 1.1, 0.5)
    # round outwards to 0.5 g so the axis does not jitter every frame
    return float(np.floor((mid - half) * 2) / 2), float(np.ceil((mid + half) * 2) / 2)
